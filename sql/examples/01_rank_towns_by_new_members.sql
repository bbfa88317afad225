-- Question: which towns recruited the most new union members in 2022 (figure F59, 新增会员数), and how do they rank?
-- The town's value is the sum of 新增会员数 over its 新建工会企业 rows; the ranking adds up to F59 (36,034 in 2022).
-- Change '2022' for another period (a year or a quarter such as '2023Q1').
select
    rank() over (order by value_count desc) as rank,
    unit_name_zh as town,
    value_count as new_members,
    file_name
from marts.indicator_values_long
where period = '2022' and figure_id = 'F59'
order by rank, town;

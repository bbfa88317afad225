-- Question: by town, how many enterprises set up a union (F58, 新组建工会企业数) and how many new members
-- (F59, 新增会员数) and new-form members (F61, 发展新业态会员数) they brought? One row per town, from the
-- towns' 新建工会企业 rows; the columns add up to F58 (411), F59 (36,034) and F61 (12,033) in 2022.
select
    unit_name_zh as town,
    sum(value_count) filter (where figure_id = 'F58') as enterprises_unionised,
    sum(value_count) filter (where figure_id = 'F59') as new_members,
    sum(value_count) filter (where figure_id = 'F61') as new_form_members
from marts.figure_detail_rows
where period = '2022' and figure_id in ('F58', 'F59', 'F61')
group by unit_name_zh
order by new_members desc, town;

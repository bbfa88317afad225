-- Question: what share of each district figure does each unit contribute (e.g. how much of F03's 133 job fairs
-- were held by 市桥街)? One row per figure and unit; each figure's shares add up to 1.
-- Additive figures only (sums and counts of 是): a distinct count (F23, F24) does not split by unit.
with unit_values as (
    select period, figure_id, indicator_name_zh, unit_name_zh, value_number
    from marts.indicator_values_long
    where period = '2022' and figure_id is not null and aggregation in ('sum', 'count_yes')
),
shares as (
    select
        figure_id,
        indicator_name_zh,
        unit_name_zh,
        value_number as value,
        sum(value_number) over (partition by figure_id) as district_total,
        value_number / nullif(sum(value_number) over (partition by figure_id), 0) as share
    from unit_values
)
select figure_id, indicator_name_zh, unit_name_zh, value, district_total, round(share, 4) as share, share as share_exact
from shares
order by figure_id, share desc, unit_name_zh;

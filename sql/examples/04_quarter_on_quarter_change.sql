-- Question: how did each district indicator change on the quarter before (quarter-on-quarter)?
-- One row per quarter loaded and indicator (quarterly returns only: the periods of marts.dim_period whose kind is
-- 'quarter'); the previous quarter is the one before in the calendar (2023Q1 follows 2022Q4). Empty while no
-- quarter is loaded (the 2022 sample is an annual return); a first quarter's previous_value and change are null.
with periods as (
    select * from marts.dim_period where period_kind = 'quarter'
),
indicators as (
    select * from marts.dim_indicator
),
values_by_quarter as (
    select periods.period, periods.year * 4 + periods.quarter as quarter_number, long.indicator_code, sum(long.value_number) as value
    from marts.indicator_values_long as long
    join periods on periods.period = long.period
    where long.aggregation in ('sum', 'count_yes')
    group by periods.period, periods.year, periods.quarter, long.indicator_code
)
select
    this_quarter.period,
    indicators.figure_id,
    this_quarter.indicator_code,
    indicators.name_zh as indicator_name_zh,
    this_quarter.value,
    previous_quarter.value as previous_value,
    this_quarter.value - previous_quarter.value as change,
    round((this_quarter.value - previous_quarter.value) / nullif(previous_quarter.value, 0), 4) as change_ratio
from values_by_quarter as this_quarter
left join values_by_quarter as previous_quarter
    on previous_quarter.indicator_code = this_quarter.indicator_code
    and previous_quarter.quarter_number = this_quarter.quarter_number - 1
join indicators on indicators.indicator_code = this_quarter.indicator_code
order by this_quarter.period, indicators.figure_id nulls last, this_quarter.indicator_code;

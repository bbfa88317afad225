-- Question: how did each district indicator change on the year before (year-on-year)?
-- One row per year and indicator: the district total of the year (each unit's annual return, or its four quarters
-- rolled up; marts.fct_indicator_value_annual) beside the year before's. Where the year before has no data
-- (2022 is the first year in the sample) previous_value, change and change_ratio are null, never 0.
-- Sums and flag counts only: a distinct count does not add up over units.
with annual as (
    select * from marts.fct_indicator_value_annual
),
indicators as (
    select * from marts.dim_indicator
),
district as (
    select annual.year, annual.indicator_code, sum(annual.value) as value
    from annual
    join indicators on indicators.indicator_code = annual.indicator_code
    where indicators.aggregation in ('sum', 'count_yes') and annual.value is not null
    group by annual.year, annual.indicator_code
),
compared as (
    select
        this_year.year,
        this_year.indicator_code,
        this_year.value,
        last_year.value as previous_value,
        this_year.value - last_year.value as change,
        (this_year.value - last_year.value) / nullif(last_year.value, 0) as change_ratio
    from district as this_year
    left join district as last_year
        on last_year.indicator_code = this_year.indicator_code
        and cast(last_year.year as integer) = cast(this_year.year as integer) - 1
)
select
    compared.year,
    indicators.figure_id,
    compared.indicator_code,
    indicators.name_zh as indicator_name_zh,
    compared.value,
    compared.previous_value,
    compared.change,
    round(compared.change_ratio, 4) as change_ratio
from compared
join indicators on indicators.indicator_code = compared.indicator_code
order by compared.year, indicators.figure_id nulls last, compared.indicator_code;

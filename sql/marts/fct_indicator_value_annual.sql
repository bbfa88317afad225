-- one row per year, unit and indicator: the unit's annual return beside its quarterly returns rolled up to the year.
-- annual_value is the annual return's value; quarters_value rolls up the quarters loaded so far (quarters_loaded of
-- 4): additive indicators (catalog aggregation sum) add up, a flag takes its latest quarter's answer, a distinct
-- count counts distinct values over the quarters' detail rows. value is the year's figure: the annual return when
-- the unit filed one (it is the unit's own statement of its year), else the quarters once all four are in, else
-- null (a part of a year is not a year; quarters_value still shows the year to date).
-- incremental by year: its rows depend on their own year only (a year's annual return and quarters): a run rebuilds just its year's rows
with indicator_values as (
    select * from marts.fct_indicator_value
),
indicators as (
    select * from marts.dim_indicator
),
detail_rows as (
    select * from marts.int_indicator_detail_rows
),
quarterly_values as (
    select
        left(period, 4) as year,
        cast(right(period, 1) as integer) as quarter,
        unit_code,
        indicator_code,
        value,
        submission_id
    from indicator_values
    where regexp_full_match(period, '\d{4}Q[1-4]')
),
annual_values as (
    select
        period as year,
        unit_code,
        indicator_code,
        value as annual_value
    from indicator_values
    where regexp_full_match(period, '\d{4}')
),
quarters_distinct as (
    -- distinct values do not add up over quarters: a topic taught in two quarters counts once in the year
    select
        quarterly_values.year,
        quarterly_values.unit_code,
        quarterly_values.indicator_code,
        count(distinct detail_rows.measure_value) as distinct_values
    from quarterly_values
    join detail_rows
        on detail_rows.submission_id = quarterly_values.submission_id
        and detail_rows.indicator_code = quarterly_values.indicator_code
    group by quarterly_values.year, quarterly_values.unit_code, quarterly_values.indicator_code
),
quarters_rolled_up as (
    select
        quarterly_values.year,
        quarterly_values.unit_code,
        quarterly_values.indicator_code,
        indicators.aggregation,
        indicators.value_type,
        count(*) as quarters_loaded,
        max(quarterly_values.year || 'Q' || quarterly_values.quarter) as last_quarter,
        sum(quarterly_values.value) as quarters_sum,
        -- a flag (是/否, kept as 1/0) says how things stand at the end of a quarter: the latest answer holds
        arg_max(quarterly_values.value, quarterly_values.quarter) as latest_value
    from quarterly_values
    join indicators on indicators.indicator_code = quarterly_values.indicator_code
    group by
        quarterly_values.year,
        quarterly_values.unit_code,
        quarterly_values.indicator_code,
        indicators.aggregation,
        indicators.value_type
),
quarters as (
    select
        quarters_rolled_up.year,
        quarters_rolled_up.unit_code,
        quarters_rolled_up.indicator_code,
        quarters_rolled_up.quarters_loaded,
        quarters_rolled_up.last_quarter,
        case
            when quarters_rolled_up.value_type = 'flag' then quarters_rolled_up.latest_value
            when quarters_rolled_up.aggregation = 'sum' then quarters_rolled_up.quarters_sum
            when quarters_rolled_up.aggregation = 'count_distinct' then coalesce(quarters_distinct.distinct_values, 0)
        end as quarters_value
    from quarters_rolled_up
    left join quarters_distinct
        on quarters_distinct.year = quarters_rolled_up.year
        and quarters_distinct.unit_code = quarters_rolled_up.unit_code
        and quarters_distinct.indicator_code = quarters_rolled_up.indicator_code
),
unit_years as (
    select year, unit_code, indicator_code from annual_values
    union
    select year, unit_code, indicator_code from quarters
),
final as (
    select
        unit_years.year,
        unit_years.unit_code,
        unit_years.indicator_code,
        annual_values.unit_code is not null as annual_filed,
        annual_values.annual_value,
        quarters.quarters_value,
        coalesce(quarters.quarters_loaded, 0) as quarters_loaded,
        quarters.last_quarter,
        case
            when annual_values.unit_code is not null then annual_values.annual_value
            when quarters.quarters_loaded = 4 then quarters.quarters_value
        end as value,
        case
            when annual_values.unit_code is not null then 'annual'
            when quarters.quarters_loaded = 4 then 'quarters'
        end as value_source,
        -- where a unit filed both, whether its four quarters agree with its year (the validate stage warns if not)
        case
            when annual_values.unit_code is not null and quarters.quarters_loaded = 4
                then annual_values.annual_value is not distinct from quarters.quarters_value
        end as quarters_match_annual
    from unit_years
    left join annual_values
        on annual_values.year = unit_years.year
        and annual_values.unit_code = unit_years.unit_code
        and annual_values.indicator_code = unit_years.indicator_code
    left join quarters
        on quarters.year = unit_years.year
        and quarters.unit_code = unit_years.unit_code
        and quarters.indicator_code = unit_years.indicator_code
)
select * from final

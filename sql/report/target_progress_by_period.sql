-- the history of progress towards the district's stated targets: one row per target and period of its year that
-- was loaded, each quarter (2023Q1, 2023Q2, ...) and the year itself once annual returns are in. For a quarter,
-- achieved is the district total of the year up to and including that quarter, from the quarterly returns (each
-- unit's quarters so far: additive indicators add up, a flag takes its latest answer, a distinct count counts over
-- the quarters' detail rows), so the rows read as the year's progress quarter by quarter. The year's row is
-- report.target_progress itself (annual returns where filed): one place computes the year's total.
-- report.target_progress keeps the latest state only; this relation keeps each step. units_reporting counts the
-- units with a quarterly return of the indicator so far (null on the year's row).
with indicators as (
    select * from marts.dim_indicator
),
indicator_values as (
    select * from marts.fct_indicator_value
),
detail_rows as (
    select * from marts.int_indicator_detail_rows
),
target_progress as (
    select * from report.target_progress
),
typed_targets as (
    -- the targets as report.target_progress types them (one row per year and target): typed in one place
    select year, indicator_code, target, comparator, quote_zh from target_progress
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
loaded_quarters as (
    -- a quarter any unit's return was loaded for: a target nobody reported on that quarter still shows 0 for it
    select distinct year, quarter, year || 'Q' || quarter as period
    from quarterly_values
    where year in (select year from typed_targets)
),
to_date as (
    -- each unit's quarterly returns of the target's indicator up to and including each loaded quarter
    select
        loaded_quarters.period as as_of_period,
        loaded_quarters.quarter as as_of_quarter,
        quarterly_values.*
    from loaded_quarters
    join quarterly_values
        on quarterly_values.year = loaded_quarters.year
        and quarterly_values.quarter <= loaded_quarters.quarter
    join typed_targets
        on typed_targets.year = quarterly_values.year
        and typed_targets.indicator_code = quarterly_values.indicator_code
),
distinct_to_date as (
    -- distinct values do not add up over quarters: a topic taught in two quarters counts once in the year
    select
        to_date.as_of_period,
        to_date.unit_code,
        to_date.indicator_code,
        count(distinct detail_rows.measure_value) as distinct_values
    from to_date
    join detail_rows
        on detail_rows.submission_id = to_date.submission_id
        and detail_rows.indicator_code = to_date.indicator_code
    group by to_date.as_of_period, to_date.unit_code, to_date.indicator_code
),
unit_to_date as (
    select
        to_date.year,
        to_date.as_of_period,
        to_date.as_of_quarter,
        to_date.unit_code,
        to_date.indicator_code,
        case
            -- a flag (是/否, kept as 1/0) says how things stand at the end of a quarter: the latest answer holds
            when indicators.value_type = 'flag' then arg_max(to_date.value, to_date.quarter)
            when indicators.aggregation = 'sum' then sum(to_date.value)
            when indicators.aggregation = 'count_distinct' then any_value(coalesce(distinct_to_date.distinct_values, 0))
        end as value_to_date
    from to_date
    join indicators on indicators.indicator_code = to_date.indicator_code
    left join distinct_to_date
        on distinct_to_date.as_of_period = to_date.as_of_period
        and distinct_to_date.unit_code = to_date.unit_code
        and distinct_to_date.indicator_code = to_date.indicator_code
    group by
        to_date.year,
        to_date.as_of_period,
        to_date.as_of_quarter,
        to_date.unit_code,
        to_date.indicator_code,
        indicators.value_type,
        indicators.aggregation
),
district_to_date as (
    select
        year,
        as_of_period,
        as_of_quarter,
        indicator_code,
        sum(value_to_date) as achieved,
        count(distinct unit_code) as units_reporting
    from unit_to_date
    group by year, as_of_period, as_of_quarter, indicator_code
),
quarter_rows as (
    select
        typed_targets.year,
        loaded_quarters.period,
        loaded_quarters.quarter,
        typed_targets.indicator_code,
        indicators.name_zh as indicator_name_zh,
        indicators.unit_zh,
        typed_targets.target,
        typed_targets.comparator,
        cast(coalesce(district_to_date.achieved, 0) as decimal(38, 2)) as achieved,
        'quarters' as basis,
        coalesce(district_to_date.units_reporting, 0) as units_reporting,
        typed_targets.quote_zh
    from typed_targets
    join loaded_quarters on loaded_quarters.year = typed_targets.year
    left join indicators on indicators.indicator_code = typed_targets.indicator_code
    left join district_to_date
        on district_to_date.as_of_period = loaded_quarters.period
        and district_to_date.indicator_code = typed_targets.indicator_code
),
year_rows as (
    -- the year as a whole, once any unit filed its annual return: what report.target_progress says
    select
        target_progress.year,
        target_progress.year as period,
        cast(null as integer) as quarter,
        target_progress.indicator_code,
        target_progress.indicator_name_zh,
        target_progress.unit_zh,
        target_progress.target,
        target_progress.comparator,
        cast(target_progress.achieved as decimal(38, 2)) as achieved,
        target_progress.basis,
        cast(null as bigint) as units_reporting,
        target_progress.quote_zh
    from target_progress
    where target_progress.basis in ('annual', 'annual_and_quarters')
),
steps as (
    select * from quarter_rows
    union all by name
    select * from year_rows
),
final as (
    select
        year,
        period,
        quarter,
        indicator_code,
        indicator_name_zh,
        unit_zh,
        target,
        comparator,
        achieved,
        basis,
        units_reporting,
        round(achieved / nullif(target, 0), 4) as progress_ratio,
        coalesce(
            case comparator
                when 'ge' then achieved >= target
                when 'gt' then achieved > target
                when 'eq' then achieved = target
                when 'le' then achieved <= target
                when 'lt' then achieved < target
            end,
            false
        ) as met,
        quote_zh
    from steps
)
select * from final

-- progress towards the district's stated targets (reference/targets.csv, in the report's words): one row per year
-- and target. achieved is the district total so far: each unit's annual return where it filed one, else its
-- quarters loaded so far. met says whether achieved satisfies the comparator now; for a `ge` target in a year
-- still in progress it can only turn from false to true.
with targets as (
    select * from ref.targets
),
indicators as (
    select * from marts.dim_indicator
),
annual_values as (
    select * from marts.fct_indicator_value_annual
),
typed_targets as (
    select
        cast(year as varchar) as year,
        indicator_code,
        cast(target as decimal(18, 2)) as target,
        comparator,
        quote_zh
    from targets
),
achieved as (
    select
        year,
        indicator_code,
        sum(case when annual_filed then annual_value else quarters_value end) as achieved,
        count(*) filter (where annual_filed) as units_annual,
        count(*) filter (where not annual_filed) as units_quarterly,
        max(quarters_loaded) filter (where not annual_filed) as quarters_loaded,
        max(last_quarter) filter (where not annual_filed) as last_quarter
    from annual_values
    group by year, indicator_code
),
final as (
    select
        typed_targets.year,
        typed_targets.indicator_code,
        indicators.name_zh as indicator_name_zh,
        indicators.unit_zh,
        typed_targets.target,
        typed_targets.comparator,
        achieved.achieved,
        -- how the total was made: from annual returns, from quarterly ones (up to last_quarter), or both
        case
            when achieved.units_annual > 0 and achieved.units_quarterly > 0 then 'annual_and_quarters'
            when achieved.units_annual > 0 then 'annual'
            when achieved.units_quarterly > 0 then 'quarters'
        end as basis,
        coalesce(achieved.quarters_loaded, 0) as quarters_loaded,
        achieved.last_quarter,
        round(achieved.achieved / nullif(typed_targets.target, 0), 4) as progress_ratio,
        coalesce(
            case typed_targets.comparator
                when 'ge' then achieved.achieved >= typed_targets.target
                when 'gt' then achieved.achieved > typed_targets.target
                when 'eq' then achieved.achieved = typed_targets.target
                when 'le' then achieved.achieved <= typed_targets.target
                when 'lt' then achieved.achieved < typed_targets.target
            end,
            false
        ) as met,
        typed_targets.quote_zh
    from typed_targets
    left join indicators on indicators.indicator_code = typed_targets.indicator_code
    left join achieved
        on achieved.year = typed_targets.year
        and achieved.indicator_code = typed_targets.indicator_code
)
select * from final

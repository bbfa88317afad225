-- the work report's district figures for a whole year: one row per year held in the warehouse and figure.
-- A year whose annual returns are in (the year itself is a period of the warehouse) is its row of
-- report.district_figures, unchanged (basis annual). A year held only as quarters is made from them (basis quarters),
-- the way marts.fct_indicator_value_annual rolls a unit's quarters up to its year: an additive indicator (catalog
-- aggregation sum) adds up over the quarters, a flag (count_yes) takes each unit's latest quarter's answer, and a
-- distinct count counts the distinct values of all the quarters' detail rows over the whole district (a topic taught
-- in two quarters, or by two units, counts once). value is the year's figure only once all four quarters are in: a
-- part of a year is not a year, so while quarters are missing value is null (never a partial sum shown as the
-- year), value_to_date holds what the quarters held give so far, and quarters / missing_quarters say which.
-- published is the report's wording where one was published for the year; reproduced and matches compare only a
-- whole year. What a figure rests on counts a unit as submitted (accepted) when it sent a file (has a current
-- accepted file) for every quarter held that expected it.
with figures as (
    select * from ref.figures
),
published_reports as (
    select * from ref.published_reports
),
indicators as (
    select * from marts.dim_indicator
),
units as (
    select * from marts.dim_unit
),
periods as (
    select * from marts.dim_period
),
annual_values as (
    select * from marts.fct_indicator_value_annual
),
detail_rows as (
    select * from marts.int_indicator_detail_rows
),
current_submissions as (
    select * from ops.current_submissions
),
submissions as (
    select * from ops.submissions
),
expected_units as (
    select * from ops.expected_units
),
district_figures as (
    select * from report.district_figures
),
years as (
    select
        cast(year as varchar) as year,
        bool_or(period_kind = 'year') as annual_held,
        count(*) filter (where period_kind = 'quarter') as quarters_held,
        string_agg(period, ',' order by period) filter (where period_kind = 'quarter') as quarters
    from periods
    group by year
),
quarter_years as (
    -- the years held only as quarters: their figures are made from them
    select
        years.year,
        years.quarters_held,
        years.quarters,
        -- the year's quarters not held, in order; null once all four are in
        nullif(
            array_to_string(
                list_filter(
                    [years.year || 'Q1', years.year || 'Q2', years.year || 'Q3', years.year || 'Q4'],
                    lambda quarter: not list_contains(string_split(years.quarters, ','), quarter)
                ),
                ','
            ),
            ''
        ) as missing_quarters
    from years
    where not years.annual_held
),
quarter_periods as (
    select periods.period, quarter_years.year
    from periods
    join quarter_years on quarter_years.year = cast(periods.year as varchar)
    where periods.period_kind = 'quarter'
),
reporting_units as (
    -- which unit reports which indicator: the unit's kind is one of the indicator's reporting kinds
    select indicators.indicator_code, indicators.figure_id, units.unit_code
    from indicators
    join units on list_contains(indicators.reporting_kinds, units.kind)
    where indicators.figure_id is not null
),
summed as (
    -- each unit's quarters rolled up to its year (sums, and a flag's latest answer), added over the district
    select annual_values.year, indicators.figure_id, sum(annual_values.quarters_value) as value
    from annual_values
    join quarter_years on quarter_years.year = annual_values.year
    join indicators on indicators.indicator_code = annual_values.indicator_code
    join reporting_units
        on reporting_units.indicator_code = annual_values.indicator_code
        and reporting_units.unit_code = annual_values.unit_code
    where indicators.aggregation in ('sum', 'count_yes')  -- flags are 1/0, so a count of yes is a sum
    group by annual_values.year, indicators.figure_id
),
distinct_counted as (
    -- a distinct count is taken over the whole district and the whole year: the quarters' detail rows together
    select quarter_periods.year, indicators.figure_id, count(distinct detail_rows.measure_value) as value
    from detail_rows
    join quarter_periods on quarter_periods.period = detail_rows.period
    join current_submissions on current_submissions.submission_id = detail_rows.submission_id
    join indicators on indicators.indicator_code = detail_rows.indicator_code
    join reporting_units
        on reporting_units.indicator_code = detail_rows.indicator_code
        and reporting_units.unit_code = detail_rows.unit_code
    where indicators.aggregation = 'count_distinct'
    group by quarter_periods.year, indicators.figure_id
),
district_values as (
    select * from summed
    union all
    select * from distinct_counted
),
unit_quarters as (
    -- each unit of a figure's reporting group expected in a quarter held: whether it sent a file, has an accepted one
    select distinct
        quarter_periods.year,
        expected_units.period,
        reporting_units.figure_id,
        expected_units.unit_code
    from expected_units
    join quarter_periods on quarter_periods.period = expected_units.period
    join reporting_units on reporting_units.unit_code = expected_units.unit_code
),
unit_coverage as (
    select
        unit_quarters.year,
        unit_quarters.figure_id,
        unit_quarters.unit_code,
        count(*) as quarters_expected,
        count(*) filter (
            where exists (
                select 1 from submissions
                where submissions.period = unit_quarters.period and submissions.unit_code = unit_quarters.unit_code
            )
        ) as quarters_submitted,
        count(*) filter (
            where exists (
                select 1 from current_submissions
                where current_submissions.period = unit_quarters.period
                    and current_submissions.unit_code = unit_quarters.unit_code
            )
        ) as quarters_accepted
    from unit_quarters
    group by unit_quarters.year, unit_quarters.figure_id, unit_quarters.unit_code
),
coverage as (
    select
        year,
        figure_id,
        count(*) as units_expected,
        count(*) filter (where quarters_submitted = quarters_expected) as units_submitted,
        count(*) filter (where quarters_accepted = quarters_expected) as units_accepted
    from unit_coverage
    group by year, figure_id
),
from_quarters as (
    select
        quarter_years.year,
        figures.figure_id,
        figures.section,
        figures.quote_zh,
        figures.metric_en,
        figures.unit_zh,
        figures.base_unit,
        figures.comparator,
        figures.published as published_number,
        cast(coalesce(district_values.value, 0) as decimal(38, 2)) as value_to_date,
        report_unit_value(coalesce(district_values.value, 0), figures.unit_zh) as report_value,
        cast(figures.published as decimal(38, 6)) as published_value,
        length(split_part(figures.published, '.', 2)) as published_decimals,
        coalesce(coverage.units_expected, 0) as units_expected,
        coalesce(coverage.units_submitted, 0) as units_submitted,
        coalesce(coverage.units_accepted, 0) as units_accepted,
        published_reports.period is not null as has_published_report,
        quarter_years.quarters_held = 4 as whole_year,
        quarter_years.quarters_held,
        quarter_years.quarters,
        quarter_years.missing_quarters
    from quarter_years
    cross join figures
    left join published_reports on published_reports.period = quarter_years.year
    left join district_values
        on district_values.year = quarter_years.year
        and district_values.figure_id = figures.figure_id
    left join coverage
        on coverage.year = quarter_years.year
        and coverage.figure_id = figures.figure_id
),
quarter_rows as (
    select
        year,
        figure_id,
        section,
        quote_zh,
        metric_en,
        -- the year's figure once all four quarters are in; a part of a year is not a year
        case when whole_year then value_to_date end as value,
        value_to_date,
        base_unit,
        case when has_published_report then report_wording(comparator, published_number, unit_zh) end as published,
        case when has_published_report and whole_year
            then report_wording(comparator, figure_number(comparator, report_value, published_decimals), unit_zh)
        end as reproduced,
        comparator,
        case when has_published_report and whole_year
            then coalesce(figure_matches(comparator, report_value, published_value), false)
        end as matches,
        units_expected,
        units_submitted,
        units_accepted,
        whole_year and units_accepted = units_expected as complete,
        'quarters' as basis,
        whole_year,
        quarters_held as quarters_loaded,
        quarters,
        missing_quarters
    from from_quarters
),
annual_rows as (
    -- a year whose annual returns are in: report.district_figures's row of the year, as it is
    select
        district_figures.period as year,
        district_figures.figure_id,
        district_figures.section,
        district_figures.quote_zh,
        district_figures.metric_en,
        district_figures.value,
        district_figures.value as value_to_date,
        district_figures.base_unit,
        district_figures.published,
        district_figures.reproduced,
        district_figures.comparator,
        district_figures.matches,
        district_figures.units_expected,
        district_figures.units_submitted,
        district_figures.units_accepted,
        district_figures.complete,
        'annual' as basis,
        true as whole_year,
        0 as quarters_loaded,
        cast(null as varchar) as quarters,
        cast(null as varchar) as missing_quarters
    from district_figures
    join years on years.year = district_figures.period and years.annual_held
),
combined as (
    select * from annual_rows
    union all by name
    select * from quarter_rows
),
final as (
    select
        year,
        figure_id,
        section,
        quote_zh,
        metric_en,
        value,
        value_to_date,
        base_unit,
        published,
        reproduced,
        comparator,
        matches,
        units_expected,
        units_submitted,
        units_accepted,
        complete,
        basis,
        whole_year,
        quarters_loaded,
        quarters,
        missing_quarters
    from combined
)
select * from final

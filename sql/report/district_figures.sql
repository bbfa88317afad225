-- the district figures of the work report, reproduced from the submissions: one row per period and figure.
-- value is in the base unit (yuan, persons, ...); published and reproduced are in the report's words.
-- Only units whose kind reports an indicator (the catalog's reported_by, spelled out by ref.reporting_groups)
-- move its figure, whatever else their files carry. Each figure says what it rests on: of the units of its
-- reporting group expected for the period, how many submitted anything, how many have a current accepted file,
-- and whether that is all of them (complete). A figure no accepted file feeds is 0, not null, and incomplete.
-- figures.csv holds the numbers of the reports listed in reference/published_reports.csv: a period without a
-- published report keeps its values, but published, reproduced and matches are null (there is nothing to compare).
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
indicator_values as (
    select * from marts.fct_indicator_value
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
periods as (
    select period from marts.dim_period
),
reporting_units as (
    -- which unit reports which indicator: the unit's kind is one of the indicator's reporting kinds
    select indicators.indicator_code, indicators.figure_id, units.unit_code
    from indicators
    join units on list_contains(indicators.reporting_kinds, units.kind)
    where indicators.figure_id is not null
),
summed as (
    select indicator_values.period, indicators.figure_id, sum(indicator_values.value) as value
    from indicator_values
    join indicators on indicators.indicator_code = indicator_values.indicator_code
    join reporting_units
        on reporting_units.indicator_code = indicator_values.indicator_code
        and reporting_units.unit_code = indicator_values.unit_code
    where indicators.aggregation in ('sum', 'count_yes')  -- flags are 1/0, so a count of yes is a sum
    group by indicator_values.period, indicators.figure_id
),
distinct_counted as (
    -- a distinct count is taken over the whole district: a topic two units both offer counts once
    select detail_rows.period, indicators.figure_id, count(distinct detail_rows.measure_value) as value
    from detail_rows
    join current_submissions on current_submissions.submission_id = detail_rows.submission_id
    join indicators on indicators.indicator_code = detail_rows.indicator_code
    join reporting_units
        on reporting_units.indicator_code = detail_rows.indicator_code
        and reporting_units.unit_code = detail_rows.unit_code
    where indicators.aggregation = 'count_distinct'
    group by detail_rows.period, indicators.figure_id
),
district_values as (
    select * from summed
    union all
    select * from distinct_counted
),
figure_units as (
    -- the units a figure rests on: those of its reporting group expected for the period
    select distinct expected_units.period, reporting_units.figure_id, expected_units.unit_code
    from expected_units
    join reporting_units on reporting_units.unit_code = expected_units.unit_code
),
submitted_units as (
    -- any file recorded for the period, whatever its outcome (accepted, rejected, held, ...)
    select distinct period, unit_code from submissions
),
accepted_units as (
    select distinct period, unit_code from current_submissions
),
coverage as (
    select
        figure_units.period,
        figure_units.figure_id,
        count(*) as units_expected,
        count(submitted_units.unit_code) as units_submitted,
        count(accepted_units.unit_code) as units_accepted
    from figure_units
    left join submitted_units
        on submitted_units.period = figure_units.period and submitted_units.unit_code = figure_units.unit_code
    left join accepted_units
        on accepted_units.period = figure_units.period and accepted_units.unit_code = figure_units.unit_code
    group by figure_units.period, figure_units.figure_id
),
compared as (
    select
        periods.period,
        figures.figure_id,
        figures.section,
        figures.quote_zh,
        figures.metric_en,
        figures.unit_zh,
        figures.base_unit,
        figures.comparator,
        figures.published as published_number,
        -- no accepted file feeds the figure: it is 0 (and says it is incomplete), never null
        cast(coalesce(district_values.value, 0) as decimal(38, 2)) as value,
        report_unit_value(coalesce(district_values.value, 0), figures.unit_zh) as report_value,
        cast(figures.published as decimal(38, 6)) as published_value,
        length(split_part(figures.published, '.', 2)) as published_decimals,
        coalesce(coverage.units_expected, 0) as units_expected,
        coalesce(coverage.units_submitted, 0) as units_submitted,
        coalesce(coverage.units_accepted, 0) as units_accepted,
        published_reports.period is not null as has_published_report
    from periods
    cross join figures
    left join published_reports on published_reports.period = periods.period
    left join district_values
        on district_values.period = periods.period
        and district_values.figure_id = figures.figure_id
    left join coverage
        on coverage.period = periods.period
        and coverage.figure_id = figures.figure_id
),
final as (
    select
        period,
        figure_id,
        section,
        quote_zh,
        metric_en,
        value,
        base_unit,
        case when has_published_report then report_wording(comparator, published_number, unit_zh) end as published,
        case when has_published_report
            then report_wording(comparator, figure_number(comparator, report_value, published_decimals), unit_zh)
        end as reproduced,
        comparator,
        case when has_published_report
            then coalesce(figure_matches(comparator, report_value, published_value), false)
        end as matches,
        units_expected,
        units_submitted,
        units_accepted,
        -- every expected unit of the figure's reporting group has a current accepted file
        units_accepted = units_expected as complete
    from compared
)
select * from final

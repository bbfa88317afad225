-- the district figures of the work report, reproduced from the submissions: one row per period and figure.
-- value is in the base unit (yuan, persons, ...); published and reproduced are in the report's words.
with figures as (
    select * from ref.figures
),
indicators as (
    select * from marts.dim_indicator
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
periods as (
    select period from marts.dim_period
),
summed as (
    select indicator_values.period, indicators.figure_id, sum(indicator_values.value) as value
    from indicator_values
    join indicators on indicators.indicator_code = indicator_values.indicator_code
    where indicators.aggregation in ('sum', 'count_yes')  -- flags are 1/0, so a count of yes is a sum
    group by indicator_values.period, indicators.figure_id
),
distinct_counted as (
    -- a distinct count is taken over the whole district: a topic two units both offer counts once
    select detail_rows.period, indicators.figure_id, count(distinct detail_rows.measure_value) as value
    from detail_rows
    join current_submissions on current_submissions.submission_id = detail_rows.submission_id
    join indicators on indicators.indicator_code = detail_rows.indicator_code
    where indicators.aggregation = 'count_distinct'
    group by detail_rows.period, indicators.figure_id
),
district_values as (
    select * from summed
    union all
    select * from distinct_counted
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
        cast(district_values.value as decimal(38, 2)) as value,
        report_unit_value(district_values.value, figures.unit_zh) as report_value,
        cast(figures.published as decimal(38, 6)) as published_value,
        length(split_part(figures.published, '.', 2)) as published_decimals
    from periods
    cross join figures
    left join district_values
        on district_values.period = periods.period
        and district_values.figure_id = figures.figure_id
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
        report_wording(comparator, published_number, unit_zh) as published,
        report_wording(comparator, figure_number(comparator, report_value, published_decimals), unit_zh) as reproduced,
        comparator,
        coalesce(figure_matches(comparator, report_value, published_value), false) as matches
    from compared
)
select * from final

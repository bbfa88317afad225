-- grain: one row per period × figure × detail row counted (the current accepted files' rows behind each detail-based figure)
-- The measure as a number: value_count (bigint) is what the row adds to a count figure (1 for a count of rows, the
-- field for a sum of persons), value_yuan (decimal(18,2)) what it adds to a money figure, distinct_value the text a
-- distinct-count figure counts once over the district (F23, F24). Summing value_count or value_yuan over a figure's
-- rows gives report.district_figures.value. source_cell is the measured cell (`小微企业经费返还!D5`), null for a
-- count of rows, which has no measured column.
-- incremental by period: its rows depend on their own period only: a run rebuilds just its period's rows
with detail_rows as (
    select * from marts.int_indicator_detail_rows
),
current_submissions as (
    select * from ops.current_submissions
),
indicators as (
    select * from marts.dim_indicator
),
units as (
    select * from marts.dim_unit
),
sheet_layouts as (
    select * from ops.sheet_layouts
),
measured_columns as (
    select submission_id, sheet_name, field, any_value(column_letter) as column_letter
    from sheet_layouts
    group by submission_id, sheet_name, field
),
final as (
    select
        detail_rows.period,
        indicators.figure_id,
        detail_rows.indicator_code,
        indicators.name_zh as indicator_name_zh,
        indicators.unit_zh,
        indicators.value_type,
        detail_rows.measure,
        detail_rows.measure_field,
        detail_rows.unit_code,
        units.name_zh as unit_name_zh,
        units.kind as unit_kind,
        case
            when indicators.value_type <> 'count' or detail_rows.measure = 'count_distinct' then null
            when detail_rows.measure = 'count' then 1
            else coalesce(try_cast(detail_rows.measure_value as bigint), 0)
        end::bigint as value_count,
        -- amounts are yuan with at most two decimals (a validation rule); an empty cell adds nothing
        case when indicators.value_type = 'money' and detail_rows.measure = 'sum'
            then coalesce(try_cast(detail_rows.measure_value as decimal(18, 2)), 0)
        end::decimal(18, 2) as value_yuan,
        case when detail_rows.measure = 'count_distinct' then detail_rows.measure_value end as distinct_value,
        detail_rows.measure_value as measure_text,
        detail_rows.submission_id,
        detail_rows.file_name,
        detail_rows.sheet_name,
        detail_rows.source_row,
        case when measured_columns.column_letter is not null
            then detail_rows.sheet_name || '!' || measured_columns.column_letter || detail_rows.source_row
        end as source_cell
    from detail_rows
    join current_submissions on current_submissions.submission_id = detail_rows.submission_id
    join indicators on indicators.indicator_code = detail_rows.indicator_code
    left join units on units.unit_code = detail_rows.unit_code
    left join measured_columns
        on measured_columns.submission_id = detail_rows.submission_id
        and measured_columns.sheet_name = detail_rows.sheet_name
        and measured_columns.field = detail_rows.measure_field
    where indicators.figure_id is not null
)
select * from final

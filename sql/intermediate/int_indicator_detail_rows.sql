-- for each detail-derived indicator, the detail rows it counts and the value it takes from each: the lineage
-- of every detail-based figure, down to sheet and row. The catalog defines the measure: which sheet, which
-- field, and which field=value conditions a row must meet ("channel=三方联调中心调解;outcome=调解成功").
-- Only rows of units whose kind reports the indicator count: a town's file carrying training courses (an
-- indicator of the district office) moves no figure.
-- incremental by period: its rows depend on their own period only: a run rebuilds just its period's rows
with indicators as (
    select * from marts.dim_indicator where detail_sheet is not null
),
units as (
    select * from marts.dim_unit
),
detail_fields as (
    select * from staging.stg_raw__detail_fields
),
conditions as (
    select
        indicator_code,
        split_part(condition, '=', 1) as field,
        split_part(condition, '=', 2) as value_text
    from (
        select indicator_code, unnest(string_split(detail_filter, ';')) as condition
        from indicators
        where detail_filter is not null
    )
),
detail_rows as (
    select distinct submission_id, unit_code, period, file_name, sheet_kind, sheet_name, source_row
    from detail_fields
),
-- each join below reads only the fields it can match: a hash table of every detail field, built once per join,
-- does not fit DuckDB's memory at a few thousand workbooks
condition_fields as (
    select * from detail_fields where field in (select field from conditions)
),
measures as (
    -- each row's measured value for an indicator, and the value of the field it is told apart within (a content
    -- within its topic), in one pass over the fields: a second join to every detail field does not fit DuckDB's
    -- memory at a few thousand workbooks
    select
        detail_fields.submission_id,
        detail_fields.sheet_kind,
        detail_fields.source_row,
        indicators.indicator_code,
        max(detail_fields.value_text) filter (where detail_fields.field = indicators.measure_field) as measured,
        max(detail_fields.value_text) filter (where detail_fields.field = indicators.distinct_within) as within
    from detail_fields
    join indicators
        on indicators.detail_sheet = detail_fields.sheet_kind
        and (detail_fields.field = indicators.measure_field or detail_fields.field = indicators.distinct_within)
    group by detail_fields.submission_id, detail_fields.sheet_kind, detail_fields.source_row, indicators.indicator_code
),
conditions_met as (
    -- a row counts for an indicator when it meets every one of the indicator's conditions
    select
        indicators.indicator_code,
        detail_rows.submission_id,
        detail_rows.source_row,
        count(conditions.field) as conditions,
        count(detail_fields.field) as met
    from indicators
    join detail_rows on detail_rows.sheet_kind = indicators.detail_sheet
    left join conditions on conditions.indicator_code = indicators.indicator_code
    left join condition_fields as detail_fields
        on detail_fields.submission_id = detail_rows.submission_id
        and detail_fields.sheet_kind = detail_rows.sheet_kind
        and detail_fields.source_row = detail_rows.source_row
        and detail_fields.field = conditions.field
        and detail_fields.value_text = conditions.value_text
    group by indicators.indicator_code, detail_rows.submission_id, detail_rows.source_row
),
final as (
    select
        detail_rows.period,
        detail_rows.unit_code,
        conditions_met.indicator_code,
        indicators.measure,
        indicators.measure_field,
        detail_rows.submission_id,
        detail_rows.file_name,
        detail_rows.sheet_name,
        detail_rows.source_row,
        case
            -- a distinct count tells values apart without their spaces (安全 生产 is 安全生产), and within the
            -- catalog's distinct_within field: a content is one of its topic ("职业病防治 / 案例分析")
            when indicators.measure = 'count_distinct' and measures.measured is not null then concat_ws(
                ' / ',
                regexp_replace(measures.within, '[\s\x{3000}\x{00a0}]+', '', 'g'),
                regexp_replace(measures.measured, '[\s\x{3000}\x{00a0}]+', '', 'g')
            )
            else measures.measured
        end as measure_value
    from conditions_met
    join indicators on indicators.indicator_code = conditions_met.indicator_code
    join detail_rows
        on detail_rows.submission_id = conditions_met.submission_id
        and detail_rows.sheet_kind = indicators.detail_sheet
        and detail_rows.source_row = conditions_met.source_row
    join units
        on units.unit_code = detail_rows.unit_code
        and list_contains(indicators.reporting_kinds, units.kind)
    left join measures
        on measures.submission_id = detail_rows.submission_id
        and measures.sheet_kind = detail_rows.sheet_kind
        and measures.source_row = detail_rows.source_row
        and measures.indicator_code = conditions_met.indicator_code
    where conditions_met.conditions = conditions_met.met
)
select * from final

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
detail_fields as not materialized (
    -- read where it is used, never held: every filled cell with its lineage is some 17 million rows at 10,000
    -- workbooks, more than DuckDB's memory bound (512 MB) within a run's load
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
sheets as (
    -- each file's detail sheets with their lineage: a few rows a file
    select distinct submission_id, sheet_kind, unit_code, period, file_name, sheet_name
    from detail_fields
),
detail_rows as (
    -- the rows with a filled cell: told apart by their key alone, the lineage joined to the few distinct ones
    select sheets.*, row_keys.source_row
    from (select distinct submission_id, sheet_kind, source_row from detail_fields) as row_keys
    join sheets on sheets.submission_id = row_keys.submission_id and sheets.sheet_kind = row_keys.sheet_kind
),
indicator_fields as (
    -- the fields an indicator reads from a row: the one it measures, and the one it is told apart within
    select indicator_code, detail_sheet, measure_field as field, 'measured' as role from indicators
    union all
    select indicator_code, detail_sheet, distinct_within as field, 'within' as role
    from indicators
    where distinct_within is not null
),
read_fields as (
    -- every (sheet, field) some indicator measures, tells apart within or filters on
    select detail_sheet as sheet_kind, field from indicator_fields
    union
    select indicators.detail_sheet, conditions.field
    from conditions join indicators on indicators.indicator_code = conditions.indicator_code
),
fields as materialized (
    -- held once for the two joins below: only the cells some indicator reads, and only what identifies them
    select detail_fields.submission_id, detail_fields.sheet_kind, detail_fields.source_row,
        detail_fields.field, detail_fields.value_text
    from detail_fields
    semi join read_fields
        on read_fields.sheet_kind = detail_fields.sheet_kind and read_fields.field = detail_fields.field
),
measures as (
    -- each row's measured value for an indicator, and the value of the field it is told apart within (a content
    -- within its topic), in one pass over the fields (a second join to every detail field does not fit DuckDB's
    -- memory at a few thousand workbooks) and by equality only (a join on either field is a nested loop)
    select
        fields.submission_id,
        fields.sheet_kind,
        fields.source_row,
        indicator_fields.indicator_code,
        max(fields.value_text) filter (where indicator_fields.role = 'measured') as measured,
        max(fields.value_text) filter (where indicator_fields.role = 'within') as within
    from fields
    join indicator_fields
        on indicator_fields.detail_sheet = fields.sheet_kind
        and indicator_fields.field = fields.field
    group by
        fields.submission_id,
        fields.sheet_kind,
        fields.source_row,
        indicator_fields.indicator_code
),
condition_counts as (
    select indicator_code, count(*) as conditions from conditions group by indicator_code
),
conditions_met as (
    -- the conditions of an indicator each of its rows meets (a row missing from here meets none)
    select
        conditions.indicator_code,
        fields.submission_id,
        fields.source_row,
        count(*) as met
    from conditions
    join indicators on indicators.indicator_code = conditions.indicator_code
    join fields
        on fields.sheet_kind = indicators.detail_sheet
        and fields.field = conditions.field
        and fields.value_text = conditions.value_text
    group by conditions.indicator_code, fields.submission_id, fields.source_row
),
final as (
    select
        detail_rows.period,
        detail_rows.unit_code,
        indicators.indicator_code,
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
    from indicators
    join detail_rows on detail_rows.sheet_kind = indicators.detail_sheet
    join units
        on units.unit_code = detail_rows.unit_code
        and list_contains(indicators.reporting_kinds, units.kind)
    left join measures
        on measures.submission_id = detail_rows.submission_id
        and measures.sheet_kind = detail_rows.sheet_kind
        and measures.source_row = detail_rows.source_row
        and measures.indicator_code = indicators.indicator_code
    left join condition_counts on condition_counts.indicator_code = indicators.indicator_code
    left join conditions_met
        on conditions_met.indicator_code = indicators.indicator_code
        and conditions_met.submission_id = detail_rows.submission_id
        and conditions_met.source_row = detail_rows.source_row
    -- a row counts for an indicator when it meets every one of the indicator's conditions
    where coalesce(conditions_met.met, 0) = coalesce(condition_counts.conditions, 0)
)
select * from final

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
    left join detail_fields
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
            when indicators.measure = 'count_distinct' and measured.value_text is not null then concat_ws(
                ' / ',
                regexp_replace(within.value_text, '[\s\x{3000}\x{00a0}]+', '', 'g'),
                regexp_replace(measured.value_text, '[\s\x{3000}\x{00a0}]+', '', 'g')
            )
            else measured.value_text
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
    left join detail_fields as measured
        on measured.submission_id = detail_rows.submission_id
        and measured.sheet_kind = detail_rows.sheet_kind
        and measured.source_row = detail_rows.source_row
        and measured.field = indicators.measure_field
    left join detail_fields as within
        on within.submission_id = detail_rows.submission_id
        and within.sheet_kind = detail_rows.sheet_kind
        and within.source_row = detail_rows.source_row
        and within.field = indicators.distinct_within
    where conditions_met.conditions = conditions_met.met
)
select * from final

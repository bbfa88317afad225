-- one value per loaded submission (current or superseded) and indicator. An indicator with a detail sheet
-- takes its value from that sheet where the file's template version has the sheet (the indicator row must
-- agree, which the validate stage checks); the others, and a file of a version without the sheet (a v1 file's
-- welfare totals), take it from the indicator sheet. Lineage: submission, sheet, and the source row (indicator sheet) or row count.
-- incremental by period: its rows depend on their own period only: a run rebuilds just its period's rows
with submissions as (
    select * from ops.submissions
    where status in (select status from ref.outcomes where counted) or status = 'superseded'
),
units as (
    select * from marts.dim_unit
),
indicators as (
    select * from marts.dim_indicator
),
sheet_values as (
    select * from staging.stg_raw__indicator_values
),
detail_values as (
    select * from marts.int_detail_indicator_values
),
template_sheets as (
    select * from ref.template_sheets
),
expected as (
    -- every indicator each submitting unit reports, so that a detail sheet with no rows counts as zero
    select
        submissions.period,
        submissions.unit_code,
        submissions.submission_id,
        indicators.indicator_code,
        template_sheets.sheet_kind as detail_sheet
    from submissions
    join units on units.unit_code = submissions.unit_code
    join indicators on list_contains(indicators.reporting_kinds, units.kind)
    left join template_sheets
        on template_sheets.template_version = submissions.template_version
        and template_sheets.sheet_kind = indicators.detail_sheet
),
final as (
    select
        expected.period,
        expected.unit_code,
        expected.indicator_code,
        case
            when expected.detail_sheet is null then sheet_values.value
            else coalesce(detail_values.value, 0)
        end as value,
        case when expected.detail_sheet is null then 'indicator_sheet' else 'detail_sheet' end as source,
        expected.submission_id,
        submissions.status as submission_status,
        submissions.received_at,
        submissions.file_name,
        coalesce(detail_values.sheet_name, sheet_values.sheet_name) as source_sheet,
        case when expected.detail_sheet is null then sheet_values.source_row end as source_row,
        coalesce(detail_values.source_rows, 0) as detail_rows
    from expected
    join submissions on submissions.submission_id = expected.submission_id
    left join sheet_values
        on sheet_values.submission_id = expected.submission_id
        and sheet_values.indicator_code = expected.indicator_code
    left join detail_values
        on detail_values.submission_id = expected.submission_id
        and detail_values.indicator_code = expected.indicator_code
)
select * from final

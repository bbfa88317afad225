-- one value per period, unit and indicator: the unit's current submission (its latest accepted file), with
-- lineage to the submission, sheet and row the value comes from
-- incremental by period: its rows depend on their own period only: a run rebuilds just its period's rows
with submission_values as (
    select * from marts.int_submission_indicator_values
),
final as (
    select
        period,
        unit_code,
        indicator_code,
        value,
        source,
        submission_id,
        file_name,
        source_sheet,
        source_row,
        detail_rows
    from submission_values
    where submission_status in (select status from ref.outcomes where counted)
)
select * from final

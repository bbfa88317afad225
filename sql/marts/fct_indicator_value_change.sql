-- the change log of reported values: each value a resubmission changed, with the submission before and after
-- and when the new one arrived (a unit's first submission of a period is not a change)
-- incremental by period: its rows depend on their own period only: a run rebuilds just its period's rows
with submission_values as (
    select * from marts.int_submission_indicator_values
),
sequenced as (
    select
        *,
        lag(value) over unit_history as previous_value,
        lag(submission_id) over unit_history as previous_submission_id,
        lag(file_name) over unit_history as previous_file_name,
        row_number() over unit_history as version
    from submission_values
    window unit_history as (partition by period, unit_code, indicator_code order by received_at, submission_id)
),
final as (
    select
        period,
        unit_code,
        indicator_code,
        previous_value as old_value,
        value as new_value,
        previous_submission_id as old_submission_id,
        submission_id as new_submission_id,
        previous_file_name as old_file_name,
        file_name as new_file_name,
        received_at as changed_at,
        version
    from sequenced
    where version > 1 and previous_value is distinct from value
)
select * from final

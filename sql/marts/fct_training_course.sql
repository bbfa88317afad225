-- courses of the on-site training programme, one row each, from accepted submissions, with the unit named and the lineage kept
-- incremental by period: its rows depend on their own period only: a run rebuilds just its period's rows
with current_submissions as (
    select * from ops.current_submissions
),
units as (
    select * from marts.dim_unit
),
submitted as (
    select * from staging.stg_raw__training_courses
),
final as (
    select
        submitted.*,
        units.name_zh as unit_name_zh,
        units.kind as unit_kind
    from submitted
    join current_submissions on current_submissions.submission_id = submitted.submission_id
    left join units on units.unit_code = submitted.unit_code
)
select * from final

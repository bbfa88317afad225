-- welfare payments to people (住院关爱, 两保计划, 助学, 新春慰问), one row each, from accepted submissions, with the
-- unit named and the lineage kept. A person is a keyed hash (person_key): the same person has the same key in
-- every unit and period, and no one can go back from it to the name or ID number
-- incremental by period: its rows depend on their own period only: a run rebuilds just its period's rows
with current_submissions as (
    select * from ops.current_submissions
),
units as (
    select * from marts.dim_unit
),
submitted as (
    select * from staging.stg_raw__beneficiaries
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

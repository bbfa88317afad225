-- completeness and timeliness: for each period, every unit expected to submit, whether and when it did,
-- on time or late against the period's due date, and the outcome of its latest file
with periods as (
    select * from marts.dim_period
),
expected_units as (
    select * from ops.expected_units
),
units as (
    select * from marts.dim_unit
),
submissions as (
    select * from ops.submissions
),
per_unit as (
    select
        period,
        unit_code,
        count(*) as files,
        min(received_at) as first_received_at,
        max(received_at) as last_received_at,
        -- the file that counts: the current accepted one if any, else the latest received
        arg_max(submission_id, (status in (select status from ref.outcomes where counted), received_at)) as submission_id
    from submissions
    group by period, unit_code
),
final as (
    select
        expected_units.period,
        expected_units.unit_code,
        units.name_zh as unit_name_zh,
        units.kind as unit_kind,
        per_unit.files is not null as submitted,
        coalesce(submissions.status, 'missing') as status,
        per_unit.files,
        per_unit.first_received_at,
        per_unit.last_received_at,
        periods.due_on,
        case when per_unit.first_received_at is not null
            then cast(per_unit.first_received_at at time zone 'Asia/Shanghai' as date) <= periods.due_on
        end as on_time,
        case when per_unit.first_received_at is not null
            then greatest(0, date_diff('day', periods.due_on, cast(per_unit.first_received_at at time zone 'Asia/Shanghai' as date)))
        end as days_late,
        submissions.submission_id,
        submissions.file_name,
        submissions.errors,
        submissions.warnings
    from expected_units
    join periods on periods.period = expected_units.period
    left join units on units.unit_code = expected_units.unit_code
    left join per_unit on per_unit.period = expected_units.period and per_unit.unit_code = expected_units.unit_code
    left join submissions on submissions.submission_id = per_unit.submission_id
)
select * from final

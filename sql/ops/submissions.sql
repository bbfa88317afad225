-- the public view of received submissions and their outcome (accepted, accepted_with_warnings, rejected)
with submission_log as (
    select * from ops.submission_log
),
final as (
    select
        submission_id,
        unit_code,
        period,
        file_name,
        sha256,
        received_at,
        status,
        errors,
        warnings,
        template_version,
        superseded_by,
        run_id
    from submission_log
)
select * from final

-- the public view of data-quality findings, with the unit and period of their submission
with findings_log as (
    select * from ops.findings_log
),
submission_log as (
    select * from ops.submission_log
),
final as (
    select
        findings_log.submission_id,
        submission_log.unit_code,
        submission_log.period,
        findings_log.file_name,
        findings_log.severity,
        findings_log.rule,
        findings_log.sheet,
        findings_log.cell,
        findings_log.value,
        findings_log.message
    from findings_log
    left join submission_log on submission_log.submission_id = findings_log.submission_id
)
select * from final

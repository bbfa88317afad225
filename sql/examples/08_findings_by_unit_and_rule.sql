-- Question: which data-quality problems did each unit's files have, by rule and severity, and where is the first
-- one? One row per unit, rule and severity over every file received for the period (rejected and superseded files
-- included); ops.findings has each finding's cell, value and Chinese message.
select
    units.name_zh as unit_name_zh,
    findings.rule,
    findings.severity,
    count(*) as findings,
    count(distinct findings.submission_id) as files,
    min(findings.sheet || '!' || coalesce(findings.cell, '')) as first_cell,
    any_value(findings.message) as example_message
from ops.findings as findings
left join marts.dim_unit as units on units.unit_code = findings.unit_code
where findings.period = '2022'
group by units.name_zh, findings.rule, findings.severity
order by findings desc, unit_name_zh, findings.rule;

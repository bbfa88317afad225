-- Question: which units have not submitted for the period, or submitted after the due date, and by how many days?
-- One row per unit that is missing or late (report.submission_completeness: first file received against the
-- period's due date, Asia/Shanghai); empty when everyone was on time.
select
    unit_code,
    unit_name_zh,
    status,
    due_on,
    first_received_at,
    days_late,
    file_name
from report.submission_completeness
where period = '2022' and (not submitted or not on_time)
order by submitted, days_late desc, unit_code;

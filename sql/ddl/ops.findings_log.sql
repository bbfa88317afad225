-- every finding of the latest processing of each submission, traced to a sheet and cell
create table if not exists ops.findings_log (
    submission_id varchar not null,
    file_name varchar,
    severity varchar not null,
    rule varchar not null,
    sheet varchar,
    cell varchar,
    value varchar,
    message varchar not null,
    run_id varchar not null
)

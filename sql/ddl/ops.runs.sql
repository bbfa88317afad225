-- one row per pipeline run: what it was asked to do and how it ended
create table if not exists ops.runs (
    run_id varchar primary key,
    period varchar not null,
    raw_dir varchar,
    started_at timestamptz not null,
    finished_at timestamptz,
    status varchar not null,
    files_seen integer,
    accepted integer,
    rejected integer,
    message varchar
)

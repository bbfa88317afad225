-- every file ever received, one row per distinct content (sha256), with its latest outcome
create table if not exists ops.submission_log (
    submission_id varchar primary key,
    sha256 varchar not null,
    file_name varchar not null,
    size_bytes bigint,
    received_at timestamptz,
    unit_code varchar,
    unit_name varchar,
    period varchar,
    template_version varchar,
    contact_name varchar,
    status varchar not null,  -- accepted, accepted_with_warnings, rejected, superseded, held
    superseded_by varchar,
    errors integer not null,
    warnings integer not null,
    infos integer not null,
    run_id varchar not null,
    processed_at timestamptz not null
)

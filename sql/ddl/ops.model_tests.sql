-- which declared model tests (the schema.yml files) each build ran, and how many rows failed each: a build only
-- commits when every test passes, so a row here records a test that held for that run's warehouse
create table if not exists ops.model_tests (
    run_id varchar,
    tested_at timestamptz not null,
    relation varchar not null,
    test_kind varchar not null,
    test_name varchar not null,
    failing_rows bigint not null
)

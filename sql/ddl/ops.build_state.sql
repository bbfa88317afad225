-- what the models were last built from: a fingerprint of every model's SQL and of the reference data; while it
-- holds, a run rebuilds only its own period's rows of the incremental models
create table if not exists ops.build_state (
    fingerprint varchar not null,
    built_at timestamptz not null
)

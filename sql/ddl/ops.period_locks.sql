-- closed periods: the district has approved them; files arriving for them are kept but not loaded
create table if not exists ops.period_locks (
    period varchar primary key,
    closed_at timestamptz not null,
    note varchar
)

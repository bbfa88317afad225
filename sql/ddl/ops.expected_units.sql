-- which units are expected to submit for each period (the reference units, or a period's own units file)
create table if not exists ops.expected_units (
    period varchar not null,
    unit_code varchar not null,
    primary key (period, unit_code)
)

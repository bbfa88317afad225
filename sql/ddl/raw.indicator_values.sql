-- generated from the template (v2) by `union-stats suites`: the “指标” sheet's rows as
-- parsed (every cell as text), each with its lineage; accepted submissions only
create table if not exists raw.indicator_values (
    submission_id varchar,
    unit_code varchar,
    period varchar,
    file_name varchar,
    sheet_name varchar,
    source_row bigint,
    indicator_code varchar,
    indicator_name varchar,
    unit_of_measure varchar,
    value varchar,
    remark varchar
)

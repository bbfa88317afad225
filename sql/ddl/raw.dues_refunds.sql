-- generated from the template (v2) by `union-stats suites`: the “小微企业经费返还” sheet's rows as
-- parsed (every cell as text), each with its lineage; accepted submissions only
create table if not exists raw.dues_refunds (
    submission_id varchar,
    unit_code varchar,
    period varchar,
    file_name varchar,
    sheet_name varchar,
    source_row bigint,
    enterprise_name varchar,
    credit_code varchar,
    employees varchar,
    refund_yuan varchar
)

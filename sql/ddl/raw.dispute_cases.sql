-- generated from the template (v2) by `union-stats suites`: the “劳资纠纷案件” sheet's rows as
-- parsed (every cell as text), each with its lineage; accepted submissions only
create table if not exists raw.dispute_cases (
    submission_id varchar,
    unit_code varchar,
    period varchar,
    file_name varchar,
    sheet_name varchar,
    source_row bigint,
    case_no varchar,
    channel varchar,
    accepted_on varchar,
    workers varchar,
    amount_claimed_yuan varchar,
    outcome varchar,
    amount_recovered_yuan varchar
)

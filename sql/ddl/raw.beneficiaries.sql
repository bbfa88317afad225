-- generated from the template (v2) by `union-stats suites`: the “帮扶对象明细” sheet's rows as
-- parsed (every cell as text), each with its lineage; accepted submissions only
-- names and ID numbers are not stored: person_key is the ID number's keyed hash (pseudonym.py)
create table if not exists raw.beneficiaries (
    submission_id varchar,
    unit_code varchar,
    period varchar,
    file_name varchar,
    sheet_name varchar,
    source_row bigint,
    beneficiary_type varchar,
    paid_on varchar,
    amount_yuan varchar,
    remark varchar,
    person_key varchar,
    id_check varchar,
    birth_year varchar,
    sex varchar
)

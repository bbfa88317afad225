-- generated from the template (v2) by `union-stats suites`: the “新建工会企业” sheet's rows as
-- parsed (every cell as text), each with its lineage; accepted submissions only
create table if not exists raw.enterprises_unionised (
    submission_id varchar,
    unit_code varchar,
    period varchar,
    file_name varchar,
    sheet_name varchar,
    source_row bigint,
    enterprise_name varchar,
    credit_code varchar,
    founded_on varchar,
    new_members varchar,
    new_form_members varchar
)

-- generated from the template (v2) by `union-stats suites`: the “培训课程” sheet's rows as
-- parsed (every cell as text), each with its lineage; accepted submissions only
create table if not exists raw.training_courses (
    submission_id varchar,
    unit_code varchar,
    period varchar,
    file_name varchar,
    sheet_name varchar,
    source_row bigint,
    topic varchar,
    module varchar,
    hours varchar
)

-- where each template column was found in each submitted sheet, so any raw value can be named by its cell
create table if not exists ops.sheet_layouts (
    submission_id varchar not null,
    sheet_kind varchar not null,
    sheet_name varchar not null,
    field varchar not null,
    column_letter varchar,
    header_row integer
)

-- every filled cell of every detail sheet as (row, field, text): the one shape the catalog's detail measures
-- (count, sum or distinct count of a field over rows matching field=value filters) can be computed over
with enterprises_unionised as (
    unpivot raw.enterprises_unionised
    on columns(* exclude (submission_id, unit_code, period, file_name, sheet_name, source_row))
    into name field value value_text
),
dues_refunds as (
    unpivot raw.dues_refunds
    on columns(* exclude (submission_id, unit_code, period, file_name, sheet_name, source_row))
    into name field value value_text
),
dispute_cases as (
    unpivot raw.dispute_cases
    on columns(* exclude (submission_id, unit_code, period, file_name, sheet_name, source_row))
    into name field value value_text
),
training_courses as (
    unpivot raw.training_courses
    on columns(* exclude (submission_id, unit_code, period, file_name, sheet_name, source_row))
    into name field value value_text
),
beneficiaries as (
    unpivot raw.beneficiaries
    on columns(* exclude (submission_id, unit_code, period, file_name, sheet_name, source_row))
    into name field value value_text
),
stacked as (
    select 'enterprises_unionised' as sheet_kind, * from enterprises_unionised
    union all by name
    select 'dues_refunds' as sheet_kind, * from dues_refunds
    union all by name
    select 'dispute_cases' as sheet_kind, * from dispute_cases
    union all by name
    select 'training_courses' as sheet_kind, * from training_courses
    union all by name
    select 'beneficiaries' as sheet_kind, * from beneficiaries
),
final as (
    select
        submission_id,
        unit_code,
        period,
        file_name,
        sheet_kind,
        sheet_name,
        source_row,
        field,
        trim(value_text) as value_text
    from stacked
)
select * from final

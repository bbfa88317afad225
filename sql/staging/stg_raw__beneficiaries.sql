-- welfare payments to people, one per row as submitted, typed: the person only as a keyed hash (person_key),
-- with the birth year and sex the ID number encodes; names and ID numbers never reach the warehouse
with beneficiaries as (
    select * from raw.beneficiaries
),
renamed as (
    select
        submission_id,
        unit_code,
        period,
        file_name,
        sheet_name,
        source_row,
        beneficiary_type,
        try_cast(paid_on as date) as paid_on,
        try_cast(amount_yuan as decimal(18, 2)) as amount_yuan,
        remark,
        person_key,
        try_cast(birth_year as integer) as birth_year,
        sex
    from beneficiaries
),
final as (
    select * from renamed
)
select * from final

-- enterprises that set up a union in the period, one per row as submitted, typed
with enterprises_unionised as (
    select * from raw.enterprises_unionised
),
renamed as (
    select
        submission_id,
        unit_code,
        period,
        file_name,
        sheet_name,
        source_row,
        enterprise_name,
        credit_code,
        try_cast(founded_on as date) as founded_on,
        try_cast(new_members as integer) as new_members,
        try_cast(new_form_members as integer) as new_form_members
    from enterprises_unionised
),
final as (
    select * from renamed
)
select * from final

-- small and micro enterprises refunded union dues, one per row as submitted, typed (money in yuan)
with dues_refunds as (
    select * from raw.dues_refunds
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
        try_cast(employees as integer) as employees,
        try_cast(refund_yuan as decimal(18, 2)) as refund_yuan
    from dues_refunds
),
final as (
    select * from renamed
)
select * from final

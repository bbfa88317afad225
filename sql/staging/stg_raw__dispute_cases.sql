-- labour-dispute cases the union took part in, one per row as submitted, typed (money in yuan)
with dispute_cases as (
    select * from raw.dispute_cases
),
renamed as (
    select
        submission_id,
        unit_code,
        period,
        file_name,
        sheet_name,
        source_row,
        case_no,
        channel,
        try_cast(accepted_on as date) as accepted_on,
        try_cast(workers as integer) as workers,
        try_cast(amount_claimed_yuan as decimal(18, 2)) as amount_claimed_yuan,
        outcome,
        try_cast(amount_recovered_yuan as decimal(18, 2)) as amount_recovered_yuan
    from dispute_cases
),
final as (
    select * from renamed
)
select * from final

-- courses of the on-site training programme, one module per row as submitted
with training_courses as (
    select * from raw.training_courses
),
renamed as (
    select
        submission_id,
        unit_code,
        period,
        file_name,
        sheet_name,
        source_row,
        trim(topic) as topic,
        trim(module) as module,
        try_cast(hours as decimal(18, 2)) as hours
    from training_courses
),
final as (
    select * from renamed
)
select * from final

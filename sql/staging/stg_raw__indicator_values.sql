-- indicator-sheet rows as submitted, one per unit and indicator, with the value cast to a number
with indicator_values as (
    select * from raw.indicator_values
),
indicators as (
    select * from ref.indicators
),
renamed as (
    select
        indicator_values.submission_id,
        indicator_values.unit_code,
        indicator_values.period,
        indicator_values.file_name,
        indicator_values.sheet_name,
        indicator_values.source_row,
        trim(indicator_values.indicator_code) as indicator_code,
        indicator_values.value as value_text,
        -- flags are written 是/否 in the template; the warehouse keeps 1/0, so a count of yes is a sum
        case
            when indicators.value_type = 'flag'
                then case trim(indicator_values.value) when '是' then 1 when '否' then 0 end
            else try_cast(indicator_values.value as decimal(18, 2))
        end as value,
        indicator_values.remark
    from indicator_values
    left join indicators on indicators.indicator_code = trim(indicator_values.indicator_code)
),
final as (
    select * from renamed
)
select * from final

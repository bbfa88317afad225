-- the reporting units: the district federation's office, the education union and the town/street federations
with units as (
    select * from ref.units
),
final as (
    select
        unit_code,
        name_zh,
        name_en,
        kind,
        size_weight,
        origin
    from units
)
select * from final

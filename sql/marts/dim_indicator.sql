-- the indicator catalog, with the unit kinds that report each indicator spelled out
with indicators as (
    select * from ref.indicators
),
reporting_groups as (
    select * from ref.reporting_groups
),
kinds as (
    select reported_by, list(kind order by kind) as reporting_kinds
    from reporting_groups
    group by reported_by
),
final as (
    select
        indicators.indicator_code,
        indicators.name_zh,
        indicators.name_en,
        indicators.unit_zh,
        indicators.base_unit,
        indicators.value_type,
        indicators.reported_by,
        kinds.reporting_kinds,
        indicators.aggregation,
        indicators.detail_sheet,
        indicators.measure,
        indicators.measure_field,
        indicators.distinct_within,
        indicators.detail_filter,
        indicators.figure_id
    from indicators
    left join kinds on kinds.reported_by = indicators.reported_by
)
select * from final

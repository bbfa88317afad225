-- grain: one row per period × unit × indicator (the unit's current accepted file), in long form with Chinese labels
-- Each value is typed by the catalog's value_type: value_count (bigint) for counts, value_yuan (decimal(18,2)) for
-- money, value_quantity (decimal(18,2), e.g. hours) for quantities, value_flag (boolean) and value_zh (是/否) for
-- flags; value_number holds every type as a number (flags 1/0) for sums across types. source_cell names the
-- indicator sheet's 数值 cell (`指标!D12`); a detail-derived value has its detail sheet and detail_rows instead.
-- incremental by period: its rows depend on their own period only: a run rebuilds just its period's rows
with indicator_values as (
    select * from marts.fct_indicator_value
),
indicators as (
    select * from marts.dim_indicator
),
units as (
    select * from marts.dim_unit
),
sheet_layouts as (
    select * from ops.sheet_layouts
),
value_columns as (
    -- the column the unit's file has its 数值 in (a unit may move or insert columns: the parser found it)
    select submission_id, any_value(column_letter) as column_letter
    from sheet_layouts
    where sheet_kind = 'indicator_values' and field = 'value'
    group by submission_id
),
final as (
    select
        indicator_values.period,
        indicator_values.unit_code,
        units.name_zh as unit_name_zh,
        units.kind as unit_kind,
        indicator_values.indicator_code,
        indicators.name_zh as indicator_name_zh,
        indicators.unit_zh,
        indicators.value_type,
        indicators.aggregation,
        indicators.figure_id,
        cast(indicator_values.value as decimal(18, 2)) as value_number,
        case when indicators.value_type = 'count' then cast(indicator_values.value as bigint) end as value_count,
        case when indicators.value_type = 'money' then cast(indicator_values.value as decimal(18, 2)) end as value_yuan,
        case when indicators.value_type = 'quantity' then cast(indicator_values.value as decimal(18, 2)) end
            as value_quantity,
        -- flags are kept as 1/0 in the facts; analysts read them as true/false and 是/否
        case when indicators.value_type = 'flag' then indicator_values.value = 1 end as value_flag,
        case
            when indicators.value_type = 'flag' then case when indicator_values.value = 1 then '是' else '否' end
            when indicators.value_type = 'count' then cast(cast(indicator_values.value as bigint) as varchar)
            else cast(cast(indicator_values.value as decimal(18, 2)) as varchar)
        end as value_zh,
        indicator_values.source,
        indicator_values.submission_id,
        indicator_values.file_name,
        indicator_values.source_sheet,
        indicator_values.source_row,
        case when indicator_values.source_row is not null and value_columns.column_letter is not null
            then indicator_values.source_sheet || '!' || value_columns.column_letter || indicator_values.source_row
        end as source_cell,
        indicator_values.detail_rows
    from indicator_values
    join indicators on indicators.indicator_code = indicator_values.indicator_code
    left join units on units.unit_code = indicator_values.unit_code
    left join value_columns on value_columns.submission_id = indicator_values.submission_id
)
select * from final

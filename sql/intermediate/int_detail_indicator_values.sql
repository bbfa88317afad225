-- detail-derived indicator values per submission: count, sum or distinct count over the rows that count
-- incremental by period: its rows depend on their own period only: a run rebuilds just its period's rows
with detail_rows as (
    select * from marts.int_indicator_detail_rows
),
measured as (
    select
        period,
        unit_code,
        submission_id,
        indicator_code,
        measure,
        count(*) as row_count,
        -- each amount fits decimal(18, 2) (a rule says so), their sum may not: the validate stage computes
        -- this model on files not yet checked, where the sum must be compared, not overflow
        sum(try_cast(measure_value as decimal(18, 2))::decimal(38, 2)) as value_sum,
        count(distinct measure_value) as distinct_count,
        min(sheet_name) as sheet_name
    from detail_rows
    group by period, unit_code, submission_id, indicator_code, measure
),
final as (
    select
        period,
        unit_code,
        submission_id,
        indicator_code,
        cast(case measure
            when 'count' then row_count
            when 'sum' then coalesce(value_sum, 0)
            when 'count_distinct' then distinct_count
        end as decimal(38, 2)) as value,
        row_count as source_rows,
        sheet_name
    from measured
)
select * from final

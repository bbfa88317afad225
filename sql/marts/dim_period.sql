-- the periods with data: a year (2022) or a quarter (2022Q3), with first and last day
with submissions as (
    select * from ops.submissions
),
periods as (
    select distinct period from submissions where period is not null
),
final as (
    select
        period,
        case when period like '%Q%' then 'quarter' else 'year' end as period_kind,
        cast(left(period, 4) as integer) as year,
        case when period like '%Q%' then cast(right(period, 1) as integer) end as quarter,
        case
            when period like '%Q%'
                then make_date(cast(left(period, 4) as integer), 3 * cast(right(period, 1) as integer) - 2, 1)
            else make_date(cast(left(period, 4) as integer), 1, 1)
        end as starts_on,
        case
            when period like '%Q%'
                then last_day(make_date(cast(left(period, 4) as integer), 3 * cast(right(period, 1) as integer), 1))
            else make_date(cast(left(period, 4) as integer), 12, 31)
        end as ends_on
    from periods
    where regexp_full_match(period, '\d{4}(Q[1-4])?')
)
select * from final

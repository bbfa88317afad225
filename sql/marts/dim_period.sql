-- the periods with data or expected submissions: a year (2022) or a quarter (2022Q3), with first and last day,
-- the day files are due, and whether the district has closed it
with submissions as (
    select * from ops.submissions
),
expected_units as (
    select * from ops.expected_units
),
deadline_rules as (
    select * from ref.deadline_rules
),
period_locks as (
    select * from ops.period_locks
),
periods as (
    select period from submissions where period is not null
    union
    select period from expected_units
),
bounded as (
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
),
final as (
    select
        bounded.*,
        -- a period's files are due some days after its last day (reference/periods.toml)
        cast(bounded.ends_on + to_days(deadline_rules.days_after_end) as date) as due_on,
        period_locks.period is not null as is_closed,
        period_locks.closed_at
    from bounded
    left join deadline_rules on deadline_rules.period_kind = bounded.period_kind
    left join period_locks on period_locks.period = bounded.period
)
select * from final

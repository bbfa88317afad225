-- per period and kind of payment: how many payments, to how many distinct people (a person paid by two units
-- counts once here, twice in the payments), how many of them more than one unit paid, and the amount in yuan
-- incremental by period: its rows depend on their own period only: a run rebuilds just its period's rows
with payments as (
    select * from marts.fct_beneficiary_payment
),
per_person as (
    select period, beneficiary_type, person_key, count(distinct unit_code) as paying_units
    from payments
    group by period, beneficiary_type, person_key
),
people as (
    select
        period,
        beneficiary_type,
        count(*) as distinct_beneficiaries,
        count(*) filter (where paying_units > 1) as paid_by_several_units
    from per_person
    group by period, beneficiary_type
),
totals as (
    select
        period,
        beneficiary_type,
        count(*) as payments,
        sum(amount_yuan)::decimal(18, 2) as amount_yuan,
        count(distinct unit_code) as paying_units
    from payments
    group by period, beneficiary_type
),
final as (
    select
        totals.period,
        totals.beneficiary_type,
        totals.payments,
        people.distinct_beneficiaries,
        people.paid_by_several_units,
        totals.amount_yuan,
        totals.paying_units
    from totals
    join people on people.period = totals.period and people.beneficiary_type = totals.beneficiary_type
)
select * from final

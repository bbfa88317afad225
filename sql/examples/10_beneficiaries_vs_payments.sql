-- Question: for each kind of welfare payment, how many payments were made and to how many distinct people (a
-- person two units paid counts once), and how much? One row per kind of payment; payments_per_person above 1
-- means some people were paid more than once (by several units: paid_by_several_units).
select
    beneficiary_type,
    payments,
    distinct_beneficiaries,
    paid_by_several_units,
    round(payments / distinct_beneficiaries, 3) as payments_per_person,
    amount_yuan,
    paying_units
from marts.fct_beneficiary_count
where period = '2022'
order by payments desc, beneficiary_type;

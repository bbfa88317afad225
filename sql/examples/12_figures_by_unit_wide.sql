-- Question: how does each unit look on the headline numbers, side by side on one line (a town profile, as in a spreadsheet)?
-- Job fairs, employment services, enterprises unionised, new members, new-form members, whether the town has a
-- new-form federation, 粤工惠 registrations. Columns are indicator codes (marts.indicator_values_wide, one column
-- per indicator of the catalog); null where the unit's kind does not report the indicator.
select
    unit_name_zh,
    unit_kind,
    job_fairs,
    employment_services,
    enterprises_unionised,
    new_members,
    new_form_members,
    new_form_federation,
    yuegonghui_registrations
from marts.indicator_values_wide
where period = '2022'
order by unit_kind desc, new_members desc nulls last, unit_name_zh;

-- Question: which small and micro enterprises got union dues back (F02, 返还小微企业工会经费金额; F01 counts them)?
-- Only the district office (区总工会本级) reports refunds (the catalog's reported_by = district_office), so this
-- is one unit's list: a "by town" split of F02 does not exist. One row per refund with its file and row; the
-- amounts add up to F02 (5,329,000 yuan in 2022) and the rows to F01 (267).
select
    refunds.unit_name_zh,
    refunds.enterprise_name,
    refunds.credit_code,
    refunds.refund_yuan,
    refunds.file_name,
    refunds.sheet_name,
    refunds.source_row
from marts.fct_dues_refund as refunds
join marts.figure_detail_rows as detail
    on detail.submission_id = refunds.submission_id
    and detail.source_row = refunds.source_row
    and detail.figure_id = 'F02'
where refunds.period = '2022'
order by refunds.refund_yuan desc, refunds.source_row;

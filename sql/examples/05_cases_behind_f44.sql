-- Question: which cases make up F44 (调解成功案件数, cases the tripartite mediation centre settled), and where is
-- each in the submitted workbooks? One row per case: unit, file, sheet and row, the case number, what it claimed
-- and recovered. The count of rows is F44's value (603 in 2022).
select
    detail.unit_name_zh,
    detail.file_name,
    detail.sheet_name,
    detail.source_row,
    cases.case_no,
    cases.channel,
    cases.outcome,
    cases.workers,
    cases.amount_claimed_yuan,
    cases.amount_recovered_yuan
from marts.figure_detail_rows as detail
join marts.fct_dispute_case as cases
    on cases.submission_id = detail.submission_id and cases.source_row = detail.source_row
where detail.period = '2022' and detail.figure_id = 'F44'
order by detail.unit_name_zh, detail.file_name, detail.source_row;

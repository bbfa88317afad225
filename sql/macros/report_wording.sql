-- a figure in the report's words: 超过4000小时 (gt), 3000多名 (plus), 约6400人次 (approx), else number and unit
create or replace macro report_wording(comparator, number_text, unit_zh) as
    case when comparator = 'gt' then '超过' when comparator like 'approx%' then '约' else '' end
    || number_text
    || case when comparator = 'plus' then '多' else '' end
    || unit_zh

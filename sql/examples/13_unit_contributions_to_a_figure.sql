-- Question: for one figure (here F03, “春风行动”招聘会场次), what did each unit report, and in which cell of which
-- file? One row per unit with its value, share of the district total and the source cell (e.g. 指标!D4). For the
-- same as text or JSON, with the rows behind a detail-based figure: `union-stats explain F03 --period 2022`.
select
    unit_name_zh,
    value_zh as value,
    round(value_number / sum(value_number) over (), 4) as share,
    file_name,
    coalesce(source_cell, source_sheet || ' (' || detail_rows || ' rows)') as source
from marts.indicator_values_long
where period = '2022' and figure_id = 'F03'
order by value_number desc, unit_name_zh;

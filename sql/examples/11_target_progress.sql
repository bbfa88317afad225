-- Question: how far is the district towards the targets the report sets for the year (2023: 10 规范化建设示范企业,
-- at least 1 “三个一批” 示范点, at least 2 集体协商典型)? One row per target: achieved so far (annual returns, or
-- the quarters loaded), the progress ratio and whether it is met. achieved is null while no file of the year is in.
select
    year,
    quote_zh,
    indicator_name_zh,
    target,
    achieved,
    basis,
    quarters_loaded,
    last_quarter,
    progress_ratio,
    met
from report.target_progress
order by year, indicator_code;

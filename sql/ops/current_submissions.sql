-- the file that counts for each unit and period: its latest accepted submission (one place says what "current" is)
-- the outcomes that count are ref.outcomes.counted (reference/labels.toml), said nowhere else
with submissions as (
    select * from ops.submissions
),
counted as (
    select status from ref.outcomes where counted
),
final as (
    select * from submissions where status in (select status from counted)
)
select * from final

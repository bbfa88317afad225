-- the file that counts for each unit and period: its latest accepted submission (one place says what "current" is)
with submissions as (
    select * from ops.submissions
),
final as (
    select * from submissions where status in ('accepted', 'accepted_with_warnings')
)
select * from final

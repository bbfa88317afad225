-- whether a reproduced value x (in the report's unit) satisfies the figure's comparator against the published p;
-- the comparators are defined in shared/spec/README.md
create or replace macro figure_matches(comparator, x, p) as
    case comparator
        when 'eq' then x = p
        when 'round_0.1' then round(x, 1) = p
        when 'round_0.01' then round(x, 2) = p
        when 'round_1' then round(x, 0) = p
        when 'gt' then x > p
        -- N多: above N and below N plus one step of N's leading digit (3000多 is 3001..3999)
        when 'plus' then x > p and x < p + pow(10, floor(log10(p)))
        when 'approx_5pct' then abs(x - p) <= 0.05 * p
        when 'approx_1pct' then abs(x - p) <= 0.01 * p
    end

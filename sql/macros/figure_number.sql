-- the number a figure would print for x under its comparator: rounded for round_*, the round number below
-- x for gt (超过4000 for 4126) and plus (3000多 for 3126), three significant digits for approx (约6400)
create or replace macro figure_number(comparator, x, published_decimals) as
    case
        when x is null then null
        when comparator = 'round_0.1' then report_number_text(x, 1)
        when comparator = 'round_0.01' then report_number_text(x, 2)
        when comparator = 'round_1' then report_number_text(x, 0)
        when comparator = 'gt' and x > 0 then report_number_text(
            (ceil(x / pow(10, floor(log10(x)))) - 1) * pow(10, floor(log10(x))), 0)
        when comparator = 'plus' and x > 0 then report_number_text(
            floor(x / pow(10, floor(log10(x)))) * pow(10, floor(log10(x))), 0)
        when comparator like 'approx%' and x > 0 then report_number_text(
            round(x / pow(10, floor(log10(x)) - 2)) * pow(10, floor(log10(x)) - 2), 0)
        else report_number_text(x, published_decimals)
    end

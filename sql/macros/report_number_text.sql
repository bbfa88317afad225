-- a number the way the report prints it: fixed decimals, no trailing zeros from the warehouse's scale
create or replace macro report_number_text(x, decimals) as
    case decimals
        when 0 then cast(cast(round(x, 0) as decimal(38, 0)) as varchar)
        when 1 then cast(cast(round(x, 1) as decimal(38, 1)) as varchar)
        else cast(cast(round(x, 2) as decimal(38, 2)) as varchar)
    end

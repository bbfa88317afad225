-- a base-unit value in the report's unit: the report states 万元 and 万人次 in ten-thousands
-- (multiplied, not divided, so the result stays an exact decimal and rounds half-up like the report)
create or replace macro report_unit_value(value, unit_zh) as
    case when unit_zh like '万%' then cast(value as decimal(38, 6)) * 0.0001 else cast(value as decimal(38, 6)) end

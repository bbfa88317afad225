"""The wide analyst view, generated from the indicator catalog: one column per indicator, in the catalog's order.

A pivot whose columns come from the data changes shape with the data (an indicator nobody reported has no
column) and cannot type each column; this one lists the catalog's codes, so `marts.indicator_values_wide` has
the same columns in the same order for every period, each typed by its value_type. `union-stats suites` writes
the file; a test fails when the committed file drifts from the catalog.
"""

from __future__ import annotations

from pathlib import Path

from union_stats import reference
from union_stats.paths import SQL_DIR

WIDE_VIEW = Path("marts") / "indicator_values_wide.sql"

# how a column of each value_type is typed (the long view's value_number, flags 1/0, is what is pivoted)
COLUMN_TYPE = {
    "count": "cast({code} as bigint)",
    "money": "cast({code} as decimal(18, 2))",
    "quantity": "cast({code} as decimal(18, 2))",
    "flag": "{code} = 1",
}


def wide_view_sql() -> str:
    indicators = reference.indicators()
    codes = ",\n".join(f"        '{indicator.indicator_code}'" for indicator in indicators)
    columns = ",\n".join(
        f"        {COLUMN_TYPE[indicator.value_type].format(code=indicator.indicator_code)}"
        f" as {indicator.indicator_code}"
        for indicator in indicators
    )
    return (
        "-- grain: one row per period × unit, one column per indicator of the catalog (in its order), null where the unit does not report it\n"
        "-- generated from reference/indicators.csv by `union-stats suites`: counts bigint, money decimal(18,2) yuan,\n"
        "-- quantities decimal(18,2), flags boolean. The long form, with labels and lineage: marts.indicator_values_long\n"
        "-- incremental by period: its rows depend on their own period only: a run rebuilds just its period's rows\n"
        "with indicator_values as (\n"
        "    select * from marts.indicator_values_long\n"
        "),\n"
        "pivoted as (\n"
        "    pivot (\n"
        "        select period, unit_code, unit_name_zh, unit_kind, indicator_code, value_number from indicator_values\n"
        "    )\n"
        "    on indicator_code in (\n"
        f"{codes}\n"
        "    )\n"
        "    using first(value_number)\n"
        "    group by period, unit_code, unit_name_zh, unit_kind\n"
        "),\n"
        "final as (\n"
        "    select\n"
        "        period,\n"
        "        unit_code,\n"
        "        unit_name_zh,\n"
        "        unit_kind,\n"
        f"{columns}\n"
        "    from pivoted\n"
        ")\n"
        "select * from final\n"
    )


def write_wide_view(sql_dir: Path = SQL_DIR) -> list[Path]:
    path = sql_dir / WIDE_VIEW
    path.write_text(wide_view_sql(), encoding="utf-8")
    return [path]

"""The wide analyst view, generated from the indicator catalog: one column per indicator, in the catalog's order.

A pivot whose columns come from the data changes shape with the data (an indicator nobody reported has no
column) and cannot type each column; this one lists the catalog's codes, so `marts.indicator_values_wide` has
the same columns in the same order for every period, each typed by its value_type. `union-stats suites` writes
the file; a test fails when the committed file, or its entry in `sql/marts/schema.yml` (`wide_view_doc`), drifts
from the catalog.
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


TYPE_ZH = {"count": "整数", "money": "元，两位小数", "quantity": "两位小数", "flag": "true 为“是”"}


def wide_view_doc() -> str:
    """The view's entry of `sql/marts/schema.yml` (a column per indicator, described from the catalog)."""
    lines = [
        "  - name: marts.indicator_values_wide",
        "    description: 分析用指标值（宽表）：每个报告期、每个单位一行，指标目录中的每个指标一列（按目录顺序，按类型取值）；"
        "该单位类别不报送的指标为空。由 union-stats suites 按 reference/indicators.csv 生成",
        "    description_en: indicator values for analysts in wide form, one row per period and unit, one column per "
        "indicator of the catalog (in its order, typed); null where the unit's kind does not report it. Generated "
        "from reference/indicators.csv by union-stats suites",
        "    grain: [period, unit_code]",
        "    columns:",
        "      - name: period",
        "        tests:",
        "          - not_null",
        "          - relationships: {to: marts.dim_period, field: period}",
        "      - name: unit_code",
        "        tests:",
        "          - not_null",
        "          - relationships: {to: marts.dim_unit, field: unit_code}",
        "      - name: unit_name_zh",
        "      - name: unit_kind",
    ]
    for indicator in reference.indicators():
        figure = f"，报告数字 {indicator.figure_id}" if indicator.figure_id else ""
        figure_en = f", report figure {indicator.figure_id}" if indicator.figure_id else ""
        lines += [
            f"      - name: {indicator.indicator_code}",
            f"        description: {indicator.name_zh}（{indicator.unit_zh}，{TYPE_ZH[indicator.value_type]}{figure}）",
            f"        description_en: {indicator.name_en} ({indicator.base_unit}, {indicator.value_type}{figure_en})",
        ]
    return "\n".join(lines) + "\n"


def write_wide_view(sql_dir: Path = SQL_DIR) -> list[Path]:
    path = sql_dir / WIDE_VIEW
    path.write_text(wide_view_sql(), encoding="utf-8")
    return [path]

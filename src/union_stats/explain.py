"""How a district figure is made, from a warehouse opened read-only: `union-stats explain F44 --period 2022`.

The figure's definition (the report's words, the catalog indicator behind it, its measure and reporting group),
each unit's contribution and share, and where each contribution sits in the unit's workbook (file, sheet, cells
or rows), in Chinese for people and as JSON for machines. It reads only the analyst views
(`marts.indicator_values_long`, `marts.figure_detail_rows`) and the report, so what it shows is what an analyst's
SQL would find; it imports neither Prefect nor Great Expectations, and answers in a fraction of a second.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb

from union_stats import labels, reference

FIGURE_ID = re.compile(r"F\d{2}")

# the words for who reports an indicator and for the kinds of unit, as the office says them (reference/labels.toml)
REPORTED_BY_ZH = labels.reporting_scopes()
KIND_ZH = labels.unit_kinds()
AGGREGATION_ZH = {
    "sum": "各单位数值相加",
    "count_yes": "填“是”的单位数",
    "count_distinct": "全区去重计数（同一值在几个单位出现只算一次，不按单位相加）",
}
MEASURE_ZH = {"count": "行数", "sum": "合计", "count_distinct": "去重计数"}
SOURCE_ZH = {"indicator_sheet": "指标表", "detail_sheet": "明细表"}


class ExplainError(Exception):
    """What the user asked for does not exist (figure, period, warehouse): one line, a usage mistake."""


@dataclass
class Indicator:
    indicator_code: str
    name_zh: str
    unit_zh: str
    value_type: str
    aggregation: str
    aggregation_zh: str
    reported_by: str
    reported_by_zh: str
    reporting_kinds: list[str]
    reporting_kinds_zh: list[str]
    source_zh: str  # where each unit's value comes from, in words: the indicator sheet's row, or a detail measure
    detail_sheet: str | None
    detail_sheet_zh: str | None
    detail_filter: str | None
    detail_filter_zh: str | None
    measure: str | None
    measure_field: str | None
    measure_field_zh: str | None


@dataclass
class Contribution:
    unit_code: str
    unit_name_zh: str
    unit_kind: str
    value: Decimal
    value_zh: str
    share: Decimal | None  # of the figure's value; null for a distinct count (it does not split by unit)
    source: str  # indicator_sheet | detail_sheet
    file_name: str
    sheet: str
    cells: list[str]  # `指标!D12`, or the measured column's cells as ranges `小微企业经费返还!D2:D268`
    rows: list[int]  # the detail rows counted (empty for an indicator-sheet value)
    rows_zh: str  # `劳资纠纷案件 第2-40行（39行）` (long lists shortened: `rows` has them all) / `指标!D12`
    distinct_values: list[str] = field(default_factory=list)  # a distinct-count figure: this unit's values


@dataclass
class Explanation:
    figure_id: str
    period: str
    section: str
    quote_zh: str
    published: str | None
    reproduced: str | None
    matches: bool | None  # null for a period without a published report: nothing to compare with
    value: Decimal
    base_unit: str
    units_expected: int
    units_accepted: int
    additive: bool  # contributions add up to value; else value is a distinct count over the district
    indicators: list[Indicator]
    contributions: list[Contribution]
    distinct_values: list[str]  # a distinct-count figure: the values counted once over the district
    units_without_file: list[str]  # expected units of the reporting group without a current accepted file

    def to_json(self) -> dict:
        """Plain JSON types: decimals as numbers (integers where they are whole)."""
        return _plain(asdict(self))


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def normalise_figure(text: str) -> str:
    """`f3`, `F3` and `F03` name the same figure."""
    matched = re.fullmatch(r"[Ff]0*(\d{1,2})", text.strip())
    return f"F{int(matched.group(1)):02d}" if matched else text.strip()


def row_ranges(rows: list[int]) -> list[tuple[int, int]]:
    """Consecutive rows as (first, last) runs: [2, 3, 4, 7] -> [(2, 4), (7, 7)]."""
    runs: list[tuple[int, int]] = []
    for row in sorted(set(rows)):
        if runs and row == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


def _rows_text(rows: list[int], most: int | None = None) -> str:
    """Rows as runs, `2-40, 45`; with `most`, at most that many runs (the first ones and the last) and an ellipsis."""
    runs = [str(first) if first == last else f"{first}-{last}" for first, last in row_ranges(rows)]
    if most is not None and len(runs) > most:
        runs = [*runs[: most - 1], "…", runs[-1]]
    return ", ".join(runs)


def _cells(sheet: str, column: str, rows: list[int]) -> list[str]:
    return [
        f"{sheet}!{column}{first}" if first == last else f"{sheet}!{column}{first}:{column}{last}"
        for first, last in row_ranges(rows)
    ]


def _number_zh(value: Decimal, value_type: str) -> str:
    if value_type == "flag":
        return "是" if value == 1 else "否"
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _fields_zh() -> dict[tuple[str, str], str]:
    """(sheet kind, field) -> the template's column header, to say a detail measure in the clerk's words."""
    return {
        (sheet.kind, column.name): column.header for sheet in reference.template().sheets for column in sheet.columns
    }


def _indicator(row: dict, sheet_names: dict[str, str], headers: dict[tuple[str, str], str]) -> Indicator:
    sheet = row["detail_sheet"]
    sheet_zh = sheet_names.get(sheet, sheet) if sheet else None
    field_zh = headers.get((sheet, row["measure_field"]), row["measure_field"]) if row["measure_field"] else None
    filter_zh = None
    if row["detail_filter"]:
        conditions = [part.split("=", 1) for part in row["detail_filter"].split(";") if part]
        filter_zh = "、".join(f"{headers.get((sheet, name), name)}={value}" for name, value in conditions)
    if sheet:
        measure = MEASURE_ZH.get(row["measure"], row["measure"])
        what = f"「{field_zh}」的{measure}" if field_zh else measure
        source_zh = f"明细表「{sheet_zh}」" + (f"中{filter_zh}的行" if filter_zh else "的行") + f"，取{what}"
    else:
        source_zh = f"指标表「指标」中指标代码 {row['indicator_code']} 一行的「数值」"
    return Indicator(
        indicator_code=row["indicator_code"],
        name_zh=row["name_zh"],
        unit_zh=row["unit_zh"],
        value_type=row["value_type"],
        aggregation=row["aggregation"],
        aggregation_zh=AGGREGATION_ZH.get(row["aggregation"], row["aggregation"]),
        reported_by=row["reported_by"],
        reported_by_zh=REPORTED_BY_ZH.get(row["reported_by"], row["reported_by"]),
        reporting_kinds=list(row["reporting_kinds"] or []),
        reporting_kinds_zh=[KIND_ZH.get(kind, kind) for kind in row["reporting_kinds"] or []],
        source_zh=source_zh,
        detail_sheet=sheet,
        detail_sheet_zh=sheet_zh,
        detail_filter=row["detail_filter"],
        detail_filter_zh=filter_zh,
        measure=row["measure"],
        measure_field=row["measure_field"],
        measure_field_zh=field_zh,
    )


def _records(con: duckdb.DuckDBPyConnection, sql: str, *params) -> list[dict]:
    relation = con.execute(sql, list(params))
    columns = [column[0] for column in relation.description]
    return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]


def _contributions(con: duckdb.DuckDBPyConnection, indicator: Indicator, period: str) -> list[Contribution]:
    values = _records(
        con,
        "select * from marts.indicator_values_long where period = ? and indicator_code = ? order by unit_code",
        period,
        indicator.indicator_code,
    )
    detail = _records(
        con,
        "select submission_id, sheet_name, source_row, source_cell, distinct_value from marts.figure_detail_rows "
        "where period = ? and indicator_code = ? order by submission_id, source_row",
        period,
        indicator.indicator_code,
    )
    contributions = []
    for value in values:
        rows = [row for row in detail if row["submission_id"] == value["submission_id"]]
        if value["source"] == "detail_sheet":
            sheet = value["source_sheet"] or indicator.detail_sheet_zh or ""
            row_numbers = [row["source_row"] for row in rows]
            letters = {re.sub(r"\d+$", "", row["source_cell"].split("!", 1)[1]) for row in rows if row["source_cell"]}
            cells = _cells(sheet, letters.pop(), row_numbers) if len(letters) == 1 else []
            rows_zh = (
                f"{sheet} 第{_rows_text(row_numbers, most=6)}行（{len(row_numbers)}行）"
                if row_numbers
                else f"{sheet}（0行）"
            )
        else:
            sheet = value["source_sheet"] or "指标"
            row_numbers = []
            cells = [value["source_cell"]] if value["source_cell"] else []
            rows_zh = value["source_cell"] or f"{sheet} 第{value['source_row']}行"
        number = value["value_number"]
        contributions.append(
            Contribution(
                unit_code=value["unit_code"],
                unit_name_zh=value["unit_name_zh"] or value["unit_code"],
                unit_kind=value["unit_kind"] or "",
                value=number,
                value_zh=_number_zh(number, indicator.value_type),
                share=None,
                source=value["source"],
                file_name=value["file_name"],
                sheet=sheet,
                cells=cells,
                rows=row_numbers,
                rows_zh=rows_zh,
                distinct_values=sorted({row["distinct_value"] for row in rows if row["distinct_value"] is not None}),
            )
        )
    return contributions


def explain(warehouse: Path, figure: str, period: str) -> Explanation:
    """The explanation of one figure of one period, read from the warehouse opened read-only."""
    figure_id = normalise_figure(figure)
    if not warehouse.is_file():
        raise ExplainError(f"no warehouse at {warehouse}: run `union-stats run` first")
    known = {item.figure_id for item in reference.figures()}
    if figure_id not in known:
        raise ExplainError(f"unknown figure {figure!r}: the report's figures are {min(known)} to {max(known)}")
    from union_stats.warehouse import connect

    with connect(warehouse, read_only=True) as con:
        periods = [
            row[0] for row in con.execute("select distinct period from report.district_figures order by 1").fetchall()
        ]
        if period not in periods:
            loaded = ", ".join(periods) or "none"
            raise ExplainError(f"no figures for period {period} in {warehouse} (periods loaded: {loaded})")
        [figure_row] = _records(
            con, "select * from report.district_figures where period = ? and figure_id = ?", period, figure_id
        )
        sheet_names = dict(con.execute("select distinct sheet_kind, sheet_name from ref.template_sheets").fetchall())
        headers = _fields_zh()
        indicators = [
            _indicator(row, sheet_names, headers)
            for row in _records(
                con, "select * from marts.dim_indicator where figure_id = ? order by indicator_code", figure_id
            )
        ]
        contributions = [item for indicator in indicators for item in _contributions(con, indicator, period)]
        kinds = sorted({kind for indicator in indicators for kind in indicator.reporting_kinds})
        without_file = [
            row[0]
            for row in con.execute(
                "select unit_code from report.submission_completeness where period = ? and list_contains(?, unit_kind) "
                "and not list_contains(?, status) order by unit_code",
                [period, kinds, list(labels.ACCEPTED)],
            ).fetchall()
        ]
    additive = all(indicator.aggregation in ("sum", "count_yes") for indicator in indicators)
    distinct_values = sorted({value for item in contributions for value in item.distinct_values})
    value = figure_row["value"]
    if additive:
        for item in contributions:
            item.share = (item.value / value).quantize(Decimal("0.0001")) if value else None
    contributions.sort(key=lambda item: (-item.value, item.unit_code))
    return Explanation(
        figure_id=figure_id,
        period=period,
        section=figure_row["section"],
        quote_zh=figure_row["quote_zh"],
        published=figure_row["published"],
        reproduced=figure_row["reproduced"],
        matches=figure_row["matches"],
        value=value,
        base_unit=figure_row["base_unit"],
        units_expected=figure_row["units_expected"],
        units_accepted=figure_row["units_accepted"],
        additive=additive,
        indicators=indicators,
        contributions=contributions,
        distinct_values=distinct_values,
        units_without_file=without_file,
    )


def render(explanation: Explanation):
    """The explanation for a terminal: the definition, then a table of contributions (rich renderables)."""
    from rich.table import Table
    from rich.text import Text

    lines = [
        f"报告数字 {explanation.figure_id} · {explanation.period}（报告第 {explanation.section} 节）",
        f"报告原文：{explanation.quote_zh}",
        (
            f"公布值：{explanation.published or '—'}　复现值：{explanation.reproduced or '—'}　"
            f"{'一致 ✓' if explanation.matches else '不一致 ✗'}"
            if explanation.matches is not None
            else "本期没有公布的报告，不作比较"
        ),
        f"数值：{_number_zh(explanation.value, 'count')} {explanation.base_unit}",
    ]
    for indicator in explanation.indicators:
        lines += [
            f"指标：{indicator.indicator_code} {indicator.name_zh}（计量单位：{indicator.unit_zh}）",
            f"来源：{indicator.source_zh}",
            f"汇总：{indicator.aggregation_zh}",
            f"报送范围：{indicator.reported_by_zh}（单位类别：{'、'.join(indicator.reporting_kinds_zh)}）",
        ]
    lines.append(f"单位：{explanation.units_accepted}/{explanation.units_expected} 个应报单位有已接收的文件")
    if explanation.units_without_file:
        lines.append(f"未计入（无已接收文件）：{'、'.join(explanation.units_without_file)}")
    table = Table(title=f"{explanation.figure_id} 各单位贡献")
    for header in ("单位", "数值", "占比", "文件", "工作表", "单元格 / 行"):
        # a file name has no spaces to wrap at: folded, never cut to an ellipsis on a narrow terminal
        table.add_column(
            header,
            justify="right" if header in ("数值", "占比") else "left",
            overflow="fold" if header == "文件" else "ellipsis",
            min_width=8 if header == "文件" else None,
        )
    for item in explanation.contributions:
        share = "—" if item.share is None else f"{item.share:.2%}"
        where = ", ".join(item.cells) if item.cells and len(item.cells) <= 3 else item.rows_zh
        if item.source == "detail_sheet" and item.cells:
            where = f"{item.rows_zh}; {', '.join(item.cells[:3])}{' …' if len(item.cells) > 3 else ''}"
        table.add_row(item.unit_name_zh, item.value_zh, share, item.file_name, item.sheet, where)
    if explanation.additive:
        total = sum((item.value for item in explanation.contributions), Decimal(0))
        table.add_row("合计", _number_zh(total, "count"), "100.00%" if total else "—", "", "", "")
        footer = [f"各单位贡献之和 {_number_zh(total, 'count')} = 图表数值 {_number_zh(explanation.value, 'count')}"]
    else:
        footer = [
            f"去重计数：全区共 {len(explanation.distinct_values)} 个不同的值（各单位之数不相加）：",
            "、".join(explanation.distinct_values),
        ]
    return [Text("\n".join(lines)), table, Text("\n".join(footer))]

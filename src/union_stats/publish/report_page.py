"""The district report page: one period's figures, charts by town, submissions and findings, for the office.

`write_report` reads the warehouse read-only and writes three files side by side: the report page (HTML), the
validation results page (HTML: one row per submission and rule) and a workbook with the same tables (xlsx).
Both pages are self-contained: styles inline, charts drawn here as inline SVG (Vega-Altair, rendered by
vl-convert), no script and no fetch, so they open from a shared drive or an intranet without internet access.
Every table is built once (`Table`) and written to both the page and the workbook, so the two cannot disagree.
"""

from __future__ import annotations

import io
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import jinja2

from union_stats import labels, office_time, periods
from union_stats.paths import REFERENCE_DIR
from union_stats.templating import html_environment

PAGE_TEMPLATE = "district_report.html.j2"
VALIDATION_TEMPLATE = "validation_results.html.j2"
SETTINGS_FILE = REFERENCE_DIR / "report_page.toml"
VALIDATION_SUFFIX = "_validation"  # district_report.html → district_report_validation.html
FIRST_CELLS = 5  # how many of a rule's cells the validation page lists before "等 N 处"
SHANGHAI = "Asia/Shanghai"

STATUS_ZH = labels.outcomes()
SEVERITY_ZH = labels.severities()
SEVERITY_ORDER = tuple(labels.severities())  # worst first
KIND_ZH = labels.unit_kinds("short_zh")
BASIS_ZH = {"annual": "年报", "quarters": "季报", "annual_and_quarters": "年报与季报"}


class ReportError(ValueError):
    """The report cannot be made as asked (a period the warehouse holds nothing for): the user's to fix."""


@dataclass(frozen=True)
class Column:
    key: str
    heading: str
    # text | int | number | percent | change | check | yesno | date | datetime | status (coloured by status_code)
    kind: str = "text"


@dataclass
class Table:
    """One table of the report, as the page shows it and the workbook holds it (sheet `sheet`)."""

    sheet: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    note: str = ""


@dataclass
class Chart:
    indicator_code: str
    figure_id: str | None
    title: str
    svg: str
    units_shown: int
    units_expected: int


@dataclass
class ReportFiles:
    html: Path
    xlsx: Path
    validation: Path


@dataclass(frozen=True)
class FromQuarters:
    """A year the warehouse holds only as quarters (no annual return loaded): the page is made from them
    (report.district_figures_by_year), and says which quarters, and whether they make the whole year."""

    year: str
    quarters: list[str]  # the quarters held, in order: what the page is made from
    missing: list[str]  # the year's quarters not held

    @property
    def whole_year(self) -> bool:
        return not self.missing

    @property
    def shown(self) -> str:
        return "、".join(self.quarters)

    @property
    def statement(self) -> str:
        """What the page rests on, plainly, in Chinese: shown at the top of the page and of each sheet."""
        if self.whole_year:
            return (
                f"{self.year}年年报尚未入库：本页由该年四个季度（{self.shown}）的季报汇总为全年数。"
                "可加指标各季相加，是/否指标取各单位最近一季的回答，去重计数按全年各季明细去重。"
            )
        return (
            f"{self.year}年年报尚未入库，仓库中只有 {len(self.quarters)} 个季度（{self.shown}）的季报，"
            f"缺 {'、'.join(self.missing)}：全年数据不完整。本页各数为这些季度的累计，不是全年数；"
            "四个季度都入库（或年报入库）后才有全年数。"
        )

    @property
    def value_heading(self) -> str:
        """The figures' value column: the year's, or the quarters' held so far (never called the year's)."""
        if self.whole_year:
            return "全年数值（四季汇总，基本单位）"
        return f"已入库季度累计（{self.shown}，非全年）"


@dataclass
class ReportData:
    period: str
    compared: bool  # a published report exists for the period: published vs reproduced is shown
    previous: str | None  # the same period a year before, when the warehouse holds it
    figures: Table
    sections: list[tuple[str, str, list[dict[str, Any]]]]  # (section, title, figure rows) in report order
    targets: Table
    towns: Table
    completeness: Table
    completeness_summary: dict[str, int]
    findings_by_unit: Table
    findings_by_rule: Table
    validation: Table
    charts: list[Chart] = field(default_factory=list)
    from_quarters: FromQuarters | None = None  # a year made from its quarters (no annual return loaded)

    @property
    def label(self) -> str:
        """The period as each sheet's title names it: a year made from quarters says from which, and if partial."""
        if self.from_quarters is None:
            return self.period
        made = f"{self.period}，由{self.from_quarters.shown}季报汇总"
        return made if self.from_quarters.whole_year else f"{made}，全年不完整"

    def tables(self) -> list[Table]:
        """Every table, in the workbook's sheet order."""
        return [
            self.figures,
            self.targets,
            self.towns,
            self.completeness,
            self.findings_by_unit,
            self.findings_by_rule,
            self.validation,
        ]


@cache
def settings() -> dict[str, Any]:
    return tomllib.loads(SETTINGS_FILE.read_text(encoding="utf-8"))


def default_out(warehouse: Path, period: str) -> Path:
    """Beside the warehouse, with the units' data-quality reports of the period."""
    return warehouse.parent / "reports" / period / "district_report.html"


def companion_paths(out: Path) -> tuple[Path, Path]:
    """The workbook and the validation page written beside the report page `out`."""
    return out.with_suffix(".xlsx"), out.with_name(f"{out.stem}{VALIDATION_SUFFIX}.html")


def _rows(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[dict[str, Any]]:
    cursor = con.execute(sql, list(params))
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _number(value: Any) -> int | float | None:
    """A warehouse decimal as the number a reader sees: a whole number as an integer (persons, never 3963.00)."""
    if value is None:
        return None
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return float(value)


def _same_period_a_year_before(period: str) -> str:
    year = int(periods.year_of(period)) - 1
    return f"{year}Q{period[-1]}" if periods.is_quarter(period) else str(year)


# --- reading ------------------------------------------------------------------------------------------------


def gather(con: duckdb.DuckDBPyConnection, period: str) -> ReportData:
    """Every table of the period's report, from the report, marts and ops relations. A year the warehouse holds
    only as quarters is made from them (report.district_figures_by_year), saying which, and whether all four."""
    loaded = [row["period"] for row in _rows(con, "select period from marts.dim_period order by period")]
    from_quarters = None
    if period not in loaded:
        held = [quarter for quarter in periods.quarters_of(period) if quarter in loaded]
        if periods.is_quarter(period) or not held:
            shown = ", ".join(loaded) if loaded else "none"
            raise ReportError(f"the warehouse holds no data for period {period} (periods loaded: {shown})")
        if not _relation_exists(con, "report", "district_figures_by_year"):
            raise ReportError(
                f"the warehouse holds only quarters of {period} ({', '.join(held)}) and was built before "
                "report.district_figures_by_year existed: its next run that loads a file builds it"
            )
        from_quarters = FromQuarters(
            period, held, [quarter for quarter in periods.quarters_of(period) if quarter not in held]
        )
    report_periods = from_quarters.quarters if from_quarters else [period]

    if from_quarters is None:
        figure_rows = _rows(con, "select * from report.district_figures where period = ? order by figure_id", period)
    else:
        figure_rows = _rows(
            con, "select * from report.district_figures_by_year where year = ? order by figure_id", period
        )
    # item 8 of issue 12: where no report was published for a period, `published` and `matches` are left empty
    compared = any(row["published"] is not None and row["matches"] is not None for row in figure_rows)
    previous, before = _a_year_before(con, period, loaded, from_quarters)
    figures, sections = _figures_table(figure_rows, compared, previous, before, from_quarters)
    completeness, summary = _completeness_table(con, report_periods, from_quarters)
    findings_by_unit, findings_by_rule = _findings_tables(con, report_periods)
    towns, charts = _towns(con, period, from_quarters)
    return ReportData(
        period=period,
        compared=compared,
        previous=previous,
        figures=figures,
        sections=sections,
        targets=_targets_table(con, period),
        towns=towns,
        completeness=completeness,
        completeness_summary=summary,
        findings_by_unit=findings_by_unit,
        findings_by_rule=findings_by_rule,
        validation=validation_table(con, period, report_periods if from_quarters else None),
        charts=charts,
        from_quarters=from_quarters,
    )


def _relation_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    found = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
    return bool(_rows(con, found, schema, name)[0]["count_star()"])


def _a_year_before(
    con: duckdb.DuckDBPyConnection, period: str, loaded: list[str], from_quarters: FromQuarters | None
) -> tuple[str | None, dict[str, Any]]:
    """The same period a year before and its figures, when the warehouse holds it. For a year, the year before
    may be its annual returns or its four quarters (report.district_figures_by_year: a whole year only); a year
    still missing quarters is compared with nothing (its quarters so far are not a year)."""
    previous = _same_period_a_year_before(period)
    if from_quarters is not None and not from_quarters.whole_year:
        return None, {}
    if not periods.is_quarter(period) and _relation_exists(con, "report", "district_figures_by_year"):
        before = {
            row["figure_id"]: row["value"]
            for row in _rows(
                con,
                "select figure_id, value from report.district_figures_by_year where year = ? and whole_year",
                previous,
            )
        }
        return (previous, before) if before else (None, {})
    if previous not in loaded:
        return None, {}
    rows = _rows(con, "select figure_id, value from report.district_figures where period = ?", previous)
    return previous, {row["figure_id"]: row["value"] for row in rows}


def _figures_table(
    figure_rows: list[dict[str, Any]],
    compared: bool,
    previous: str | None,
    before: dict[str, Any],
    from_quarters: FromQuarters | None = None,
) -> tuple[Table, list[tuple[str, str, list[dict[str, Any]]]]]:
    titles = settings()["sections"]
    rows = []
    for figure in figure_rows:
        row = {
            "figure_id": figure["figure_id"],
            "section": figure["section"],
            "section_title": titles.get(figure["section"], ""),
            "quote_zh": figure["quote_zh"],
            "metric_en": figure["metric_en"],
            "value": _number(figure["value"]),
            "base_unit": figure["base_unit"],
            "units": f"{figure['units_accepted']}/{figure['units_expected']}",
            "complete": figure["complete"],
        }
        if compared:
            row |= {"published": figure["published"], "reproduced": figure["reproduced"], "matches": figure["matches"]}
        if from_quarters is not None and not from_quarters.whole_year:
            # a part of a year: the quarters' sum so far, under its own name (the year's value is null)
            row["value_to_date"] = _number(figure["value_to_date"])
        if previous is not None:
            earlier = before.get(figure["figure_id"])
            row["previous_value"] = _number(earlier)
            row["change"] = (
                float((figure["value"] - earlier) / earlier)
                if earlier not in (None, 0) and figure["value"] is not None
                else None
            )
        rows.append(row)
    columns = [
        Column("figure_id", "编号"),
        Column("section", "节"),
        Column("section_title", "内容"),
        Column("quote_zh", "报告原文"),
        Column("metric_en", "指标（英文）"),
    ]
    if compared:
        columns += [
            Column("published", "报告数"),
            Column("reproduced", "复现数"),
            Column("matches", "一致", "check"),
        ]
    if from_quarters is None:
        columns.append(Column("value", "数值（基本单位）", "number"))
    elif from_quarters.whole_year:
        columns.append(Column("value", from_quarters.value_heading, "number"))
    else:
        columns.append(Column("value_to_date", from_quarters.value_heading, "number"))
    columns.append(Column("base_unit", "单位"))
    if previous is not None:
        columns += [Column("previous_value", f"上年同期（{previous}）", "number"), Column("change", "同比", "change")]
    columns += [Column("units", "已入库/应报单位"), Column("complete", "齐全", "yesno")]
    note = (
        "报告数为《工作报告》公布的数字，复现数为按各单位报表汇总、按报告的写法取整后的结果。"
        if compared
        else "本统计期没有已公布的工作报告，不作对照；下表为按各单位报表汇总的数值。"
    )
    if from_quarters is not None and not from_quarters.whole_year:
        note = from_quarters.statement + "缺季度时不与已公布的报告对照，也不计算同比。"
    elif from_quarters is not None:
        note = from_quarters.statement + note
    table = Table("指标", "66项指标", columns, rows, note)
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["section"]].append(row)
    sections = [(section, titles.get(section, ""), grouped[section]) for section in sorted(grouped, key=_section_key)]
    return table, sections


def _section_key(section: str) -> tuple[int, ...]:
    return tuple(int(part) for part in section.split(".") if part.isdigit())


def _targets_table(con: duckdb.DuckDBPyConnection, period: str) -> Table:
    """The year's targets, how far the district is (report.target_progress), and the quarter-by-quarter path there:
    the district total of the quarterly returns summed up to each quarter loaded (up to the page's own quarter)."""
    year = periods.year_of(period)
    rows = _rows(con, "select * from report.target_progress where year = ? order by indicator_code", year)
    quarters = [
        quarter
        for quarter in periods.quarters_of(year)
        if not periods.is_quarter(period) or quarter <= period  # a quarter's page stops at its quarter
    ]
    by_quarter = _rows(
        con,
        """
        select indicator_values.indicator_code, indicator_values.period, sum(indicator_values.value) as value
        from marts.fct_indicator_value as indicator_values
        join marts.dim_indicator as indicators on indicators.indicator_code = indicator_values.indicator_code
        where indicator_values.period in (select unnest(?))
            and indicators.aggregation = 'sum'  -- only an additive indicator's quarters add up to the year
            and indicator_values.indicator_code in (select indicator_code from report.target_progress where year = ?)
        group by all
        """,
        quarters,
        year,
    )
    quarter_values: dict[str, dict[str, Any]] = defaultdict(dict)
    for row in by_quarter:
        quarter_values[row["indicator_code"]][row["period"]] = row["value"]
    loaded = [quarter for quarter in quarters if any(quarter in values for values in quarter_values.values())]
    table_rows = []
    for row in rows:
        table_row = {
            "quote_zh": row["quote_zh"],
            "indicator_name_zh": row["indicator_name_zh"],
            "target": _number(row["target"]),
            "achieved": _number(row["achieved"]),
            "unit_zh": row["unit_zh"],
            "progress": float(row["progress_ratio"]) if row["progress_ratio"] is not None else None,
            "basis": BASIS_ZH.get(row["basis"] or "", "尚无数据"),
            "last_quarter": row["last_quarter"] or "",
            "met": row["met"],
        }
        running = Decimal(0)
        for quarter in loaded:
            value = quarter_values[row["indicator_code"]].get(quarter)
            running += value or 0
            table_row[f"to_{quarter}"] = _number(running) if value is not None else None
        table_rows.append(table_row)
    columns = [
        Column("quote_zh", "目标原文"),
        Column("indicator_name_zh", "指标"),
        Column("target", "目标值", "number"),
        Column("achieved", "已完成", "number"),
        Column("unit_zh", "单位"),
        Column("progress", "完成进度", "percent"),
        Column("basis", "口径"),
        Column("last_quarter", "截至季度"),
        Column("met", "已达成", "yesno"),
    ] + [Column(f"to_{quarter}", f"截至{quarter}累计（季报）", "number") for quarter in loaded]
    if not table_rows:
        note = f"没有为{year}年设定的目标。"
    else:
        note = (
            f"{year}年目标（reference/targets.csv）及已入库数据的完成情况：已完成取各单位的年报，未报年报的取其已入库季报之和。"
            + ("右侧各列为各季度季报逐季累计的全区合计。" if loaded else "")
        )
    return Table("目标进度", f"{year}年目标完成进度", columns, table_rows, note)


def _completeness_table(
    con: duckdb.DuckDBPyConnection, report_periods: list[str], from_quarters: FromQuarters | None = None
) -> tuple[Table, dict[str, int]]:
    """Each expected unit of the page's period; for a year made from quarters, of each quarter held (a row per
    unit and quarter, the quarter named, and the summary counts quarterly returns)."""
    rows = _rows(
        con,
        f"""
        select period, unit_code, unit_name_zh, unit_kind, status, files, due_on, on_time, days_late, file_name,
            errors, warnings, timezone('{SHANGHAI}', first_received_at) as first_received_local
        from report.submission_completeness
        where period in (select unnest(?))
        order by unit_kind, unit_code, period
        """,
        report_periods,
    )
    table_rows = [
        {
            "unit_name_zh": row["unit_name_zh"] or row["unit_code"],
            "unit_kind": KIND_ZH.get(row["unit_kind"] or "", row["unit_kind"] or ""),
            "status": STATUS_ZH.get(row["status"], row["status"]),
            "status_code": row["status"],
            "file_name": row["file_name"] or "",
            "files": row["files"] or 0,
            "first_received": row["first_received_local"],
            "due_on": row["due_on"],
            "on_time": row["on_time"],
            "days_late": row["days_late"],
            "errors": row["errors"],
            "warnings": row["warnings"],
        }
        | ({"period": row["period"]} if from_quarters else {})
        for row in rows
    ]
    summary = {
        "expected": len(rows),
        "submitted": sum(row["status"] != "missing" for row in rows),
        "accepted": sum(row["status"] in labels.ACCEPTED for row in rows),
        "on_time": sum(row["on_time"] is True for row in rows),
        "late": sum(row["on_time"] is False for row in rows),
    }
    columns = [
        Column("unit_name_zh", "单位"),
        Column("unit_kind", "类别"),
        Column("status", "结果", "status"),
        Column("file_name", "计入的文件"),
        Column("files", "文件数", "int"),
        Column("first_received", "首次收到（北京时间）", "datetime"),
        Column("due_on", "截止日期", "date"),
        Column("on_time", "按时", "yesno"),
        Column("days_late", "逾期天数", "int"),
        Column("errors", "错误", "int"),
        Column("warnings", "警告", "int"),
    ]
    note = (
        f"应报 {summary['expected']} 个单位，已报送 {summary['submitted']} 个，已入库 {summary['accepted']} 个；"
        f"按时 {summary['on_time']} 个，逾期 {summary['late']} 个。"
    )
    if from_quarters is not None:
        columns.insert(2, Column("period", "季度"))
        note = (
            f"{from_quarters.year}年由季报汇总：每个单位每个已入库季度（{from_quarters.shown}）一行。"
            f"应报 {summary['expected']} 份季报，已报送 {summary['submitted']} 份，已入库 {summary['accepted']} 份；"
            f"按时 {summary['on_time']} 份，逾期 {summary['late']} 份。"
            + (f"{'、'.join(from_quarters.missing)} 尚未入库。" if from_quarters.missing else "")
        )
    return Table("报送情况", "报送完整性与及时性", columns, table_rows, note), summary


def _findings_tables(con: duckdb.DuckDBPyConnection, report_periods: list[str]) -> tuple[Table, Table]:
    """Findings of the file that counts for each unit (its current accepted file, else its latest) of the page's
    period (for a year made from quarters, of each quarter held, added up by unit and rule): what the figures
    rest on now. Every file's findings, superseded and rejected ones included, are on the validation page."""
    from union_stats.rules import registry

    rules = registry()
    rows = _rows(
        con,
        """
        with counted as (
            select unit_code, unit_name_zh, submission_id
            from report.submission_completeness
            where period in (select unnest(?)) and submission_id is not null
        )
        select counted.unit_code, counted.unit_name_zh, findings.rule, findings.severity, count(*) as findings
        from ops.findings as findings
        join counted on counted.submission_id = findings.submission_id
        group by all
        order by counted.unit_code, findings.rule
        """,
        report_periods,
    )
    by_unit: dict[str, dict[str, Any]] = {}
    for row in rows:
        unit = by_unit.setdefault(
            row["unit_code"],
            {"unit_name_zh": row["unit_name_zh"] or row["unit_code"]} | dict.fromkeys(SEVERITY_ORDER, 0),
        )
        unit[row["severity"]] = unit.get(row["severity"], 0) + row["findings"]
    unit_table = Table(
        "问题-按单位",
        "各单位的问题数（按严重程度）",
        [Column("unit_name_zh", "单位")]
        + [Column(severity, SEVERITY_ZH[severity], "int") for severity in SEVERITY_ORDER],
        list(by_unit.values()),
        "按各单位当前计入的文件统计；没有列出的单位，其文件未发现问题。",
    )
    rule_table = Table(
        "问题-按规则",
        "各单位的问题数（按规则）",
        [
            Column("unit_name_zh", "单位"),
            Column("rule", "规则"),
            Column("rule_title", "规则名称"),
            Column("severity", "严重程度"),
            Column("findings", "条数", "int"),
        ],
        [
            {
                "unit_name_zh": row["unit_name_zh"] or row["unit_code"],
                "rule": row["rule"],
                "rule_title": rules[row["rule"]].title_zh if row["rule"] in rules else "",
                "severity": SEVERITY_ZH.get(row["severity"], row["severity"]),
                "findings": row["findings"],
            }
            for row in rows
        ],
    )
    return unit_table, rule_table


def validation_table(con: duckdb.DuckDBPyConnection, period: str, quarters: list[str] | None = None) -> Table:
    """One row per submission and rule: every file recorded for the period, whatever its outcome, with each rule
    it broke (a file without findings is one row, `无问题`), how often, and the first cells where. For a year
    made from its quarters (`quarters`: those held), every file of those quarters, each row naming its quarter."""
    from union_stats.rules import registry

    rules = registry()
    rows = _rows(
        con,
        f"""
        with findings_by_rule as (
            select
                submission_id,
                rule,
                severity,
                count(*) as findings,
                -- cells in reading order: by row, then column (D9 before D12, Z5 before AA5)
                list(
                    coalesce(sheet || '!' || cell, sheet, '整个文件')
                    order by sheet,
                        try_cast(regexp_extract(cell, '[0-9]+$') as integer),
                        length(regexp_extract(cell, '^[A-Z]+')),
                        cell
                ) as cells
            from ops.findings
            where period in (select unnest(?))
            group by submission_id, rule, severity
        )
        select
            submissions.submission_id,
            submissions.period,
            coalesce(units.name_zh, submissions.unit_code) as unit_name_zh,
            submissions.file_name,
            submissions.status,
            timezone('{SHANGHAI}', submissions.received_at) as received_local,
            findings_by_rule.rule,
            findings_by_rule.severity,
            findings_by_rule.findings,
            findings_by_rule.cells
        from ops.submissions as submissions
        left join marts.dim_unit as units on units.unit_code = submissions.unit_code
        left join findings_by_rule on findings_by_rule.submission_id = submissions.submission_id
        where submissions.period in (select unnest(?))
        order by submissions.unit_code, submissions.period, submissions.received_at, submissions.submission_id,
            list_position(['error', 'warning', 'info'], findings_by_rule.severity), findings_by_rule.rule
        """,
        quarters or [period],
        quarters or [period],
    )
    table_rows = []
    for row in rows:
        cells = row["cells"] or []
        shown = "、".join(cells[:FIRST_CELLS]) + (f" 等{len(cells)}处" if len(cells) > FIRST_CELLS else "")
        rule = rules.get(row["rule"]) if row["rule"] else None
        table_rows.append(
            {
                "unit_name_zh": row["unit_name_zh"],
                "file_name": row["file_name"],
                "status": STATUS_ZH.get(row["status"], row["status"]),
                "status_code": row["status"],
                "received": row["received_local"],
                "rule": row["rule"] or "—",
                "rule_title": rule.title_zh if rule else ("无问题" if row["rule"] is None else ""),
                "severity": SEVERITY_ZH.get(row["severity"], "") if row["severity"] else "",
                "severity_code": row["severity"] or "none",
                "findings": row["findings"] or 0,
                "cells": shown,
            }
            | ({"period": row["period"]} if quarters else {})
        )
    columns = [
        Column("unit_name_zh", "单位"),
        Column("file_name", "文件"),
        Column("status", "结果"),
        Column("received", "收到（北京时间）", "datetime"),
        Column("rule", "规则"),
        Column("rule_title", "规则名称"),
        Column("severity", "严重程度"),
        Column("findings", "条数", "int"),
        Column("cells", "位置（前几处）"),
    ]
    files = len({row["submission_id"] for row in rows})
    note = f"本统计期共收到 {files} 个文件（含退回、被替代、暂存的文件），每个文件每条规则一行；没有问题的文件一行“无问题”。"
    if quarters:
        columns.insert(1, Column("period", "季度"))
        note = f"{period}年年报尚未入库，列出其已入库季度（{'、'.join(quarters)}）收到的全部文件：" + note.removeprefix(
            "本统计期"
        )
    return Table("审核结果", f"{period} 审核结果", columns, table_rows, note)


def _towns(
    con: duckdb.DuckDBPyConnection, period: str, from_quarters: FromQuarters | None = None
) -> tuple[Table, list[Chart]]:
    """The headline indicators town by town: one chart each and one wide table (a column per indicator). For a
    year made from quarters, each town's quarters held rolled up (marts.fct_indicator_value_annual's
    quarters_value: the year once all four are in, the quarters so far while some are missing)."""
    codes = settings()["headline_indicators"]
    indicators = {
        row["indicator_code"]: row
        for row in _rows(
            con,
            "select indicator_code, figure_id, name_zh, unit_zh from marts.dim_indicator "
            "where list_contains(reporting_kinds, 'town') and indicator_code in (select unnest(?))",
            codes,
        )
    }
    towns = _rows(
        con,
        """
        select units.unit_code, units.name_zh
        from marts.dim_unit as units
        where units.kind = 'town' and units.unit_code in (
            select unit_code from ops.expected_units where period in (select unnest(?))
        )
        order by units.unit_code
        """,
        from_quarters.quarters if from_quarters else [period],
    )
    values_sql = (
        """
        select annual_values.unit_code, annual_values.indicator_code, annual_values.quarters_value as value
        from marts.fct_indicator_value_annual as annual_values
        join marts.dim_unit as units on units.unit_code = annual_values.unit_code
        where annual_values.year = ? and units.kind = 'town' and annual_values.indicator_code in (select unnest(?))
        """
        if from_quarters
        else """
        select indicator_values.unit_code, indicator_values.indicator_code, indicator_values.value
        from marts.fct_indicator_value as indicator_values
        join marts.dim_unit as units on units.unit_code = indicator_values.unit_code
        where indicator_values.period = ? and units.kind = 'town' and indicator_values.indicator_code in (select unnest(?))
        """
    )
    values = _rows(con, values_sql, period, codes)
    by_unit: dict[str, dict[str, Any]] = defaultdict(dict)
    for row in values:
        by_unit[row["unit_code"]][row["indicator_code"]] = _number(row["value"])
    shown = [code for code in codes if code in indicators]
    rows = [
        {"unit_name_zh": town["name_zh"]} | {code: by_unit[town["unit_code"]].get(code) for code in shown}
        for town in towns
    ]
    columns = [Column("unit_name_zh", "镇街")] + [
        Column(code, f"{indicators[code]['name_zh']}（{indicators[code]['unit_zh']}）", "number") for code in shown
    ]
    note = "空白表示该镇街本期尚无已入库的数据。"
    if from_quarters is not None:
        note = (
            f"各镇街{from_quarters.shown}季报的汇总"
            + ("（全年）。" if from_quarters.whole_year else f"（缺 {'、'.join(from_quarters.missing)}，不是全年数）。")
            + note
        )
    table = Table("镇街指标", "主要指标分镇街情况", columns, rows, note)
    charts = []
    for code in shown:
        indicator = indicators[code]
        data = [
            {"unit": town["name_zh"], "value": by_unit[town["unit_code"]][code]}
            for town in towns
            if by_unit[town["unit_code"]].get(code) is not None
        ]
        label = f"{indicator['figure_id']} " if indicator["figure_id"] else ""
        title = f"{label}{indicator['name_zh']}（{indicator['unit_zh']}）"
        charts.append(
            Chart(
                code, indicator["figure_id"], title, _bar_chart_svg(data, indicator["unit_zh"]), len(data), len(towns)
            )
        )
    return table, charts


def _bar_chart_svg(data: list[dict[str, Any]], unit_zh: str) -> str:
    """A horizontal bar per town, largest first, each labelled with its value, as an SVG element."""
    import altair as alt
    import vl_convert

    frame = alt.Data(values=data or [{"unit": "（无数据）", "value": 0}])
    base = alt.Chart(frame).encode(
        y=alt.Y("unit:N", sort="-x", title=None, axis=alt.Axis(labelLimit=200, labelFontSize=12)),
        x=alt.X("value:Q", title=unit_zh, axis=alt.Axis(format=",d", tickMinStep=1)),
    )
    bars = base.mark_bar(color="#2f6fb5")
    labels = base.mark_text(align="left", dx=3, fontSize=11, color="#1f2328").encode(
        text=alt.Text("value:Q", format=",")
    )
    chart = (
        (bars + labels)
        .properties(width=560, height=alt.Step(20))
        .configure(font="PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif")
        .configure_view(stroke=None)
    )
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    # the SVG goes into the page as an element: its XML prolog (if any) would be text in HTML
    return svg[svg.index("<svg") :]


# --- writing ------------------------------------------------------------------------------------------------


def _format(value: Any, kind: str) -> str:
    """A cell as the page shows it: thousands separators, whole numbers without decimals, ✓/✗, 是/否."""
    if value is None:
        return ""
    if kind == "check":
        return "✓" if value else "✗"
    if kind == "yesno":
        return "是" if value else "否"
    if kind == "percent":
        return f"{value:.1%}"
    if kind == "change":  # a change shows its sign: +12.5%, -3.0%
        return f"{value:+.1%}"
    if kind in ("int", "number"):
        return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"
    if kind == "datetime" and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if kind == "date" and isinstance(value, date):
        return value.isoformat()
    return str(value)


def _environment() -> jinja2.Environment:
    return html_environment(cell=_format)


def render_pages(data: ReportData, report_href: str, validation_href: str, workbook_href: str) -> tuple[str, str]:
    """The report page and the validation page, linked to each other and to the workbook by relative names."""
    environment = _environment()
    made_at = office_time.shown(datetime.now(UTC))  # in the office's zone, saying so
    common = {"period": data.period, "made_at": made_at, "severity_zh": SEVERITY_ZH}
    page = environment.get_template(PAGE_TEMPLATE).render(
        data=data, validation_href=validation_href, workbook_href=workbook_href, **common
    )
    validation = environment.get_template(VALIDATION_TEMPLATE).render(
        table=data.validation, report_href=report_href, **common
    )
    return page, validation


def render_workbook(data: ReportData) -> bytes:
    """The page's tables, one sheet each, numbers as numbers (a reader sums them in Excel without retyping)."""
    import xlsxwriter

    from union_stats.template import display_width

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "remove_timezone": True})
    header = workbook.add_format({"bold": True, "bg_color": "#F0F2F5", "border": 1, "text_wrap": True, "valign": "top"})
    formats = {
        "int": workbook.add_format({"num_format": "#,##0"}),
        "number": workbook.add_format({"num_format": "#,##0.##"}),
        "percent": workbook.add_format({"num_format": "0.0%"}),
        "change": workbook.add_format({"num_format": "+0.0%;-0.0%;0.0%"}),
        "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
        "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
    }
    for table in data.tables():
        sheet = workbook.add_worksheet(table.sheet)
        sheet.write(0, 0, f"{table.title}（{data.label}）", workbook.add_format({"bold": True, "font_size": 13}))
        if table.note:
            sheet.write(1, 0, table.note)
        for column_index, column in enumerate(table.columns):
            sheet.write(2, column_index, column.heading, header)
            widths = [display_width(column.heading)] + [
                display_width(_format(row.get(column.key), column.kind)) for row in table.rows
            ]
            sheet.set_column(column_index, column_index, min(max(widths) + 2, 60))
        for row_index, row in enumerate(table.rows, start=3):
            for column_index, column in enumerate(table.columns):
                value = row.get(column.key)
                if value is None:
                    continue
                if column.kind in ("check", "yesno"):
                    sheet.write_string(row_index, column_index, _format(value, column.kind))
                elif column.kind in formats and not isinstance(value, str):
                    if isinstance(value, datetime):
                        value = value.replace(tzinfo=None)
                    sheet.write(row_index, column_index, value, formats[column.kind])
                else:
                    sheet.write_string(row_index, column_index, str(value))  # text stays text, never a formula
        sheet.freeze_panes(3, 0)
        if table.rows:
            sheet.autofilter(2, 0, 2 + len(table.rows), len(table.columns) - 1)
    workbook.close()
    return buffer.getvalue()


def write_report(warehouse: Path, period: str, out: Path | None = None) -> ReportFiles:
    """Read the period from the warehouse (read-only) and write the page, the validation page and the workbook.

    Everything is made in memory first: a failure leaves no file behind, and a rerun replaces all three."""
    from union_stats.warehouse import connect

    out = out or default_out(warehouse, period)
    xlsx, validation = companion_paths(out)
    with connect(warehouse, read_only=True) as con:
        data = gather(con, period)
    page, validation_page = render_pages(data, out.name, validation.name, xlsx.name)
    workbook = render_workbook(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, content in ((out, page.encode("utf-8")), (validation, validation_page.encode("utf-8")), (xlsx, workbook)):
        partial = path.with_name(f".{path.name}.partial")
        partial.write_bytes(content)
        partial.replace(path)
    return ReportFiles(html=out, xlsx=xlsx, validation=validation)

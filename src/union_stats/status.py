"""What `union-stats status` says of a period: one row per expected unit, with the file that counts and the newest
file received (a rejected correction shows even while an earlier file is the accepted one), in Chinese or English,
as a table that fits the terminal or as CSV / JSON for machines."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal

import duckdb
from rich.table import Table

from union_stats import labels, office_time
from union_stats.periods import is_quarter, quarters_of

LANGUAGES = ("zh", "en")
FORMATS = ("table", "csv", "json")

# short outcome words for a table row (labels.toml's report_zh is the clerk's sentence on the report page)
OUTCOME = {"zh": labels.outcomes("zh"), "en": labels.outcomes("en")}
# the name column of a file whose cover names no unit expected for the period
UNKNOWN_UNIT = {"zh": "（非本期应报单位）", "en": "(not an expected unit)"}
COLOURS = labels.outcomes("colour")
HEADERS = {
    "zh": ("单位代码", "单位", "结果", "文件数", "最新文件", "最新文件结果", "首次收到", "是否按时", "错误", "警告"),
    "en": (
        "unit",
        "name",
        "outcome",
        "files",
        "newest file",
        "its outcome",
        "first received",
        "timely",
        "errors",
        "warnings",
    ),
}
# the machine columns: codes stay codes (outcome), with the words of the chosen language beside them
COLUMNS = (
    "period",
    "unit_code",
    "unit_name_zh",
    "unit_name_en",
    "outcome",
    "outcome_label",
    "files",
    "current_file",
    "newest_file",
    "newest_outcome",
    "newest_outcome_label",
    "newest_received_at",
    "first_received_at",
    "due_on",
    "on_time",
    "days_late",
    "errors",
    "warnings",
)


def rows(con: duckdb.DuckDBPyConnection, period: str) -> list[dict]:
    """Each expected unit of the period: its outcome (the file that counts: the current accepted one, else the
    latest received), and its newest file with that file's own outcome. Then each file of the period whose cover
    names no expected unit (an unknown code, or none it could be read from): its own row, so that no file received
    goes unseen (`expected` False; the title counts expected units only)."""
    relation = con.sql(
        """
        with newest as (
            select
                unit_code,
                arg_max(file_name, received_at) as newest_file,
                arg_max(status, received_at) as newest_outcome,
                max(received_at) as newest_received_at
            from ops.submissions
            where period = $period
            group by unit_code
        ),

        expected as (
            select
                completeness.period,
                completeness.unit_code,
                completeness.unit_name_zh,
                units.name_en as unit_name_en,
                completeness.status as outcome,
                coalesce(completeness.files, 0) as files,
                completeness.file_name as current_file,
                newest.newest_file,
                newest.newest_outcome,
                newest.newest_received_at,
                completeness.first_received_at,
                completeness.due_on,
                completeness.on_time,
                completeness.days_late,
                completeness.errors,
                completeness.warnings,
                true as expected,
                completeness.submitted as sort_submitted
            from report.submission_completeness as completeness
            left join newest on newest.unit_code = completeness.unit_code
            left join marts.dim_unit as units on units.unit_code = completeness.unit_code
            where completeness.period = $period
        ),

        unexpected as (
            -- a file whose cover names no unit expected for the period: rejected, but received, and shown
            select
                submissions.period,
                coalesce(submissions.unit_code, '?') as unit_code,
                null as unit_name_zh,
                null as unit_name_en,
                submissions.status as outcome,
                1 as files,
                submissions.file_name as current_file,
                submissions.file_name as newest_file,
                submissions.status as newest_outcome,
                submissions.received_at as newest_received_at,
                submissions.received_at as first_received_at,
                (select max(due_on) from expected) as due_on,
                null as on_time,
                null as days_late,
                submissions.errors,
                submissions.warnings,
                false as expected,
                true as sort_submitted
            from ops.submissions as submissions
            where submissions.period = $period
                and not exists (select 1 from expected where expected.unit_code = submissions.unit_code)
        ),

        final as (
            select * from expected
            union all by name
            select * from unexpected
        )

        select * exclude (sort_submitted) from final
        order by expected desc, sort_submitted, unit_code, first_received_at
        """,
        params={"period": period},
    )
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def answer(con: duckdb.DuckDBPyConnection, period: str) -> dict[str, list[dict]]:
    """The rows that answer for `period`, by period: the period's own; for a year without annual returns in the
    warehouse, each of its quarters that has any (the year is answered from them); empty when nothing is there."""
    own = rows(con, period)
    if own or is_quarter(period):
        return {period: own} if own else {}
    return {quarter: found for quarter in quarters_of(period) if (found := rows(con, quarter))}


def from_quarters_note(year: str, quarters: list[str], lang: str) -> str:
    if lang == "zh":
        return f"{year} 年报尚未入库，以下为其各季度（{'、'.join(quarters)}）的报送情况"
    return f"{year}: no annual returns in the warehouse; its quarters instead ({', '.join(quarters)})"


def labelled(row: dict, lang: str) -> dict:
    """A row in the machine columns, the outcomes' words in `lang` beside their codes."""
    words = OUTCOME[lang]
    return {
        column: row.get(column) for column in COLUMNS if column not in ("outcome_label", "newest_outcome_label")
    } | {
        "outcome_label": words.get(row["outcome"], row["outcome"]),
        "newest_outcome_label": words.get(row["newest_outcome"], row["newest_outcome"])
        if row["newest_outcome"]
        else None,
    }


def _plain(value: object) -> object:
    if isinstance(value, datetime):  # with its offset, in the office's zone: 2023-01-13T14:04:00+08:00
        return value.astimezone(office_time.zone()).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def to_csv(rows: list[dict], lang: str) -> str:
    """The rows as CSV for Excel and machines: a byte order mark first (export.BOM), a header row, UTF-8."""
    from union_stats.publish.export import BOM

    buffer = io.StringIO(BOM)
    buffer.seek(len(BOM))
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if value is None else _plain(value) for key, value in labelled(row, lang).items()})
    return buffer.getvalue()


def to_json(rows: list[dict], lang: str) -> str:
    items = [{key: _plain(value) for key, value in labelled(row, lang).items()} for row in rows]
    return json.dumps(items, ensure_ascii=False, indent=2) + "\n"


def _outcome_cell(status: str | None, lang: str) -> str:
    if status is None:
        return "—"
    return f"[{COLOURS.get(status, 'white')}]{OUTCOME[lang].get(status, status)}[/]"


def table(period: str, rows: list[dict], lang: str) -> Table:
    """The status table: every cell wraps (folds a long file name) rather than being cut, so it fits the width
    it is printed at; a unit whose newest file is not the one that counts names the one that counts too."""
    expected = [row for row in rows if row.get("expected", True)]
    submitted = sum(row["outcome"] != "missing" for row in expected)
    due = rows[0]["due_on"]
    if lang == "zh":
        title = f"报送情况 {period}：{submitted} / {len(expected)} 个单位已报送，截止日期 {due}"
    else:
        title = f"Submissions {period}: {submitted} / {len(expected)} units submitted, due {due}"
    result = Table(title=title)
    # the code, the outcome and the counts stay whole; names, file names and dates give way when it is narrow
    whole = {0, 2, 3, 5, 7, 8, 9}
    zone = office_time.zone()
    headers = list(HEADERS[lang])
    # the times are the office's: the heading says which zone (北京时间)
    headers[6] += f"（{office_time.zone_label(lang)}）" if lang == "zh" else f" ({office_time.zone_label(lang)})"
    for index, header in enumerate(headers):
        result.add_column(
            header,
            overflow="fold",
            no_wrap=index in whole,
            justify="right" if index in (3, 8, 9) else "left",
        )
    for row in rows:
        if row["on_time"] is None:
            timely = "—"
        elif row["on_time"]:
            timely = "按时" if lang == "zh" else "on time"
        else:
            late = row["days_late"]
            timely = f"[red]逾期{late}天[/]" if lang == "zh" else f"[red]{late} days late[/]"
        received = f"{row['first_received_at'].astimezone(zone):%Y-%m-%d %H:%M}" if row["first_received_at"] else "—"
        newest = row["newest_file"] or "—"
        if row["current_file"] and row["newest_file"] and row["current_file"] != row["newest_file"]:
            newest += f"\n（采用：{row['current_file']}）" if lang == "zh" else f"\n(counted: {row['current_file']})"
        name = (row["unit_name_zh"] if lang == "zh" else row["unit_name_en"]) or ""
        if not row.get("expected", True):
            name = UNKNOWN_UNIT[lang]
        result.add_row(
            row["unit_code"],
            name,
            _outcome_cell(row["outcome"], lang),
            str(row["files"]),
            newest,
            _outcome_cell(row["newest_outcome"], lang),
            received,
            timely,
            "" if row["errors"] is None else str(row["errors"]),
            "" if row["warnings"] is None else str(row["warnings"]),
        )
    return result

"""Data-quality report of one submission, for the clerk of the unit that sent it: an HTML page and an annotated
copy of the submitted workbook, each enough on its own to fix the file without calling the federation.

Everything a submission carries (values, file name, sheet names, and the messages that quote them) is treated
as hostile: HTML-escaped in the page, and in the workbook never written where Excel or WPS would run it as a
formula.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell, MergedCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import column_index_from_string
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.worksheet import Worksheet

from union_stats import labels, office_time
from union_stats.discover import ReceivedFile
from union_stats.findings import (
    ERROR,
    INFO,
    SEVERITIES,
    WARNING,
    Finding,
    cell_position,
    sort_key,
    stopped_before_reading,
)
from union_stats.parse import ParsedBatch, normalise_label
from union_stats.pseudonym import ID_IN_TEXT, mask, names_pattern, scrub
from union_stats.reference import template
from union_stats.rules import registry
from union_stats.template import display_width
from union_stats.templating import html_environment

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)

HTML_TEMPLATE = "quality_report.html.j2"

OUTCOME_ZH = labels.outcomes("report_zh")
PORTAL_OUTCOME_ZH = labels.outcomes("portal_zh")
SEVERITY_ZH = labels.severities()
SEVERITY_FILL = labels.severities("fill")
OUTCOME_FILL = labels.outcomes("fill")

COMMENT_AUTHOR = "番禺区总工会数据审核"
RESULT_SHEET = "审核结果"
WHOLE_FILE_ZH = "整个文件"
ANNOTATABLE_SUFFIXES = (".xlsx", ".xlsm")

# a text cell starting with one of these is read as a formula by Excel, WPS or LibreOffice (OWASP, CSV injection)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
EXCEL_MAX_TEXT = 32767  # characters in one cell or comment
VALUE_SHOWN = 200  # characters of a submitted value quoted in the report; the clerk has the rest in the file

COMMENT_WIDTH_PX = 360
COMMENT_LINE_WIDTH = 56  # display width (CJK = 2) of one comment line at COMMENT_WIDTH_PX
COMMENT_LINE_PX, COMMENT_MAX_HEIGHT_PX = 18, 600


@dataclass(frozen=True)
class SubmissionReport:
    """What the report says about the submitted file itself, beside its findings."""

    submission_id: str
    file_name: str
    unit_code: str
    unit_name: str | None
    period: str
    status: str  # accepted | accepted_with_warnings | rejected
    received_at: datetime | None
    sha256: str
    source_path: Path | None  # the submitted file, if still readable
    run_id: str | None
    # where the file holds personal data: (sheet, column letter, header row, "name" | "id_number"); the annotated
    # copy shows these cells masked, as it does every ID number found in any text
    personal_columns: tuple[tuple[str, str, int, str], ...] = ()


@dataclass(frozen=True)
class Audience:
    """Who reads the reports written meanwhile (`for_audience`). By default a clerk who sent the file to the office
    and sends the corrected one the same way; the portal's clerk uploads it again on the portal's page instead (no
    file name to keep, no remark column to explain a warning in: the page has a box for that), reads each rule by
    its title, not its id, and may get no annotated copy of a very large file (`annotate`, with the reason)."""

    portal: bool = False
    annotate: bool = True
    not_annotated_zh: str = ""  # why there is no annotated copy, when `annotate` is false
    reword: Callable[[Finding], Finding] | None = None  # the finding as this audience reads it


MAIL = Audience()
_AUDIENCE: ContextVar[Audience | None] = ContextVar("quality_report_audience", default=None)


def _audience() -> Audience:
    return _AUDIENCE.get() or MAIL


@contextmanager
def for_audience(audience: Audience) -> Iterator[None]:
    """Within the block (on this thread), the reports written are for `audience`: the portal sets it around the
    self-check that writes its uploads' reports, so that they are worded for the portal."""
    token = _AUDIENCE.set(audience)
    try:
        yield
    finally:
        _AUDIENCE.reset(token)


@dataclass(frozen=True)
class _Row:
    """One finding as the report shows it."""

    severity: str
    severity_zh: str
    where: str
    value: str | None
    rule: str
    rule_title: str  # the registry's short title of the rule, in Chinese
    message: str
    sheet: str | None
    cell: str | None


def write_reports(submission: SubmissionReport, findings: Sequence[Finding], out_dir: Path) -> tuple[Path, Path | None]:
    """Write `<stem>.report.html` and, when there is something to mark and the submitted workbook can be opened,
    `<stem>.annotated.xlsx` (a clean file needs no marked copy, and copying every workbook would double a run's I/O)."""
    if submission.status not in OUTCOME_ZH:
        raise ValueError(f"no report wording for submission status {submission.status!r}")
    for finding in findings:
        if finding.severity not in SEVERITIES:
            raise ValueError(f"unknown finding severity {finding.severity!r} (rule {finding.rule})")
        if finding.submission_id != submission.submission_id:
            raise ValueError(f"finding of submission {finding.submission_id} given for {submission.submission_id}")

    out_dir.mkdir(parents=True, exist_ok=True)
    audience = _audience()
    stem = _output_stem(submission)
    ordered = sorted(map(audience.reword, findings) if audience.reword else findings, key=sort_key)
    annotated = None
    if ordered and audience.annotate:
        annotated = _write_annotated_workbook(submission, ordered, out_dir / f"{stem}.annotated.xlsx")
    html = out_dir / f"{stem}.report.html"
    html.write_text(render_html(submission, ordered, annotated_name=annotated.name if annotated else None), "utf-8")
    return html, annotated


def render_html(submission: SubmissionReport, findings: Sequence[Finding], *, annotated_name: str | None = None) -> str:
    """The report page; `findings` are shown in the order given (write_reports sorts them)."""
    counts = Counter(finding.severity for finding in findings)
    portal = _audience().portal
    return _html_template().render(
        title=f"{_clean(_unit_label(submission))} {_clean(submission.period)} 数据审核报告",
        status=submission.status,
        outcome_zh=(PORTAL_OUTCOME_ZH if portal else OUTCOME_ZH)[submission.status],
        counts=[(severity, SEVERITY_ZH[severity], counts[severity]) for severity in SEVERITIES],
        facts=_facts(submission),
        steps=_fix_steps(submission, counts, annotated_name),
        rows=[_row(finding) for finding in findings],
        submission_id=_clean(submission.submission_id),
        portal=portal,
    )


# the steps a clerk reads alike by mail and in the portal (how to correct or explain differs between the two)
ERRORS_STEP = "逐条修改下表中的全部{errors}个“错误”（红色）：有错误的文件不能入库。"
INFO_STEP = "“提示”（蓝色）是系统已自动规范化的内容，请核对读取结果；无误则无需处理。"


def _fix_steps(submission: SubmissionReport, counts: Counter, annotated_name: str | None) -> list[str]:
    """What the clerk has to do, in order, worded for this submission."""
    audience = _audience()
    if audience.portal:
        return _portal_fix_steps(submission, counts, annotated_name, audience)
    file_name = _clean(Path(submission.file_name).name)
    steps = []
    if counts[ERROR]:
        steps.append(ERRORS_STEP.format(errors=counts[ERROR]))
    if counts[WARNING]:
        steps.append(
            f"逐条核实全部{counts[WARNING]}个“警告”（黄色）：数据有误的请更正；确认无误的，"
            "请在“指标”表相应指标的“备注”列写明原因。"
        )
    if counts[INFO]:
        steps.append(INFO_STEP)
    if counts[ERROR] or counts[WARNING]:
        not_the_copy = "，也不要提交标注副本" if annotated_name else ""
        steps.append(
            f"在原文件上修改后，以相同的文件名“{file_name}”重新提交整个文件（不要只提交修改过的工作表{not_the_copy}）。"
        )
    elif counts[INFO]:
        steps.append(f"如读取结果有误，请更正后以相同的文件名“{file_name}”重新提交整个文件；否则无需重新提交。")
    else:
        steps.append("未发现问题，无需修改或重新提交。")
    if annotated_name and (counts[ERROR] or counts[WARNING] or counts[INFO]):
        steps.append(
            f"标注副本“{annotated_name}”已把每个问题标在对应单元格上（颜色同上，批注写明问题及修改方法），"
            "第一张表“审核结果”列出全部问题，可对照修改。"
        )
    return steps


def _portal_fix_steps(
    submission: SubmissionReport, counts: Counter, annotated_name: str | None, audience: Audience
) -> list[str]:
    """The steps for a clerk of the portal: corrections are uploaded again on the unit's page (under any file name),
    a warning is explained in the box beside it on the upload's page."""
    period = _clean(submission.period)
    steps = []
    if counts[ERROR]:
        steps.append(ERRORS_STEP.format(errors=counts[ERROR]))
    if counts[WARNING]:
        steps.append(
            f"逐条核实全部{counts[WARNING]}个“警告”（黄色）：数据有误的请更正后重新上传；确认无误的，"
            "请在平台上本次上传的页面、该条警告旁的“说明”框中写明原因，并点“保存说明”。"
        )
    if counts[INFO]:
        steps.append(INFO_STEP)
    if counts[ERROR]:
        steps.append(
            f"在原文件上修改后，在平台“本单位报送”页（统计期 {period}）重新上传整个文件（不要只上传修改过的工作表，"
            "也不要上传批注版）；文件名不限，平台按登录的账户确认单位。"
        )
    elif counts[WARNING] or counts[INFO]:
        steps.append(
            f"如需更正，在原文件上修改后，在平台“本单位报送”页（统计期 {period}）重新上传整个文件；"
            "无需更正的，不必重新上传。"
        )
    else:
        steps.append("未发现问题，无需修改或重新上传。")
    if annotated_name and (counts[ERROR] or counts[WARNING] or counts[INFO]):
        steps.append(
            "批注版（在平台上本次上传的页面点“下载批注版报表”）已把每个问题标在对应单元格上（颜色同上，批注写明问题及"
            "修改方法），第一张表“审核结果”列出全部问题，可对照修改。"
        )
    elif not audience.annotate and audience.not_annotated_zh and (counts[ERROR] or counts[WARNING]):
        steps.append(audience.not_annotated_zh)
    return steps


# ---------------------------------------------------------------------------------------------------- text


def _clean(text: str) -> str:
    """Submitted text made safe to write anywhere: no XML-illegal control characters, no lone surrogates."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return ILLEGAL_CHARACTERS_RE.sub("\N{REPLACEMENT CHARACTER}", text)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…（共{len(text)}字）"


def _cell_text(text: str) -> str:
    """Text for a cell we write: a leading quote makes Excel and WPS show a would-be formula as plain text."""
    text = _clean(text)
    if text.startswith(FORMULA_TRIGGERS):
        text = "'" + text
    return _shorten(text, EXCEL_MAX_TEXT - 20)


def _unit_label(submission: SubmissionReport) -> str:
    return submission.unit_name or submission.unit_code or Path(submission.file_name).name


def _where(finding: Finding) -> str:
    if not finding.sheet:
        return WHOLE_FILE_ZH
    if not finding.cell:
        return f"{finding.sheet}（整张表）"
    return finding.where


def _row(finding: Finding) -> _Row:
    return _Row(
        severity=finding.severity,
        severity_zh=SEVERITY_ZH[finding.severity],
        where=_clean(_where(finding)),
        value=None if finding.value is None else _shorten(_clean(finding.value), VALUE_SHOWN),
        rule=_clean(finding.rule),
        rule_title=registry()[finding.rule].title_zh if finding.rule in registry() else "",
        message=_clean(finding.message),
        sheet=finding.sheet,
        cell=finding.cell,
    )


def _received_text(received_at: datetime | None) -> str:
    if received_at is None:
        return "—"
    if received_at.tzinfo is None:
        return received_at.strftime("%Y-%m-%d %H:%M")
    return office_time.shown(received_at)


def _facts(submission: SubmissionReport) -> list[tuple[str, str]]:
    return [
        ("文件", _clean(Path(submission.file_name).name)),
        ("填报单位", _clean(_unit_label(submission))),
        ("统计期", _clean(submission.period)),
        ("收到时间", _received_text(submission.received_at)),
        ("文件校验码", _clean(submission.sha256[:12]) or "—"),
        ("审核批次", _clean(submission.run_id or "—")),
    ]


def _output_stem(submission: SubmissionReport) -> str:
    # only the name: a file name is submission content and must not steer where the reports go
    stem = Path(Path(submission.file_name).name).stem
    return stem if stem not in ("", ".", "..") else submission.submission_id


@cache
def _html_template() -> jinja2.Template:
    return html_environment().get_template(HTML_TEMPLATE)


# ---------------------------------------------------------------------------------------------------- workbook


def _write_annotated_workbook(submission: SubmissionReport, findings: Sequence[Finding], path: Path) -> Path | None:
    source = submission.source_path
    if source is None or source.suffix.lower() not in ANNOTATABLE_SUFFIXES or not source.is_file():
        return None
    if any(stopped_before_reading(finding) for finding in findings):
        return None  # a file stopped by a limit or the content policy is never opened, not even to mark it
    try:
        with warnings.catch_warnings():
            # openpyxl warns about every extension it drops; the copy is for reading, the clerk keeps the original
            warnings.simplefilter("ignore")
            workbook = load_workbook(source)
    except Exception as error:  # a submitted file can break the reader in any way; the HTML report still goes out
        log.warning("annotated copy skipped: %s cannot be opened (%s: %s)", source.name, type(error).__name__, error)
        return None

    _drop_previous_review(workbook)
    _mask_personal_data(workbook, submission.personal_columns)
    placed = _annotate_cells(workbook, findings)
    _add_result_sheet(workbook, submission, findings, placed, annotated_name=path.name)

    partial = path.with_name(path.name + ".partial")
    try:
        workbook.save(partial)
    except Exception as error:  # openpyxl writes back every part it loaded from the submission, some it cannot
        partial.unlink(missing_ok=True)
        log.warning("annotated copy skipped: %s cannot be saved (%s: %s)", source.name, type(error).__name__, error)
        return None
    partial.replace(path)
    return path


def _mask_personal_data(workbook: Workbook, personal_columns: Sequence[tuple[str, str, int, str]]) -> None:
    """The copy is kept beside the warehouse and goes back by e-mail: no name or ID number stays in it in clear.
    The personal columns are masked below their header (`张**`, `4401**********123X`), and in every other text
    cell of the workbook any ID number and any name those columns list. The clerk's original is not touched."""
    names = []
    for title, letter, header_row, kind in personal_columns:
        if title not in workbook.sheetnames:
            continue
        column = column_index_from_string(letter)
        for (cell,) in workbook[title].iter_rows(min_row=header_row + 1, min_col=column, max_col=column):
            if cell.value is not None and not isinstance(cell, MergedCell):
                if kind == "name":
                    names.append(str(cell.value))
                cell.value = mask(kind, str(cell.value))
    names += _mask_cover(workbook)
    listed = names_pattern(names)
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell, MergedCell):
                    continue
                if isinstance(cell.value, str):
                    scrubbed = scrub(cell.value, listed)
                    if scrubbed != cell.value:
                        cell.value = scrubbed
                elif _typed_as_a_number(cell.value):
                    cell.value = mask("id_number", str(int(cell.value)))  # a number typed as a number is still one


def _typed_as_a_number(value: object) -> bool:
    """An ID number typed into a number cell: an integer, or the double Excel or LibreOffice stored for it."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1e16 <= abs(value) < 1e18:
        return False
    return ID_IN_TEXT.fullmatch(str(int(value))) is not None


def _mask_cover(workbook: Workbook) -> list[str]:
    """The cover's personal fields (the clerk's name, 填报人) masked in column B beside their label, wherever the
    row is; the names, so that the rest of the workbook is scrubbed of them too."""
    spec = template()
    personal = {normalise_label(item.label): item.personal for item in spec.cover_fields if item.personal}
    if not personal or spec.cover_sheet not in workbook.sheetnames:
        return []
    names = []
    for label, value in workbook[spec.cover_sheet].iter_rows(min_col=1, max_col=2):
        kind = personal.get(normalise_label(label.value)) if isinstance(label.value, str) else None
        if kind and value.value is not None and not isinstance(value, MergedCell):
            names.append(str(value.value))
            value.value = mask(kind, str(value.value))
    return names


def _drop_previous_review(workbook: Workbook) -> None:
    """A unit may send back an annotated copy: its old results sheet would be mistaken for this review's."""
    if RESULT_SHEET in workbook.sheetnames:
        workbook.remove(workbook[RESULT_SHEET])


def _anchor(sheet: Worksheet, cell: str | None) -> str:
    """The cell a finding is shown on: its own (the top-left one if merged), or A1 for a sheet-level finding."""
    position = cell_position(cell)
    if position is None:
        return "A1"
    column, row = position
    for merged in sheet.merged_cells.ranges:
        if merged.min_col <= column <= merged.max_col and merged.min_row <= row <= merged.max_row:
            return merged.start_cell.coordinate
    return sheet.cell(row=row, column=column).coordinate


def _annotate_cells(workbook: Workbook, findings: Sequence[Finding]) -> dict[int, tuple[str, str]]:
    """Colour and comment every cell with findings; returns, per finding index, the (sheet, cell) it went on."""
    worksheets = {sheet.title: sheet for sheet in workbook.worksheets}
    on_cell: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    placed = {}
    for index, finding in enumerate(findings):
        sheet = worksheets.get(finding.sheet) if finding.sheet else None
        if sheet is None:
            continue  # file-level, or the sheet is missing: the results sheet lists it
        target = (sheet.title, _anchor(sheet, finding.cell))
        on_cell[target].append(finding)
        placed[index] = target
    for (title, coordinate), cell_findings in on_cell.items():
        cell = worksheets[title][coordinate]
        worst = cell_findings[0].severity  # findings come sorted by severity
        cell.fill = PatternFill(fill_type="solid", fgColor=SEVERITY_FILL[worst])
        text = "\n\n".join(f"【{SEVERITY_ZH[finding.severity]}】{_clean(finding.message)}" for finding in cell_findings)
        if cell.comment is not None and cell.comment.author != COMMENT_AUTHOR:
            text += f"\n\n（原批注）{cell.comment.text}"
        cell.comment = _comment(text)
    return placed


def _comment(text: str) -> Comment:
    text = _shorten(text, EXCEL_MAX_TEXT - 20)
    # openpyxl's default box (144 x 79 px) shows two lines of Chinese; size it to the text instead
    lines = sum(max(1, math.ceil(display_width(line) / COMMENT_LINE_WIDTH)) for line in text.split("\n"))
    height = min(COMMENT_LINE_PX * lines + 16, COMMENT_MAX_HEIGHT_PX)
    return Comment(text, COMMENT_AUTHOR, height=height, width=COMMENT_WIDTH_PX)


def _put(sheet: Worksheet, row: int, column: int, value: str | int) -> Cell:
    cell = sheet.cell(row=row, column=column)
    cell.value = _cell_text(value) if isinstance(value, str) else value
    return cell


def _sheet_link(title: str, coordinate: str) -> str:
    return "'" + title.replace("'", "''") + "'!" + coordinate


def _add_result_sheet(
    workbook: Workbook,
    submission: SubmissionReport,
    findings: Sequence[Finding],
    placed: dict[int, tuple[str, str]],
    *,
    annotated_name: str,
) -> None:
    sheet = workbook.create_sheet(RESULT_SHEET, 0)
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="top")
    counts = Counter(finding.severity for finding in findings)

    title = _put(sheet, 1, 1, f"{_unit_label(submission)} {submission.period} 数据审核结果")
    title.font = Font(bold=True, size=14)
    row = 3
    outcome = _put(sheet, row, 2, (PORTAL_OUTCOME_ZH if _audience().portal else OUTCOME_ZH)[submission.status])
    outcome.fill, outcome.font = PatternFill(fill_type="solid", fgColor=OUTCOME_FILL[submission.status]), bold
    _put(sheet, row, 1, "审核结果").font = bold
    for severity in SEVERITIES:
        row += 1
        _put(sheet, row, 1, SEVERITY_ZH[severity]).font = bold
        _put(sheet, row, 2, counts[severity])
        sheet.cell(row=row, column=2).alignment = Alignment(horizontal="left")
    for label, value in _facts(submission):
        row += 1
        _put(sheet, row, 1, label).font = bold
        _put(sheet, row, 2, value)
    row += 1
    _put(sheet, row, 1, "修改方法").font = bold
    for number, step in enumerate(_fix_steps(submission, counts, annotated_name), start=1):
        _put(sheet, row, 2, f"{number}. {step}")
        sheet.merge_cells(start_row=row, start_column=2, end_row=row, end_column=5)
        sheet.cell(row=row, column=2).alignment = wrap
        sheet.row_dimensions[row].height = 15 * max(1, math.ceil(display_width(step) / 150))
        row += 1

    row += 1
    header_row = row
    for column, header in enumerate(("严重程度", "位置", "填报值", "问题及修改方法", "规则"), start=1):
        cell = _put(sheet, row, column, header)
        cell.font, cell.fill = bold, PatternFill(fill_type="solid", fgColor="D9D9D9")
    if not findings:
        _put(sheet, row + 1, 1, "未发现问题。")
    for index, finding in enumerate(findings):
        row += 1
        shown = _row(finding)
        severity = _put(sheet, row, 1, shown.severity_zh)
        severity.fill = PatternFill(fill_type="solid", fgColor=SEVERITY_FILL[finding.severity])
        where = _put(sheet, row, 2, shown.where)
        if index in placed:  # one click from the list to the cell
            where.hyperlink = Hyperlink(ref=where.coordinate, location=_sheet_link(*placed[index]))
            where.font = Font(color="0563C1", underline="single")
        _put(sheet, row, 3, shown.value or "")
        _put(sheet, row, 4, shown.message)
        if _audience().portal and shown.rule_title:
            _put(sheet, row, 5, shown.rule_title)  # the portal's clerk reads the rule by its title, never its id
        else:
            _put(sheet, row, 5, f"{shown.rule_title}（{shown.rule}）" if shown.rule_title else shown.rule)
        for column in range(1, 6):
            sheet.cell(row=row, column=column).alignment = wrap
    if findings:
        sheet.auto_filter.ref = f"A{header_row}:E{row}"

    for letter, width in zip("ABCDE", (14, 24, 28, 80, 30), strict=True):
        sheet.column_dimensions[letter].width = width
    _make_active(workbook, sheet)


def _make_active(workbook: Workbook, sheet: Worksheet) -> None:
    # a sheet the submitter left selected stays selected beside ours, and Excel opens them as a group in which
    # every edit lands on both: deselect them all first
    for other in workbook.worksheets:
        for view in other.views.sheetView:
            view.tabSelected = False
    for chart in workbook.chartsheets:
        for view in chart.sheetViews.sheetView:
            view.tabSelected = False
    workbook.active = sheet
    sheet.views.sheetView[0].tabSelected = True
    for view in workbook.views:
        view.firstSheet = 0


def personal_columns(layouts: pl.DataFrame) -> dict[str, tuple[tuple[str, str, int, str], ...]]:
    """Per submission, where its workbook holds personal data (from its sheet layouts): (sheet, column letter,
    header row, kind)."""
    kinds = {
        (sheet.kind, column.name): column.personal
        for sheet in template().sheets
        for column in sheet.columns
        if column.personal
    }
    found: dict[str, list[tuple[str, str, int, str]]] = defaultdict(list)
    for row in layouts.iter_rows(named=True):
        kind = kinds.get((row["sheet_kind"], row["field"]))
        if kind and row["column_letter"]:
            found[row["submission_id"]].append((row["sheet_name"], row["column_letter"], row["header_row"], kind))
    return {submission_id: tuple(places) for submission_id, places in found.items()}


def write_quality_reports(
    batch: ParsedBatch,
    outcomes: pl.DataFrame,
    findings: list[Finding],
    files: list[ReceivedFile],
    out_dir: Path,
    run_id: str | None = None,
) -> dict[str, list[Path]]:
    """For each submission of the batch, its HTML report and annotated workbook; paths by submission id."""
    by_submission: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_submission[finding.submission_id].append(finding)
    status = dict(outcomes.select("submission_id", "status").iter_rows())
    paths = {item.submission_id: item.path for item in files}
    personal = personal_columns(batch.layouts)
    written = {}
    for row in batch.submissions.iter_rows(named=True):
        submission_id = row["submission_id"]
        report = SubmissionReport(
            submission_id=submission_id,
            file_name=row["file_name"],
            unit_code=row["unit_code"] or "",
            unit_name=row["unit_name"],
            period=batch.period,
            status=status[submission_id],
            received_at=row["received_at"],
            sha256=row["sha256"],
            source_path=paths.get(submission_id),
            run_id=run_id,
            personal_columns=personal.get(submission_id, ()),
        )
        html, workbook = write_reports(report, by_submission[submission_id], out_dir)
        written[submission_id] = [path for path in (html, workbook) if path is not None]
    return written

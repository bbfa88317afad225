"""Writes submission workbooks (blank templates and filled samples) laid out exactly as the template spec says.

Sheet names, headers and column order come from `reference/templates/<version>.toml`; the parser reads the
same spec, so this module never restates them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path

import xlsxwriter
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from union_stats.periods import period_bounds
from union_stats.reference import (
    CURRENT_TEMPLATE,
    Indicator,
    SheetSpec,
    Template,
    Unit,
    indicators,
    template,
)

INSTRUCTIONS_SHEET = "填表说明"
FLAG_CHOICES = ("是", "否")
# dropdowns cover this many sheet rows (header included); more rows are still read, just without a dropdown
VALIDATION_LAST_ROW = 5000
DATE_FORMAT = "yyyy-mm-dd"
MONEY_FORMAT = "0.00"

# the indicator sheet's columns by spec name, so headers stay in the spec and only the meaning lives here
INDICATOR_CELLS: dict[str, Callable[[Indicator], str]] = {
    "indicator_code": lambda indicator: indicator.indicator_code,
    "indicator_name": lambda indicator: indicator.name_zh,
    "unit_of_measure": lambda indicator: indicator.unit_zh,
}
DEFAULT_WIDTHS = {
    "text": 16, "credit_code": 22, "id_number": 22, "date": 12, "integer": 12, "number": 10, "money": 16, "choice": 18,
}  # fmt: skip
MAX_WIDTH = 60


def display_width(text: str) -> int:
    """Width of `text` in Excel character cells: CJK and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(character) in "WF" else 1 for character in text)


def unit_indicators(unit: Unit) -> tuple[Indicator, ...]:
    """The catalog indicators a unit reports, in catalog order: the rows of its indicator sheet."""
    return tuple(indicator for indicator in indicators() if indicator.reported_by_kind(unit.kind))


class _Formats:
    """The few cell formats every sheet shares; xlsxwriter wants them created once per workbook."""

    def __init__(self, workbook: Workbook) -> None:
        self.title = workbook.add_format({"bold": True, "font_size": 14})
        self.header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
        self.label = workbook.add_format({"bold": True})
        self.date = workbook.add_format({"num_format": DATE_FORMAT})
        self.money = workbook.add_format({"num_format": MONEY_FORMAT})
        self.wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
        # an ID number typed into a General cell becomes 4.40113E+17 and loses its last digits: text it is
        self.text = workbook.add_format({"num_format": "@"})


def _write_cell(sheet: Worksheet, row: int, col: int, column_type: str, value: object, formats: _Formats) -> None:
    """Write one value by its column type; a value of the wrong Python type is written as text so that
    deliberately broken test workbooks show the parser what a careless submitter would type."""
    if value is None or value == "":
        return
    if column_type == "date" and isinstance(value, date):
        sheet.write_datetime(row, col, value, formats.date)
    elif (
        column_type in ("money", "integer", "number", "date")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        sheet.write_number(row, col, value, formats.money if column_type == "money" else None)
    else:
        sheet.write_string(row, col, str(value))


def _write_header(sheet: Worksheet, spec: SheetSpec, formats: _Formats) -> None:
    for col, column in enumerate(spec.columns):
        sheet.write_string(0, col, column.header, formats.header)
    sheet.freeze_panes(1, 0)


def _set_widths(
    sheet: Worksheet, spec: SheetSpec, rows: Sequence[Mapping[str, object]], formats: _Formats | None = None
) -> None:
    for col, column in enumerate(spec.columns):
        width = max(DEFAULT_WIDTHS.get(column.type, 12), display_width(column.header) + 2)
        if column.type in ("text", "choice"):
            longest = max((display_width(str(row.get(column.name) or "")) for row in rows), default=0)
            width = max(width, longest + 2)
        text = formats.text if formats is not None and column.type == "id_number" else None
        sheet.set_column(col, col, min(width, MAX_WIDTH), text)


def _write_cover(
    workbook: Workbook, spec: Template, period: str, cover_values: Mapping[str, object], formats: _Formats
) -> None:
    sheet = workbook.add_worksheet(spec.cover_sheet)
    sheet.write_string(0, 0, f"{spec.title_zh}（{period}）", formats.title)
    for field in spec.cover_fields:
        sheet.write_string(field.row - 1, 0, field.label, formats.label)
        value = cover_values.get(field.name)
        if isinstance(value, date):
            sheet.write_datetime(field.row - 1, 1, value, formats.date)
        elif value not in (None, ""):
            # codes, periods and phone numbers stay text: Excel would turn '2022' or '020…' into numbers
            sheet.write_string(field.row - 1, 1, str(value))
    sheet.set_column(0, 0, max(display_width(field.label) for field in spec.cover_fields) + 4)
    sheet.set_column(1, 1, 36)


def _write_indicator_sheet(
    workbook: Workbook,
    spec: SheetSpec,
    unit: Unit,
    values: Mapping[str, float | int | str | None],
    formats: _Formats,
) -> None:
    sheet = workbook.add_worksheet(spec.sheet)
    _write_header(sheet, spec, formats)
    rows = unit_indicators(unit)
    unknown = set(values) - {indicator.indicator_code for indicator in rows}
    if unknown:
        raise ValueError(f"{unit.unit_code}（{unit.kind}）不填报这些指标：{sorted(unknown)}")
    value_col = next(col for col, column in enumerate(spec.columns) if column.name == "value")
    for row, indicator in enumerate(rows, start=1):
        for col, column in enumerate(spec.columns):
            if column.name in INDICATOR_CELLS:
                sheet.write_string(row, col, INDICATOR_CELLS[column.name](indicator))
        value = values.get(indicator.indicator_code)
        if indicator.value_type == "flag":
            if isinstance(value, bool):
                value = FLAG_CHOICES[0] if value else FLAG_CHOICES[1]
            sheet.data_validation(row, value_col, row, value_col, {"validate": "list", "source": list(FLAG_CHOICES)})
            _write_cell(sheet, row, value_col, "text", value, formats)
        else:
            _write_cell(sheet, row, value_col, "money" if indicator.value_type == "money" else "number", value, formats)
    _set_widths(sheet, spec, [{name: cell(indicator) for name, cell in INDICATOR_CELLS.items()} for indicator in rows])


def _write_detail_sheet(
    workbook: Workbook, spec: SheetSpec, records: Sequence[Mapping[str, object]], formats: _Formats
) -> None:
    sheet = workbook.add_worksheet(spec.sheet)
    _write_header(sheet, spec, formats)
    names = {column.name for column in spec.columns}
    for row, record in enumerate(records, start=1):
        unknown = set(record) - names
        if unknown:
            raise ValueError(f"“{spec.sheet}”没有这些列：{sorted(unknown)}")
        for col, column in enumerate(spec.columns):
            _write_cell(sheet, row, col, column.type, record.get(column.name), formats)
    for col, column in enumerate(spec.columns):
        if column.choices:
            sheet.data_validation(
                1, col, VALIDATION_LAST_ROW - 1, col, {"validate": "list", "source": list(column.choices)}
            )
    _set_widths(sheet, spec, records, formats)


def instructions(spec: Template, period: str) -> list[str]:
    """The lines of the instructions sheet: what each sheet is and the rules the validator applies."""
    start, end = period_bounds(period)
    cover_labels = "、".join(field.label for field in spec.cover_fields)
    lines = [
        f"{spec.title_zh}（模板版本 {spec.version}，统计期 {period}：{start:%Y-%m-%d} 至 {end:%Y-%m-%d}）",
        "",
        "一、各工作表",
        f"“{spec.cover_sheet}”：在B列填写{cover_labels}，A列标签不要改动。",
        f"“{spec.indicators.sheet}”：已列出本单位须填报的全部指标，"
        f"只在“{spec.indicators.column('value').header}”列填写数值，"
        f"需要说明的写在“{spec.indicators.column('remark').header}”列；不要增删指标行或改动指标代码。",
    ]
    for detail in spec.details:
        headers = "、".join(column.header for column in detail.columns)
        lines.append(f"“{detail.sheet}”：{detail.description_zh}。列：{headers}。本单位没有的，保留表头、不填数据行。")
    lines += [
        "",
        "二、填写规则",
        "1. 金额一律以“元”为单位填写数字，不要填“万元”，不要带“元”“万”等文字。",
        "2. 人数、次数、家数等填整数数字，不要带单位文字。",
        f"3. 日期填写为Excel日期（如 {start:%Y-%m-%d}），且须在统计期内（{start:%Y-%m-%d} 至 {end:%Y-%m-%d}）。",
        "4. 统一社会信用代码为18位，由数字和大写字母组成（不含 I、O、S、V、Z），须能通过校验位检查。",
        f"5. 计量单位为“是/否”的指标，在“{spec.indicators.column('value').header}”列从下拉框选择“是”或“否”。",
        "6. 有下拉框的列（如处理渠道、处理结果）只能选择下拉框中的值。",
        "7. 由明细表汇总得出的指标，其数值须与对应明细表的汇总一致。",
        "8. 不要重命名、删除或调整工作表顺序，不要修改表头，不要在表头上方插入行，不要合并单元格。",
        "9. 每条记录占一行，中间不要留空行。",
    ]
    people = [detail for detail in spec.details if detail.id_column is not None]
    for detail in people:
        id_header = detail.id_column.header
        lines += [
            f"10. “{detail.sheet}”的“{id_header}”填18位身份证号（最后一位可以是X），该列已设为文本格式，请直接输入或粘贴为文本；"
            "同一人同一项只填一行。",
            f"11. 身份证号和姓名只填在“{detail.sheet}”表中，备注等其他地方不要填写。区总工会只保存身份证号的加密摘要，"
            "不保存姓名和号码本身。",
        ]
    return lines


def write_workbook(
    path: Path,
    unit: Unit,
    period: str,
    *,
    values: Mapping[str, float | int | str | None] | None = None,
    details: Mapping[str, Sequence[Mapping[str, object]]] | None = None,
    contact_name: str = "",
    contact_phone: str = "",
    filled_on: date | None = None,
    template_version: str = CURRENT_TEMPLATE,
) -> Path:
    """Write one unit's submission workbook for `period`; `details` is keyed by detail kind, records by column name."""
    spec = template(template_version)
    details = details or {}
    unknown = set(details) - {detail.kind for detail in spec.details}
    if unknown:
        raise ValueError(f"模板 {spec.version} 没有这些明细表：{sorted(unknown)}")
    start, _ = period_bounds(period)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(path), {"in_memory": True})
    # a fixed creation time keeps the bytes, and so the sha256, the same for the same inputs
    workbook.set_properties(
        {
            "title": f"{spec.title_zh}（{period}）",
            "subject": unit.name_zh,
            "author": unit.name_zh,
            "created": datetime(start.year, start.month, start.day),
        }
    )
    formats = _Formats(workbook)
    cover_values: dict[str, object] = {
        "unit_code": unit.unit_code,
        "unit_name": unit.name_zh,
        "period": period,
        "contact_name": contact_name,
        "contact_phone": contact_phone,
        "template_version": spec.version,
        "filled_on": filled_on,
    }
    _write_cover(workbook, spec, period, cover_values, formats)
    _write_indicator_sheet(workbook, spec.indicators, unit, values or {}, formats)
    for detail in spec.details:
        _write_detail_sheet(workbook, detail, details.get(detail.kind, ()), formats)
    sheet = workbook.add_worksheet(INSTRUCTIONS_SHEET)
    for row, line in enumerate(instructions(spec, period)):
        sheet.write_string(row, 0, line, formats.title if row == 0 else formats.wrap)
    sheet.set_column(0, 0, 110)
    workbook.close()
    return path


def write_blank(path: Path, unit: Unit, period: str, *, template_version: str = CURRENT_TEMPLATE) -> Path:
    """The empty template a unit downloads: cover filled, indicator rows listed, detail sheets with headers only."""
    return write_workbook(path, unit, period, template_version=template_version)

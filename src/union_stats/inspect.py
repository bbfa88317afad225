"""Inspect stage: decide from a file's container alone (zip central directory, OLE2 directory, streamed sheet
XML) whether it breaks a limit or the content policy, before any Excel reader is let near it.

Everything here reads bounded amounts: a file stopped here is answered in well under a second and a few MB of
memory, whatever it holds (zip bombs, a stray cell at XFD1048576, a million rows).
"""

from __future__ import annotations

import codecs
import html
import re
import struct
import tomllib
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import cache, lru_cache
from operator import itemgetter
from pathlib import Path, PurePosixPath

import olefile

from union_stats.paths import REFERENCE_DIR
from union_stats.reference import template

LIMITS_FILE = REFERENCE_DIR / "limits.toml"

CHUNK = 65536
HEAD = 8192
# workbook.xml, rels and content types are small in every real file; beyond this they are not a workbook
MAX_METADATA_PART = 4_000_000
# the declared <dimension> sits in the first few hundred bytes of a worksheet part
DIMENSION_WINDOW = 4096
# a single tag or text run carried between chunks; larger is hostile and is dropped
MAX_CARRY = 1_000_000
# records walked in an .xls workbook globals stream / at the start of each sheet before giving up
MAX_BIFF_RECORDS = 2_000_000
MAX_BIFF_SHEET_RECORDS = 5000
MAX_COLUMN = 16384
# styles.xml is read whole before the sheets (Excel writes it after them): up to Excel's 64,000 cell formats
MAX_STYLES_PART = 16_000_000
MAX_CELL_FORMATS = 65536
# value cells whose number format shows a unit or scales the number, recorded for the parse stage (per file)
MAX_FORMATTED_CELLS = 5000
MAX_LONG_NUMBERS = 5000  # number cells of 15 digits or more a file reports (an ID column typed as numbers)
LONG_NUMBER = 1e14  # 15 digits before the point: Excel keeps no more of a number

MACRO_EXTENSIONS = {".xlsm", ".xltm", ".xlam"}
SAVE_AS_XLSX_ZH = "请在 Excel 或 WPS 中打开，另存为 .xlsx（Excel 工作簿）后重新提交"
SAVE_AS_XLSX_EN = "open it in Excel or WPS, save it as .xlsx (Excel Workbook) and submit it again"
SEND_TEMPLATE_ZH = "请提交按统计报表模板填写的 Excel 工作簿（.xlsx）"
SEND_TEMPLATE_EN = "please submit the statistics template workbook, filled in, as .xlsx"


@dataclass(frozen=True)
class Issue:
    rule: str
    message_zh: str
    message_en: str
    sheet: str | None = None
    cell: str | None = None
    value: str | None = None


@dataclass
class Inspection:
    format: str | None  # "xlsx" | "xls" | None (not something we read)
    issues: list[Issue] = field(default_factory=list)
    # cells holding an Excel error value (#REF!, #DIV/0!, ...): (sheet, cell, value). They do not stop the
    # reading; the reader hands them over as blank, so parse turns those in template columns into findings.
    error_cells: list[tuple[str, str, str]] = field(default_factory=list)
    # number cells (a value, or a formula's cached number) whose number format shows text beside the number or
    # scales it (`0.00"万元"`, `0.0,"千"`, `0%`): (sheet, cell, format code), at most MAX_FORMATTED_CELLS; the
    # parse stage decides from `number_format_display(code)` whether that clashes with the column's unit
    formatted_cells: list[tuple[str, str, str]] = field(default_factory=list)
    # cells holding a number of 15 digits or more: (sheet, cell). In a column of ID numbers such a number has
    # lost its last digits (Excel keeps 15), and the text reader prints it like text: only the container tells.
    long_numbers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues


@dataclass(frozen=True)
class Limits:
    max_file_size: int
    max_uncompressed_size: int
    max_zip_entries: int
    max_ratio_per_entry: float
    max_ratio_overall: float
    ratio_min_size: int
    max_sheets: int
    max_rows: int
    max_columns: int
    max_cells: int
    cell_text: dict[str, int] = field(default_factory=dict)


@cache
def load_limits(path: Path = LIMITS_FILE) -> Limits:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    return Limits(
        max_file_size=raw["file"]["max_file_size"],
        max_uncompressed_size=raw["file"]["max_uncompressed_size"],
        max_zip_entries=raw["file"]["max_zip_entries"],
        max_ratio_per_entry=raw["compression"]["max_ratio_per_entry"],
        max_ratio_overall=raw["compression"]["max_ratio_overall"],
        ratio_min_size=raw["compression"]["ratio_min_size"],
        max_sheets=raw["sheets"]["max_sheets"],
        max_rows=raw["sheets"]["max_rows"],
        max_columns=raw["sheets"]["max_columns"],
        max_cells=raw["sheets"]["max_cells"],
        cell_text=dict(raw["cell_text"]),
    )


class _Stop(Exception):
    """A limit was broken while streaming: nothing after it can change the verdict."""


# --- messages ---------------------------------------------------------------------------------------------------


def _unreadable(detail: str = "") -> Issue:
    return Issue(
        "structure.unreadable",
        "无法读取该文件：请用 Excel 或 WPS 打开后另存为 .xlsx 格式再提交（如文件已损坏，请从原稿重新制作）",
        "The file cannot be read: open it in Excel or WPS and save it as .xlsx, then submit it again "
        "(if the file is damaged, make it again from the original)",
        value=detail[:200] or None,
    )


def _not_spreadsheet(what_zh: str, what_en: str) -> Issue:
    return Issue(
        "file.not_spreadsheet",
        f"这是{what_zh}，不是 Excel 工作簿：{SEND_TEMPLATE_ZH}",
        f"This is {what_en}, not an Excel workbook: {SEND_TEMPLATE_EN}",
        value=what_en,
    )


def _format_unsupported(what_zh: str, what_en: str) -> Issue:
    return Issue(
        "file.format_unsupported",
        f"这是{what_zh}，本系统不能读取这种格式：{SAVE_AS_XLSX_ZH}",
        f"This is {what_en}, a format this system does not read: {SAVE_AS_XLSX_EN}",
        value=what_en,
    )


def _encrypted() -> Issue:
    return Issue(
        "file.encrypted",
        "文件设置了打开密码，无法读取：请取消文件密码后重新提交（在 Excel 中：文件→信息→保护工作簿→用密码进行加密，"
        "清空密码后保存；WPS：文件→文档加密→密码加密，清空密码后保存）",
        "The file is password protected and cannot be read: remove the password and submit it again "
        "(Excel: File > Info > Protect Workbook > Encrypt with Password, clear it and save)",
    )


def _macro(how_zh: str, how_en: str) -> Issue:
    return Issue(
        "file.macro",
        f"文件含有宏（{how_zh}），出于安全原因不予接收：请在 Excel 或 WPS 中打开，另存为 .xlsx（Excel 工作簿，不含宏）后重新提交",
        f"The file contains macros ({how_en}) and is refused for safety: open it in Excel or WPS, save it as "
        ".xlsx (Excel Workbook, no macros) and submit it again",
        value=how_en,
    )


def _dde(sheet: str | None, cell: str | None, formula: str | None) -> Issue:
    where_zh = f"“{sheet}”表 {cell} 单元格的公式" if sheet and cell else "文件中的外部链接"
    where_en = f"the formula in {sheet}!{cell}" if sheet and cell else "an external link in the file"
    return Issue(
        "file.dde",
        f"{where_zh}会调用其他程序（DDE），出于安全原因不予接收：请删除该公式，只填写数值，保存后重新提交",
        f"{where_en} calls another program (DDE) and is refused for safety: delete the formula, enter values "
        "only, save and submit again",
        sheet=sheet,
        cell=cell,
        value=formula,
    )


def _external_link(sheet: str | None, cell: str | None, formula: str | None) -> Issue:
    where_zh = (
        f"“{sheet}”表 {cell} 单元格的公式引用了其他工作簿" if sheet and cell else "文件含有指向其他工作簿的外部链接"
    )
    where_en = (
        f"the formula in {sheet}!{cell} refers to another workbook"
        if sheet and cell
        else ("the file links to other workbooks")
    )
    return Issue(
        "file.external_link",
        f"{where_zh}：请在 Excel 中用“数据→编辑链接→断开链接”把链接换成数值（或把公式改为数值），保存后重新提交",
        f"{where_en}: use Data > Edit Links > Break Link (or paste values over the formulas), save and submit again",
        sheet=sheet,
        cell=cell,
        value=formula,
    )


def _zip_path(name: str) -> Issue:
    return Issue(
        "file.zip_path",
        f"文件内部含有不安全的路径“{name[:100]}”，不是正常的 Excel 文件：{SAVE_AS_XLSX_ZH}",
        f"The file holds an unsafe internal path {name[:100]!r}, so it is not a normal Excel file: {SAVE_AS_XLSX_EN}",
        value=name[:200],
    )


def _zip_duplicate(name: str) -> Issue:
    return Issue(
        "file.zip_duplicate",
        f"文件内部的“{name[:100]}”出现了两次，不是正常的 Excel 文件：{SAVE_AS_XLSX_ZH}",
        f"The file holds the internal part {name[:100]!r} twice, so it is not a normal Excel file: {SAVE_AS_XLSX_EN}",
        value=name[:200],
    )


def _sheets_hidden(names: list[str]) -> Issue:
    listed = "、".join(f"“{name}”" for name in names)
    return Issue(
        "file.sheets_hidden",
        f"模板的工作表（{listed}）全部被隐藏：请在 Excel 中右键工作表标签→取消隐藏，显示这些工作表后保存并重新提交",
        f"All template sheets ({', '.join(names)}) are hidden: right-click a sheet tab > Unhide, show them, "
        "save and submit again",
        value=", ".join(names),
    )


def _formula_uncached(sheet: str, cell: str, formula: str) -> Issue:
    return Issue(
        "file.formula_uncached",
        f"“{sheet}”表 {cell} 单元格的公式没有计算结果（文件可能由程序生成）：请用 Excel 或 WPS 打开、让公式计算、"
        "保存后重新提交",
        f"The formula in {sheet}!{cell} has no calculated value (the file was probably written by a program): "
        "open it in Excel or WPS, let the formulas calculate, save and submit again",
        sheet=sheet,
        cell=cell,
        value=formula[:200],
    )


def _embedded(name: str, sheet: str | None = None, count: int = 1) -> Issue:
    where_zh = f"“{sheet}”表中" if sheet else "文件中"
    where_en = f"Sheet {sheet}" if sheet else "The file"
    more_zh = f" 等 {count} 个" if count > 1 else ""
    more_en = f" and {count - 1} more" if count > 1 else ""
    return Issue(
        "file.embedded_object",
        f"{where_zh}嵌入了对象或文件（{name[:100]}{more_zh}），可能携带可执行内容，系统不接收：请删除嵌入的对象"
        "（图标、附件），另存为 .xlsx 后重新提交",
        f"{where_en} holds an embedded object or file ({name[:100]}{more_en}), which may carry executable content "
        "and is refused: delete the embedded objects (icons, attachments), save as .xlsx and submit again",
        sheet=sheet,
        value=name[:200],
    )


def _cell_duplicate(sheet: str, cell: str) -> Issue:
    return Issue(
        "file.cell_duplicate",
        f"“{sheet}”表的单元格 {cell} 在文件中被写入了两次，不同软件会读出不同的数：请用 Excel 或 WPS 打开该文件，"
        "核对该单元格后另存为 .xlsx 再提交",
        f"Cell {cell} of sheet {sheet} is written twice in the file, so different programs read different values: "
        "open the file in Excel or WPS, check the cell, save it as .xlsx and submit again",
        sheet=sheet,
        cell=cell,
    )


def _mb(size: float) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _limit(rule: str, zh: str, en: str, sheet: str | None = None, cell: str | None = None, value=None) -> Issue:
    return Issue(rule, zh, en, sheet=sheet, cell=cell, value=None if value is None else str(value))


def _file_size(size: int, limits: Limits) -> Issue:
    return _limit(
        "limits.file_size",
        f"文件大小为 {_mb(size)}，超过上限 {_mb(limits.max_file_size)}：请删除文件中的图片、多余的工作表和空白区域，"
        "另存为 .xlsx 后重新提交",
        f"The file is {_mb(size)}, over the limit of {_mb(limits.max_file_size)}: remove pictures, extra sheets and "
        "unused areas, save as .xlsx and submit again",
        value=size,
    )


def _uncompressed(size: int, limits: Limits) -> Issue:
    return _limit(
        "limits.uncompressed_size",
        f"文件解压后的内容超过 {_mb(size)}，超过上限 {_mb(limits.max_uncompressed_size)}：文件含有过多的数据或格式，"
        "请删除多余的工作表、行和格式，另存为 .xlsx 后重新提交",
        f"The file's content inflates to more than {_mb(size)}, over the limit of "
        f"{_mb(limits.max_uncompressed_size)}: remove extra sheets, rows and formatting, save as .xlsx and submit again",
        value=size,
    )


def _ratio(name: str, ratio: float, limit: float) -> Issue:
    return _limit(
        "limits.compression_ratio",
        f"文件内部“{name[:100]}”的压缩比为 {ratio:.0f}:1，超过上限 {limit:.0f}:1，可能是恶意构造的压缩文件（压缩炸弹）："
        f"{SAVE_AS_XLSX_ZH}",
        f"The internal part {name[:100]!r} has a compression ratio of {ratio:.0f}:1, over the limit of "
        f"{limit:.0f}:1 (a possible zip bomb): {SAVE_AS_XLSX_EN}",
        value=f"{ratio:.0f}",
    )


def _entries(count: int, limits: Limits) -> Issue:
    return _limit(
        "limits.zip_entries",
        f"文件内部有 {count} 个部件，超过上限 {limits.max_zip_entries} 个，不是正常的 Excel 文件：{SAVE_AS_XLSX_ZH}",
        f"The file holds {count} internal parts, over the limit of {limits.max_zip_entries}: {SAVE_AS_XLSX_EN}",
        value=count,
    )


def _sheets(count: int, limits: Limits) -> Issue:
    return _limit(
        "limits.sheets",
        f"工作簿有 {count} 个工作表，超过上限 {limits.max_sheets} 个：请只保留模板中的工作表，删除其他工作表后重新提交",
        f"The workbook has {count} sheets, over the limit of {limits.max_sheets}: keep only the template's sheets, "
        "delete the others and submit again",
        value=count,
    )


def _rows(sheet: str, row: int, cell: str | None, limits: Limits, declared: bool) -> Issue:
    said_zh = "声明的数据区域到第" if declared else "有数据到第"
    said_en = "declares data down to" if declared else "has data down to"
    return _limit(
        "limits.rows",
        f"“{sheet}”表{said_zh} {row} 行，超过上限 {limits.max_rows} 行：请删除表格下方多余的行（可能有误填的单元格），"
        "保存后重新提交",
        f"Sheet {sheet} {said_en} row {row}, over the limit of {limits.max_rows} rows: delete the extra rows below "
        "the table (there may be a stray cell), save and submit again",
        sheet=sheet,
        cell=cell,
        value=row,
    )


def _columns(sheet: str, column: int, cell: str | None, limits: Limits, declared: bool) -> Issue:
    letter = _column_letter(column)
    said_zh = "声明的数据区域到第" if declared else "有数据到第"
    said_en = "declares data across to" if declared else "has data across to"
    return _limit(
        "limits.columns",
        f"“{sheet}”表{said_zh} {column} 列（{letter} 列），超过上限 {limits.max_columns} 列：请删除表格右侧多余的列"
        "（可能有误填的单元格），保存后重新提交",
        f"Sheet {sheet} {said_en} column {column} ({letter}), over the limit of {limits.max_columns} columns: delete "
        "the extra columns right of the table (there may be a stray cell), save and submit again",
        sheet=sheet,
        cell=cell,
        value=column,
    )


def _cells(sheet: str, count: int, limits: Limits) -> Issue:
    return _limit(
        "limits.rows",
        f"“{sheet}”表的单元格超过 {limits.max_cells} 个：请删除表格下方和右侧多余的内容，保存后重新提交",
        f"Sheet {sheet} holds more than {limits.max_cells} cells: delete the extra content below and right of the "
        "table, save and submit again",
        sheet=sheet,
        value=count,
    )


# --- cell references --------------------------------------------------------------------------------------------

_REF = re.compile(rb"^\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")


def _column_letter(number: int) -> str:
    letters = ""
    while number > 0:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _column_number(letters: bytes) -> int:
    number = 0
    for byte in letters.upper():
        number = number * 26 + byte - 64
    return number


def _ref(text: bytes) -> tuple[int, int] | None:
    """(row, column), 1-based, of an A1 reference; None when it is not one."""
    match = _REF.match(text.strip())
    if not match:
        return None
    return int(match.group(2)), _column_number(match.group(1))


# --- number formats ---------------------------------------------------------------------------------------------

# the built-in formats (no numFmt entry in styles.xml, no FORMAT record in an .xls) that show text beside the
# number or scale it, as a Chinese (zh-CN) Excel or WPS shows them: ids 5-8, 42 and 44 are locale dependent
# currency formats; every other built-in id is a plain number, a date or a time
BUILTIN_NUMBER_FORMATS = {
    5: '"¥"#,##0;"¥"\\-#,##0',
    6: '"¥"#,##0;[Red]"¥"\\-#,##0',
    7: '"¥"#,##0.00;"¥"\\-#,##0.00',
    8: '"¥"#,##0.00;[Red]"¥"\\-#,##0.00',
    9: "0%",
    10: "0.00%",
    42: '_ "¥"* #,##0_ ;_ "¥"* \\-#,##0_ ;_ "¥"* "-"_ ;_ @_ ',
    44: '_ "¥"* #,##0.00_ ;_ "¥"* \\-#,##0.00_ ;_ "¥"* "-"??_ ;_ @_ ',
}
MAX_FORMAT_CODE = 255  # Excel's own limit on a number format's length

_DIGIT_PLACEHOLDERS = "0#?"
_DATE_LETTERS = "ymdhsebg"  # year, month/minute, day, hour, second, era year, Buddhist year, era
_SHOWN_SYMBOLS = "%‰"


def _shown(text: str) -> str:
    """The characters of a literal that tell a unit or a word: letters, digits, currency and other symbols;
    spaces, dashes, brackets and other punctuation (`"-"` in an accounting format's zero) say nothing."""
    return "".join(
        char
        for char in text
        if unicodedata.category(char)[0] in "LN" or unicodedata.category(char) in ("Sc", "So") or char in _SHOWN_SYMBOLS
    )


def _split_sections(code: str) -> list[str]:
    """A format code's sections, split at the semicolons outside quotes, brackets and escapes."""
    sections, start, index, length = [], 0, 0, len(code)
    while index < length:
        char = code[index]
        if char == '"':
            end = code.find('"', index + 1)
            index = length if end < 0 else end + 1
            continue
        if char == "[":
            end = code.find("]", index + 1)
            index = length if end < 0 else end + 1
            continue
        if char in "\\_*":
            index += 2
            continue
        if char == ";":
            sections.append(code[start:index])
            start = index + 1
        index += 1
    sections.append(code[start:])
    return sections


def _section(section: str) -> tuple[list[str], bool, bool, bool]:
    """(literal runs, scales the number, is a date or time, is a text section) of one format section."""
    runs: list[str] = []
    run: list[str] = []
    kinds: list[str] = []  # "digit", "comma" or "other", to find commas after the last digit placeholder
    percent = date = text = False

    def literal(chars: str) -> None:
        run.append(chars)
        kinds.append("other")

    def placeholder(kind: str = "other") -> None:
        if run:
            runs.append("".join(run))
            run.clear()
        kinds.append(kind)

    index, length = 0, len(section)
    while index < length:
        char = section[index]
        lower = char.lower()
        if char == '"':
            end = section.find('"', index + 1)
            end = length if end < 0 else end
            literal(section[index + 1 : end])
            index = end + 1
        elif char == "\\":
            literal(section[index + 1 : index + 2])
            index += 2
        elif char in "_*":  # spacing as wide as the next character, or the next character repeated to fill
            index += 2
        elif char == "[":
            end = section.find("]", index + 1)
            end = length if end < 0 else end
            inner = section[index + 1 : end]
            if inner.startswith("$"):  # [$万元-804]: a currency or unit text, then a locale
                literal(inner[1:].split("-", 1)[0])
            elif inner and inner.lower().strip("hms") == "":  # [h], [mm], [ss]: elapsed time
                date = True
                placeholder()
            # [Red], [Color10], [<100], [DBNum1], [$-804] show nothing
            index = end + 1
        elif char in _DIGIT_PLACEHOLDERS:
            placeholder("digit")
            index += 1
        elif char == ",":
            placeholder("comma")
            index += 1
        elif char == ".":
            placeholder()
            index += 1
        elif char == "%":
            percent = True
            placeholder()
            index += 1
        elif char == "@":
            text = True
            placeholder()
            index += 1
        elif lower == "e" and section[index + 1 : index + 2] in ("+", "-"):  # 0.00E+00
            placeholder()
            index += 2
        elif section[index : index + 7].lower() == "general":
            placeholder()
            index += 7
        elif section[index : index + 5].upper() == "AM/PM":
            date = True
            placeholder()
            index += 5
        elif section[index : index + 3].upper() == "A/P":
            date = True
            placeholder()
            index += 3
        elif char.isascii() and lower in _DATE_LETTERS:
            date = True
            placeholder()
            index += 1
        elif char == "$" or not char.isascii() or char.isalpha():
            literal(char)  # shown as typed: a currency sign, a Chinese character, a letter
            index += 1
        else:  # - + / ( ) : ! ^ & ' ~ { } < > = and spaces are shown as typed but tell no unit
            index += 1
    if run:
        runs.append("".join(run))
    shown = [word for word in (_shown(part) for part in runs) if word]
    digits = [index for index, kind in enumerate(kinds) if kind == "digit"]
    scaled_by_commas = bool(digits) and kinds[digits[-1] + 1 : digits[-1] + 2] == ["comma"]
    return shown, percent or scaled_by_commas, date, text


@lru_cache(maxsize=1024)
def _format_facts(code: str) -> tuple[str, bool, bool]:
    """(literal text, scales the number, is a date or time format) of a number format code."""
    code = code[:MAX_FORMAT_CODE]
    sections = _split_sections(code)
    words: list[str] = []
    scaled = False
    first_date: bool | None = None
    for position, section in enumerate(sections[:4]):
        runs, scales, date, text = _section(section)
        if position == 3 or (text and position > 0) or (text and len(sections) == 1):
            continue  # the text section: applies to text, never to a number
        if first_date is None:
            first_date = date
        words.extend(word for word in runs if word not in words)
        scaled = scaled or scales
    return " ".join(words), scaled, bool(first_date)


def number_format_display(code: str) -> tuple[str, bool]:
    """(the literal text a number format shows beside the number, whether it scales the number shown).

    `0.00"万元"` -> ("万元", False); `#,##0.00\\元` -> ("元", False); `0.0,"千"` -> ("千", True) (each comma after
    the last digit placeholder divides by 1000); `0%` -> ("", True); `[$¥-804]#,##0.00` -> ("¥", False);
    `[Red]0.00`, `[DBNum1]0`, `_(`, `*` fills and spaces show no text. Of a format with sections
    `positive;negative;zero;text` the numeric three count: their texts (each once, joined by a space) and
    scaled when any of them scales. Date and time formats give their literal text (`yyyy"年"m"月"`: "年 月").
    """
    words, scaled, _ = _format_facts(code)
    return words, scaled


def _shows_another_number(code: str) -> bool:
    """Whether a number shown in this format reads as something other than the number: text beside it, or
    scaled; dates and times are not numbers shown, whatever text they carry."""
    words, scaled, date = _format_facts(code)
    return bool(words or scaled) and not date


# --- sniffing ----------------------------------------------------------------------------------------------------

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def _sniff_other(head: bytes) -> Issue:
    """What a file that is neither a zip nor an OLE2 container is, in words a clerk knows."""
    if head.startswith(b"%PDF"):
        return _not_spreadsheet("一个 PDF 文件", "a PDF file")
    if head.startswith(b"\x89PNG") or head.startswith(b"\xff\xd8\xff") or head[:4] in (b"GIF8",):
        return _not_spreadsheet("一张图片", "an image")
    if head[:4] in (b"II*\x00", b"MM\x00*") or head.startswith(b"BM") and len(head) > 14 and head[6:10] == b"\0\0\0\0":
        return _not_spreadsheet("一张图片", "an image")
    if head.startswith(b"{\\rtf"):
        return _not_spreadsheet("一个 RTF 文档（Word 类文件）", "an RTF document")
    text = head
    for bom in BOMS:
        if text.startswith(bom):
            text = text[len(bom) :]
            break
    if head.startswith(b"\xff\xfe") or head.startswith(b"\xfe\xff"):
        try:
            text = head[2:].decode("utf-16-le" if head[:2] == b"\xff\xfe" else "utf-16-be", "ignore").encode()
        except UnicodeError:
            pass
    lowered = text.lstrip().lower()
    if (
        lowered.startswith((b"<!doctype html", b"<html", b"<table", b"<head", b"<meta", b"<body"))
        or b"<html" in lowered[:HEAD]
        or lowered.startswith(b"mime-version:")
    ):
        return _not_spreadsheet("网页（HTML）文件（可能是“另存为网页”得到的 .xls）", "a web page (HTML)")
    if lowered.startswith(b"<?xml") or lowered.startswith(b"<"):
        if b"urn:schemas-microsoft-com:office:spreadsheet" in lowered or b"excel.sheet" in lowered:
            return _not_spreadsheet("“XML 电子表格 2003”格式的文件", "an XML Spreadsheet 2003 file")
        return _not_spreadsheet("一个 XML 文件", "an XML file")
    if b"\x00" not in text and _is_text(text):
        first_line = text.split(b"\n", 1)[0]
        if b"," in first_line or b"\t" in first_line or "，".encode() in first_line:
            return _not_spreadsheet("一个 CSV（逗号分隔）文本文件", "a CSV text file")
        return _not_spreadsheet("一个纯文本文件", "a plain text file")
    return _not_spreadsheet("一个无法识别的文件", "a file of unknown type")


def _is_text(data: bytes) -> bool:
    # the head may end inside a multi-byte character: an incremental decoder leaves that tail alone
    for encoding in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(data, final=False)
            return True
        except UnicodeDecodeError:
            continue
    return False


# --- the entry point ---------------------------------------------------------------------------------------------


def inspect_file(path: Path, limits: Limits | None = None) -> Inspection:
    """Whether `path` may go on to parsing; never raises for anything the file holds."""
    limits = limits or load_limits()
    path = Path(path)
    try:
        size = path.stat().st_size
        if size == 0:
            return Inspection(None, [_empty()])
        with path.open("rb") as handle:
            head = handle.read(HEAD)
        if head.startswith(ZIP_MAGIC):
            if size > limits.max_file_size:
                return Inspection("xlsx", [_file_size(size, limits)])
            return _inspect_zip(path, limits)
        if head.startswith(CFB_MAGIC):
            if size > limits.max_file_size:
                return Inspection("xls", [_file_size(size, limits)])
            return _inspect_cfb(path, limits)
        return Inspection(None, [_sniff_other(head)])
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        struct.error,
        zlib.error,
        ValueError,
        KeyError,
        IndexError,
        UnicodeError,
        NotImplementedError,
        RuntimeError,
        OverflowError,
        MemoryError,
        RecursionError,
    ) as error:
        return Inspection(None, [_unreadable(f"{type(error).__name__}: {error}")])


def _empty() -> Issue:
    return Issue(
        "file.empty",
        f"文件是空的（0 字节），可能上传时出错：{SEND_TEMPLATE_ZH}",
        f"The file is empty (0 bytes), perhaps the upload failed: {SEND_TEMPLATE_EN}",
    )


# --- zip (xlsx) --------------------------------------------------------------------------------------------------

_SHEET_TAG = re.compile(rb"<(?:[\w.-]+:)?sheet\b([^<>]*)>")
_RELATIONSHIP = re.compile(rb"<(?:[\w.-]+:)?Relationship\b([^<>]*)>")
# a name starts where no name character precedes it: a long run of them is tried once, not from every byte
_ATTRIBUTE = re.compile(rb"(?<![\w:.-])([\w:.-]+)\s*=\s*(\"[^\"]*\"|'[^']*')")


def _attributes(text: bytes) -> dict[str, str]:
    found = {}
    for name, value in _ATTRIBUTE.findall(text):
        local = name.decode("ascii", "replace")
        found[local] = html.unescape(value[1:-1].decode("utf-8", "replace"))
        if ":" in local:
            found.setdefault(local.split(":", 1)[1], found[local])
    return found


def _unsafe_name(name: str) -> bool:
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return True
    return any(part == ".." for part in re.split(r"[/\\]", name))


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int = MAX_METADATA_PART) -> bytes:
    """A small part read whole, refusing to inflate more than `cap` bytes of it."""
    chunks, total = [], 0
    with archive.open(info) as stream:
        while chunk := stream.read(CHUNK):
            total += len(chunk)
            if total > cap:
                raise ValueError(f"{info.filename} is larger than {cap} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


def _inspect_zip(path: Path, limits: Limits) -> Inspection:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if len(infos) > limits.max_zip_entries:
            return Inspection("xlsx", [_entries(len(infos), limits)])
        issues: list[Issue] = []
        by_name: dict[str, zipfile.ZipInfo] = {}
        seen: set[str] = set()
        for info in infos:
            name = info.filename
            if _unsafe_name(name):
                issues.append(_zip_path(name))
            folded = name.replace("\\", "/").lower()
            if folded in seen:
                issues.append(_zip_duplicate(name))
            seen.add(folded)
            by_name.setdefault(folded, info)

        kind = _zip_kind(archive, by_name)
        if kind is not None:
            return Inspection(None if kind.rule == "file.not_spreadsheet" else "xlsx", [kind, *issues])

        # the central directory's declared sizes bound what zipfile will inflate: check them before any work
        declared = sum(info.file_size for info in infos)
        if declared > limits.max_uncompressed_size:
            issues.append(_uncompressed(declared, limits))
        for info in infos:
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > limits.ratio_min_size and ratio > limits.max_ratio_per_entry:
                issues.append(_ratio(info.filename, ratio, limits.max_ratio_per_entry))
                break
        if any(issue.rule.startswith("limits.") or issue.rule.startswith("file.zip_") for issue in issues):
            return Inspection("xlsx", issues)

        if path.suffix.lower() in MACRO_EXTENSIONS:
            issues.append(_macro(f"扩展名为 {path.suffix}", f"the {path.suffix} extension"))
        workbook = _Workbook.read(archive, by_name)
        issues.extend(workbook.policy_issues(path, limits))
        if any(issue.rule == "limits.sheets" for issue in issues):
            return Inspection("xlsx", issues)
        error_cells: list[tuple[str, str, str]] = []
        formatted_cells: list[tuple[str, str, str]] = []
        long_numbers: list[tuple[str, str]] = []
        issues.extend(_sweep(archive, infos, workbook, limits, error_cells, formatted_cells, long_numbers))
        return Inspection("xlsx", _dedupe(_one_embedded(issues)), error_cells, formatted_cells, long_numbers)


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen, kept = set(), []
    for issue in issues:
        key = (issue.rule, issue.sheet, issue.message_zh)
        if key not in seen:
            seen.add(key)
            kept.append(issue)
    return kept


def _one_embedded(issues: list[Issue]) -> list[Issue]:
    """An embedded object is found by its part, its relationship and the sheet showing it: the clerk is told
    once, on the sheets that show one, else once for the file."""
    embedded = [issue for issue in issues if issue.rule == "file.embedded_object"]
    if len(embedded) <= 1:
        return issues
    kept = [issue for issue in embedded if issue.sheet] or embedded[:1]
    return [issue for issue in issues if issue.rule != "file.embedded_object" or issue in kept]


def _embedded_target(rels: bytes, part: str) -> Issue:
    """The embedded object a relationships part points at (oleObject, package, ActiveX control)."""
    for match in _RELATIONSHIP.finditer(rels):
        attributes = _attributes(match.group(1))
        if _EMBEDDING_TYPE.search(attributes.get("Type", "")):
            return _embedded(attributes.get("Target", "").rsplit("/", 1)[-1] or part)
    return _embedded(part)


def _zip_kind(archive: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo]) -> Issue | None:
    """Why a zip is not an .xlsx we read, or None when it is one."""
    if "mimetype" in by_name:
        mimetype = _read_bounded(archive, by_name["mimetype"], 1000).strip()
        if mimetype == b"application/vnd.oasis.opendocument.spreadsheet":
            return _format_unsupported("OpenDocument 电子表格（.ods）", "an OpenDocument spreadsheet (.ods)")
        if mimetype.startswith(b"application/vnd.oasis.opendocument"):
            return _not_spreadsheet("一个 OpenDocument 文档（WPS/LibreOffice 文字或演示）", "an OpenDocument document")
        if mimetype == b"application/epub+zip":
            return _not_spreadsheet("一本电子书（EPUB）", "an e-book (EPUB)")
    if "xl/workbook.bin" in by_name:
        return _format_unsupported("Excel 二进制工作簿（.xlsb）", "an Excel binary workbook (.xlsb)")
    names = list(by_name)
    if any(name.startswith("word/") for name in names):
        return _not_spreadsheet("一个 Word 文档", "a Word document")
    if any(name.startswith("ppt/") for name in names):
        return _not_spreadsheet("一个 PowerPoint 演示文稿", "a PowerPoint presentation")
    main = _main_part(archive, by_name)
    if main in by_name and main.rsplit("/", 1)[-1].startswith("workbook"):
        return None
    if "[content_types].xml" in by_name or any(name.startswith("xl/") for name in names):
        return _unreadable("an Office package without a workbook part")
    return _not_spreadsheet("一个压缩包（zip），里面不是 Excel 工作簿", "a zip archive holding something else")


def _main_part(archive: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo]) -> str:
    """The workbook part the package relationships point at (xl/workbook.xml in every real file)."""
    rels = by_name.get("_rels/.rels")
    if rels is None:
        return "xl/workbook.xml"
    for match in _RELATIONSHIP.finditer(_read_bounded(archive, rels)):
        attributes = _attributes(match.group(1))
        if attributes.get("Type", "").endswith("/officeDocument") and attributes.get("TargetMode") != "External":
            return _resolve("", attributes.get("Target", "")).lower()
    return "xl/workbook.xml"


def _resolve(base: str, target: str) -> str:
    """A relationship target as a zip entry name, relative to the folder of the part that names it."""
    target = target.replace("\\", "/")
    joined = target.lstrip("/") if target.startswith("/") else f"{base}/{target}" if base else target
    parts: list[str] = []
    for part in PurePosixPath(joined).parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


# parts of embedded OLE objects and packages (oleObject1.bin, Microsoft_Word_Document.docx, ...) and of ActiveX
# controls; a sheet's <oleObjects> and any relationship of these types point at them (form controls, check boxes
# and buttons, are ctrlProp parts and carry nothing)
EMBEDDING_FOLDERS = ("xl/embeddings/", "xl/activex/")
_EMBEDDING_TYPE = re.compile(r"/(?:oleObject|package|control|activeXControlBinary)$", re.IGNORECASE)
_EMBEDDING_RELATIONSHIP = re.compile(
    rb"""\bType\s*=\s*["'][^"']*/(?:oleObject|package|control|activeXControlBinary)["']""", re.IGNORECASE
)


@dataclass
class _Sheet:
    name: str
    part: str | None  # zip entry name, lower case
    hidden: bool


@dataclass
class _Workbook:
    main: str
    sheets: list[_Sheet]
    content_types: bytes
    names: list[str]
    embedded: list[str] = field(default_factory=list)  # parts holding embedded objects, as named in the zip
    formats: _CellFormats | None = None  # the cell formats that show a unit or scale; None: none does

    @classmethod
    def read(cls, archive: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo]) -> _Workbook:
        main = _main_part(archive, by_name)
        base = main.rsplit("/", 1)[0] if "/" in main else ""
        workbook_xml = _read_bounded(archive, by_name[main])
        rels_name = f"{base}/_rels/{main.rsplit('/', 1)[-1]}.rels" if base else f"_rels/{main}.rels"
        targets: dict[str, str] = {}
        styles = f"{base}/styles.xml" if base else "styles.xml"
        if rels_name in by_name:
            for match in _RELATIONSHIP.finditer(_read_bounded(archive, by_name[rels_name])):
                attributes = _attributes(match.group(1))
                if attributes.get("TargetMode") != "External" and "Id" in attributes:
                    targets[attributes["Id"]] = _resolve(base, attributes.get("Target", "")).lower()
                    if attributes.get("Type", "").endswith("/styles"):
                        styles = targets[attributes["Id"]]
        sheets = []
        for match in _SHEET_TAG.finditer(workbook_xml):
            attributes = _attributes(match.group(1))
            if "name" not in attributes:
                continue
            sheets.append(
                _Sheet(
                    name=attributes["name"],
                    part=targets.get(attributes.get("r:id") or attributes.get("id", "")),
                    hidden=attributes.get("state", "visible") in ("hidden", "veryHidden"),
                )
            )
        content_types = b""
        if "[content_types].xml" in by_name:
            content_types = _read_bounded(archive, by_name["[content_types].xml"])
        if not sheets:
            raise ValueError(f"{main} lists no sheets")
        embedded = [
            info.filename for name, info in by_name.items() if name.startswith(EMBEDDING_FOLDERS) and not info.is_dir()
        ]
        # Excel writes styles.xml after the sheets: it is read first, whole and bounded
        formats = (
            _CellFormats.read(_read_bounded(archive, by_name[styles], MAX_STYLES_PART)) if styles in by_name else None
        )
        return cls(main, sheets, content_types, list(by_name), embedded, formats)

    def policy_issues(self, path: Path, limits: Limits) -> list[Issue]:
        issues = []
        if any(name.rsplit("/", 1)[-1] == "vbaproject.bin" for name in self.names):
            issues.append(_macro("含有 VBA 宏工程 vbaProject.bin", "a VBA project, vbaProject.bin"))
        elif b"macroenabled" in self.content_types.lower():
            issues.append(_macro("文件类型为启用宏的工作簿", "a macro-enabled content type"))
        if any(name.startswith("xl/macrosheets/") for name in self.names):
            issues.append(_macro("含有 Excel 4.0 宏表", "an Excel 4.0 macro sheet"))
        if self.embedded:
            issues.append(_embedded(self.embedded[0], count=len(self.embedded)))
        if len(self.sheets) > limits.max_sheets:
            issues.append(_sheets(len(self.sheets), limits))
        template_names = _template_sheet_names()
        ours = [sheet for sheet in self.sheets if sheet.name in template_names]
        if ours and all(sheet.hidden for sheet in ours):
            issues.append(_sheets_hidden([sheet.name for sheet in ours]))
        return issues


@cache
def _template_sheet_names() -> frozenset[str]:
    spec = template()
    return frozenset({spec.cover_sheet, *(sheet.sheet for sheet in spec.sheets)})


def _sweep(
    archive: zipfile.ZipFile,
    infos: list[zipfile.ZipInfo],
    workbook: _Workbook,
    limits: Limits,
    error_cells: list[tuple[str, str, str]],
    formatted_cells: list[tuple[str, str, str]],
    long_numbers: list[tuple[str, str]],
) -> list[Issue]:
    """Inflate every part once, counting what actually comes out, and scan the sheets, external links and
    relationships; the error-value cells found go to `error_cells`, the number cells whose format shows a unit
    or scales to `formatted_cells`, the number cells of 15 digits or more to `long_numbers`."""
    issues: list[Issue] = []
    sheet_of = {sheet.part: sheet for sheet in workbook.sheets if sheet.part}
    total_inflated = total_compressed = 0
    for info in infos:
        folded = info.filename.replace("\\", "/").lower()
        if info.is_dir():
            continue
        sheet = sheet_of.get(folded)
        scanner = _SheetScanner(sheet.name, limits, workbook.formats, formatted_cells) if sheet else None
        link = folded.startswith("xl/externallinks/") and not folded.startswith("xl/externallinks/_rels/")
        link_text = bytearray() if link else None
        rels_text = bytearray() if folded.endswith(".rels") else None
        inflated = 0
        total_compressed += info.compress_size
        with archive.open(info) as stream:
            while chunk := stream.read(CHUNK):
                inflated += len(chunk)
                total_inflated += len(chunk)
                if total_inflated > limits.max_uncompressed_size:
                    return [*issues, _uncompressed(total_inflated, limits)]
                ratio = inflated / max(info.compress_size, 1)
                if inflated > limits.ratio_min_size and ratio > limits.max_ratio_per_entry:
                    return [*issues, _ratio(info.filename, ratio, limits.max_ratio_per_entry)]
                if scanner is not None:
                    try:
                        scanner.feed(chunk)
                    except _Stop:
                        issues.extend(scanner.issues)
                        scanner = None
                        break
                if link_text is not None and len(link_text) < MAX_METADATA_PART:
                    link_text += chunk
                if rels_text is not None and len(rels_text) < MAX_METADATA_PART:
                    rels_text += chunk
        if scanner is not None:
            try:
                scanner.close()
            except _Stop:
                pass
            issues.extend(scanner.issues)
            error_cells.extend(scanner.error_cells)
            long_numbers.extend(scanner.long_numbers[: MAX_LONG_NUMBERS - len(long_numbers)])
        if link_text is not None:
            if re.search(rb"<(?:[\w.-]+:)?ddeLink\b", link_text):
                issues.append(_dde(None, None, info.filename))
            else:
                issues.append(_external_link(None, None, info.filename))
        if rels_text is not None and _EMBEDDING_RELATIONSHIP.search(rels_text):
            issues.append(_embedded_target(rels_text, info.filename))
    overall = total_inflated / max(total_compressed, 1)
    if total_inflated > limits.ratio_min_size and overall > limits.max_ratio_overall:
        issues.append(_ratio("（全部内容）", overall, limits.max_ratio_overall))
    return issues


# --- streaming a worksheet part ---------------------------------------------------------------------------------

_TOKEN = re.compile(rb"<(/?)(?:[A-Za-z_][\w.-]*:)?(row|c|f|v|is|dimension)(?=[\s/>])([^<>]*)>")
_FORMULA_OPEN = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s/>]")
_CELL_OPEN = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s/>]")
# a cell's position as Excel writes it (upper case, no $, no leading zero): (reference, column letters, row);
# a cell written otherwise sends its segment to the token walk, which reads any spelling
_CELL_POSITION = re.compile(rb"""<(?:[A-Za-z_][\w.-]*:)?c\s[^<>]*?\br\s*=\s*["'](([A-Z]{1,3})([1-9][0-9]{0,6}))["']""")
_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row\b([^<>]*)>")
_R_ATTRIBUTE = re.compile(rb"""\br\s*=\s*["']([^"']*)["']""")
_S_ATTRIBUTE = re.compile(rb"""\bs\s*=\s*["']\s*([0-9]{1,9})\s*["']""")
_T_ATTRIBUTE = re.compile(rb"""\bt\s*=\s*["']([^"']*)["']""")
# after a cell's opening tag: its value (a <v> with text), or the end of the cell / the next cell first
_VALUE_OR_END = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:(v)\b[^<>]*>\s*[^\s<]|/?c[\s/>])")
_OLE_OBJECT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?oleObjects?\b")
_PROG_ID = re.compile(rb"""\bprogId\s*=\s*["']([^"']{1,100})["']""")
_DDE = re.compile(r"(?:^|[^\w\"'.])[A-Za-z][\w.]*\|['\"]?[^!]*!|\bDDE(?:AUTO)?\s*\(", re.IGNORECASE)
_EXTERNAL = re.compile(r"\[\d+\][^\[\]!]*!|\[[^\[\]]+\.(?:xl\w{1,2}|csv|ods)\]", re.IGNORECASE)
_STRING_LITERAL = re.compile(r'"[^"]*"')
# a number of 15 digits or more before the point, plain or in exponent form (1e14 and up)
# (LibreOffice writes the exponent with three digits: 4.40199199408298E+017)
_LONG_DIGITS = rb"[0-9]{15,}(?:\.[0-9]*)?|[0-9](?:\.[0-9]+)?[Ee]\+?0*(?:1[4-9]|[2-9][0-9]|[1-9][0-9]{2,})"
_LONG_VALUE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?v>(?:" + _LONG_DIGITS + rb")<")
_LONG_NUMBER_CELL = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?c\s([^<>]*)>(?:<(?:[A-Za-z_][\w.-]*:)?f\b[^<]*(?:</(?:[A-Za-z_][\w.-]*:)?f>)?)?"
    rb"<(?:[A-Za-z_][\w.-]*:)?v>(" + _LONG_DIGITS + rb")<"
)
_TYPE_ATTRIBUTE = re.compile(rb"""\bt\s*=\s*["']([A-Za-z]+)["']""")
_ERROR_TYPE = re.compile(rb"""\bt\s*=\s*["']e["']""")
_ERROR_CELL = re.compile(rb"""<(?:[A-Za-z_][\w.-]*:)?c\s([^<>]*?\bt\s*=\s*["']e["'][^<>]*)>""")
_ERROR_VALUE = re.compile(
    rb"""(?:\s*<(?:[A-Za-z_][\w.-]*:)?f\b[^<>]*?(?:/>|>[^<]*</(?:[A-Za-z_][\w.-]*:)?f>))?\s*<(?:[A-Za-z_][\w.-]*:)?v>([^<]{0,40})<"""
)
MAX_ERROR_CELLS = 1000  # enough to tell the clerk; a sheet of errors is one fix
MAX_STYLE_ALTERNATIVES = 1000  # style numbers spelled out in the cell pattern; beyond, each match is looked up

_NUM_FMTS = re.compile(rb"<(?:[\w.-]+:)?numFmts\b[^<>]*>")
_NUM_FMTS_END = re.compile(rb"</(?:[\w.-]+:)?numFmts\s*>")
_NUM_FMT = re.compile(rb"<(?:[\w.-]+:)?numFmt\b([^<>]*)>")
_CELL_XFS = re.compile(rb"<(?:[\w.-]+:)?cellXfs\b[^<>]*>")
_CELL_XFS_END = re.compile(rb"</(?:[\w.-]+:)?cellXfs\s*>")
_XF = re.compile(rb"<(?:[\w.-]+:)?xf\b([^<>]*)>")
_NUM_FMT_ID = re.compile(rb"""\bnumFmtId\s*=\s*["']\s*([0-9]{1,9})\s*["']""")
MAX_NUMBER_FORMATS = 4096  # custom formats of one workbook; Excel allows about 250


def _element_body(data: bytes, opening: re.Pattern[bytes], closing: re.Pattern[bytes]) -> bytes:
    """What lies between the first `opening` tag and the `closing` tag after it (the rest when unclosed): two
    searches, each once through the data, where one lazy pattern would retry from every opening tag."""
    start = opening.search(data)
    if start is None:
        return b""
    end = closing.search(data, start.end())
    return data[start.end() : end.start() if end else len(data)]


@dataclass(frozen=True)
class _CellFormats:
    """The cell formats (cellXfs) of a workbook whose number format shows a unit or scales the number."""

    by_style: dict[int, str]  # cellXfs index (a cell's `s`) -> number format code
    cells: re.Pattern[bytes]  # the opening tag, not self-closing, of a cell in one of these styles

    @classmethod
    def read(cls, styles: bytes) -> _CellFormats | None:
        codes = dict(BUILTIN_NUMBER_FORMATS)
        for index, match in enumerate(_NUM_FMT.finditer(_element_body(styles, _NUM_FMTS, _NUM_FMTS_END))):
            if index >= MAX_NUMBER_FORMATS:
                break
            attributes = _attributes(match.group(1))
            number = attributes.get("numFmtId", "").strip()
            if number.isascii() and number.isdigit() and "formatCode" in attributes:
                codes[int(number)] = attributes["formatCode"]
        shown = {number: code for number, code in codes.items() if _shows_another_number(code)}
        if not shown:
            return None
        by_style = {}
        for index, match in enumerate(_XF.finditer(_element_body(styles, _CELL_XFS, _CELL_XFS_END))):
            if index >= MAX_CELL_FORMATS:
                break
            found = _NUM_FMT_ID.search(match.group(1))
            code = shown.get(int(found.group(1)) if found else 0)
            if code is not None:
                by_style[index] = code
        return cls.of(by_style) if by_style else None

    @classmethod
    def of(cls, by_style: dict[int, str]) -> _CellFormats:
        styles = sorted(by_style)
        if len(styles) <= MAX_STYLE_ALTERNATIVES:
            number = rb"0*(?:" + b"|".join(str(style).encode() for style in styles) + rb")"
        else:
            number = rb"[0-9]+"
        styled = rb"""(?=[^<>]*?\bs\s*=\s*["']\s*""" + number + rb"""\s*["'])"""
        if 0 in by_style:  # a cell without `s` has the workbook's default style, 0
            styled += rb"|(?![^<>]*?\bs\s*=)"
        return cls(by_style, re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c\s(?:" + styled + rb")([^<>]*?)(?<!/)>"))

    def code(self, attributes: bytes) -> str | None:
        """The format of a number cell in one of these styles, from its attributes; None for any other cell."""
        style = _S_ATTRIBUTE.search(attributes)
        code = self.by_style.get(int(style.group(1)) if style else 0)
        if code is None:
            return None
        kind = _T_ATTRIBUTE.search(attributes)
        return code if kind is None or kind.group(1) == b"n" else None


@lru_cache(maxsize=4096)
def _reaches_out(formula: str) -> str | None:
    """ "dde" or "external" when a formula calls another program or reads another workbook; filled columns
    repeat the same formula text, hence the cache."""
    bare = _STRING_LITERAL.sub('""', formula)
    if _DDE.search(bare):
        return "dde"
    if _EXTERNAL.search(bare):
        return "external"
    return None


@lru_cache(maxsize=MAX_COLUMN)
def _column_key(column: int) -> bytes:
    return _column_letter(column).encode("ascii")


class _SheetScanner:
    """Follows one worksheet's XML chunk by chunk: where its cells reach, whether one is written twice, what
    its formulas do, and which number cells carry a format that shows a unit or scales."""

    def __init__(
        self,
        sheet: str,
        limits: Limits,
        formats: _CellFormats | None = None,
        formatted_cells: list[tuple[str, str, str]] | None = None,
    ) -> None:
        self.sheet = sheet
        self.limits = limits
        self.issues: list[Issue] = []
        self.carry = b""
        self.started = False
        self.row = 0
        self.column = 0
        self.cells = 0
        self.in_formula = False
        self.formula: str | None = None
        self.has_value = False
        self.formula_flagged = False
        self.policy_flagged: set[str] = set()
        self.error_cells: list[tuple[str, str, str]] = []
        # the positions written so far ("D3"), bounded by max_cells; None once a duplicate is reported
        self.seen: set[bytes] | None = set()
        self.formats = formats
        self.formatted_cells = formatted_cells if formatted_cells is not None else []
        self.cell_format: str | None = None  # the format of the number cell the token walk is in
        self.format_pending: tuple[str, str] | None = None  # (cell, format) whose <v> is in the next segment
        self.embedded_flagged = False
        self.long_numbers: list[tuple[str, str]] = []
        self.number_carry = b""  # the last cell of a segment, whose value may be in the next one

    def feed(self, chunk: bytes) -> None:
        buffer = self.carry + chunk
        if not self.started:
            self.started = True
            self._dimension(buffer[:DIMENSION_WINDOW])
        cut = buffer.rfind(b"<")
        if cut <= 0:
            self.carry = buffer if len(buffer) <= MAX_CARRY else b""
            return
        self.carry = buffer[cut:] if len(buffer) - cut <= MAX_CARRY else b""
        self._scan(buffer[:cut])

    def close(self) -> None:
        if not self.started:
            self._dimension(self.carry[:DIMENSION_WINDOW])
        self._scan(self.carry)
        self.carry = b""
        self._long_numbers(b"", final=True)

    def _dimension(self, head: bytes) -> None:
        match = re.search(rb"<(?:[\w.-]+:)?dimension\b[^<>]*\bref\s*=\s*[\"']([^\"']*)[\"']", head)
        if not match:
            return
        corner = match.group(1).split(b":")[-1]
        found = _ref(corner)
        if found is None:
            return
        row, column = found
        cell = corner.decode("ascii").replace("$", "").upper()
        stop = False
        if row > self.limits.max_rows:
            self.issues.append(_rows(self.sheet, row, cell, self.limits, declared=True))
            stop = True
        if column > self.limits.max_columns:
            self.issues.append(_columns(self.sheet, column, cell, self.limits, declared=True))
            stop = True
        if stop:
            raise _Stop

    def _scan(self, segment: bytes) -> None:
        self._long_numbers(segment)
        if not self.embedded_flagged and b"oleObject" in segment:
            self._embedded_objects(segment)
        if _ERROR_TYPE.search(segment):
            self._error_values(segment)
        if self.format_pending is not None:
            self._resolve_pending(segment)
        if self._scan_positions(segment):
            if self.formats is not None:
                self._formatted_values(segment)
        else:
            self._scan_tokens(segment)

    def _long_numbers(self, segment: bytes, final: bool = False) -> None:
        """Number cells holding 15 digits or more (`<v>440199199408298180</v>`, `<v>4.4019919940829818E+17</v>`):
        one C-speed pattern over whole cells; the last cell of a segment waits for the next one."""
        text = self.number_carry + segment
        # up to the end of the last closed cell (`</c>`); what follows may be a cell whose value comes next
        end = len(text) if final else text.rfind(b"c>") + 2 if b"c>" in text else 0
        self.number_carry = text[end:] if len(text) - end <= MAX_CARRY else b""
        if len(self.long_numbers) >= MAX_LONG_NUMBERS or not _LONG_VALUE.search(text, 0, end):
            return
        for attributes, _ in _LONG_NUMBER_CELL.findall(text, 0, end):
            kind = _TYPE_ATTRIBUTE.search(attributes)
            position = _R_ATTRIBUTE.search(attributes)
            if position is not None and (kind is None or kind.group(1) == b"n"):
                self.long_numbers.append((self.sheet, position.group(1).decode("ascii").replace("$", "").upper()))
                if len(self.long_numbers) >= MAX_LONG_NUMBERS:
                    return

    def _embedded_objects(self, segment: bytes) -> None:
        """A sheet's <oleObjects>: an embedded file or OLE object, shown as an icon or its content (ActiveX
        controls are found by their parts; form controls, check boxes and buttons, carry nothing)."""
        match = _OLE_OBJECT.search(segment)
        if match is None:
            return
        self.embedded_flagged = True
        prog_id = _PROG_ID.search(segment, match.start())
        name = prog_id.group(1).decode("utf-8", "replace") if prog_id else "OLE 对象"
        self.issues.append(_embedded(name, self.sheet))

    def _error_values(self, segment: bytes) -> None:
        for match in _ERROR_CELL.finditer(segment):
            if len(self.error_cells) >= MAX_ERROR_CELLS:
                return
            position = _R_ATTRIBUTE.search(match.group(1))
            value = _ERROR_VALUE.match(segment, match.end())
            if position:
                self.error_cells.append(
                    (
                        self.sheet,
                        position.group(1).decode("ascii", "replace").replace("$", "").upper(),
                        value.group(1).decode("utf-8", "replace") if value else "#ERROR",
                    )
                )

    def _scan_positions(self, segment: bytes) -> bool:
        """The common case in C-speed regexes: no formulas, every cell with its position and within limits.
        False when the segment needs the token walk (formulas, cells without `r`, a limit broken)."""
        if self.formula is not None or _FORMULA_OPEN.search(segment):
            return False
        openings = _CELL_OPEN.findall(segment)
        positions = _CELL_POSITION.findall(segment)
        if len(openings) != len(positions):
            return False
        if not positions:
            self._last_row(segment)
            return True
        # map/set over C getters: a sheet of thousands of cells is scanned without a Python step per cell
        last_row = max(map(int, map(itemgetter(2), positions)))
        widest = max(set(map(itemgetter(1), positions)), key=lambda letters: (len(letters), letters))
        if (
            last_row > self.limits.max_rows
            or _column_number(widest) > self.limits.max_columns
            or self.cells + len(positions) > self.limits.max_cells
        ):
            return False
        self.cells += len(positions)
        if self.seen is not None:
            # a cell written twice: one already seen in the sheet, or the set grows by fewer than the cells
            written = list(map(itemgetter(0), positions))
            before = len(self.seen)
            if not self.seen.isdisjoint(written):
                self._twice(written)
            else:
                self.seen.update(written)
                if len(self.seen) - before != len(written):
                    self.seen.difference_update(written)
                    self._twice(written)
        _, letters, row = positions[-1]
        self.row, self.column = int(row), _column_number(letters)
        self._last_row(segment)
        return True

    def _last_row(self, segment: bytes) -> None:
        """A <row> opened after the segment's last cell: where the next cells without a position go."""
        end = len(segment)
        while (at := segment.rfind(b"row", 0, end)) > 0:
            end = at
            if segment[at - 1 : at] not in (b"<", b":"):
                continue  # </row>, or the word in a text
            tag = _ROW_TAG.match(segment, segment.rfind(b"<", 0, at))
            if tag is None:
                continue
            if not _CELL_OPEN.search(segment, tag.end()):
                found = _R_ATTRIBUTE.search(tag.group(1))
                self.row = int(found.group(1)) if found and found.group(1).isdigit() else self.row + 1
                self.column = 0
            return

    def _twice(self, references: list[bytes]) -> None:
        """Report the first of `references` already written (rare: a Python step per cell is fine here)."""
        seen = self.seen if self.seen is not None else set()
        for reference in references:
            if reference in seen:
                self.issues.append(_cell_duplicate(self.sheet, reference.decode("ascii")))
                self.seen = None
                return
            seen.add(reference)

    def _formatted_values(self, segment: bytes) -> None:
        """The number cells of the formats that show a unit or scale, found by one C-speed pattern that
        matches only cells in those styles."""
        formats = self.formats
        assert formats is not None
        for match in formats.cells.finditer(segment):
            code = formats.code(match.group(1))
            if code is None:
                continue
            position = _R_ATTRIBUTE.search(match.group(1))
            if position is None:
                continue
            cell = position.group(1).decode("ascii")
            after = _VALUE_OR_END.search(segment, match.end())
            if after is None:  # the cell's value is in the next segment
                self.format_pending = (cell, code)
            elif after.group(1):
                self._formatted(cell, code)
            if self.formats is None:
                return

    def _resolve_pending(self, segment: bytes) -> None:
        after = _VALUE_OR_END.search(segment)
        if after is None:  # still inside the cell (its formula): the value may come in the next segment
            return
        cell, code = self.format_pending or ("", "")
        self.format_pending = None
        if after.group(1):
            self._formatted(cell, code)

    def _formatted(self, cell: str, code: str) -> None:
        if len(self.formatted_cells) >= MAX_FORMATTED_CELLS:
            self.formats = None  # enough to tell: the rest of the file is not looked at for formats
            return
        self.formatted_cells.append((self.sheet, cell, code))

    def _scan_tokens(self, segment: bytes) -> None:
        for match in _TOKEN.finditer(segment):
            closing, name, attributes = match.groups()
            self_closing = attributes.endswith(b"/")
            if name == b"c":
                if closing:
                    self._end_cell()
                    continue
                self._start_cell(attributes)
                if self_closing:
                    self._end_cell()
            elif name == b"row":
                if closing:
                    continue
                found = _R_ATTRIBUTE.search(attributes)
                number = int(found.group(1)) if found and found.group(1).isdigit() else self.row + 1
                self.row = number
                self.column = 0
            elif name == b"f" and not closing:
                self.formula = ""
                if not self_closing:
                    end = segment.find(b"<", match.end())
                    text = segment[match.end() : end if end >= 0 else len(segment)]
                    self.formula = text[:10000].decode("utf-8", "replace")
                    if "&" in self.formula:
                        self.formula = html.unescape(self.formula)
            elif name in (b"v", b"is") and not closing and not self_closing:
                if name == b"is":
                    self.has_value = True
                else:
                    end = segment.find(b"<", match.end())
                    text = segment[match.end() : end if end >= 0 else len(segment)]
                    if text.strip():
                        self.has_value = True
                        if self.cell_format is not None:
                            self._formatted(self.cell_ref, self.cell_format)
                            self.cell_format = None
        if self.cell_format is not None:  # the cell's value is in the next segment
            self.format_pending = (self.cell_ref, self.cell_format)
            self.cell_format = None

    @property
    def cell_ref(self) -> str:
        return f"{_column_letter(self.column)}{self.row}"

    def _start_cell(self, attributes: bytes) -> None:
        found = _R_ATTRIBUTE.search(attributes)
        position = _ref(found.group(1)) if found else None
        if position is None:
            row, column = max(self.row, 1), self.column + 1
        else:
            row, column = position
        self.row, self.column = row, column
        self.cells += 1
        self.formula = None
        self.has_value = False
        self.cell_format = None
        if row <= self.limits.max_rows and column <= self.limits.max_columns and self.cells <= self.limits.max_cells:
            if self.seen is not None:
                key = _column_key(column) + str(row).encode("ascii")
                if key in self.seen:
                    self.issues.append(_cell_duplicate(self.sheet, key.decode("ascii")))
                    self.seen = None
                else:
                    self.seen.add(key)
            if self.formats is not None and not attributes.endswith(b"/"):
                self.cell_format = self.formats.code(attributes)
            return
        stop = False
        if row > self.limits.max_rows:
            self.issues.append(_rows(self.sheet, row, self.cell_ref, self.limits, declared=False))
            stop = True
        if column > self.limits.max_columns:
            self.issues.append(_columns(self.sheet, column, self.cell_ref, self.limits, declared=False))
            stop = True
        if self.cells > self.limits.max_cells:
            self.issues.append(_cells(self.sheet, self.cells, self.limits))
            stop = True
        if stop:
            raise _Stop

    def _end_cell(self) -> None:
        self.cell_format = None
        formula = self.formula
        if formula is None:
            return
        self.formula = None
        reaches = _reaches_out(formula)
        if reaches == "dde" and "dde" not in self.policy_flagged:
            self.policy_flagged.add("dde")
            self.issues.append(_dde(self.sheet, self.cell_ref, formula[:200]))
        elif reaches == "external" and "external" not in self.policy_flagged:
            self.policy_flagged.add("external")
            self.issues.append(_external_link(self.sheet, self.cell_ref, formula[:200]))
        if not self.has_value and not self.formula_flagged:
            self.formula_flagged = True
            self.issues.append(_formula_uncached(self.sheet, self.cell_ref, formula))


# --- OLE2 / CFB (xls, encrypted OOXML, old Office documents) -----------------------------------------------------

BOF, EOF, BOUNDSHEET, FILEPASS, DIMENSIONS = 0x0809, 0x000A, 0x0085, 0x002F, 0x0200
FORMAT, XF, NUMBER, RK, MULRK, FORMULA = 0x041E, 0x00E0, 0x0203, 0x027E, 0x00BD, 0x0006


def _inspect_cfb(path: Path, limits: Limits) -> Inspection:
    with olefile.OleFileIO(str(path)) as ole:
        entries = {"/".join(parts).lower() for parts in ole.listdir(streams=True, storages=True)}
        tops = {entry.split("/", 1)[0] for entry in entries}
        if "encryptioninfo" in tops or "encryptedpackage" in tops:
            return Inspection("xlsx", [_encrypted()])
        if "worddocument" in tops:
            return Inspection(None, [_not_spreadsheet("一个 Word 文档（.doc）", "a Word document (.doc)")])
        if "powerpoint document" in tops:
            return Inspection(None, [_not_spreadsheet("一个 PowerPoint 演示文稿（.ppt）", "a PowerPoint file (.ppt)")])
        stream = "workbook" if "workbook" in tops else "book" if "book" in tops else None
        if stream is None:
            return Inspection(
                None,
                [_not_spreadsheet("一个 Office 文件，但不是 Excel 工作簿", "an Office file that is not a workbook")],
            )
        issues: list[Issue] = []
        if "_vba_project_cur" in tops or "macros" in tops:
            issues.append(_macro("含有 VBA 宏工程", "a VBA project"))
        embedded = [path for path in ole.listdir(streams=True, storages=True) if _embedded_storage(path)]
        if embedded:
            names = sorted({path[0] for path in embedded})
            issues.append(_embedded(names[0].replace("\x01", ""), count=len(names)))
        if ole.get_size(stream) > limits.max_uncompressed_size:
            return Inspection("xls", [*issues, _uncompressed(ole.get_size(stream), limits)])
        data = ole.openstream(stream).read()
    formatted_cells: list[tuple[str, str, str]] = []
    long_numbers: list[tuple[str, str]] = []
    issues.extend(_inspect_biff(data, limits, None if issues else (formatted_cells, long_numbers)))
    return Inspection("xls", _dedupe(issues), formatted_cells=formatted_cells, long_numbers=long_numbers)


_OBJECT_STORAGE = re.compile(r"mbd[0-9a-f]{8}|objectpool", re.IGNORECASE)
# storages that hold OLE streams of their own and are not embedded objects: the VBA project (reported as a
# macro) and the Office data store
_NOT_OBJECT_STORAGES = {"_vba_project_cur", "_vba_project", "msodatastore"}


def _embedded_storage(path: list[str]) -> bool:
    """Whether an entry of an .xls's compound file belongs to an embedded object: Excel keeps each object in a
    storage MBD<8 hex digits> (an embedded file as a Package with a \\x01Ole10Native stream, a Word document
    with its own streams); an object's \\x01Ole/\\x01CompObj streams anywhere below the top level say the same."""
    top, leaf = path[0], path[-1].lower()
    if _OBJECT_STORAGE.fullmatch(top) or leaf == "\x01ole10native":
        return True
    return len(path) > 1 and leaf in ("\x01ole", "\x01compobj") and top.lower() not in _NOT_OBJECT_STORAGES


def _records(data: bytes, offset: int, budget: int):
    """(type, payload) of the BIFF records from `offset`, at most `budget` of them."""
    end = len(data)
    for _ in range(budget):
        if offset + 4 > end:
            return
        kind, length = struct.unpack_from("<HH", data, offset)
        payload = data[offset + 4 : offset + 4 + length]
        yield kind, payload
        offset += 4 + length
        if kind == EOF:
            return


def _sheet_name(payload: bytes, biff8: bool) -> str:
    count = payload[6]
    if not biff8:
        return payload[7 : 7 + count].decode("gb18030", "replace")
    wide = payload[7] & 1
    raw = payload[8 : 8 + count * (2 if wide else 1)]
    return raw.decode("utf-16-le", "replace") if wide else raw.decode("latin-1")


def _inspect_biff(
    data: bytes,
    limits: Limits,
    number_cells: tuple[list[tuple[str, str, str]], list[tuple[str, str]]] | None = None,
) -> list[Issue]:
    """The limits and policy of a BIFF Workbook stream; given `number_cells` (formatted, long), the number cells
    whose format shows a unit or scales go to the first list, those of 15 digits or more to the second."""
    issues: list[Issue] = []
    sheets: list[tuple[str, int, int, int]] = []  # name, BOF offset, hidden state, sheet type
    codes: dict[int, str] = dict(BUILTIN_NUMBER_FORMATS)  # FORMAT records: number format id -> code
    xf_formats: list[int] = []  # XF records in order (a cell's ixfe): number format id
    biff8 = True
    first = True
    for kind, payload in _records(data, 0, MAX_BIFF_RECORDS):
        if first:
            if kind not in (BOF, 0x0409, 0x0209, 0x0009):
                return [_unreadable("the Workbook stream does not start with BOF")]
            biff8 = kind == BOF and len(payload) >= 2 and struct.unpack_from("<H", payload)[0] == 0x0600
            first = False
        elif kind == FILEPASS:
            return [_encrypted()]
        elif kind == BOUNDSHEET and len(payload) >= 8:
            offset, state, sheet_type = struct.unpack_from("<IBB", payload)
            sheets.append((_sheet_name(payload, biff8), offset, state & 0x03, sheet_type))
        elif kind == FORMAT and len(payload) >= (5 if biff8 else 3) and len(codes) < MAX_NUMBER_FORMATS:
            codes[struct.unpack_from("<H", payload)[0]] = _format_code(payload, biff8)
        elif kind == XF and len(payload) >= 4 and len(xf_formats) < MAX_CELL_FORMATS:
            xf_formats.append(struct.unpack_from("<H", payload, 2)[0])
    if first:
        return [_unreadable("empty Workbook stream")]

    if any(sheet_type == 1 for *_, sheet_type in sheets):
        issues.append(_macro("含有 Excel 4.0 宏表", "an Excel 4.0 macro sheet"))
    if len(sheets) > limits.max_sheets:
        return [*issues, _sheets(len(sheets), limits)]
    template_names = _template_sheet_names()
    ours = [(name, state) for name, _, state, _ in sheets if name in template_names]
    if ours and all(state in (1, 2) for _, state in ours):
        issues.append(_sheets_hidden([name for name, _ in ours]))

    for name, offset, _, sheet_type in sheets:
        if sheet_type != 0:
            continue
        for kind, payload in _records(data, offset, MAX_BIFF_SHEET_RECORDS):
            if kind == DIMENSIONS:
                if biff8 and len(payload) >= 12:
                    _, last_row, _, last_column = struct.unpack_from("<IIHH", payload)
                elif len(payload) >= 8:
                    _, last_row, _, last_column = struct.unpack_from("<HHHH", payload)
                else:
                    break
                # DIMENSIONS holds one past the last row and column, 0-based: that is the 1-based last one
                cell = f"{_column_letter(last_column)}{last_row}" if last_row and last_column else None
                if last_row > limits.max_rows:
                    issues.append(_rows(name, last_row, cell, limits, declared=True))
                if last_column > limits.max_columns:
                    issues.append(_columns(name, last_column, cell, limits, declared=True))
                break
    if issues or number_cells is None:
        return issues
    shown = {number: code for number, code in codes.items() if _shows_another_number(code)}
    by_xf = {index: shown[number] for index, number in enumerate(xf_formats) if number in shown}
    budget = MAX_BIFF_RECORDS
    for name, offset, _, sheet_type in sheets:
        if sheet_type == 0 and budget > 0:
            budget = _biff_number_cells(data, offset, budget, name, by_xf, *number_cells)
    return issues


def _format_code(payload: bytes, biff8: bool) -> str:
    """The code of a FORMAT record: an XLUnicodeString in BIFF8, a byte-counted string before."""
    if not biff8:
        return payload[3 : 3 + payload[2]].decode("gb18030", "replace")
    count, wide = struct.unpack_from("<HB", payload, 2)
    raw = payload[5 : 5 + count * (2 if wide & 1 else 1)]
    return raw.decode("utf-16-le", "replace") if wide & 1 else raw.decode("latin-1")


def _rk_number(rk: int) -> float:
    """An RK value: a 30-bit integer or the top 30 bits of a double, divided by 100 when its flag says so."""
    if rk & 2:
        number = float((rk >> 2) - (1 << 30) if rk & (1 << 31) else rk >> 2)
    else:
        number = struct.unpack("<d", struct.pack("<Q", (rk & 0xFFFFFFFC) << 32))[0]
    return number / 100 if rk & 1 else number


def _biff_number_cells(
    data: bytes,
    offset: int,
    budget: int,
    sheet: str,
    by_xf: dict[int, str],
    formatted_cells: list[tuple[str, str, str]],
    long_numbers: list[tuple[str, str]],
) -> int:
    """The number cells (NUMBER, RK, MULRK, and FORMULA with a number cached) of one worksheet substream whose
    XF shows a unit or scales, and those of 15 digits or more; walks at most `budget` records and gives back
    what is left of it."""
    end = len(data)
    while budget > 0 and offset + 4 <= end:
        budget -= 1
        kind, length = struct.unpack_from("<HH", data, offset)
        start = offset + 4
        offset = start + length
        if kind == EOF or offset > end:
            break
        found: list[tuple[int, int, int, float]] = []  # row, column, ixfe, number
        if kind in (NUMBER, FORMULA) and length >= 14:
            row, column, ixfe = struct.unpack_from("<HHH", data, start)
            # a FORMULA's cached result whose last two bytes are 0xFFFF is a string, boolean or error
            if kind == NUMBER or struct.unpack_from("<H", data, start + 12)[0] != 0xFFFF:
                found.append((row, column, ixfe, struct.unpack_from("<d", data, start + 6)[0]))
        elif kind == RK and length >= 10:
            row, column, ixfe, rk = struct.unpack_from("<HHHI", data, start)
            found.append((row, column, ixfe, _rk_number(rk)))
        elif kind == MULRK and length >= 6:
            row, first_column = struct.unpack_from("<HH", data, start)
            for index in range((length - 6) // 6):
                ixfe, rk = struct.unpack_from("<HI", data, start + 4 + 6 * index)
                found.append((row, first_column + index, ixfe, _rk_number(rk)))
        for row, column, ixfe, number in found:
            code = by_xf.get(ixfe)
            cell = f"{_column_letter(column + 1)}{row + 1}"
            if code is not None and len(formatted_cells) < MAX_FORMATTED_CELLS:
                formatted_cells.append((sheet, cell, code))
            if abs(number) >= LONG_NUMBER and len(long_numbers) < MAX_LONG_NUMBERS:
                long_numbers.append((sheet, cell))
    return budget

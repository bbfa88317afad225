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

_SHEET_TAG = re.compile(rb"<(?:[\w.-]+:)?sheet\b([^>]*)>")
_RELATIONSHIP = re.compile(rb"<(?:[\w.-]+:)?Relationship\b([^>]*)>")
_ATTRIBUTE = re.compile(rb"([\w:.-]+)\s*=\s*(\"[^\"]*\"|'[^']*')")


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
        issues.extend(_sweep(archive, infos, workbook, limits, error_cells))
        return Inspection("xlsx", _dedupe(issues), error_cells)


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen, kept = set(), []
    for issue in issues:
        key = (issue.rule, issue.sheet, issue.message_zh)
        if key not in seen:
            seen.add(key)
            kept.append(issue)
    return kept


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

    @classmethod
    def read(cls, archive: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo]) -> _Workbook:
        main = _main_part(archive, by_name)
        base = main.rsplit("/", 1)[0] if "/" in main else ""
        workbook_xml = _read_bounded(archive, by_name[main])
        rels_name = f"{base}/_rels/{main.rsplit('/', 1)[-1]}.rels" if base else f"_rels/{main}.rels"
        targets: dict[str, str] = {}
        if rels_name in by_name:
            for match in _RELATIONSHIP.finditer(_read_bounded(archive, by_name[rels_name])):
                attributes = _attributes(match.group(1))
                if attributes.get("TargetMode") != "External" and "Id" in attributes:
                    targets[attributes["Id"]] = _resolve(base, attributes.get("Target", "")).lower()
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
        return cls(main, sheets, content_types, list(by_name))

    def policy_issues(self, path: Path, limits: Limits) -> list[Issue]:
        issues = []
        if any(name.rsplit("/", 1)[-1] == "vbaproject.bin" for name in self.names):
            issues.append(_macro("含有 VBA 宏工程 vbaProject.bin", "a VBA project, vbaProject.bin"))
        elif b"macroenabled" in self.content_types.lower():
            issues.append(_macro("文件类型为启用宏的工作簿", "a macro-enabled content type"))
        if any(name.startswith("xl/macrosheets/") for name in self.names):
            issues.append(_macro("含有 Excel 4.0 宏表", "an Excel 4.0 macro sheet"))
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
) -> list[Issue]:
    """Inflate every part once, counting what actually comes out, and scan the sheets and external links;
    the error-value cells found go to `error_cells`."""
    issues: list[Issue] = []
    sheet_of = {sheet.part: sheet for sheet in workbook.sheets if sheet.part}
    total_inflated = total_compressed = 0
    for info in infos:
        folded = info.filename.replace("\\", "/").lower()
        if info.is_dir():
            continue
        sheet = sheet_of.get(folded)
        scanner = _SheetScanner(sheet.name, limits) if sheet else None
        link = folded.startswith("xl/externallinks/") and not folded.startswith("xl/externallinks/_rels/")
        link_text = bytearray() if link else None
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
        if scanner is not None:
            try:
                scanner.close()
            except _Stop:
                pass
            issues.extend(scanner.issues)
            error_cells.extend(scanner.error_cells)
        if link_text is not None:
            if re.search(rb"<(?:[\w.-]+:)?ddeLink\b", link_text):
                issues.append(_dde(None, None, info.filename))
            else:
                issues.append(_external_link(None, None, info.filename))
    overall = total_inflated / max(total_compressed, 1)
    if total_inflated > limits.ratio_min_size and overall > limits.max_ratio_overall:
        issues.append(_ratio("（全部内容）", overall, limits.max_ratio_overall))
    return issues


# --- streaming a worksheet part ---------------------------------------------------------------------------------

_TOKEN = re.compile(rb"<(/?)(?:[A-Za-z_][\w.-]*:)?(row|c|f|v|is|dimension)(?=[\s/>])([^>]*)>")
_FORMULA_OPEN = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s/>]")
_CELL_OPEN = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s/>]")
_CELL_POSITION = re.compile(rb"""<(?:[A-Za-z_][\w.-]*:)?c\s[^>]*?\br\s*=\s*["']\$?([A-Za-z]{1,3})\$?([0-9]{1,7})["']""")
_R_ATTRIBUTE = re.compile(rb"""\br\s*=\s*["']([^"']*)["']""")
_DDE = re.compile(r"(?:^|[^\w\"'.])[A-Za-z][\w.]*\|['\"]?[^!]*!|\bDDE(?:AUTO)?\s*\(", re.IGNORECASE)
_EXTERNAL = re.compile(r"\[\d+\][^\[\]!]*!|\[[^\[\]]+\.(?:xl\w{1,2}|csv|ods)\]", re.IGNORECASE)
_STRING_LITERAL = re.compile(r'"[^"]*"')
_ERROR_TYPE = re.compile(rb"""\bt\s*=\s*["']e["']""")
_ERROR_CELL = re.compile(rb"""<(?:[A-Za-z_][\w.-]*:)?c\s([^>]*?\bt\s*=\s*["']e["'][^>]*)>""")
_ERROR_VALUE = re.compile(
    rb"""(?:\s*<(?:[A-Za-z_][\w.-]*:)?f\b[^>]*?(?:/>|>[^<]*</(?:[A-Za-z_][\w.-]*:)?f>))?\s*<(?:[A-Za-z_][\w.-]*:)?v>([^<]{0,40})<"""
)
MAX_ERROR_CELLS = 1000  # enough to tell the clerk; a sheet of errors is one fix


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


class _SheetScanner:
    """Follows one worksheet's XML chunk by chunk: where its cells reach, and what its formulas do."""

    def __init__(self, sheet: str, limits: Limits) -> None:
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

    def _dimension(self, head: bytes) -> None:
        match = re.search(rb"<(?:[\w.-]+:)?dimension\b[^>]*\bref\s*=\s*[\"']([^\"']*)[\"']", head)
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
        if _ERROR_TYPE.search(segment):
            self._error_values(segment)
        if not self._scan_positions(segment):
            self._scan_tokens(segment)

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
            return True
        # map/set over C getters: a sheet of thousands of cells is scanned without a Python step per cell
        last_row = max(map(int, map(itemgetter(1), positions)))
        widest = max((letters.upper() for letters in set(map(itemgetter(0), positions))), key=lambda x: (len(x), x))
        if (
            last_row > self.limits.max_rows
            or _column_number(widest) > self.limits.max_columns
            or self.cells + len(positions) > self.limits.max_cells
        ):
            return False
        self.cells += len(positions)
        letters, row = positions[-1]
        self.row, self.column = int(row), _column_number(letters)
        return True

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
                    self.has_value = self.has_value or bool(text.strip())

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
        if row <= self.limits.max_rows and column <= self.limits.max_columns and self.cells <= self.limits.max_cells:
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
        if ole.get_size(stream) > limits.max_uncompressed_size:
            return Inspection("xls", [*issues, _uncompressed(ole.get_size(stream), limits)])
        data = ole.openstream(stream).read()
    issues.extend(_inspect_biff(data, limits))
    return Inspection("xls", _dedupe(issues))


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


def _inspect_biff(data: bytes, limits: Limits) -> list[Issue]:
    issues: list[Issue] = []
    sheets: list[tuple[str, int, int, int]] = []  # name, BOF offset, hidden state, sheet type
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
    return issues

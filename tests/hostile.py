"""Hostile and unacceptable files, each with the issue the inspect stage must stop it with.

A hostile kind is a function that writes one file (mostly a rewritten private copy of a shipped 2022 sample
workbook, sometimes raw bytes or a hand-built OLE2 container) and returns the `Expected` issue: rule, sheet
(or None for the whole file) and words its Chinese message must contain. Files are named
`<unit>_2022_<kind>.<ext>` so the whole corpus can sit beside the 18 samples in one period folder. Big files
(a million rows, a zip bomb) are streamed into the zip, never built in memory.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
from defects import BENEFICIARIES, COVER, ENTERPRISES, INDICATORS, PERIOD

from union_stats.paths import RAW_DIR
from union_stats.reference import template

PARTS_MAX = 1000
EXTRA_SHEETS = 40


@dataclass(frozen=True)
class Expected:
    """The issue a hostile file must produce."""

    rule: str
    sheet: str | None = None
    message: tuple[str, ...] = ()
    cell: str | None = None


@dataclass(frozen=True)
class Hostile:
    name: str
    unit: str
    extension: str  # as the clerk would have sent it
    build: Callable[[Path], Expected]

    def path_in(self, folder: Path, period: str = PERIOD) -> Path:
        return folder / period / f"{self.unit}_{period}_{self.name}.{self.extension}"

    @property
    def doc(self) -> str:
        return (self.build.__doc__ or "").strip()


HOSTILE: dict[str, Hostile] = {}


def hostile(unit: str, extension: str = "xlsx") -> Callable[[Callable[[Path], Expected]], Callable[[Path], Expected]]:
    """Register a hostile file builder under its function name."""

    def register(function: Callable[[Path], Expected]) -> Callable[[Path], Expected]:
        HOSTILE[function.__name__] = Hostile(function.__name__, unit, extension, function)
        return function

    return register


def build(name: str, folder: Path) -> tuple[Path, Expected]:
    """Write the hostile file `name` into `folder`/2022 and say what the inspect stage must find."""
    chosen = HOSTILE[name]
    path = chosen.path_in(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, chosen.build(path)


# --- helpers: zips rewritten entry by entry -----------------------------------------------------------------------


def sample_copy(unit: str, path: Path) -> Path:
    """The shipped workbook of `unit` copied to `path` (any name, any extension)."""
    shutil.copyfile(RAW_DIR / PERIOD / f"{unit}_{PERIOD}.xlsx", path)
    return path


def rewrite(
    source: Path,
    target: Path,
    replace: dict[str, bytes | None] | None = None,
    add: Iterable[tuple[str, bytes]] = (),
) -> None:
    """Copy a zip part by part, replacing (None: dropping) some parts and appending others."""
    replace = replace or {}
    with zipfile.ZipFile(source) as old:
        parts = [(info, old.read(info)) for info in old.infolist()]
    temporary = target.with_suffix(target.suffix + ".tmp")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as new:
        for info, content in parts:
            if info.filename in replace:
                content = replace[info.filename]
                if content is None:
                    continue
            new.writestr(info.filename, content)
        for name, content in add:
            new.writestr(name, content)
    temporary.replace(target)


def sheet_parts(path: Path) -> dict[str, str]:
    """Sheet name -> zip part of a workbook, read from workbook.xml and its relationships."""
    with zipfile.ZipFile(path) as archive:
        workbook = archive.read("xl/workbook.xml").decode()
        rels = archive.read("xl/_rels/workbook.xml.rels").decode()
    targets = dict(re.findall(r'Id="([^"]+)"[^>]*Target="([^"]+)"', rels))
    targets |= {rid: target for target, rid in re.findall(r'Target="([^"]+)"[^>]*Id="([^"]+)"', rels)}
    return {
        name: "xl/" + targets[rid].lstrip("/").removeprefix("xl/")
        for name, rid in re.findall(r'<sheet [^>]*name="([^"]+)"[^>]*r:id="([^"]+)"', workbook)
    }


def edit_sheet_xml(path: Path, sheet: str, edit: Callable[[str], str]) -> None:
    part = sheet_parts(path)[sheet]
    with zipfile.ZipFile(path) as archive:
        xml = archive.read(part).decode()
    rewrite(path, path, {part: edit(xml).encode()})


def add_cell_to_row(xml: str, row: int, cell: str) -> str:
    """Append a cell element at the end of sheet row `row`."""
    pattern = re.compile(rf'(<row r="{row}"[^>]*>.*?)(</row>)', re.DOTALL)
    edited, count = pattern.subn(lambda match: match.group(1) + cell + match.group(2), xml, count=1)
    assert count == 1, f"row {row} not found"
    return edited


def set_dimension(xml: str, ref: str) -> str:
    return re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="{ref}"/>', xml, count=1)


def bare_zip(path: Path, parts: Iterable[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> None:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, content in parts:
            archive.writestr(name, content)


# --- helpers: a minimal OLE2 / CFB writer (olefile only reads) ---------------------------------------------------

SECTOR = 512
FREE, END, FAT_SECTOR, NO_STREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
MINI_CUTOFF = 4096


def _directory_entry(
    name: str, kind: int, child: int, right: int, start: int, size: int, clsid: bytes = b"\0" * 16
) -> bytes:
    encoded = (name + "\0").encode("utf-16-le") if name else b""
    return struct.pack(
        "<64sHBBIII16sIQQIQ",
        encoded,
        len(encoded),
        kind,
        1,  # black: a chain of right siblings is a valid (degenerate) red-black tree
        NO_STREAM,
        right,
        child,
        clsid,
        0,
        0,
        0,
        start,
        size,
    )


def _cfb_order(name: str) -> tuple[int, str]:
    """The order of siblings in a compound file's directory: shorter names first, then case-blind."""
    return len(name), name.upper()


def write_cfb(
    path: Path, streams: dict[str, bytes], storages: Iterable[str] = (), clsids: dict[str, bytes] | None = None
) -> None:
    """A version 3 compound file. `streams` are named by path ("MBD0001E2A3/\x01Ole10Native" lies in the storage
    MBD0001E2A3); each is padded to the mini-stream cutoff, so every stream lives in ordinary sectors. `storages`
    adds (empty) storages; `clsids` gives storages ("" the root) their class id. Each storage's children form a
    chain of right siblings in the directory's sort order."""
    clsids = clsids or {}
    padded = {name: data.ljust(MINI_CUTOFF, b"\0") for name, data in streams.items()}
    folders = {""} | set(storages)
    for name in [*padded, *storages]:
        parts = name.split("/")
        folders |= {"/".join(parts[:depth]) for depth in range(1, len(parts))}
    children: dict[str, list[str]] = {folder: [] for folder in folders}
    for name in sorted([*padded, *(folder for folder in folders if folder)]):
        parent = name.rsplit("/", 1)[0] if "/" in name else ""
        children[parent].append(name)
    for names in children.values():
        names.sort(key=lambda name: _cfb_order(name.rsplit("/", 1)[-1]))
    order = [""]  # directory entries breadth first, the root at 0
    for name in order:
        order.extend(children.get(name, []))
    index_of = {name: index for index, name in enumerate(order)}

    entries = len(order)
    dir_sectors = -(-entries * 128 // SECTOR)
    data_sectors = sum(-(-len(data) // SECTOR) for data in padded.values())
    fat_sectors = 1
    while fat_sectors * 128 < fat_sectors + dir_sectors + data_sectors:
        fat_sectors += 1
    assert fat_sectors <= 109
    fat = [FAT_SECTOR] * fat_sectors
    first_dir = len(fat)
    fat += [first_dir + index + 1 for index in range(dir_sectors - 1)] + [END]
    starts, body = {}, b""
    for name in order:
        if name not in padded:
            continue
        data = padded[name]
        count = -(-len(data) // SECTOR)
        starts[name] = len(fat)
        fat += [len(fat) + index + 1 for index in range(count - 1)] + [END]
        body += data.ljust(count * SECTOR, b"\0")
    fat += [FREE] * (fat_sectors * 128 - len(fat))

    def right_of(name: str) -> int:
        parent = name.rsplit("/", 1)[0] if "/" in name else ""
        siblings = children[parent]
        position = siblings.index(name)
        return index_of[siblings[position + 1]] if position + 1 < len(siblings) else NO_STREAM

    def first_child(name: str) -> int:
        return index_of[children[name][0]] if children.get(name) else NO_STREAM

    directory = b""
    for name in order:
        clsid = clsids.get(name, b"\0" * 16)
        if name == "":
            directory += _directory_entry("Root Entry", 5, first_child(""), NO_STREAM, END, 0, clsid)
        elif name in padded:
            directory += _directory_entry(
                name.rsplit("/", 1)[-1], 2, NO_STREAM, right_of(name), starts[name], len(padded[name])
            )
        else:
            directory += _directory_entry(name.rsplit("/", 1)[-1], 1, first_child(name), right_of(name), 0, 0, clsid)
    directory = directory.ljust(dir_sectors * SECTOR, b"\0")
    # unused directory slots must read as empty entries with no siblings
    used = entries * 128
    blank = _directory_entry("", 0, NO_STREAM, NO_STREAM, 0, 0)
    directory = directory[:used] + blank * ((len(directory) - used) // 128)

    difat = list(range(fat_sectors)) + [FREE] * (109 - fat_sectors)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"\0" * 16,
        0x003E,
        0x0003,
        0xFFFE,
        9,
        6,
        b"\0" * 6,
        0,
        fat_sectors,
        first_dir,
        0,
        MINI_CUTOFF,
        END,
        0,
        END,
        0,
    ) + struct.pack("<109I", *difat)
    fat_bytes = struct.pack(f"<{len(fat)}I", *fat)
    path.write_bytes(header + fat_bytes + directory + body)


def _record(kind: int, payload: bytes = b"") -> bytes:
    return struct.pack("<HH", kind, len(payload)) + payload


def _bof(substream: int) -> bytes:
    return _record(0x0809, struct.pack("<HHHHII", 0x0600, substream, 0x0DBB, 0x07CC, 0, 0x06))


def biff8_workbook(
    sheets: Iterable[tuple[str, int, int]],
    hidden: bool = False,
    password: bool = False,
    macro_sheet: bool = False,
    styles: bytes = b"",
    cells: dict[str, bytes] | None = None,
) -> bytes:
    """A minimal BIFF8 Workbook stream: globals (BOF, FILEPASS?, `styles` (FORMAT and XF records), BOUNDSHEETs,
    EOF), then per sheet BOF, DIMENSIONS (last row, last column, 1-based), the sheet's `cells` records and EOF."""
    sheets = list(sheets)
    cells = cells or {}

    def boundsheet(name: str, offset: int, sheet_type: int) -> bytes:
        encoded = name.encode("utf-16-le")
        return _record(0x0085, struct.pack("<IBBBB", offset, 2 if hidden else 0, sheet_type, len(name), 1) + encoded)

    head = _bof(0x0005) + (_record(0x002F, b"\x01\x00" + b"\0" * 52) if password else b"") + styles
    globals_size = len(head) + sum(len(boundsheet(name, 0, 0)) for name, *_ in sheets) + len(_record(0x000A))
    bodies, offsets, position = [], [], globals_size
    for name, last_row, last_column in sheets:
        dimensions = _record(0x0200, struct.pack("<IIHHH", 0, last_row, 0, last_column, 0))
        body = _bof(0x0010) + dimensions + cells.get(name, b"") + _record(0x000A)
        offsets.append(position)
        bodies.append(body)
        position += len(body)
    records = head + b"".join(
        boundsheet(name, offset, 1 if macro_sheet and index == 0 else 0)
        for index, ((name, *_), offset) in enumerate(zip(sheets, offsets, strict=True))
    )
    return records + _record(0x000A) + b"".join(bodies)


def biff_format(number: int, code: str) -> bytes:
    """A FORMAT record: number format `number` is `code` (an XLUnicodeString, stored as UTF-16)."""
    return _record(0x041E, struct.pack("<HHB", number, len(code), 1) + code.encode("utf-16-le"))


def biff_xf(number_format: int) -> bytes:
    """An XF record (cell format) with number format `number_format`, the rest zero."""
    return _record(0x00E0, struct.pack("<HH", 0, number_format) + b"\0" * 16)


def biff_number(row: int, column: int, xf: int, value: float) -> bytes:
    """A NUMBER cell, row and column 0-based."""
    return _record(0x0203, struct.pack("<HHHd", row, column, xf, value))


def biff_rk(row: int, column: int, xf: int, value: int) -> bytes:
    """An RK cell holding a whole number."""
    return _record(0x027E, struct.pack("<HHHi", row, column, xf, (value << 2) | 2))


def biff_mulrk(row: int, first_column: int, cells: list[tuple[int, int]]) -> bytes:
    """A MULRK record: whole numbers in consecutive columns, each (xf, value)."""
    body = b"".join(struct.pack("<Hi", xf, (value << 2) | 2) for xf, value in cells)
    return _record(
        0x00BD, struct.pack("<HH", row, first_column) + body + struct.pack("<H", first_column + len(cells) - 1)
    )


def biff_formula(row: int, column: int, xf: int, value: float | None) -> bytes:
    """A FORMULA cell (=1+1) with a cached number, or with a cached string when `value` is None."""
    cached = struct.pack("<d", value) if value is not None else b"\0" * 6 + b"\xff\xff"
    tokens = b"\x1e\x01\x00\x1e\x01\x00\x03"  # 1 1 +
    return _record(
        0x0006, struct.pack("<HHH", row, column, xf) + cached + struct.pack("<HIH", 0, 0, len(tokens)) + tokens
    )


def template_sheet_shapes() -> list[tuple[str, int, int]]:
    """The template's sheets with a small, ordinary extent each."""
    spec = template()
    return [(spec.cover_sheet, 8, 2)] + [(sheet.sheet, 30, len(sheet.columns)) for sheet in spec.sheets]


def write_plain_xls(path: Path) -> Path:
    """An ordinary .xls as far as the inspect stage looks: the template's sheets, visible, small extents."""
    write_cfb(path, {"Workbook": biff8_workbook(template_sheet_shapes())})
    return path


# --- not a spreadsheet ----------------------------------------------------------------------------------------


@hostile("shiqiao")
def empty(path: Path) -> Expected:
    """A 0-byte upload."""
    path.write_bytes(b"")
    return Expected("file.empty", None, ("空的",))


@hostile("shiqiao", "pdf")
def pdf(path: Path) -> Expected:
    """The report printed to PDF."""
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n")
    return Expected("file.not_spreadsheet", None, ("PDF", ".xlsx"))


@hostile("shiqiao", "docx")
def docx(path: Path) -> Expected:
    """A Word document (a real minimal .docx package)."""
    bare_zip(
        path,
        [
            (
                "[Content_Types].xml",
                b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
                b'officedocument.wordprocessingml.document.main+xml"/></Types>',
            ),
            (
                "_rels/.rels",
                b'<Relationships><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                b'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
            ),
            ("word/document.xml", "<w:document><w:body><w:p><w:t>统计表</w:t></w:p></w:body></w:document>".encode()),
        ],
    )
    return Expected("file.not_spreadsheet", None, ("Word",))


@hostile("shiqiao", "doc")
def doc(path: Path) -> Expected:
    """An old Word .doc (OLE2 with a WordDocument stream)."""
    write_cfb(path, {"WordDocument": b"\xec\xa5\xc1\x00" + b"\0" * 100, "1Table": b"\0" * 10})
    return Expected("file.not_spreadsheet", None, ("Word",))


@hostile("shiqiao", "csv")
def csv_text(path: Path) -> Expected:
    """The indicator sheet exported as CSV."""
    path.write_text("指标代码,指标名称,计量单位,数值\nunions_total,工会总数,个,9\n", encoding="utf-8-sig")
    return Expected("file.not_spreadsheet", None, ("CSV",))


@hostile("shiqiao", "txt")
def plain_text(path: Path) -> Expected:
    """A note typed in Notepad."""
    path.write_text("市桥街 2022 年统计数据见附件\n", encoding="gbk")
    return Expected("file.not_spreadsheet", None, ("文本",))


@hostile("shiqiao", "xls")
def html_as_xls(path: Path) -> Expected:
    """An "Excel web page": an HTML table saved with the .xls extension (after a BOM and blank lines)."""
    path.write_bytes(
        b'\xef\xbb\xbf\r\n  <html xmlns:x="urn:schemas-microsoft-com:office:excel"><body><table><tr><td>'
        + "指标".encode()
        + b"</td></tr></table></body></html>"
    )
    return Expected("file.not_spreadsheet", None, ("网页", "HTML"))


@hostile("dashi", "xls")
def table_only_html(path: Path) -> Expected:
    """A bare <table> fragment saved as .xls by a web system."""
    path.write_bytes(b"<table border=1><tr><td>1</td></tr></table>")
    return Expected("file.not_spreadsheet", None, ("网页",))


@hostile("shiqiao", "xml")
def xml_spreadsheet_2003(path: Path) -> Expected:
    """An XML Spreadsheet 2003 file."""
    path.write_bytes(
        b'<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>\n<Workbook '
        b'xmlns="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet ss:Name="x"/></Workbook>'
    )
    return Expected("file.not_spreadsheet", None, ("XML 电子表格 2003",))


@hostile("shiqiao", "png")
def image(path: Path) -> Expected:
    """A screenshot of the sheet."""
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + os.urandom(200))
    return Expected("file.not_spreadsheet", None, ("图片",))


@hostile("shiqiao")
def random_bytes(path: Path) -> Expected:
    """Noise with an .xlsx name."""
    path.write_bytes(b"\x00\x01\x02\x03" + os.urandom(4000))
    return Expected("file.not_spreadsheet", None, ("无法识别",))


@hostile("shiqiao", "zip")
def zip_of_other_things(path: Path) -> Expected:
    """A zip archive of photos and notes."""
    bare_zip(path, [("photo.jpg", b"\xff\xd8\xff" + os.urandom(100)), ("readme.txt", "说明".encode())])
    return Expected("file.not_spreadsheet", None, ("压缩包",))


# --- spreadsheets in formats we do not read -----------------------------------------------------------------------


@hostile("shiqiao", "ods")
def ods(path: Path) -> Expected:
    """An OpenDocument spreadsheet (LibreOffice/WPS default)."""
    bare_zip(
        path,
        [
            ("mimetype", b"application/vnd.oasis.opendocument.spreadsheet"),
            ("content.xml", b"<office:document-content/>"),
            ("META-INF/manifest.xml", b"<manifest:manifest/>"),
        ],
        zipfile.ZIP_STORED,
    )
    return Expected("file.format_unsupported", None, ("ods", ".xlsx"))


@hostile("shiqiao", "xlsb")
def xlsb(path: Path) -> Expected:
    """An Excel binary workbook."""
    bare_zip(
        path,
        [
            ("[Content_Types].xml", b"<Types/>"),
            ("xl/workbook.bin", b"\x83\x01\x00"),
            ("xl/worksheets/sheet1.bin", b"\x81\x01\x00"),
        ],
    )
    return Expected("file.format_unsupported", None, ("xlsb", ".xlsx"))


# --- unreadable ---------------------------------------------------------------------------------------------------


@hostile("shiqiao")
def truncated(path: Path) -> Expected:
    """The first half of a sample's bytes (an interrupted upload)."""
    data = sample_copy("shiqiao", path).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return Expected("structure.unreadable", None, ("无法读取",))


@hostile("dashi")
def package_without_workbook(path: Path) -> Expected:
    """An Office package whose xl/workbook.xml is gone."""
    sample_copy("dashi", path)
    rewrite(path, path, {"xl/workbook.xml": None})
    return Expected("structure.unreadable", None, ("无法读取",))


@hostile("dashi", "xls")
def corrupt_cfb(path: Path) -> Expected:
    """An OLE2 signature followed by garbage."""
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(3000))
    return Expected("structure.unreadable", None, ("无法读取",))


# --- encrypted ----------------------------------------------------------------------------------------------------


@hostile("shiqiao")
def encrypted_xlsx(path: Path) -> Expected:
    """An .xlsx saved with a password: an OLE2 file with EncryptionInfo and EncryptedPackage streams."""
    write_cfb(
        path,
        {
            "EncryptionInfo": b"\x04\x00\x04\x00\x40\x00\x00\x00" + b"<encryption/>",
            "EncryptedPackage": os.urandom(5000),
        },
    )
    return Expected("file.encrypted", None, ("密码",))


@hostile("shiqiao", "xls")
def encrypted_xls(path: Path) -> Expected:
    """An .xls with a password to open (FILEPASS record)."""
    write_cfb(path, {"Workbook": biff8_workbook(template_sheet_shapes(), password=True)})
    return Expected("file.encrypted", None, ("取消文件密码",))


# --- macros -------------------------------------------------------------------------------------------------------


@hostile("shiqiao", "xlsm")
def macro_extension(path: Path) -> Expected:
    """A sample saved as .xlsm (saved again, so its bytes are its own, as Excel's would be)."""
    sample_copy("shiqiao", path)
    rewrite(path, path)
    return Expected("file.macro", None, ("宏", ".xlsm"))


@hostile("dashi")
def vba_project(path: Path) -> Expected:
    """A VBA project added to an .xlsx-named file."""
    sample_copy("dashi", path)
    rewrite(path, path, add=[("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0" + os.urandom(500))])
    return Expected("file.macro", None, ("宏", "不含宏"))


@hostile("shatou")
def macro_sheet(path: Path) -> Expected:
    """An Excel 4.0 macro sheet part."""
    sample_copy("shatou", path)
    rewrite(path, path, add=[("xl/macrosheets/sheet1.xml", b"<xm:macrosheet/>")])
    return Expected("file.macro", None, ("宏",))


@hostile("shatou", "xls")
def xls_macros(path: Path) -> Expected:
    """An .xls carrying a VBA project storage."""
    write_cfb(path, {"Workbook": biff8_workbook(template_sheet_shapes())}, storages=["_VBA_PROJECT_CUR"])
    return Expected("file.macro", None, ("宏",))


# --- formulas that reach out ------------------------------------------------------------------------------------


@hostile("shiqiao")
def dde_formula(path: Path) -> Expected:
    """A DDE formula injected into a cell of 指标."""
    sample_copy("shiqiao", path)
    edit_sheet_xml(
        path, INDICATORS, lambda xml: add_cell_to_row(xml, 2, "<c r=\"F2\"><f>cmd|'/c calc'!A1</f><v>0</v></c>")
    )
    return Expected("file.dde", INDICATORS, ("DDE", "F2"), "F2")


@hostile("dashi")
def dde_function(path: Path) -> Expected:
    """=DDEAUTO(...) in a cell of 新建工会企业."""
    sample_copy("dashi", path)
    formula = '<c r="G1"><f>DDEAUTO("cmd","/c calc","x")</f><v>0</v></c>'
    edit_sheet_xml(path, ENTERPRISES, lambda xml: add_cell_to_row(xml, 1, formula))
    return Expected("file.dde", ENTERPRISES, ("DDE",), "G1")


@hostile("shiqiao")
def dde_link(path: Path) -> Expected:
    """An externalLink part holding a ddeLink."""
    sample_copy("shiqiao", path)
    rewrite(
        path,
        path,
        add=[
            (
                "xl/externalLinks/externalLink1.xml",
                b'<externalLink><ddeLink ddeService="cmd" ddeTopic="/c calc"/></externalLink>',
            )
        ],
    )
    return Expected("file.dde", None, ("DDE",))


@hostile("shiqiao")
def external_link_part(path: Path) -> Expected:
    """A link to another workbook (xl/externalLinks/ part)."""
    sample_copy("shiqiao", path)
    rewrite(
        path,
        path,
        add=[("xl/externalLinks/externalLink1.xml", b'<externalLink><externalBook r:id="rId1"/></externalLink>')],
    )
    return Expected("file.external_link", None, ("外部链接", "断开链接"))


@hostile("dashi")
def external_formula(path: Path) -> Expected:
    """A formula in 指标 that reads another workbook: [1]Sheet1!A1."""
    sample_copy("dashi", path)
    edit_sheet_xml(path, INDICATORS, lambda xml: add_cell_to_row(xml, 3, '<c r="F3"><f>[1]Sheet1!A1</f><v>5</v></c>'))
    return Expected("file.external_link", INDICATORS, ("其他工作簿", "F3"), "F3")


@hostile("shiqiao")
def formula_uncached(path: Path) -> Expected:
    """A formula written by openpyxl: no cached value."""
    sample_copy("shiqiao", path)
    workbook = openpyxl.load_workbook(path)
    workbook[INDICATORS]["D2"] = "=1+1"
    workbook.save(path)
    return Expected("file.formula_uncached", INDICATORS, ("D2", "公式", "计算"), "D2")


# --- embedded objects ---------------------------------------------------------------------------------------

PACKAGE_CLSID = bytes.fromhex("0c00030000000000c000000000000046")  # {0003000C-0000-0000-C000-000000000046}
OLE_OBJECT_TYPE = "application/vnd.openxmlformats-officedocument.oleObject"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def ole10_native(label: str, data: bytes) -> bytes:
    """An OLE 1.0 Package (`\\x01Ole10Native`): a file carried inside an object, opened with a double click."""
    name = label.encode("gbk") + b"\0"
    source = f"C:\\Users\\clerk\\Desktop\\{label}".encode("gbk") + b"\0"
    body = struct.pack("<H", 2) + name + source + struct.pack("<HHI", 0, 3, len(source)) + source
    body += struct.pack("<I", len(data)) + data
    return struct.pack("<I", len(body)) + body


def comp_obj(user_type: str, clipboard: str, prog_id: str) -> bytes:
    """A `\\x01CompObj` stream: the object's type as OLE names it."""

    def text(value: str) -> bytes:
        encoded = value.encode("ascii") + b"\0"
        return struct.pack("<I", len(encoded)) + encoded

    return (
        b"\x01\x00\xfe\xff\x03\x0a\x00\x00\xff\xff\xff\xff"
        + PACKAGE_CLSID
        + text(user_type)
        + text(clipboard)
        + (text(prog_id) + struct.pack("<I", 0x71B239F4))
    )


def package_object(label: str, data: bytes, prefix: str = "") -> dict[str, bytes]:
    """The streams of an embedded Package object (below storage `prefix`, or at the top of its own file)."""
    return {
        f"{prefix}\x01Ole": struct.pack("<IIII", 0x02000001, 0, 0, 0),
        f"{prefix}\x01CompObj": comp_obj("OLE Package", "Package", "Package"),
        f"{prefix}\x03ObjInfo": b"\x00\x00\x03\x00\x04\x00",
        f"{prefix}\x01Ole10Native": ole10_native(label, data),
    }


def embed_ole_object(path: Path, sheet: str, object_part: str) -> None:
    """Embed a file in `sheet` as Excel does (Insert > Object > Create from file, shown as an icon): the object's
    compound file at `object_part`, the sheet's <legacyDrawing> shape and <oleObjects>, their relationships and
    content types. (Excel also stores the icon as an EMF picture; it is left out.)"""
    binary = path.with_suffix(".bin.tmp")
    write_cfb(binary, package_object("说明.bat", b"@echo off\r\ncalc.exe\r\n"), clsids={"": PACKAGE_CLSID})
    part = sheet_parts(path)[sheet]
    folder, name = part.rsplit("/", 1)
    shape = (
        '<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:x="urn:schemas-microsoft-com:office:excel"><o:shapelayout v:ext="edit"><o:idmap v:ext="edit" '
        'data="1"/></o:shapelayout><v:shape id="_x0000_s1025" type="#_x0000_t75" style="position:absolute;'
        'margin-left:300pt;margin-top:20pt;width:60pt;height:40pt;z-index:1" filled="t" stroked="t">'
        '<x:ClientData ObjectType="Pict"><x:SizeWithCells/><x:CF>Pict</x:CF><x:AutoPict/></x:ClientData>'
        "</v:shape></xml>"
    )
    element = (
        '<legacyDrawing r:id="rIdVml1"/><oleObjects><mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/'
        'markup-compatibility/2006"><mc:Choice Requires="x14"><oleObject progId="Package" dvAspect="DVASPECT_ICON" '
        'shapeId="1025" r:id="rIdOle1"/></mc:Choice><mc:Fallback><oleObject progId="Package" dvAspect="DVASPECT_ICON" '
        'shapeId="1025" r:id="rIdOle1"/></mc:Fallback></mc:AlternateContent></oleObjects>'
    )
    target = "../" + object_part.removeprefix("xl/")
    rels = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.'
        f'openxmlformats.org/package/2006/relationships"><Relationship Id="rIdVml1" Type="{RELATIONSHIPS}/'
        f'vmlDrawing" Target="../drawings/vmlDrawing1.vml"/><Relationship Id="rIdOle1" Type="{RELATIONSHIPS}/'
        f'oleObject" Target="{target}"/></Relationships>'
    )
    with zipfile.ZipFile(path) as archive:
        xml = archive.read(part).decode()
        types = archive.read("[Content_Types].xml").decode()
    types = types.replace(
        "<Default Extension=",
        f'<Default Extension="bin" ContentType="{OLE_OBJECT_TYPE}"/><Default Extension="vml" '
        'ContentType="application/vnd.openxmlformats-officedocument.vmlDrawing"/><Default Extension=',
        1,
    )
    rewrite(
        path,
        path,
        {part: xml.replace("</worksheet>", element + "</worksheet>").encode(), "[Content_Types].xml": types.encode()},
        add=[
            (f"{folder}/_rels/{name}.rels", rels.encode()),
            ("xl/drawings/vmlDrawing1.vml", shape.encode()),
            (object_part, binary.read_bytes()),
        ],
    )
    binary.unlink()


@hostile("shiqiao")
def embedded_package(path: Path) -> Expected:
    """A batch file embedded in 指标 as a Package object (xl/embeddings/oleObject1.bin), shown as an icon."""
    sample_copy("shiqiao", path)
    embed_ole_object(path, INDICATORS, "xl/embeddings/oleObject1.bin")
    return Expected("file.embedded_object", INDICATORS, ("嵌入", "Package", "删除嵌入的对象"))


@hostile("dashi")
def embedded_object_elsewhere(path: Path) -> Expected:
    """An embedded object whose compound file is not in xl/embeddings/ but in xl/media/: found by the sheet's
    <oleObjects> and the relationship."""
    sample_copy("dashi", path)
    embed_ole_object(path, ENTERPRISES, "xl/media/image9.bin")
    return Expected("file.embedded_object", ENTERPRISES, ("嵌入", "删除嵌入的对象"))


@hostile("shatou")
def embedded_document(path: Path) -> Expected:
    """A Word document embedded as a package part (xl/embeddings/Microsoft_Word_Document.docx), no sheet showing
    it."""
    sample_copy("shatou", path)
    rewrite(path, path, add=[("xl/embeddings/Microsoft_Word_Document.docx", b"PK\x05\x06" + b"\0" * 18)])
    return Expected("file.embedded_object", None, ("Microsoft_Word_Document.docx",))


@hostile("shiqiao")
def activex_control(path: Path) -> Expected:
    """An ActiveX control's parts (xl/activeX/activeX1.xml and its binary)."""
    sample_copy("shiqiao", path)
    rewrite(
        path,
        path,
        add=[
            ("xl/activeX/activeX1.xml", b'<ax:ocx ax:classid="{8BD21D40-EC42-11CE-9E0D-00AA006002F3}"/>'),
            ("xl/activeX/activeX1.bin", b"\0" * 64),
        ],
    )
    return Expected("file.embedded_object", None, ("activeX1",))


@hostile("dashi", "xls")
def xls_embedded_object(path: Path) -> Expected:
    """An .xls with an embedded Package object: the storage MBD0001E2A3 Excel keeps an object in, holding its
    \\x01Ole10Native stream (hand-built to that layout, not written by Excel)."""
    write_cfb(
        path,
        {"Workbook": biff8_workbook(template_sheet_shapes()), **package_object("说明.bat", b"calc", "MBD0001E2A3/")},
        clsids={"MBD0001E2A3": PACKAGE_CLSID},
    )
    return Expected("file.embedded_object", None, ("嵌入", "MBD0001E2A3"))


# --- cells written twice ------------------------------------------------------------------------------------------


@hostile("shiqiao")
def cell_written_twice(path: Path) -> Expected:
    """指标!D3 written twice in the sheet XML, the second time with another value: Excel and WPS keep one,
    another reader the other."""
    sample_copy("shiqiao", path)

    def twice(xml: str) -> str:
        original = re.search(r'<c r="D3"[^>]*>.*?</c>', xml).group(0)
        return xml.replace(original, original + '<c r="D3"><v>39240</v></c>', 1)

    edit_sheet_xml(path, INDICATORS, twice)
    return Expected("file.cell_duplicate", INDICATORS, ("D3", "两次", "另存为 .xlsx"), "D3")


@hostile("dashi")
def row_written_twice(path: Path) -> Expected:
    """新建工会企业's row 2 written again after the last row, with other values (and a formula, so the token
    walk reads it)."""
    sample_copy("dashi", path)

    def again(xml: str) -> str:
        return xml.replace("</sheetData>", '<row r="2"><c r="B2"><f>1+1</f><v>2</v></c></row></sheetData>', 1)

    edit_sheet_xml(path, ENTERPRISES, again)
    return Expected("file.cell_duplicate", ENTERPRISES, ("B2", "两次"), "B2")


@hostile("nancun")
def cell_written_twice_far_apart(path: Path) -> Expected:
    """帮扶对象明细 (over 64 KB of XML, read in 64 KB chunks) with its cell A2 written again in the last row,
    a chunk away from the first."""
    sample_copy("nancun", path)

    def again(xml: str) -> str:
        assert len(xml.encode()) > 65536
        last = re.findall(r'<row r="(\d+)"', xml)[-1]
        return re.sub(rf'(<row r="{last}"[^>]*>)', r'\1<c r="A2" t="inlineStr"><is><t>助学</t></is></c>', xml)

    edit_sheet_xml(path, BENEFICIARIES, again)
    return Expected("file.cell_duplicate", BENEFICIARIES, ("A2", "两次"), "A2")


# --- zip structure ------------------------------------------------------------------------------------------------


@hostile("shiqiao")
def zip_parent_path(path: Path) -> Expected:
    """A part named ../evil.txt (zip slip)."""
    sample_copy("shiqiao", path)
    rewrite(path, path, add=[("../evil.txt", b"x")])
    return Expected("file.zip_path", None, ("../evil.txt",))


@hostile("dashi")
def zip_absolute_path(path: Path) -> Expected:
    """A part with an absolute path."""
    sample_copy("dashi", path)
    rewrite(path, path, add=[("/etc/x", b"x")])
    return Expected("file.zip_path", None, ("/etc/x",))


@hostile("shatou")
def zip_backslash_path(path: Path) -> Expected:
    """A part that climbs out with backslashes."""
    sample_copy("shatou", path)
    rewrite(path, path, add=[("xl\\..\\..\\evil.txt", b"x")])
    return Expected("file.zip_path", None, ("evil.txt",))


@hostile("shiqiao")
def zip_duplicate(path: Path) -> Expected:
    """xl/workbook.xml stored twice (differing in case)."""
    sample_copy("shiqiao", path)
    rewrite(path, path, add=[("XL/Workbook.xml", b"<workbook/>")])
    return Expected("file.zip_duplicate", None, ("两次",))


# --- hidden sheets ------------------------------------------------------------------------------------------------


@hostile("shiqiao")
def sheets_very_hidden(path: Path) -> Expected:
    """Every template sheet veryHidden, only the instructions sheet left visible."""
    sample_copy("shiqiao", path)
    names = {template().cover_sheet, *(sheet.sheet for sheet in template().sheets)}
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("xl/workbook.xml").decode()

    def hide(match: re.Match) -> str:
        name = re.search(r'name="([^"]+)"', match.group(0)).group(1)
        return match.group(0).replace("<sheet ", '<sheet state="veryHidden" ') if name in names else match.group(0)

    rewrite(path, path, {"xl/workbook.xml": re.sub(r"<sheet [^>]*>", hide, xml).encode()})
    return Expected("file.sheets_hidden", None, ("隐藏", COVER))


@hostile("dashi", "xls")
def xls_sheets_hidden(path: Path) -> Expected:
    """An .xls whose sheets are all hidden."""
    write_cfb(path, {"Workbook": biff8_workbook(template_sheet_shapes(), hidden=True)})
    return Expected("file.sheets_hidden", None, ("隐藏",))


# --- limits -------------------------------------------------------------------------------------------------------


@hostile("shiqiao")
def stray_cell(path: Path) -> Expected:
    """A stray cell at XFD1048576 of 指标 (the reader would allocate the whole grid)."""
    sample_copy("shiqiao", path)
    stray = '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>'
    edit_sheet_xml(path, INDICATORS, lambda xml: xml.replace("</sheetData>", stray, 1))
    return Expected("limits.rows", INDICATORS, ("1048576", "50000", "删除"), "XFD1048576")


@hostile("dashi")
def declared_dimension(path: Path) -> Expected:
    """Ordinary cells but a declared <dimension ref="A1:XFD1048576"/>."""
    sample_copy("dashi", path)
    edit_sheet_xml(path, ENTERPRISES, lambda xml: set_dimension(xml, "A1:XFD1048576"))
    return Expected("limits.rows", ENTERPRISES, ("1048576",), "XFD1048576")


@hostile("shiqiao")
def million_rows(path: Path) -> Expected:
    """新建工会企业 with 1,000,000 rows, streamed into the zip, no positions on the cells."""
    sample_copy("shiqiao", path)
    part = sheet_parts(path)[ENTERPRISES]
    rewrite(path, path, {part: None})
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open(part, "w") as stream:
            stream.write(
                b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                b'spreadsheetml/2006/main"><sheetData>'
            )
            for start in range(1, 1_000_001, 10_000):
                stream.write(
                    "".join(
                        f'<row r="{row}"><c t="inlineStr"><is><t>企业{row}</t></is></c><c><v>{row}</v></c></row>'
                        for row in range(start, start + 10_000)
                    ).encode()
                )
            stream.write(b"</sheetData></worksheet>")
    return Expected("limits.rows", ENTERPRISES, ("50000", "删除"))


@hostile("dashi")
def zip_bomb(path: Path) -> Expected:
    """A part that inflates to 256 MB of zeros from about 1 MB."""
    sample_copy("dashi", path)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("xl/media/image1.png", "w") as stream:
            zeros = bytes(1 << 20)
            for _ in range(256):
                stream.write(zeros)
    return Expected("limits.compression_ratio", None, ("压缩比", "100:1"))


@hostile("shatou")
def inflated_total(path: Path) -> Expected:
    """Many parts, each just under the ratio check's minimum size, inflating to 250 MB together."""
    sample_copy("shatou", path)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        block = bytes(999_000)
        for index in range(250):
            archive.writestr(f"xl/media/image{index}.png", block)
    return Expected("limits.uncompressed_size", None, ("200.0 MB",))


@hostile("shiqiao")
def oversize(path: Path) -> Expected:
    """A sample padded with 21 MB of incompressible bytes."""
    sample_copy("shiqiao", path)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as archive:
        archive.writestr("xl/media/image1.jpeg", os.urandom(21_000_000))
    return Expected("limits.file_size", None, ("20.0 MB",))


@hostile("dashi")
def many_entries(path: Path) -> Expected:
    """A sample with 1,001 extra tiny parts."""
    sample_copy("dashi", path)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as archive:
        for index in range(PARTS_MAX + 1):
            archive.writestr(f"customXml/item{index}.xml", b"<a/>")
    return Expected("limits.zip_entries", None, (str(PARTS_MAX),))


@hostile("shiqiao")
def many_sheets(path: Path) -> Expected:
    """40 sheets."""
    sample_copy("shiqiao", path)
    workbook = openpyxl.load_workbook(path)
    while len(workbook.sheetnames) < EXTRA_SHEETS:
        workbook.create_sheet(f"Sheet{len(workbook.sheetnames)}")
    workbook.save(path)
    return Expected("limits.sheets", None, (str(EXTRA_SHEETS), "30"))


@hostile("dashi")
def wide_sheet(path: Path) -> Expected:
    """A value in column 200 (GR) of 新建工会企业."""
    sample_copy("dashi", path)
    workbook = openpyxl.load_workbook(path)
    workbook[ENTERPRISES].cell(row=2, column=200, value="x")
    workbook.save(path)
    return Expected("limits.columns", ENTERPRISES, ("200", "64", "GR"))


@hostile("shiqiao", "xls")
def xls_stray_cell(path: Path) -> Expected:
    """An .xls whose 指标 sheet reaches row 65536 (DIMENSIONS)."""
    shapes = [(name, 65536 if name == INDICATORS else rows, columns) for name, rows, columns in template_sheet_shapes()]
    write_cfb(path, {"Workbook": biff8_workbook(shapes)})
    return Expected("limits.rows", INDICATORS, ("65536", "50000"))


@hostile("dashi")
def formula_flood(path: Path) -> Expected:
    """新建工会企业 with 50,000 rows of 20 formula cells without positions: the slowest sheet to follow,
    stopped by the cell count."""
    sample_copy("dashi", path)
    part = sheet_parts(path)[ENTERPRISES]
    rewrite(path, path, {part: None})
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open(part, "w") as stream:
            stream.write(b"<worksheet><sheetData>")
            # varied values, so the part compresses like real data and only the cell count can stop it
            for start in range(1, 50_001, 1000):
                stream.write(
                    "".join(
                        "<row>"
                        + "".join(f"<c><f>A{row}+{column}</f><v>{row * column}</v></c>" for column in range(20))
                        + "</row>"
                        for row in range(start, start + 1000)
                    ).encode()
                )
            stream.write(b"</sheetData></worksheet>")
    return Expected("limits.rows", ENTERPRISES, ("单元格超过",))


# --- past the inspection: files that are read, and answered by the parse and validate stages ----------------------
# They must pass the inspect stage (nothing in them breaks a limit or the policy) and still be rejected, each
# with its own rule at its cell.

READ: dict[str, Hostile] = {}


def read_hostile(
    unit: str, extension: str = "xlsx"
) -> Callable[[Callable[[Path], Expected]], Callable[[Path], Expected]]:
    """Register a file the inspect stage lets through and a later stage must reject."""

    def register(function: Callable[[Path], Expected]) -> Callable[[Path], Expected]:
        READ[function.__name__] = Hostile(function.__name__, unit, extension, function)
        return function

    return register


def build_read(name: str, folder: Path) -> tuple[Path, Expected]:
    chosen = READ[name]
    path = chosen.path_in(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, chosen.build(path)


def _edit_cell(path: Path, sheet: str, cell: str, value: object) -> None:
    workbook = openpyxl.load_workbook(path)
    workbook[sheet][cell].value = value
    workbook.save(path)


def _first_data_cell(path: Path, sheet: str, header: str) -> str:
    from defects import header_column

    return f"{header_column(openpyxl.load_workbook(path, read_only=False)[sheet], header)}2"


@read_hostile("shiqiao")
def formula_text_in_a_name(path: Path) -> Expected:
    """An enterprise name typed as `=HYPERLINK(...)` text: it would run as a formula when edited or exported."""
    sample_copy("shiqiao", path)
    cell = _first_data_cell(path, ENTERPRISES, "企业名称")
    workbook = openpyxl.load_workbook(path)
    target = workbook[ENTERPRISES][cell]
    target.value = '=HYPERLINK("http://x.invalid","点击")'
    target.data_type = "s"  # text, as a clerk's paste of formula-looking text is
    workbook.save(path)
    return Expected("values.formula_text", ENTERPRISES, ("以 =、+、-、@ 开头", cell), cell)


@read_hostile("qu_jiaoyu")
def at_sign_in_a_case_number(path: Path) -> Expected:
    """A case number starting with @ (a formula trigger in Excel and WPS)."""
    sample_copy("qu_jiaoyu", path)
    cell = _first_data_cell(path, "劳资纠纷案件", "案件编号")
    _edit_cell(path, "劳资纠纷案件", cell, "@SUM(1+1)")
    return Expected("values.formula_text", "劳资纠纷案件", ("以 =、+、-、@ 开头",), cell)


@read_hostile("shiqiao")
def name_of_32767_characters(path: Path) -> Expected:
    """An enterprise name of 32,767 characters (Excel's maximum)."""
    sample_copy("shiqiao", path)
    cell = _first_data_cell(path, ENTERPRISES, "企业名称")
    _edit_cell(path, ENTERPRISES, cell, "企" * 32767)
    return Expected("values.text_too_long", ENTERPRISES, ("32767 个字", "上限"), cell)


@read_hostile("shiqiao")
def error_value_in_a_number_cell(path: Path) -> Expected:
    """A 数值 cell showing #REF! (a formula whose reference was deleted)."""
    sample_copy("shiqiao", path)
    edit_sheet_xml(
        path,
        INDICATORS,
        lambda xml: re.sub(
            r'<c r="D2"[^>]*?(?:/>|>.*?</c>)', '<c r="D2" t="e"><f>#REF!+1</f><v>#REF!</v></c>', xml, count=1
        ),
    )
    return Expected("values.error_cell", INDICATORS, ("#REF!", "D2"), "D2")


@read_hostile("shiqiao")
def amount_too_large_to_store(path: Path) -> Expected:
    """A count of 3 billion new members: more than the warehouse's integer can hold."""
    sample_copy("shiqiao", path)
    cell = _first_data_cell(path, ENTERPRISES, "新增会员数")
    _edit_cell(path, ENTERPRISES, cell, 3_000_000_000)
    return Expected("values.too_large", ENTERPRISES, ("太大", cell), cell)


@read_hostile("shiqiao")
def cover_for_another_year(path: Path) -> Expected:
    """Last year's cover (统计期 2021) sent for 2022: one finding naming the period expected."""
    sample_copy("shiqiao", path)
    workbook = openpyxl.load_workbook(path)
    cover = workbook[COVER]
    row = next(label.row for (label,) in cover.iter_rows(min_col=1, max_col=1) if label.value == "统计期")
    cover[f"B{row}"].value = "2021"
    workbook.save(path)
    return Expected("structure.period_mismatch", COVER, ("2021", PERIOD), f"B{row}")


@read_hostile("shiqiao")
def shared_string_out_of_range(path: Path) -> Expected:
    """A text cell pointing at shared string 99999 of a table that has far fewer: the reader fails on it."""
    sample_copy("shiqiao", path)
    edit_sheet_xml(path, INDICATORS, lambda xml: add_cell_to_row(xml, 2, '<c r="F2" t="s"><v>99999</v></c>'))
    return Expected("structure.unreadable", None, ("无法读取该文件",))


@read_hostile("dashi")
def all_sheets_of_another_workbook(path: Path) -> Expected:
    """A workbook made by another program with none of the template's sheets (a plain Sheet1 of numbers)."""
    workbook = openpyxl.Workbook()
    workbook.active.append(["单位", "数值"])
    workbook.active.append(["大石街", 12])
    workbook.save(path)
    return Expected("structure.sheet_missing", COVER, ("缺少工作表",))

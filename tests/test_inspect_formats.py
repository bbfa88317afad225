"""The inspect stage beyond limits: number formats that show a unit or scale the number (handed to the parse
stage as `Inspection.formatted_cells`), one cell written twice, and embedded objects, all read from the
container alone, chunk by chunk as the sweep reads them."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from hostile import (
    PACKAGE_CLSID,
    biff8_workbook,
    biff_format,
    biff_formula,
    biff_mulrk,
    biff_number,
    biff_rk,
    biff_xf,
    package_object,
    rewrite,
    template_sheet_shapes,
    write_cfb,
)

from union_stats.inspect import (
    MAX_FORMATTED_CELLS,
    Inspection,
    _CellFormats,
    _SheetScanner,
    inspect_file,
    load_limits,
    number_format_display,
)

SOFFICE = shutil.which("soffice")
needs_soffice = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")
WAN = '0.00"万元"'
THOUSANDS = '0.0,"千"'


def convert(source: Path, target: str, folder: Path) -> Path:
    """`source` saved by LibreOffice as `target` ("xlsx:Calc MS Excel 2007 XML", "xls:MS Excel 97") into `folder`,
    with a profile of its own, so that another LibreOffice running on the machine cannot take the job."""
    profile = folder.parent / f"{folder.name}-profile"
    subprocess.run(
        [SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to", target, "--outdir",
         str(folder), str(source)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    return folder / f"{source.stem}.{target.split(':', 1)[0]}"


def describe(inspection: Inspection) -> str:
    return "\n".join(f"{issue.rule} {issue.sheet} {issue.cell}: {issue.message_zh}" for issue in inspection.issues)


# --- number_format_display ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ('0.00"万元"', ("万元", False)),
        ("#,##0.00\\元", ("元", False)),
        ("0.00\\万\\元", ("万元", False)),
        ("0.00万元", ("万元", False)),  # Chinese typed without quotes is shown as typed
        ('0.0,"千"', ("千", True)),
        ("#,##0,", ("", True)),
        ("0,,", ("", True)),
        ("#,##0", ("", False)),  # a comma between digit placeholders groups thousands
        ("0%", ("", True)),
        ("0.00%", ("", True)),
        ('0.0"%"', ("%", False)),  # a quoted percent sign is text, not a scale
        ("[$万元-804]0.00", ("万元", False)),
        ("[$¥-804]#,##0.00", ("¥", False)),
        ("[$-804]0.00", ("", False)),
        ('"¥"#,##0.00;"¥"\\-#,##0.00', ("¥", False)),
        ("$#,##0", ("$", False)),
        ("[Red]0.00", ("", False)),
        ("[DBNum1]0", ("", False)),
        ("[<100]0;0", ("", False)),
        ('_(* #,##0.00_);_(* \\(#,##0.00\\);_(* "-"??_);_(@_)', ("", False)),
        ('_ * #,##0.00_ ;_ * \\-#,##0.00_ ;_ * "-"??_ ;_ @_ ', ("", False)),  # zh-CN accounting, no unit
        ("0.00\\ ", ("", False)),
        ("@", ("", False)),
        ("General", ("", False)),
        ("0.00", ("", False)),
        ("0.00E+00", ("", False)),
        ("# ?/?", ("", False)),
        ("yyyy-mm-dd", ("", False)),
        ('yyyy"年"m"月"d"日"', ("年 月 日", False)),
        ('0.00"万元";-0.00"万元";0;@"（文字）"', ("万元", False)),  # the text section does not count
        ('0.00"万元";-0.00"元"', ("万元 元", False)),
        ("0;-0.0%", ("", True)),  # any numeric section that scales
        ('"约"0.00"万元"', ("约 万元", False)),
        ('0.00"亿元"', ("亿元", False)),
    ],
)
def test_number_format_display(code: str, shown: tuple[str, bool]) -> None:
    assert number_format_display(code) == shown


# --- formatted cells of an .xlsx ----------------------------------------------------------------------------------


def xlsxwriter_book(path: Path) -> Path:
    """指标 as an Excel-like writer writes it: values, a blank, a formula and text in formats with and without
    a unit."""
    workbook = xlsxwriter.Workbook(path)
    sheet = workbook.add_worksheet("指标")
    wan = workbook.add_format({"num_format": WAN})
    plain = workbook.add_format({"num_format": "#,##0.00"})
    thousands = workbook.add_format({"num_format": THOUSANDS})
    percent = workbook.add_format({"num_format": "0%"})
    dated = workbook.add_format({"num_format": 'yyyy"年"m"月"d"日"'})
    sheet.write_string("A1", "数值")
    sheet.write_number("D3", 532.9, wan)
    sheet.write_blank("D4", None, wan)
    sheet.write_number("D5", 5329000, plain)
    sheet.write_formula("D6", "=D3*2", wan, 1065.8)
    sheet.write_string("D7", "约五百万", wan)  # text in a number format shows the text
    sheet.write_number("E2", 12000, thousands)
    sheet.write_number("E3", 0.25, percent)
    sheet.write_number("E4", 44927, dated)  # a date: not a number shown with a unit
    workbook.close()
    return path


XLSXWRITER_CELLS = [
    ("指标", "E2", THOUSANDS),
    ("指标", "D3", WAN),
    ("指标", "E3", "0%"),
    ("指标", "D6", WAN),
]


def test_formats_of_an_xlsxwriter_book(tmp_path: Path) -> None:
    inspection = inspect_file(xlsxwriter_book(tmp_path / "book.xlsx"))
    assert inspection.ok, describe(inspection)
    assert inspection.formatted_cells == XLSXWRITER_CELLS


def test_formats_of_an_openpyxl_book(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "指标"
    sheet["D3"] = 532.9
    sheet["D3"].number_format = WAN
    sheet["D4"].number_format = WAN  # blank
    sheet["D5"] = 5329000
    sheet["D5"].number_format = "#,##0.00"
    sheet["D6"] = 12
    sheet["D6"].number_format = "[$万元-804]#,##0.00"
    sheet["D7"] = 3
    sheet["D7"].number_format = "0.00%"  # built-in id 10: no numFmt entry in styles.xml
    workbook.save(tmp_path / "book.xlsx")
    inspection = inspect_file(tmp_path / "book.xlsx")
    assert inspection.ok, describe(inspection)
    assert inspection.formatted_cells == [
        ("指标", "D3", WAN),
        ("指标", "D6", "[$万元-804]#,##0.00"),
        ("指标", "D7", "0.00%"),
    ]


@needs_soffice
def test_formats_kept_by_libreoffice(tmp_path: Path) -> None:
    """The xlsxwriter book saved again by LibreOffice, as .xlsx and as .xls (BIFF8): the same cells."""
    source = xlsxwriter_book(tmp_path / "book.xlsx")
    for target in ("xlsx:Calc MS Excel 2007 XML", "xls:MS Excel 97"):
        converted = convert(source, target, tmp_path / "out")
        inspection = inspect_file(converted)
        assert inspection.ok, describe(inspection)
        # LibreOffice may spell a code its own way (0.0,\\千 for 0.0,"千"): what it shows is the same
        found = sorted((sheet, cell, number_format_display(code)) for sheet, cell, code in inspection.formatted_cells)
        assert found == sorted((sheet, cell, number_format_display(code)) for sheet, cell, code in XLSXWRITER_CELLS)


def test_cells_without_a_style_take_the_default_one(tmp_path: Path) -> None:
    """A workbook whose default cell format (cellXfs 0, the Normal style) shows ¥: cells without `s` carry it."""
    path = tmp_path / "book.xlsx"
    workbook = xlsxwriter.Workbook(path)
    sheet = workbook.add_worksheet("指标")
    sheet.write_number("D3", 9)
    sheet.write_number("D4", 5, workbook.add_format({"num_format": "0.00"}))
    workbook.close()
    with zipfile.ZipFile(path) as archive:
        styles = archive.read("xl/styles.xml").decode()
    xfs = re.search(r"<cellXfs.*?</cellXfs>", styles).group(0)
    rewrite(path, path, {"xl/styles.xml": styles.replace(xfs, xfs.replace('numFmtId="0"', 'numFmtId="7"', 1)).encode()})
    assert inspect_file(path).formatted_cells == [("指标", "D3", '"¥"#,##0.00;"¥"\\-#,##0.00')]


def test_formatted_cells_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    workbook = xlsxwriter.Workbook(path, {"constant_memory": True})
    wan = workbook.add_format({"num_format": WAN})
    for name in ("指标", "新建工会企业"):
        sheet = workbook.add_worksheet(name)
        for row in range(3000):
            sheet.write_number(row, 0, row, wan)
            sheet.write_formula(row, 1, f"=A{row + 1}", wan, row)
    workbook.close()
    inspection = inspect_file(path)
    assert inspection.ok, describe(inspection)
    assert len(inspection.formatted_cells) == MAX_FORMATTED_CELLS
    assert inspection.formatted_cells[:2] == [("指标", "A1", WAN), ("指标", "B1", WAN)]


# --- the scanner, fed in every possible cut -----------------------------------------------------------------------

SHEET_HEAD = b'<worksheet><dimension ref="A1:E9"/><sheetData>'
SHEET_TAIL = b"</sheetData></worksheet>"
PLAIN_ROWS = (
    b'<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" s="3"><v>1.5</v></c><c r="C1" s="7"/></row>'
    b'<row r="2"><c r="A2" s="7"><v>2</v></c><c r="B2" s="3" t="s"><v>4</v></c><c r="C2" s="12"><v>7</v></c>'
    b'<c r="D2" s="1"><v>7</v></c></row>'
)
FORMULA_ROWS = (
    b'<row r="3"><c r="A3" s="7"><f>A2*2</f><v>4</v></c><c r="B3" s="7" t="str"><f>"x"</f><v>x</v></c>'
    b'<c r="C3" s="12"><f>1+1</f><v>2</v></c></row>'
)
FORMATS = _CellFormats.of({7: WAN, 12: "0%"})


def scan(xml: bytes, cuts: list[int], formats: _CellFormats | None = FORMATS) -> tuple[list, list]:
    """(issues as (rule, cell), formatted cells) of a sheet fed in pieces cut at `cuts`."""
    formatted: list[tuple[str, str, str]] = []
    scanner = _SheetScanner("指标", load_limits(), formats, formatted)
    bounds = [0, *cuts, len(xml)]
    for start, end in zip(bounds, bounds[1:]):
        scanner.feed(xml[start:end])
    scanner.close()
    return [(issue.rule, issue.cell) for issue in scanner.issues], formatted


def every_cut(xml: bytes) -> list[list[int]]:
    """Every single cut and every pair of cuts a few bytes apart."""
    return [[cut] for cut in range(1, len(xml))] + [[cut, cut + 7] for cut in range(1, len(xml) - 7)]


@pytest.mark.parametrize(
    ("rows", "formatted"),
    [
        (PLAIN_ROWS, [("指标", "A2", WAN), ("指标", "C2", "0%")]),  # the fast path
        (
            PLAIN_ROWS + FORMULA_ROWS,
            [("指标", "A2", WAN), ("指标", "C2", "0%"), ("指标", "A3", WAN), ("指标", "C3", "0%")],
        ),
    ],
)
def test_formatted_cells_in_any_cut(rows: bytes, formatted: list) -> None:
    xml = SHEET_HEAD + rows + SHEET_TAIL
    assert scan(xml, []) == ([], formatted)
    for cuts in every_cut(xml):
        assert scan(xml, cuts) == ([], formatted), cuts


def test_many_styles_with_a_unit() -> None:
    """More styles with a unit than the pattern spells out: each styled cell is looked up."""
    formats = _CellFormats.of({style: WAN for style in range(3, 3000, 2)})
    xml = SHEET_HEAD + b'<row r="1"><c r="A1" s="2"><v>1</v></c><c r="B1" s="2999"><v>1</v></c></row>' + SHEET_TAIL
    assert scan(xml, [], formats) == ([], [("指标", "B1", WAN)])


@pytest.mark.parametrize(
    ("rows", "cell"),
    [
        (b'<row r="3"><c r="D3"><v>1</v></c><c r="D3"><v>2</v></c></row>', "D3"),
        (b'<row r="3"><c r="C3"><v>1</v></c><c r="D3"><v>1</v></c></row><row r="3"><c r="D3"><v>2</v></c></row>', "D3"),
        (b'<row r="3"><c r="D3"><f>1+1</f><v>2</v></c></row><row r="4"><c r="D3"><v>5</v></c></row>', "D3"),
        (b'<row r="3"><c r="D3"><v>1</v></c><c r="d3"><v>2</v></c></row>', "D3"),  # spelt otherwise
        (b'<row r="3"><c r="D3"><v>1</v></c><c r="$D$3"><v>2</v></c></row>', "D3"),
        (b'<row r="3"><c r="D3"><v>1</v></c><c r="D03"><v>2</v></c></row>', "D3"),
        (b'<row r="3"><c><v>1</v></c><c><v>2</v></c></row><row r="3"><c><v>3</v></c></row>', "A3"),  # no positions
    ],
)
def test_cell_written_twice_in_any_cut(rows: bytes, cell: str) -> None:
    xml = SHEET_HEAD + rows + SHEET_TAIL
    assert scan(xml, [], None) == ([("file.cell_duplicate", cell)], [])
    for cuts in every_cut(xml):
        assert scan(xml, cuts, None) == ([("file.cell_duplicate", cell)], []), cuts


def test_rows_and_columns_that_do_not_overlap_are_fine() -> None:
    xml = (
        SHEET_HEAD + b'<row r="3"><c r="A3"><v>1</v></c></row><row r="3"><c r="B3"><v>2</v></c></row>'
        b'<row r="4"><c r="A4"><v>1</v></c><c><v>2</v></c><c r="C4"><f>1</f><v>1</v></c></row>' + SHEET_TAIL
    )
    for cuts in [[], *every_cut(xml)]:
        assert scan(xml, cuts, None) == ([], [])


# --- formatted cells of an .xls -----------------------------------------------------------------------------------


def test_formats_of_an_xls(tmp_path: Path) -> None:
    """FORMAT and XF records in the globals, then NUMBER, RK, MULRK and FORMULA cells in a sheet."""
    shapes = template_sheet_shapes()
    styles = b"".join(
        [biff_format(164, WAN), biff_format(165, "0.00")]
        + [biff_xf(0)] * 15  # the 15 style formats every .xls starts with
        + [biff_xf(0), biff_xf(164), biff_xf(165), biff_xf(9)]  # cell formats 15 to 18
    )
    cells = (
        biff_number(1, 3, 16, 532.9)  # D2
        + biff_number(2, 3, 17, 5329000)  # D3: 0.00
        + biff_rk(3, 3, 16, 12)  # D4
        + biff_mulrk(4, 2, [(15, 1), (18, 2), (16, 3)])  # C5, D5 (0%), E5
        + biff_formula(5, 3, 16, 1065.8)  # D6
        + biff_formula(6, 3, 16, None)  # D7: a text result
    )
    path = tmp_path / "book.xls"
    write_cfb(path, {"Workbook": biff8_workbook(shapes, styles=styles, cells={"指标": cells})})
    inspection = inspect_file(path)
    assert inspection.ok, describe(inspection)
    assert inspection.formatted_cells == [
        ("指标", "D2", WAN),
        ("指标", "D4", WAN),
        ("指标", "D5", "0%"),
        ("指标", "E5", WAN),
        ("指标", "D6", WAN),
    ]


# --- embedded objects ---------------------------------------------------------------------------------------------


def test_xls_streams_of_its_own_are_no_embedded_object(tmp_path: Path) -> None:
    """The \\x01CompObj and \\x01Ole streams every .xls has at its top, and a VBA project's (a macro, said once)."""
    path = tmp_path / "book.xls"
    write_cfb(
        path,
        {
            "Workbook": biff8_workbook(template_sheet_shapes()),
            "\x01CompObj": b"\x01\x00\xfe\xff",
            "\x01Ole": b"\x01\x00\x00\x02",
            "_VBA_PROJECT_CUR/UserForm1/\x01CompObj": b"\x01\x00\xfe\xff",
        },
    )
    assert [issue.rule for issue in inspect_file(path).issues] == ["file.macro"]


def embedded_ods(path: Path) -> Path:
    """An OpenDocument spreadsheet with a file embedded as an OLE Package object (draw:object-ole)."""
    object_file = path.with_suffix(".bin")
    write_cfb(object_file, package_object("说明.bat", b"calc"), clsids={"": PACKAGE_CLSID})
    namespaces = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"'
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {namespaces} office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="指标"><table:shapes><draw:frame draw:z-index="0" '
        'svg:width="3cm" svg:height="2cm" svg:x="1cm" svg:y="1cm"><draw:object-ole xlink:href="./Object 1" '
        'xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/></draw:frame></table:shapes><table:table-row>'
        '<table:table-cell office:value-type="float" office:value="5"><text:p>5</text:p></table:table-cell>'
        "</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:'
        'xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type='
        '"application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" '
        'manifest:media-type="text/xml"/><manifest:file-entry manifest:full-path="Object 1" manifest:media-type='
        '"application/vnd.sun.star.oleobject"/></manifest:manifest>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        archive.writestr("content.xml", content)
        archive.writestr("META-INF/manifest.xml", manifest)
        archive.write(object_file, "Object 1")
    return path


@needs_soffice
def test_xls_with_an_object_embedded_by_libreoffice(tmp_path: Path) -> None:
    """LibreOffice writes an embedded object into an .xls as Excel does, in a storage MBD<8 hex digits>."""
    inspection = inspect_file(convert(embedded_ods(tmp_path / "book.ods"), "xls:MS Excel 97", tmp_path / "out"))
    assert [issue.rule for issue in inspection.issues] == ["file.embedded_object"], describe(inspection)
    assert re.search(r"（MBD[0-9A-F]{8}）", inspection.issues[0].message_zh), describe(inspection)


@needs_soffice
def test_sample_saved_as_xls_by_libreoffice_passes(tmp_path: Path, shipped_2022: list[Path]) -> None:
    inspection = inspect_file(convert(shipped_2022[0], "xls:MS Excel 97", tmp_path / "out"))
    assert inspection.ok, describe(inspection)
    assert inspection.format == "xls" and inspection.formatted_cells == []


# --- numbers of 15 digits or more (an ID number typed into a number cell) ------------------------------------------

LONG_ROWS = (
    b'<row r="2"><c r="A2"><v>440199199408298180</v></c>'  # openpyxl: the integer as typed
    b'<c r="B2" s="3"><v>4.4019919940829818E+17</v></c>'  # Excel
    b'<c r="C2" t="n"><v>4.40199199408298E+017</v></c>'  # LibreOffice
    b'<c r="D2" t="s"><v>123456789012345678</v></c>'  # a shared string's index, however long: text
    b'<c r="E2"><v>99999999999999.99</v></c></row>'  # 14 digits before the point: an amount
    b'<row r="3"><c r="A3"><f>B2*1</f><v>440199199408298000</v></c>'  # a formula's cached number
    b'<c r="B3" t="str"><f>"440199199408298180"</f><v>440199199408298180</v></c>'  # a formula's text
    b'<c r="C3" t="inlineStr"><is><t>440199199408298180</t></is></c><c r="D3"><v>1E+14</v></c></row>'
)


def long_numbers(xml: bytes, cuts: list[int]) -> list[tuple[str, str]]:
    scanner = _SheetScanner("帮扶对象明细", load_limits())
    bounds = [0, *cuts, len(xml)]
    for start, end in zip(bounds, bounds[1:]):
        scanner.feed(xml[start:end])
    scanner.close()
    return scanner.long_numbers


def test_long_numbers_in_any_cut() -> None:
    """Number cells of 15 digits or more, as each program writes them, wherever the sweep's chunks cut the XML;
    text (shared, inline or a formula's) of the same digits is no number."""
    xml = SHEET_HEAD + LONG_ROWS + SHEET_TAIL
    expected = [("帮扶对象明细", cell) for cell in ("A2", "B2", "C2", "A3", "D3")]
    assert long_numbers(xml, []) == expected
    for cuts in every_cut(xml):
        assert long_numbers(xml, cuts) == expected, cuts


def test_long_numbers_of_books_written_by_each_program(tmp_path: Path) -> None:
    """An ID number written as a number by openpyxl and xlsxwriter, and as text: only the numbers are long."""
    by_openpyxl = tmp_path / "openpyxl.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.title = "帮扶对象明细"
    workbook.active.append(["身份证号"])
    workbook.active.append([440199199408298180])
    workbook.active.append(["440199199408298180"])
    workbook.save(by_openpyxl)
    by_xlsxwriter = tmp_path / "xlsxwriter.xlsx"
    book = xlsxwriter.Workbook(str(by_xlsxwriter))
    sheet = book.add_worksheet("帮扶对象明细")
    sheet.write_string(0, 0, "身份证号")
    sheet.write_number(1, 0, 440199199408298180)
    sheet.write_string(2, 0, "440199199408298180")
    book.close()
    for path in (by_openpyxl, by_xlsxwriter):
        assert inspect_file(path).long_numbers == [("帮扶对象明细", "A2")], path.name


def test_long_numbers_of_an_xls(tmp_path: Path) -> None:
    """NUMBER, RK and FORMULA cells of an .xls holding 15 digits or more."""
    cells = (
        biff_number(1, 2, 15, 440199199408298180)  # C2
        + biff_number(2, 2, 15, 99999999999999.99)  # C3: an amount
        + biff_rk(3, 2, 15, 12)  # C4
        + biff_formula(4, 2, 15, 4.4e17)  # C5
    )
    path = tmp_path / "book.xls"
    write_cfb(path, {"Workbook": biff8_workbook(template_sheet_shapes(), cells={"帮扶对象明细": cells})})
    inspection = inspect_file(path)
    assert inspection.ok, describe(inspection)
    assert inspection.long_numbers == [("帮扶对象明细", "C2"), ("帮扶对象明细", "C5")]


@needs_soffice
def test_long_numbers_kept_by_libreoffice(tmp_path: Path) -> None:
    """LibreOffice writes a long number with a three-digit exponent (4.40199199408298E+017) in .xlsx."""
    source = tmp_path / "book.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.title = "帮扶对象明细"
    workbook.active.append(["身份证号"])
    workbook.active.append([440199199408298180])
    workbook.save(source)
    for target in ("xlsx:Calc MS Excel 2007 XML", "xls:MS Excel 97"):
        converted = convert(source, target, tmp_path / target.split(":")[0])
        assert inspect_file(converted).long_numbers == [("帮扶对象明细", "A2")], target

"""Hypothesis strategies for submission workbooks: the template's sheets and columns, filled and misshapen
the way clerks (and their spreadsheet programs) do it.

A workbook is described by plain data (`Book`, `Sheet`, cells by 0-based (row, column)) so that hypothesis can
print a falsifying example and a regression test can build the same workbook by hand; `write_book` writes it
with xlsxwriter, each value with the writer call of its type (text stays text via `write_string`, formulas
and Excel error values carry a cached result).

`template_book(unit, period)` is the clean starting point (the blank template's layout, from
`reference.template()`), and what examples shrink towards; `batches(period)` draws 2-8 workbooks of one period
(a copy sent twice makes 9), each from a real unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

import xlsxwriter
from hypothesis import strategies as st

from union_stats import credit_code, reference
from union_stats.periods import period_bounds
from union_stats.reference import Column, SheetSpec, Unit
from union_stats.template import INSTRUCTIONS_SHEET, unit_indicators

SPEC = reference.template()
UNITS = reference.reference_units()
PERIODS = ("2022", "2023Q3")
TEMPLATE_SHEETS = frozenset({SPEC.cover_sheet, *(sheet.sheet for sheet in SPEC.sheets), INSTRUCTIONS_SHEET})
EXCEL_ERRORS = ("#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!")
MAX_CELL_TEXT = 32_767  # Excel's limit for a cell's text


# --- the model -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Formula:
    """A formula with the result Excel cached for it (what a reader without a calc engine sees)."""

    formula: str
    cached: float | str | bool


@dataclass(frozen=True)
class ExcelError:
    """An error value (`#N/A`, `#DIV/0!`, ...): written as a formula whose cached result is the error."""

    code: str


@dataclass(frozen=True)
class Blank:
    """A blank cell that carries a format (what Excel leaves after deleting a coloured cell's value)."""


Value = str | int | float | bool | date | datetime | Formula | ExcelError | Blank | None


@dataclass
class Sheet:
    name: str
    cells: dict[tuple[int, int], Value] = field(default_factory=dict)  # (row, column), both 0-based
    merges: tuple[tuple[int, int, int, int], ...] = ()  # (first_row, first_col, last_row, last_col)
    state: str = "visible"  # visible | hidden | very_hidden

    def used(self) -> tuple[int, int]:
        """(rows, columns) spanned by the cells, 0 when empty."""
        if not self.cells:
            return 0, 0
        return max(r for r, _ in self.cells) + 1, max(c for _, c in self.cells) + 1


@dataclass
class Book:
    file_name: str
    sheets: list[Sheet]

    def sheet(self, name: str) -> Sheet:
        return next(sheet for sheet in self.sheets if sheet.name == name)


# --- writing -------------------------------------------------------------------------------------------------


def _write_value(worksheet, row: int, col: int, value: Value, formats: dict) -> None:
    if value is None:
        return
    if isinstance(value, Blank):
        worksheet.write_blank(row, col, None, formats["blank"])
    elif isinstance(value, bool):
        worksheet.write_boolean(row, col, value)
    elif isinstance(value, int | float):
        worksheet.write_number(row, col, value)
    elif isinstance(value, datetime):
        worksheet.write_datetime(row, col, value, formats["datetime"])
    elif isinstance(value, date):
        worksheet.write_datetime(row, col, value, formats["date"])
    elif isinstance(value, Formula):
        worksheet.write_formula(row, col, value.formula, None, value.cached)
    elif isinstance(value, ExcelError):
        worksheet.write_formula(row, col, "=NA()" if value.code == "#N/A" else "=1/0", None, value.code)
    elif isinstance(value, str):
        worksheet.write_string(row, col, value)
    else:
        raise TypeError(f"no writer for {value!r}")


def write_book(book: Book, folder: Path) -> Path:
    """Write `book` as `folder/<file_name>` and return its path."""
    path = folder / book.file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(
        str(path),
        {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False},
    )
    workbook.set_properties({"created": datetime(2022, 1, 1)})  # same model, same bytes
    formats = {
        "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
        "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        "blank": workbook.add_format({"bg_color": "#FFFF00"}),
        "merge": workbook.add_format({"align": "center"}),
    }
    first_visible = None
    for sheet in book.sheets:
        worksheet = workbook.add_worksheet(sheet.name)
        covered = set()
        for first_row, first_col, last_row, last_col in sheet.merges:
            worksheet.merge_range(first_row, first_col, last_row, last_col, "", formats["merge"])
            covered |= {(r, c) for r in range(first_row, last_row + 1) for c in range(first_col, last_col + 1)}
            covered.discard((first_row, first_col))
        for (row, col), value in sorted(sheet.cells.items()):
            if (row, col) not in covered:  # Excel keeps only the top-left value of a merged range
                _write_value(worksheet, row, col, value, formats)
        if sheet.state == "hidden":
            worksheet.hide()
        elif sheet.state == "very_hidden":
            worksheet.very_hidden()
        elif first_visible is None:
            first_visible = worksheet
    if first_visible is None:
        raise ValueError(f"{book.file_name}: a workbook needs a visible sheet")
    first_visible.activate()
    workbook.close()
    return path


# --- the clean template --------------------------------------------------------------------------------------


def cover_values(unit: Unit, period: str) -> dict[str, Value]:
    return {
        "unit_code": unit.unit_code,
        "unit_name": unit.name_zh,
        "period": period,
        "contact_name": "张三",
        "contact_phone": "020-84800000",
        "template_version": SPEC.version,
        "filled_on": period_bounds(period)[1],
    }


def cover_sheet(values: dict[str, Value], period: str) -> Sheet:
    cells: dict[tuple[int, int], Value] = {(0, 0): f"{SPEC.title_zh}（{period}）"}
    for item in SPEC.cover_fields:
        cells[(item.row - 1, 0)] = item.label
        cells[(item.row - 1, 1)] = values.get(item.name)
    return Sheet(SPEC.cover_sheet, cells)


def table_sheet(spec: SheetSpec, rows: list[dict[str, Value]]) -> Sheet:
    """A sheet as the template lays it out: headers in row 1, one record a row below."""
    cells: dict[tuple[int, int], Value] = {(0, col): column.header for col, column in enumerate(spec.columns)}
    for row, record in enumerate(rows, start=1):
        for col, column in enumerate(spec.columns):
            if record.get(column.name) is not None:
                cells[(row, col)] = record[column.name]
    return Sheet(spec.sheet, cells)


def indicator_records(unit: Unit) -> list[dict[str, Value]]:
    return [
        {"indicator_code": i.indicator_code, "indicator_name": i.name_zh, "unit_of_measure": i.unit_zh}
        for i in unit_indicators(unit)
    ]


def template_book(unit: Unit, period: str, file_name: str | None = None) -> Book:
    """The blank template of `unit` for `period` (cover filled, indicator rows listed, detail headers only)."""
    sheets = [cover_sheet(cover_values(unit, period), period), table_sheet(SPEC.indicators, indicator_records(unit))]
    sheets += [table_sheet(detail, []) for detail in SPEC.details]
    sheets.append(Sheet(INSTRUCTIONS_SHEET, {(0, 0): f"{SPEC.title_zh}（模板版本 {SPEC.version}）"}))
    return Book(file_name or f"{unit.unit_code}_{period}.xlsx", sheets)


# --- values --------------------------------------------------------------------------------------------------

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
FULL_WIDTH = st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E)
CONTROL = st.characters(min_codepoint=0x01, max_codepoint=0x1F)
SPACES = st.sampled_from([" ", "\u3000", "\t", "\n", "\u00a0"])
# xlsxwriter writes strings as XML: code points XML 1.0 cannot carry are left out (it escapes 0x01-0x1F)
ANY_CHAR = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff")


def _full_width(text: object) -> str:
    """Printable ASCII typed with a Chinese input method: ２０２２, ＡＢＣ."""
    return str(text).translate({code: code + 0xFEE0 for code in range(0x21, 0x7F)})


texts = st.one_of(
    st.text(CJK, min_size=1, max_size=12),
    st.text(ANY_CHAR, max_size=20),
    st.builds(lambda c, n: c * n, st.sampled_from(["长", "a", "１", " "]), st.integers(256, MAX_CELL_TEXT)),
    st.builds(lambda p, t: p + t, st.sampled_from(["=", "+", "-", "@"]), st.text(ANY_CHAR, max_size=12)),
    st.builds(lambda a, c, b: a + c + b, st.text(CJK, max_size=4), CONTROL, st.text(CJK, max_size=4)),
    st.text(FULL_WIDTH, min_size=1, max_size=8),
    st.sampled_from(["", " ", "\u3000", "是", "否", "无", "合计", "N/A", "-", "0", "TRUE", "#N/A", "=SUM(D2:D9)"]),
)
integers = st.one_of(
    st.integers(0, 10_000),
    st.integers(-(2**53), 2**53),
    st.sampled_from([0, -1, 2**31, 2**53 + 1, 10**15]),
)
floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e20, -1e20, 1e300, 1e-10, 5e-324, -0.0, 0.1, 53660220.13, 8388608.01, 16777217.5, 2.0**53]),
    st.builds(lambda yuan, cents: yuan + cents / 100, st.integers(2**23, 10**11), st.integers(1, 99)),
)
numbers = st.one_of(integers, floats)
number_texts = st.one_of(
    st.builds(_full_width, numbers),
    st.builds("{:,}".format, st.integers(1000, 10**9)),
    st.builds(lambda n: f"{n}元", st.integers(0, 10**6)),
    st.builds(lambda n: f"{n / 10_000}万", st.integers(0, 10**8)),
    st.builds(lambda n: f" {n} ", numbers),
)
dates = st.dates(min_value=date(1900, 3, 1), max_value=date(9999, 12, 31))
datetimes = st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
formulas = st.one_of(
    st.builds(Formula, st.just("=1+1"), numbers),
    st.builds(Formula, st.just('="x"&"y"'), texts.filter(lambda t: t not in EXCEL_ERRORS and len(t) < 256)),
    st.builds(Formula, st.just("=TRUE()"), st.booleans()),
)
errors = st.builds(ExcelError, st.sampled_from(EXCEL_ERRORS))
blanks = st.sampled_from([None, Blank()])

# anything a cell can hold
any_value = st.one_of(texts, numbers, st.booleans(), dates, datetimes, formulas, errors, blanks, number_texts)


def period_dates(period: str) -> st.SearchStrategy[date]:
    start, end = period_bounds(period)
    return st.dates(min_value=start, max_value=end)


def date_values(period: str) -> st.SearchStrategy[Value]:
    start, _ = period_bounds(period)
    return st.one_of(
        period_dates(period),
        st.builds(datetime.combine, period_dates(period), st.times()),
        st.builds(lambda d: d.strftime("%Y/%m/%d"), period_dates(period)),
        st.builds(lambda d: f"{d.year}年{d.month}月{d.day}日", period_dates(period)),
        st.builds(lambda d: d.isoformat(), dates),
        st.sampled_from([f"{start.year}-02-30", f"{start.year}-13-01", f"{start.year}/2/29 12:00", "二〇二二年"]),
        dates,
        datetimes,
    )


credit_codes = st.builds(credit_code.make_code, st.randoms(use_true_random=False))
credit_code_values = st.one_of(
    credit_codes,
    st.builds(str.lower, credit_codes),
    st.builds(_full_width, credit_codes),
    st.builds(lambda c: c[:-1] + ("0" if c[-1] != "0" else "1"), credit_codes),
    st.text(st.sampled_from(credit_code.CHARSET), min_size=17, max_size=19),
)


def typed_values(column: Column, period: str) -> st.SearchStrategy[Value]:
    """A cell of the column: mostly of the column's type (plausible or misspelt), sometimes anything."""
    if column.type in ("number", "integer", "money"):
        typed = st.one_of(st.integers(0, 1000), numbers, number_texts)
    elif column.type == "date":
        typed = date_values(period)
    elif column.type == "credit_code":
        typed = credit_code_values
    elif column.type == "choice":
        typed = st.one_of(
            st.sampled_from(column.choices), st.builds(lambda c, s: s + c + s, st.sampled_from(column.choices), SPACES)
        )
    else:
        typed = st.one_of(st.text(CJK, min_size=1, max_size=10), texts)
    return _mostly(typed, any_value)


def rarely(draw, n: int) -> bool:
    """True about once in `n` draws; False is where examples shrink to, so a minimal example is the clean
    template with only the deviations the failure needs."""
    return draw(st.integers(0, n - 1)) == n - 1


def _mostly(usual: st.SearchStrategy, rare: st.SearchStrategy) -> st.SearchStrategy:
    """`usual` about three times in four (shrinks towards `usual`), else `rare`."""
    return st.integers(0, 3).flatmap(lambda n: rare if n == 3 else usual)


# --- misshaping a table sheet --------------------------------------------------------------------------------


@st.composite
def header_texts(draw, header: str) -> str | Value:
    """A header as typed: exact, with spaces inside, or replaced by something else."""
    choice = draw(st.integers(0, 5))
    if choice <= 2:
        return header
    if choice == 3:
        position = draw(st.integers(0, len(header)))
        return header[:position] + draw(SPACES) + header[position:]
    if choice == 4:
        return draw(st.sampled_from([f" {header} ", header + "\n", header.replace("（", "(").replace("）", ")")]))
    return draw(any_value)


@st.composite
def shaped_table(draw, spec: SheetSpec, records: list[dict[str, Value]]) -> Sheet:
    """A table sheet with the header moved down, columns reordered, dropped or added, rows blank or extra."""
    columns: list[Column | None] = list(spec.columns)
    if rarely(draw, 4):
        columns = list(draw(st.permutations(columns)))
    if rarely(draw, 4):
        dropped = draw(st.sets(st.sampled_from(spec.columns), max_size=len(spec.columns)))
        columns = [c for c in columns if c not in dropped]
    for _ in range(draw(st.integers(0, 2)) if rarely(draw, 4) else 0):
        columns.insert(draw(st.integers(0, len(columns))), None)  # an extra column
    header_row = draw(st.sampled_from([0, 0, 0, 1, 2, 3, 9, 10, 12]))
    first_col = draw(st.sampled_from([0, 0, 0, 1, 2]))
    cells: dict[tuple[int, int], Value] = {}
    for row in range(header_row):  # title rows above the header
        if draw(st.booleans()):
            cells[(row, first_col)] = draw(texts)
    for offset, column in enumerate(columns):
        header = draw(header_texts(column.header)) if column else draw(st.one_of(blanks, texts))
        if header is not None:
            cells[(header_row, first_col + offset)] = header
    row = header_row + 1
    for record in records:
        row += draw(st.sampled_from([0, 0, 0, 0, 1]))  # a blank row now and then
        for offset, column in enumerate(columns):
            value = record.get(column.name) if column else draw(st.one_of(blanks, any_value))
            if value is not None:
                cells[(row, first_col + offset)] = value
        row += 1
    for _ in range(draw(st.integers(0, 2)) if rarely(draw, 4) else 0):  # junk below: totals, notes
        cells[(row, first_col + draw(st.integers(0, max(len(columns) - 1, 0))))] = draw(
            st.one_of(st.just("合计"), any_value, st.builds(Formula, st.just("=SUM(D2:D9)"), numbers))
        )
        row += 1
    return Sheet(spec.sheet, cells)


@st.composite
def merges(draw, sheet: Sheet) -> tuple[tuple[int, int, int, int], ...]:
    """A few non-overlapping merged ranges inside (or just beyond) the used range, over headers or data."""
    rows, cols = sheet.used()
    chosen: list[tuple[int, int, int, int]] = []
    taken: set[tuple[int, int]] = set()
    for _ in range(draw(st.integers(0, 3))):
        first_row, first_col = draw(st.integers(0, rows)), draw(st.integers(0, cols))
        last_row = first_row + draw(st.integers(0, 2))
        last_col = first_col + draw(st.integers(0 if last_row > first_row else 1, 3))
        area = {(r, c) for r in range(first_row, last_row + 1) for c in range(first_col, last_col + 1)}
        if not area & taken:
            chosen.append((first_row, first_col, last_row, last_col))
            taken |= area
    return tuple(chosen)


# --- whole workbooks -----------------------------------------------------------------------------------------


@st.composite
def cover_sheets(draw, unit: Unit, period: str) -> Sheet:
    """The cover with each field right, missing, wrong or of another type; labels respaced; rows moved."""
    other_unit = draw(st.sampled_from(UNITS)).unit_code
    year = period_bounds(period)[0].year
    wrong = {
        "unit_code": [other_unit, unit.unit_code.upper(), unit.unit_code + " ", "未知单位", "x_2022"],
        "period": [
            str(year - 1),
            f"{year}Q5",
            f"{year}年",
            period.lower(),
            int(year),
            f"{year}Q1",
            "2022 ",
            "２０２２",
        ],
        "template_version": ["V1", "v2", "v9", "１", " v1 ", 1, "v1.0", "ｖ１"],
        "filled_on": [f"{year}/3/5", "昨天", year, period_bounds(period)[0]],
    }
    values = cover_values(unit, period)
    for item in SPEC.cover_fields:
        choice = draw(st.integers(0, 7))
        if choice in (4, 5):
            values[item.name] = draw(st.sampled_from(wrong[item.name])) if item.name in wrong else draw(texts)
        elif choice == 6:
            values[item.name] = draw(st.one_of(blanks, st.just("")))
        elif choice == 7:
            values[item.name] = draw(any_value)
    sheet = cover_sheet(values, period)
    if rarely(draw, 4):  # labels typed with spaces, or a label missing
        for item in SPEC.cover_fields:
            if rarely(draw, 3):
                sheet.cells[(item.row - 1, 0)] = draw(st.one_of(header_texts(item.label), blanks))
    if rarely(draw, 5):  # rows in another order, or moved down
        order = draw(st.permutations(range(len(SPEC.cover_fields))))
        shift = draw(st.integers(0, 3))
        moved = {(0, 0): sheet.cells[(0, 0)]}
        for position, item in zip(order, SPEC.cover_fields, strict=True):
            for col in (0, 1):
                moved[(position + 1 + shift, col)] = sheet.cells.get((item.row - 1, col))
        sheet.cells = {key: value for key, value in moved.items() if value is not None}
    if rarely(draw, 6):  # something typed in column C and beyond
        for _ in range(draw(st.integers(1, 3))):
            sheet.cells[(draw(st.integers(0, 9)), draw(st.integers(2, 4)))] = draw(any_value)
    return sheet


@st.composite
def indicator_sheets(draw, unit: Unit, period: str) -> Sheet:
    spec = SPEC.indicators
    catalog = reference.indicators()
    records = []
    for indicator in unit_indicators(unit):
        keep = draw(st.integers(0, 19))
        if keep == 19:
            continue  # a row deleted
        record: dict[str, Value] = {
            "indicator_code": indicator.indicator_code,
            "indicator_name": indicator.name_zh,
            "unit_of_measure": indicator.unit_zh,
        }
        if keep == 18:
            record["indicator_code"] = draw(
                st.one_of(
                    st.sampled_from(catalog).map(lambda i: i.indicator_code), header_texts(indicator.indicator_code)
                )
            )
        if indicator.value_type == "flag":
            record["value"] = draw(_mostly(st.sampled_from(["是", "否", " 是 ", "Y"]), any_value))
        else:
            record["value"] = draw(typed_values(spec.column("value"), period))
        if rarely(draw, 6):
            record["remark"] = draw(texts)
        records.append(record)
        if rarely(draw, 30):
            records.append(dict(record))  # a row copied
    if records and rarely(draw, 4):
        records = list(draw(st.permutations(records)))
    return draw(shaped_table(spec, records))


@st.composite
def detail_sheets(draw, spec: SheetSpec, period: str) -> Sheet:
    records = draw(
        st.lists(
            st.fixed_dictionaries({column.name: typed_values(column, period) for column in spec.columns}), max_size=4
        )
    )
    if len(records) > 1 and rarely(draw, 6):
        records.append(dict(records[0]))  # the same record twice
    return draw(shaped_table(spec, records))


SHEET_NAMES = st.one_of(
    st.sampled_from(
        ["Sheet1", "Sheet2", "备用", "指标 (2)", "封面(旧)", "WpsReserved_CellImgList", "汇总", "新建工会企业 "]
    ),
    st.text(st.characters(blacklist_characters="[]:*?/\\'", blacklist_categories=("Cs", "Cc")), min_size=1, max_size=31)
    .map(str.strip)
    .filter(bool),
)


@st.composite
def books(draw, unit: Unit, period: str, file_name: str) -> Book:
    sheets = [draw(cover_sheets(unit, period)), draw(indicator_sheets(unit, period))]
    sheets += [draw(detail_sheets(detail, period)) for detail in SPEC.details]
    sheets.append(Sheet(INSTRUCTIONS_SHEET, {(0, 0): f"{SPEC.title_zh}（模板版本 {SPEC.version}）"}))
    for index, sheet in enumerate(sheets):
        change = draw(st.integers(0, 19))
        if change == 19:
            sheets[index] = Sheet(sheet.name)  # emptied
        elif change == 18:
            sheets[index] = None  # deleted
        elif change in (16, 17) and sheet.cells:
            sheets[index] = replace(sheet, merges=draw(merges(sheet)))
    sheets = [sheet for sheet in sheets if sheet is not None]
    for _ in range(draw(st.integers(0, 2)) if rarely(draw, 4) else 0):  # extra sheets
        name = draw(SHEET_NAMES)
        if name.lower() not in {sheet.name.lower() for sheet in sheets}:
            extra = Sheet(
                name, draw(st.dictionaries(st.tuples(st.integers(0, 5), st.integers(0, 5)), any_value, max_size=4))
            )
            sheets.insert(draw(st.integers(0, len(sheets))), extra)
    if rarely(draw, 4):
        sheets = list(draw(st.permutations(sheets)))
    for sheet in sheets:
        sheet.state = draw(st.sampled_from(["visible"] * 8 + ["hidden", "very_hidden"]))
    if not sheets:
        sheets = [Sheet("Sheet1")]
    if all(sheet.state != "visible" for sheet in sheets):
        sheets[0].state = "visible"
    return Book(file_name, sheets)


@st.composite
def batches(draw, period: str) -> list[Book]:
    """2-8 workbooks for one period, each of a real unit, named `<unit>_<period>.xlsx` (a second file of
    the same unit `<unit>_<period>(2).xlsx`); now and then one is sent twice under another name."""
    units = draw(st.lists(st.sampled_from(UNITS), min_size=2, max_size=8))
    result, names = [], set()
    for unit in units:
        file_unit = draw(st.sampled_from(["未知单位", "x", UNITS[0].unit_code])) if rarely(draw, 10) else unit.unit_code
        name = f"{file_unit}_{period}.xlsx"
        suffix = 2
        while name in names:
            name, suffix = f"{file_unit}_{period}({suffix}).xlsx", suffix + 1
        names.add(name)
        result.append(draw(books(unit, period, name)))
    if rarely(draw, 10):
        copy = draw(st.sampled_from(result))
        result.append(Book(f"{Path(copy.file_name).stem}(重发).xlsx", copy.sheets))
    return result

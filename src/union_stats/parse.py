"""Parse stage: read every workbook of a batch with fastexcel (calamine) into one Polars frame per sheet kind.

Every row keeps its lineage (submission, file, sheet, source row) and every cell stays text as typed, after
a small, reported normalisation (full-width digits, thousands separators, date spellings); casting is the
staging layer's job and judging values is the validate stage's.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import fastexcel
import polars as pl
import pyarrow as pa

from union_stats.discover import ReceivedFile
from union_stats.findings import ERROR, Finding
from union_stats.inspect import inspect_file, load_limits, number_format_display
from union_stats.periods import as_written, is_period, period_bounds
from union_stats.pseudonym import DIGITS_OF_AN_ID, ID_NUMBER_CELL, KeySource, Pseudonymiser, mask, names_pattern, scrub
from union_stats.reference import (
    CURRENT_TEMPLATE,
    LINEAGE_COLUMNS,
    PERSON_COLUMNS,
    Column,
    SheetSpec,
    Template,
    Unit,
    accepted_versions,
    column_letter,
    template,
    template_versions,
)
from union_stats.reference import indicators as indicator_catalog
from union_stats.rules import rule

log = logging.getLogger(__name__)

SUBMISSION_SCHEMA = {
    "submission_id": pl.String,
    "file_name": pl.String,
    "sha256": pl.String,
    "size_bytes": pl.Int64,
    "received_at": pl.Datetime("us", "UTC"),
    "unit_code": pl.String,
    "unit_name": pl.String,
    "period": pl.String,
    "template_version": pl.String,
    "contact_name": pl.String,
    "contact_phone": pl.String,
    "filled_on": pl.String,
    "readable": pl.Boolean,
}
LAYOUT_SCHEMA = {
    "submission_id": pl.String,
    "sheet_kind": pl.String,
    "sheet_name": pl.String,
    "field": pl.String,
    "column_letter": pl.String,
    "header_row": pl.Int64,
}
# the cover's codes as compared with the catalog: case is a clerk's typing, and so is 2022年 for the period 2022
COVER_CODE_CASE = {
    "unit_code": str.lower,
    "period": lambda text: as_written(text).upper(),
    "template_version": str.lower,
}
VALUE_SHOWN = 40  # characters of an over-long text quoted in its finding
# how far down a sheet the header row is looked for (clerks sometimes add a title row)
HEADER_SEARCH_ROWS = 10
NUMERIC_TYPES = ("number", "integer", "money")
THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
# fastexcel prints a number cell with at most nine decimals; text of that shape may come from a number cell
READER_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
READER_DECIMALS = 9
EXCEL_DIGITS = 15  # significant digits Excel keeps and shows of a number
CELL_REFERENCE = re.compile(r"^([A-Z]+)([0-9]+)$")
# characters nobody types: C0 controls (tab and line breaks aside), DEL, zero-width and bidirectional marks; pasted
# from other systems, they make a name differ from the same name typed, and can reorder what a page shows
CONTROL_CHARACTERS = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]"
CONTROL = re.compile(CONTROL_CHARACTERS)
NUMBER_CELL = "__number_cell"  # a detail body's flag: the ID column's cell holds a number, not text
SERIAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")
EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 is 1900-01-01 (Excel counts a 29 February 1900 that never was)
PLAUSIBLE_SERIALS = (32874, 73051)  # 1990-01-01 up to 2100-01-01: a count or a year typed in a date cell is no date
# a time of day after a date (a date-time cell, `2022-03-05 14:30:00` as calamine prints it, or typed): the date
TIME_OF_DAY = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
DATE_SPELLINGS = (
    re.compile(rf"^(\d{{4}})[-/.](\d{{1,2}})[-/.](\d{{1,2}}){TIME_OF_DAY}$"),
    re.compile(rf"^(\d{{4}})年(\d{{1,2}})月(\d{{1,2}})日{TIME_OF_DAY}$"),
)


@dataclass
class ParsedBatch:
    """All submissions of one run, parsed: one frame per sheet kind, stacked over submissions."""

    period: str
    submissions: pl.DataFrame
    sheets: dict[str, pl.DataFrame]
    layouts: pl.DataFrame
    findings: list[Finding] = field(default_factory=list)

    def sheet(self, kind: str) -> pl.DataFrame:
        return self.sheets[kind]

    def only(self, *submission_ids: str) -> ParsedBatch:
        """The part of the batch that is these submissions'."""
        mine = pl.col("submission_id").is_in(submission_ids)
        return ParsedBatch(
            period=self.period,
            submissions=self.submissions.filter(mine),
            sheets={kind: frame.filter(mine) for kind, frame in self.sheets.items()},
            layouts=self.layouts.filter(mine),
            findings=[finding for finding in self.findings if finding.submission_id in submission_ids],
        )


@lru_cache(maxsize=65536)
def normalise_label(text: str | None) -> str:
    """Header and label text as compared: NFKC (full-width to half-width) with all whitespace removed."""
    if text is None:
        return ""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text)))


@lru_cache(maxsize=65536)
def label_key(text: str | None) -> str:
    """A label (an indicator's name, a unit of measure) as compared with the catalog's: NFKC, without whitespace
    or punctuation (“春风行动”招聘会场次 is 春风行动招聘会场次)."""
    return "".join(
        character for character in normalise_label(text) if not unicodedata.category(character).startswith("P")
    )


def reader_number_text(text: str) -> str:
    """The number a numeric cell holds, as its shortest exact decimal text.

    fastexcel prints a number cell rounded to nine decimals, trailing zeros dropped (53660220.13 ->
    `53660220.130000003`, 249999999.99 -> `249999999.99000001`); the double it read is `float(text)`, and Excel
    shows a double to 15 significant digits (`EXCEL_DIGITS`): that is what the clerk typed, or what a `=SUM`
    whose cached double carries binary noise (16500098.379999993) shows. Text the reader cannot have printed
    (a text cell such as `1,234`, `007` or `12.5000000001`) is returned unchanged.
    """
    if not READER_NUMBER.match(text):
        return text
    number = float(text)
    if text != f"{number:.{READER_DECIMALS}f}".rstrip("0").rstrip("."):
        return text
    if number == 0:
        return "0"
    return format(Decimal(f"{number:.{EXCEL_DIGITS}g}").normalize(), "f")


def excel_serial_date(text: str) -> str | None:
    """A date column's cell the reader handed over as a serial number (a date format it does not recognise),
    as an ISO date; None when the number is no plausible date."""
    if not SERIAL.match(text):
        return None
    serial = float(text)
    if not PLAUSIBLE_SERIALS[0] <= serial < PLAUSIBLE_SERIALS[1]:
        return None
    return (EXCEL_EPOCH + timedelta(days=int(serial))).isoformat()


def normalise_cell(text: str | None, column_type: str) -> str | None:
    """A cell's text the way the staging layer can cast it; None for a blank cell."""
    if text is None:
        return None
    value = str(text).strip()
    if value == "":
        return None
    if column_type in NUMERIC_TYPES:
        value = unicodedata.normalize("NFKC", value).strip()
        if THOUSANDS.match(value):
            value = value.replace(",", "")
        value = reader_number_text(value)
    elif column_type == "date":
        value = unicodedata.normalize("NFKC", value).strip()
        for pattern in DATE_SPELLINGS:
            matched = pattern.match(value)
            if matched:
                year, month, day = (int(part) for part in matched.groups())
                try:
                    value = date(year, month, day).isoformat()
                except ValueError:
                    pass  # not a real date: left as typed for the validate stage to reject
                break
        else:
            value = excel_serial_date(value) or value
    elif column_type == "credit_code":
        value = unicodedata.normalize("NFKC", value).strip().upper()
    return value


def as_read(text: str | None, column_type: str) -> str | None:
    """The cell as the clerk sees it in Excel: stripped, numbers and dates as the reader's artefacts undone.
    A value that differs from this after `normalise_cell` was changed by us, and the clerk is told so."""
    if text is None:
        return None
    value = str(text).strip()
    if column_type in NUMERIC_TYPES:
        return reader_number_text(value)
    if column_type == "date":
        if value.endswith(" 00:00:00"):  # how calamine prints a date cell
            return value.removesuffix(" 00:00:00")
        return excel_serial_date(value) or value
    return value


def _load(reader: fastexcel.ExcelReader, sheet_name: str) -> tuple[pa.RecordBatch, list[int]]:
    """A sheet's cells as text, one column per sheet column (row 0 is sheet row 1), and each column's 0-based
    sheet column index."""
    sheet = reader.load_sheet(sheet_name, header_row=None, dtypes="string", skip_rows=0)
    columns = [info.absolute_index for info in sheet.available_columns()]
    return sheet.to_arrow(), columns


def _rows(cells: pa.RecordBatch) -> list[list[str | None]]:
    columns = [column.to_pylist() for column in cells.columns]
    return [list(row) for row in zip(*columns)] if columns else [[] for _ in range(cells.num_rows)]


def sheet_rows(reader: fastexcel.ExcelReader, sheet_name: str) -> list[list[str | None]]:
    """A sheet's cells as text rows, as the parse stage reads them (row 0 is sheet row 1)."""
    return _rows(_load(reader, sheet_name)[0])


def _cover_values(reader: fastexcel.ExcelReader, spec: Template) -> dict[str, str | None]:
    """The cover's fields by name: labels in column A, values in column B, wherever the rows are."""
    rows = sheet_rows(reader, spec.cover_sheet)
    wanted = {normalise_label(item.label): item.name for item in spec.cover_fields}
    cover: dict[str, str | None] = {item.name: None for item in spec.cover_fields}
    for row in rows:
        if not row:
            continue
        name = wanted.get(normalise_label(row[0]))
        if name and len(row) > 1:
            value = normalise_cell(row[1], "date" if name == "filled_on" else "text")
            # codes are compared with the catalog: full-width and case are a clerk's typing, not a different code
            if value is not None and name in COVER_CODE_CASE:
                value = COVER_CODE_CASE[name](unicodedata.normalize("NFKC", value).strip())
            cover[name] = value
    return cover


def read_cover(path: Path) -> dict[str, str | None] | None:
    """A workbook's cover fields, or None when the file or its cover cannot be read (parse says why)."""
    spec = template()
    try:
        reader = fastexcel.read_excel(path)
        if spec.cover_sheet not in reader.sheet_names:
            return None
        return _cover_values(reader, spec)
    except Exception:  # calamine raises several kinds; the parse stage turns them into a finding
        return None


def _parse_cover(
    reader: fastexcel.ExcelReader, spec: Template, received: ReceivedFile, findings: list[Finding]
) -> dict[str, str | None]:
    cover = _cover_values(reader, spec)
    limit = load_limits().cell_text["text"]
    for item in spec.cover_fields:
        value = cover[item.name]
        if value is not None and CONTROL.search(value):
            findings.append(
                _control_characters(received, spec.cover_sheet, f"B{item.row}", value, item.label, item.personal)
            )
        if value is not None and item.personal:
            # the clerk's own name: from here on only masked, the first character kept (a formula's `=` with it)
            value = cover[item.name] = mask(item.personal, value)
        if value is not None and len(value) > limit:
            findings.append(_text_too_long(received, spec.cover_sheet, f"B{item.row}", value, item.label, limit))
            cover[item.name] = value[:limit]  # the cover's fields are the submission's record: kept within bounds
        if item.required and not cover[item.name]:
            findings.append(
                rule("structure.cover_field_missing").finding(
                    received.submission_id, received.file_name, spec.cover_sheet, f"B{item.row}", label=item.label
                )
            )
    return cover


def _find_header(rows: list[list[str | None]], sheet: SheetSpec) -> tuple[int, dict[str, int]] | None:
    """The header row (0-based) and the frame column of each template column found in it."""
    wanted = {normalise_label(column.header): column.name for column in sheet.columns}
    best: tuple[int, dict[str, int]] | None = None
    for row_index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        found = {}
        for position, cell in enumerate(row):
            name = wanted.get(normalise_label(cell))
            if name and name not in found:
                found[name] = position
        if found and (best is None or len(found) > len(best[1])):
            best = (row_index, found)
    return best


@dataclass
class _SheetBody:
    """One sheet of one workbook below its header row: the template's columns as typed, not yet normalised
    (the cells of a whole batch are normalised and judged together, column by column)."""

    cells: pa.Table  # a text column per template column (null where the sheet lacks it), and source_row
    letters: dict[str, str | None]  # where each template column was found
    errors: dict[str, dict[int, str]]  # error values inside the body: column letter -> sheet row -> value


def _read_sheet(
    reader: fastexcel.ExcelReader,
    sheet: SheetSpec,
    received: ReceivedFile,
    findings: list[Finding],
    layouts: list[dict],
    error_cells: dict[str, str],
    long_numbers: frozenset[str] = frozenset(),
) -> _SheetBody | None:
    """Find a sheet's header row and columns (findings for what is missing or blank) and take its body as text."""
    if sheet.sheet not in reader.sheet_names:
        findings.append(
            rule("structure.sheet_missing").finding(received.submission_id, received.file_name, sheet.sheet)
        )
        return None
    cells, sheet_columns = _load(reader, sheet.sheet)
    head = _rows(cells.slice(0, HEADER_SEARCH_ROWS))
    header = _find_header(head, sheet)
    if header is None:
        findings.append(
            rule("structure.header_missing").finding(
                received.submission_id, received.file_name, sheet.sheet, "A1", headers=_headers(sheet)
            )
        )
        return None
    header_index, positions = header
    letters = {name: column_letter(sheet_columns[position]) for name, position in positions.items()}
    header_cells = head[header_index]
    for column in sheet.columns:
        # a header found twice (one column often hidden): which one holds the data is never guessed
        twice = [
            position
            for position, cell in enumerate(header_cells)
            if position != positions.get(column.name) and normalise_label(cell) == normalise_label(column.header)
        ]
        if column.name in positions and twice:
            findings.append(
                rule("structure.header_duplicate").finding(
                    received.submission_id, received.file_name, sheet.sheet,
                    f"{letters[column.name]}{header_index + 1}", column.header, header=column.header,
                    other_cell=f"{column_letter(sheet_columns[twice[0]])}{header_index + 1}",
                )
            )  # fmt: skip
    for position in range(min(positions.values()), max(positions.values()) + 1):
        if position < len(header_cells) and not normalise_label(header_cells[position]):
            cell = f"{column_letter(sheet_columns[position])}{header_index + 1}"
            findings.append(
                rule("structure.header_blank").finding(
                    received.submission_id, received.file_name, sheet.sheet, cell, headers=_headers(sheet)
                )
            )
    for column in sheet.columns:
        if column.name not in positions:
            findings.append(
                rule("structure.header_missing").finding(
                    received.submission_id,
                    received.file_name,
                    sheet.sheet,
                    f"{column.letter}{header_index + 1}",
                    variant="column",
                    header=column.header,
                    row=header_index + 1,
                )
            )
        layouts.append(
            {
                "submission_id": received.submission_id,
                "sheet_kind": sheet.kind,
                "sheet_name": sheet.sheet,
                "field": column.name,
                "column_letter": letters.get(column.name),
                "header_row": header_index + 1,
            }
        )
    body = cells.slice(header_index + 1)
    first_row = header_index + 2  # the sheet row of the body's first row (1-based)
    arrays = {
        column.name: (
            body.column(positions[column.name]) if column.name in positions else pa.nulls(body.num_rows, pa.string())
        )
        for column in sheet.columns
    }
    arrays["source_row"] = pa.array(range(first_row, first_row + body.num_rows), pa.int64())
    if sheet.id_column is not None:
        # the inspect stage saw which cells hold long numbers: in the ID column, a number lost its last digits
        letter = letters.get(sheet.id_column.name)
        places = [CELL_REFERENCE.match(cell) for cell in long_numbers]
        rows = {int(place.group(2)) for place in places if place and place.group(1) == letter}
        arrays[NUMBER_CELL] = pa.array([row in rows for row in range(first_row, first_row + body.num_rows)])
    errors: dict[str, dict[int, str]] = {}
    for cell, error in error_cells.items():
        matched = CELL_REFERENCE.match(cell)
        if matched and first_row <= int(matched.group(2)) < first_row + body.num_rows:
            errors.setdefault(matched.group(1), {})[int(matched.group(2))] = error
    return _SheetBody(pa.table(arrays), letters, errors)


def _sheet_frame(
    sheet: SheetSpec,
    bodies: list[tuple[int, _SheetBody]],
    files: list[_FileParse],
    period: str,
    pseudonyms: Pseudonymiser,
    names: re.Pattern | None = None,
) -> tuple[pl.DataFrame, list[tuple[int, tuple, Finding]]]:
    """The bodies of one sheet kind over a batch's files, normalised column by column, with lineage; and the
    cell findings (normalised values, error values, over-long text, ID numbers in free text), each with its file
    and place in the file. Personal data leaves here pseudonymised (`_personal`): nothing after sees it."""
    if not bodies:
        return empty_sheet(sheet), []
    # permissive: one file's column may come as large text or all-null, another's as text
    cells = pl.from_arrow(pa.concat_tables([body.cells for _, body in bodies], promote_options="permissive"))
    # for each row, which body it came from (`at`) and so which file (`owner`)
    rows = pl.Series([body.cells.num_rows for _, body in bodies], dtype=pl.Int64)
    at = pl.select(pl.int_range(len(bodies), dtype=pl.Int64).repeat_by(rows).explode().drop_nulls()).to_series()
    owner = pl.Series([index for index, _ in bodies], dtype=pl.Int64).gather(at)
    found: list[tuple[int, tuple, Finding]] = []
    columns = []
    for column_order, column in enumerate(sheet.columns):
        typed = (
            cells[column.name] if column.name in cells.columns else pl.Series([None] * cells.height, dtype=pl.String)
        )
        value, shown = _normalised(typed.cast(pl.String), column.type)
        changed = value.is_not_null() & (value != shown).fill_null(True)
        if column.type == "date":  # a date cell printed with its time is the same date
            pair = pl.DataFrame([typed.alias("typed"), value.alias("value")])
            changed &= ~pair.select(pl.col("typed").str.starts_with(pl.col("value")).fill_null(False)).to_series()
        if column.personal:  # an ID number's spaces and full-width digits are undone silently: never quoted
            changed = pl.Series([False] * len(changed), dtype=pl.Boolean)
        controlled = (
            typed.cast(pl.String).str.contains(CONTROL_CHARACTERS).fill_null(False)
            if column.type not in NUMERIC_TYPES
            else pl.Series([False] * len(changed), dtype=pl.Boolean)
        )
        scrubbed = _without_personal(value, names if column.free_text else None) if column.type == "text" else value
        limit = _text_limit(column)
        too_long = (value.str.len_chars() > limit).fill_null(False)
        in_text = (scrubbed != value).fill_null(False)
        for index in (changed | too_long | in_text | controlled).arg_true().to_list():
            file = files[owner[index]]
            row = cells["source_row"][index]
            where = f"{file.bodies[sheet.kind].letters.get(column.name)}{row}"
            received = file.received
            if changed[index]:
                finding = rule("values.normalised").finding(
                    received.submission_id, received.file_name, sheet.sheet, where, str(typed[index]),
                    normalised=value[index],
                )  # fmt: skip
                found.append((owner[index], (row, column_order, 0), finding))
            if too_long[index]:
                shown_value = mask(column.personal, value[index]) if column.personal else scrubbed[index]
                finding = _text_too_long(received, sheet.sheet, where, shown_value, column.header, limit)
                found.append((owner[index], (row, column_order, 2), finding))
            if controlled[index]:
                finding = _control_characters(
                    received, sheet.sheet, where, str(typed[index]), column.header, column.personal
                )
                found.append((owner[index], (row, column_order, 4), finding))
            if in_text[index]:
                finding = rule("personal.in_text").finding(
                    received.submission_id, received.file_name, sheet.sheet, where, scrubbed[index][:VALUE_SHOWN],
                    header=column.header,
                )  # fmt: skip
                found.append((owner[index], (row, column_order, 3), finding))
        if column.personal:
            personal = _personal(column, value, period, pseudonyms)
            if column.personal == "id_number" and NUMBER_CELL in cells.columns:
                personal = _from_number_cells(personal, cells[NUMBER_CELL].fill_null(False))
            columns += personal
        else:
            columns.append(scrubbed.alias(column.name))
    for index, body in bodies:
        for column_order, column in enumerate(sheet.columns):
            letter = body.letters.get(column.name)
            for row, error in body.errors.get(letter, {}).items() if letter else ():
                received = files[index].received
                finding = rule("values.error_cell").finding(
                    received.submission_id,
                    received.file_name,
                    sheet.sheet,
                    f"{letter}{row}",
                    error,
                    header=column.header,
                )
                found.append((index, (row, column_order, 1), finding))
    lineage = pl.DataFrame(
        [files[index].lineage for index, _ in bodies], schema={name: pl.String for name in LINEAGE_COLUMNS[:4]}
    )
    frame = pl.DataFrame(
        [
            *(lineage[name].gather(at) for name in lineage.columns),
            pl.Series("sheet_name", [sheet.sheet] * cells.height, dtype=pl.String),
            cells["source_row"],
            *columns,
        ]
    )
    frame = frame.filter(pl.any_horizontal(pl.col(column.name).is_not_null() for column in sheet.columns))
    return frame.select(empty_sheet(sheet).columns), found


def _from_number_cells(personal: list[pl.Series], numeric: pl.Series) -> list[pl.Series]:
    """An ID number read from a number cell is known to be wrong (Excel kept 15 of its digits): its verdict says
    so, and nothing is derived from the digits that are left (no key to match another unit's person by)."""
    if not numeric.any():
        return personal
    kept = []
    for series in personal:
        if series.name == "id_check":
            series = series.zip_with(~numeric, pl.Series([ID_NUMBER_CELL] * len(series), dtype=pl.String))
        elif series.name in PERSON_COLUMNS:
            series = series.zip_with(~numeric, pl.Series([None] * len(series), dtype=series.dtype))
        kept.append(series.alias(series.name))
    return kept


def _control_characters(
    received: ReceivedFile, sheet: str, cell: str, text: str, header: str, personal: str | None
) -> Finding:
    found = sorted(set(CONTROL.findall(text)))
    shown = CONTROL.sub("", text).strip()
    shown = mask(personal, shown) if personal else shown
    return rule("values.control_character").finding(
        received.submission_id, received.file_name, sheet, cell, shown[:VALUE_SHOWN], header=header,
        characters="、".join(f"U+{ord(character):04X}" for character in found),
    )  # fmt: skip


def _without_personal(value: pl.Series, names: re.Pattern | None) -> pl.Series:
    """Text cells with any ID number inside masked, and in a remark any name of the batch's beneficiary lists: a
    remark is no place for either (pseudonym.scrub; a name nobody listed cannot be told from other words)."""
    if names is None and not (value.str.count_matches(r"[0-9０-９]") >= DIGITS_OF_AN_ID).any():
        return value
    distinct = value.drop_nulls().unique().to_list()
    return value.replace_strict({text: scrub(text, names) for text in distinct}, default=None, return_dtype=pl.String)


def _listed_names(spec: Template, files: list[_FileParse]) -> re.Pattern | None:
    """The names on the beneficiary sheets of a batch's files, as one pattern: remarks are searched for them."""
    names = [
        name
        for sheet in spec.sheets
        for column in sheet.columns
        if column.personal == "name"
        for file in files
        if sheet.kind in file.bodies
        for name in file.bodies[sheet.kind].cells[column.name].to_pylist()
    ]
    return names_pattern(names)


def _personal(column: Column, value: pl.Series, period: str, pseudonyms: Pseudonymiser) -> list[pl.Series]:
    """A personal column as the batch keeps it: masked (for the clerk's own report), and for an ID number what
    `PERSON_COLUMNS` keep of it (the keyed hash, the number's verdict, birth year and sex)."""
    distinct = value.drop_nulls().unique().to_list()
    masked = value.replace_strict({text: mask(column.personal, text) for text in distinct}, default=None)
    if column.personal != "id_number":
        return [masked.alias(column.name)]
    born_by = period_bounds(period)[1] if is_period(period) else date.today()  # "?": a self-check's unknown period
    people = {text: pseudonyms.person(text, born_by) for text in distinct}
    derived = [
        value.replace_strict({text: getattr(person, name) for text, person in people.items()}, default=None,
                             return_dtype=pl.String).alias(name)
        for name in PERSON_COLUMNS
    ]  # fmt: skip
    return [masked.alias(column.name), *derived]


def _normalised(typed: pl.Series, column_type: str) -> tuple[pl.Series, pl.Series]:
    """A column's cells as `normalise_cell` and `as_read` give them, computed once per distinct text."""
    distinct = typed.drop_nulls().unique().to_list()
    value = {text: normalise_cell(text, column_type) for text in distinct}
    shown = {text: as_read(text, column_type) for text in distinct}
    return (
        typed.replace_strict(value, default=None, return_dtype=pl.String),
        typed.replace_strict(shown, default=None, return_dtype=pl.String),
    )


def _text_limit(column: Column) -> int:
    return load_limits().cell_text["remark" if column.free_text else column.type]


def _text_too_long(received: ReceivedFile, sheet: str, cell: str, value: str, header: str, limit: int) -> Finding:
    return rule("values.text_too_long").finding(
        received.submission_id,
        received.file_name,
        sheet,
        cell,
        value[:VALUE_SHOWN] + "…",
        header=header,
        limit=limit,
        length=len(value),
    )


def _headers(sheet: SheetSpec) -> str:
    return "、".join(column.header for column in sheet.columns)


def unit_code_from_file_name(file_name: str) -> str:
    """Files are named `<unit_code>_<period>.xlsx`; the part before the last underscore is the unit."""
    stem = file_name.rsplit(".", 1)[0]
    return stem.rsplit("_", 1)[0] if "_" in stem else stem


def units_named_in(file_name: str, units: tuple[Unit, ...]) -> list[str]:
    """The units a file name names, by code (`dashi_2022_更正.xlsx`) or Chinese name (`大石街2022年报.xlsx`).

    The unit of a file is what its cover says; the name only must not point at another unit. Each piece of the
    name is looked up (not each unit tried in turn), so a batch of N files from N units costs N, not N².
    """
    codes, names, order = _unit_names(units)
    stem = unicodedata.normalize("NFKC", file_name.rsplit(".", 1)[0]).lower()
    named = set()
    for start in range(len(stem)):
        for length in reversed(names.lengths):  # the longest name at a place: 测试12镇, not also 测试1
            if stem[start : start + length] in names.units:
                named.add(names.units[stem[start : start + length]])
                break
        if start and "a" <= stem[start - 1] <= "z":
            continue  # a code is a whole word: not the tail of a longer one
        for length in codes.lengths:
            end = start + length
            if stem[start:end] in codes.units and not (end < len(stem) and "a" <= stem[end] <= "z"):
                named.add(codes.units[stem[start:end]])
    return sorted(named, key=order.__getitem__)


@dataclass(frozen=True)
class _NameIndex:
    units: dict[str, str]  # a code or a Chinese name -> the unit it names
    lengths: tuple[int, ...]


def _unit_names(units: tuple[Unit, ...]) -> tuple[_NameIndex, _NameIndex, dict[str, int]]:
    # a batch asks once per file with the same tuple: remembered by identity (hashing 10,000 units per file is not free)
    if _NAME_INDEX and _NAME_INDEX[0] is units:
        return _NAME_INDEX[1]
    _NAME_INDEX[:] = [units, _build_unit_names(units)]
    return _NAME_INDEX[1]


_NAME_INDEX: list = []


def _build_unit_names(units: tuple[Unit, ...]) -> tuple[_NameIndex, _NameIndex, dict[str, int]]:
    codes = {unit.unit_code.lower(): unit.unit_code for unit in units}
    names: dict[str, str] = {}
    for unit in units:
        for name in unit.names[1:]:
            names.setdefault(name, unit.unit_code)
    order = {unit.unit_code: position for position, unit in enumerate(units)}
    return (
        _NameIndex(codes, tuple(sorted({len(code) for code in codes}))),
        _NameIndex(names, tuple(sorted({len(name) for name in names}))),
        order,
    )


def _submission_record(received: ReceivedFile) -> dict:
    return {
        "submission_id": received.submission_id,
        "file_name": received.file_name,
        "sha256": received.sha256,
        "size_bytes": received.size_bytes,
        "received_at": received.received_at,
        "readable": False,
    }


@dataclass
class _FileParse:
    """What reading one workbook gave, before the batch's cells are normalised together."""

    received: ReceivedFile
    submission: dict
    findings: list[tuple[int, Finding]] = field(default_factory=list)  # (sheet order, -1 the cover), as found
    layouts: list[dict] = field(default_factory=list)
    bodies: dict[str, _SheetBody] = field(default_factory=dict)
    lineage: dict[str, str | None] = field(default_factory=dict)


def read_workbook(received: ReceivedFile, period: str) -> _FileParse:
    """One workbook inspected and read: its submission record, cover and structure findings, column layout and
    the bodies of its sheets as typed."""
    parsed = _FileParse(received, _submission_record(received))
    inspection = inspect_file(received.path)
    if not inspection.ok:  # a limit or the content policy: the file is answered without being read
        parsed.findings = [
            (
                -1,
                Finding(
                    received.submission_id,
                    received.file_name,
                    ERROR,
                    issue.rule,
                    issue.sheet,
                    issue.cell,
                    issue.value,
                    issue.message_zh,
                ),
            )
            for issue in inspection.issues
        ]
        return parsed
    try:
        reader = fastexcel.read_excel(received.path)
    except Exception as error:  # calamine raises several kinds; all mean the same to a clerk
        parsed.findings = [(-1, unreadable(received, error))]
        return parsed

    version_spec = template()
    if version_spec.cover_sheet not in reader.sheet_names:
        finding = rule("structure.sheet_missing").finding(
            received.submission_id, received.file_name, version_spec.cover_sheet, variant="cover"
        )
        parsed.findings = [(-1, finding)]
        return parsed
    found: list[Finding] = []
    cover = _parse_cover(reader, version_spec, received, found)
    parsed.findings = [(-1, finding) for finding in found]
    parsed.submission |= cover | {"readable": True}
    parsed.lineage = {
        "submission_id": received.submission_id,
        "unit_code": cover.get("unit_code") or unit_code_from_file_name(received.file_name),
        "period": period,  # the run's period is the partition key; a cover saying otherwise is a finding
        "file_name": received.file_name,
    }
    version = cover.get("template_version") or CURRENT_TEMPLATE
    accepted = accepted_versions(period) if is_period(period) else template_versions()
    if cover.get("template_version") and version not in accepted:
        # the version decides the sheets and the rules: under another version's, every finding would mislead
        row = next(item.row for item in version_spec.cover_fields if item.name == "template_version")
        finding = rule("structure.template_version").finding(
            received.submission_id, received.file_name, version_spec.cover_sheet, f"B{row}", version,
            run_period=period, accepted_versions="、".join(accepted),
        )  # fmt: skip
        parsed.findings.append((-1, finding))
        return parsed
    spec = template(version)
    for order, sheet in enumerate(spec.sheets):
        errors = {cell: value for name, cell, value in inspection.error_cells if name == sheet.sheet}
        long_numbers = frozenset(cell for name, cell in inspection.long_numbers if name == sheet.sheet)
        found = []
        body = _read_sheet(reader, sheet, received, found, parsed.layouts, errors, long_numbers)
        if body is not None:
            formats = [(cell, code) for name, cell, code in inspection.formatted_cells if name == sheet.sheet]
            found += _formats_showing_another_unit(sheet, body, formats, received)
            parsed.bodies[sheet.kind] = body
        parsed.findings += [(order, finding) for finding in found]
    return parsed


# what a format's literal text may say beside a value in yuan: the same unit, in a symbol or a word
YUAN = frozenset({"元", "¥", "￥", "RMB", "CNY", "人民币", "人民币元"})
SCALE_WORDS = re.compile(r"[十百千万亿]|[kKmM]$")
HEADER_UNIT = re.compile(r"[（(]([^（）()]+)[）)]\s*$")


def _formats_showing_another_unit(
    sheet: SheetSpec, body: _SheetBody, formats: list[tuple[str, str]], received: ReceivedFile
) -> list[Finding]:
    """Numeric cells whose number format shows another unit or scale than the one the value is read in
    (`0.00"万元"` on an amount in yuan, `0.0,"千"`, a percentage): what the clerk sees is not what is loaded."""
    if not formats:
        return []
    catalog = {indicator.indicator_code: indicator for indicator in indicator_catalog()}
    first_row = body.cells["source_row"][0].as_py() if body.cells.num_rows else 0
    by_letter = {body.letters.get(column.name): column for column in sheet.columns if column.type in NUMERIC_TYPES}
    found = []
    for cell, code in formats:
        place = CELL_REFERENCE.match(cell)
        column = by_letter.get(place.group(1)) if place else None
        index = int(place.group(2)) - first_row if place else -1
        if column is None or not 0 <= index < body.cells.num_rows:
            continue
        if sheet.kind == "indicator_values":
            indicator = catalog.get(str(body.cells["indicator_code"][index].as_py() or "").strip())
            if indicator is None or indicator.value_type == "flag":
                continue  # an unknown code, or a 是/否 answer, is judged by its own rules
            unit = indicator.unit_zh
        else:
            matched = HEADER_UNIT.search(column.header)
            unit = matched.group(1) if matched else None
        literal, scaled = number_format_display(code)
        shown = label_key(literal)
        same_unit = unit is not None and (shown == label_key(unit) or (unit == "元" and shown in YUAN))
        if not scaled and (not shown or same_unit or (unit is None and not SCALE_WORDS.search(shown))):
            continue
        value = body.cells[column.name][index].as_py()
        reason = (
            ("把数值按比例缩放后显示" + (f"，并显示“{literal}”" if literal else ""), "scales the number it shows")
            if scaled
            else (f"会在数值后显示“{literal}”", f"shows “{literal}” beside the number")
        )
        found.append(
            rule("values.number_format_unit").finding(
                received.submission_id, received.file_name, sheet.sheet, cell, reader_number_text(str(value or "")),
                format=code, reason=reason[0], reason_en=reason[1], header=column.header,
                unit=f"“{unit}”" if unit else "数值本身", unit_en=f"“{unit}”" if unit else "plain numbers",
            )
        )  # fmt: skip
    return found


def read_isolated(received: ReceivedFile, period: str) -> _FileParse:
    """`read_workbook`, where any failure of the file (a reader error, a panic of the native reader) becomes
    the file's own finding and never stops the other files of the run."""
    try:
        return read_workbook(received, period)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # calamine's PanicException derives from BaseException
        return _FileParse(received, _submission_record(received), [(-1, unreadable(received, error))])


def unreadable(received: ReceivedFile, error: BaseException | None = None) -> Finding:
    reason = f"（读取时出错：{type(error).__name__}）" if error is not None else ""
    return rule("structure.unreadable").finding(received.submission_id, received.file_name, reason=reason)


def empty_sheet(sheet: SheetSpec) -> pl.DataFrame:
    schema = {name: pl.String for name in LINEAGE_COLUMNS} | {"source_row": pl.Int64}
    return pl.DataFrame(schema=schema | {name: pl.String for name in sheet.parsed_columns})


# files a worker parses at a time: large enough that the frames it sends back are few, small enough to spread
CHUNK_FILES = 250
# below this many files, worker processes cost more to start (they import polars and fastexcel) than they save
PARALLEL_FROM_FILES = 400


def chunked(received_files: list[ReceivedFile], size: int = CHUNK_FILES) -> list[list[ReceivedFile]]:
    """The files of a run in chunks of `size`, in order: the unit of work of a parse worker or a Dask task."""
    return [received_files[start : start + size] for start in range(0, len(received_files), size)]


def default_workers(files: int) -> int:
    """Worker processes for parsing `files` files: one per core once there are enough files to pay for them."""
    if files < PARALLEL_FROM_FILES:
        return 1
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 8))


def merge_batches(period: str, batches: list[ParsedBatch]) -> ParsedBatch:
    """Parsed chunks of one run as one batch, in the order given (the order of the files)."""
    spec = template()
    return ParsedBatch(
        period=period,
        submissions=pl.concat(
            [pl.DataFrame(schema=SUBMISSION_SCHEMA), *(batch.submissions for batch in batches)], how="vertical"
        ),
        sheets={
            sheet.kind: pl.concat(
                [empty_sheet(sheet), *(batch.sheets[sheet.kind] for batch in batches)], how="vertical"
            )
            for sheet in spec.sheets
        },
        layouts=pl.concat([pl.DataFrame(schema=LAYOUT_SCHEMA), *(batch.layouts for batch in batches)], how="vertical"),
        findings=[finding for batch in batches for finding in batch.findings],
    )


# where a parse finds the pseudonymisation key: a key source (the warehouse's key, loaded where the parsing runs),
# a key itself, or None: a key for this parse alone (a self-check, which stores nothing)
Keys = KeySource | Pseudonymiser | None


def parse_batch(
    received_files: list[ReceivedFile],
    period: str,
    on_parsed: Callable[[ReceivedFile], None] | None = None,
    workers: int | None = None,
    keys: Keys = None,
) -> ParsedBatch:
    """Parse every file of a run and stack each sheet kind over all submissions.

    With more than one worker (by default one per core once a run has `PARALLEL_FROM_FILES` files), chunks of
    files are parsed in worker processes and merged in file order: the batch is the same either way.
    """
    keys = Pseudonymiser.ephemeral() if keys is None else keys  # one key for every chunk of the batch
    workers = default_workers(len(received_files)) if workers is None else workers
    if workers <= 1:
        return parse_chunk(received_files, period, on_parsed, keys)
    chunks = chunked(received_files, min(CHUNK_FILES, -(-len(received_files) // workers)))
    batches = []
    try:
        # spawn, not fork: the parent may hold threads (Prefect's, DuckDB's, Polars' pool) that a fork would break
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(parse_chunk, chunk, period, None, keys) for chunk in chunks]
            for chunk, future in zip(chunks, futures):
                batches.append(future.result())
                if on_parsed is not None:
                    for received in chunk:
                        on_parsed(received)
    except BrokenProcessPool:
        # a worker died (killed, out of memory, or a script without a __main__ guard): the files a dead worker
        # held are parsed here instead, so one broken process never costs the run
        log.warning("event=parse_workers_failed: parsing the remaining chunks in the run's own process")
        batches += [parse_chunk(chunk, period, on_parsed, keys) for chunk in chunks[len(batches) :]]
    return merge_batches(period, batches)


def parse_chunk(
    received_files: list[ReceivedFile],
    period: str,
    on_parsed: Callable[[ReceivedFile], None] | None = None,
    keys: Keys = None,
) -> ParsedBatch:
    """Parse some files of a run in this process and stack each sheet kind over them: a whole small run, or one
    chunk of a large one (in a worker process or a Dask task, where it is given no callback)."""
    spec = template()
    pseudonyms = keys.load() if isinstance(keys, KeySource) else keys or Pseudonymiser.ephemeral()
    files = []
    for received in received_files:
        files.append(read_isolated(received, period))
        if on_parsed is not None:
            on_parsed(received)
    sheets, cell_findings = {}, defaultdict(list)
    names = _listed_names(spec, files)
    for sheet in spec.sheets:
        bodies = [(index, file.bodies[sheet.kind]) for index, file in enumerate(files) if sheet.kind in file.bodies]
        sheets[sheet.kind], found = _sheet_frame(sheet, bodies, files, period, pseudonyms, names)
        order = spec.sheets.index(sheet)
        for index, place, finding in found:
            cell_findings[index].append(((order, 1, *place), finding))
    findings = []
    for index, file in enumerate(files):
        # a file's findings as a reader meets them: the cover, then sheet by sheet its structure, then cell by cell
        keyed = [((order, 0, position, 0, 0), finding) for position, (order, finding) in enumerate(file.findings)]
        findings += [finding for _, finding in sorted(keyed + cell_findings[index], key=lambda item: item[0])]
    return ParsedBatch(
        period=period,
        submissions=pl.DataFrame([file.submission for file in files], schema=SUBMISSION_SCHEMA),
        sheets=sheets,
        layouts=pl.DataFrame([row for file in files for row in file.layouts], schema=LAYOUT_SCHEMA),
        findings=findings,
    )

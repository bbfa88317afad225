"""The analyst relations (every table and view of `marts` and `report`) exported once, for a spreadsheet or a tool
that reads plain files: Parquet or CSV, one file per relation (`DIR/<schema>.<name>.<ext>`), or one Excel workbook
with a sheet per relation and an index sheet.

Unlike `publish --parquet` (a partitioned copy that is kept current and replaced whole), an export is a one-off
snapshot into a new or empty folder. The warehouse is opened read-only, in one transaction, so every file comes
from the same state of it; the files are written into a hidden sibling folder first and moved into place at the
end, so a failure leaves no half export behind.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from union_stats import office_time
from union_stats import warehouse as db
from union_stats.publish import parquet

FORMATS = ("parquet", "csv", "xlsx")
SCHEMAS = parquet.SCHEMAS
WORKBOOK = "union_stats.xlsx"
INDEX_SHEET = "index"
SHEET_NAME_LIMIT = 31  # Excel's own limit on a sheet name
EXCEL_ROW_LIMIT = 1_048_576  # rows of a sheet, the header included
STAGING_INFIX = ".exporting-"
# Excel opens a CSV file as UTF-8 only when it starts with the byte order mark (else as the system's code page:
# GBK on a Chinese Windows, and every name is garbled); Python (`utf-8-sig`), Polars, DuckDB and pandas skip it
BOM = "\ufeff"


class ExportError(RuntimeError):
    """The export could not be made: a one-line reason; nothing is left in the target folder."""


@dataclass(frozen=True)
class Exported:
    relation: str  # schema.name
    rows: int
    file: Path  # the file it is in (for xlsx, the workbook)
    sheet: str | None = None  # its sheet, in an xlsx export


def check_target(out: Path) -> None:
    """Refuse, before any work, a target that is a file, that sits in no folder, or that holds anything."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"cannot export to {out}: it is a file, not a folder")
    if not out.absolute().parent.is_dir():
        raise ExportError(f"cannot export to {out}: no folder {out.absolute().parent}")
    if out.is_dir() and any(out.iterdir()):
        raise ExportError(f"cannot export to {out}: the folder is not empty (give a new or empty folder)")


def sheet_names(relations: list[str]) -> dict[str, str]:
    """A sheet name for each relation: `schema.name` where it fits Excel's 31 characters, else cut short with a
    number that keeps it unique (the index sheet says which relation each sheet holds)."""
    names: dict[str, str] = {}
    taken = {INDEX_SHEET}
    for count, relation in enumerate(relations, start=1):
        name = relation if len(relation) <= SHEET_NAME_LIMIT else None
        if name is None or name.lower() in taken:
            suffix = f"~{count}"
            name = relation[: SHEET_NAME_LIMIT - len(suffix)] + suffix
        taken.add(name.lower())  # Excel compares sheet names without case
        names[relation] = name
    return names


def _cell(value: object) -> object:
    """A value as an Excel cell takes it: times in the office's zone without one, lists and structs as text."""
    if isinstance(value, datetime):
        return value.astimezone(office_time.zone()).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, (str, int, float, bool, Decimal, date)) or value is None:
        return value
    return str(value)


def _write_workbook(con: duckdb.DuckDBPyConnection, relations: list[parquet.Relation], path: Path) -> list[Exported]:
    import xlsxwriter

    workbook = xlsxwriter.Workbook(
        str(path), {"default_date_format": "yyyy-mm-dd", "strings_to_numbers": False, "strings_to_urls": False}
    )
    bold = workbook.add_format({"bold": True})
    timestamp = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    names = sheet_names([f"{relation.schema}.{relation.name}" for relation in relations])
    index = workbook.add_worksheet(INDEX_SHEET)
    index.write_row(0, 0, ("sheet", "relation", "kind", "rows", "description"), bold)
    exported = []
    for number, relation in enumerate(relations, start=1):
        qualified = f"{relation.schema}.{relation.name}"
        rows = con.execute(f"select * from {relation.qualified}").fetchall()
        if len(rows) + 1 > EXCEL_ROW_LIMIT:
            raise ExportError(
                f"{qualified} has {len(rows):,} rows, more than an Excel sheet holds: export it as parquet or csv"
            )
        sheet = workbook.add_worksheet(names[qualified])
        sheet.write_row(0, 0, [column.name for column in relation.columns], bold)
        sheet.freeze_panes(1, 0)
        for row_number, row in enumerate(rows, start=1):
            for column_number, value in enumerate(row):
                value = _cell(value)
                if isinstance(value, datetime):
                    sheet.write_datetime(row_number, column_number, value, timestamp)
                elif value is not None:
                    sheet.write(row_number, column_number, value)
        index.write_url(number, 0, f"internal:'{names[qualified]}'!A1", string=names[qualified])
        index.write_row(number, 1, (qualified, relation.kind, len(rows), relation.description or ""))
        exported.append(Exported(qualified, len(rows), path, names[qualified]))
    # Excel has no time zones: the times are the office's, and the index says which
    index.write(len(relations) + 2, 0, f"times are {office_time.zone_name()} ({office_time.zone_label()})")
    index.set_column(0, 1, 36)
    workbook.close()
    return exported


def _write_files(
    con: duckdb.DuckDBPyConnection, relations: list[parquet.Relation], folder: Path, fmt: str
) -> list[Exported]:
    options = "format parquet" if fmt == "parquet" else "format csv, header true"
    exported = []
    for relation in relations:
        qualified = f"{relation.schema}.{relation.name}"
        path = folder / f"{qualified}.{fmt}"
        written_to = path.with_name(f".{path.name}.copy") if fmt == "csv" else path
        # the path (under the folder the user named) is a parameter; only catalog identifiers are in the text
        copy = f"copy (select * from {relation.qualified}) to ? ({options})"
        written = con.execute(copy, [str(written_to)]).fetchall()[0][0]
        if fmt == "csv":  # DuckDB writes no byte order mark: the file is the mark, then DuckDB's text
            with path.open("wb") as target, written_to.open("rb") as source:
                target.write(BOM.encode("utf-8"))
                shutil.copyfileobj(source, target, 1 << 20)
            written_to.unlink()
        exported.append(Exported(qualified, int(written), path))
    return exported


def export(warehouse: Path, out: Path, fmt: str) -> list[Exported]:
    """Write every relation of the analyst schemas into `out` (new or empty) as `fmt`; what was written."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: one of {', '.join(FORMATS)}")
    check_target(out)
    staging = out.absolute().parent / f".{out.name}{STAGING_INFIX}{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        with db.connect(warehouse, read_only=True) as con:
            con.execute("begin transaction")  # one state of the warehouse for every file
            relations = parquet.relations(con)
            if not relations:
                raise ExportError(
                    f"the warehouse {warehouse} has no {' or '.join(SCHEMAS)} relations: run `union-stats run` first"
                )
            if fmt == "xlsx":
                exported = _write_workbook(con, relations, staging / WORKBOOK)
            else:
                exported = _write_files(con, relations, staging, fmt)
            con.execute("rollback")
        if out.exists():
            out.rmdir()  # empty, as checked: the staging folder takes its place
        staging.rename(out)
    except (duckdb.Error, db.WarehouseBusy, parquet.PublishError, OSError) as error:
        raise ExportError(f"cannot export the warehouse {warehouse}: {db.first_line(error)}") from error
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return [Exported(item.relation, item.rows, out / item.file.relative_to(staging), item.sheet) for item in exported]

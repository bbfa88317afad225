"""The read-only questions: `union-stats status` (who has submitted), `explain` (how a figure is made) and `sql` (an
analyst's query). Each opens the warehouse read-only and starts neither Prefect nor Great Expectations."""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated

import duckdb
import typer
from rich.table import Table
from rich.text import Text

from union_stats.cli.common import (
    Failure,
    Period,
    Warehouse,
    app,
    choice,
    example,
    existing_warehouse,
    print_table,
    stdout,
    warehouse_failure,
    write_utf8,
)
from union_stats.paths import WAREHOUSE_FILE

try:  # Typer vendors its own Click (typer._click); its exceptions are not those of the `click` package
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - a Typer that uses Click itself
    from click.exceptions import UsageError


@app.command(
    "status",
    short_help="which units have submitted for a period, on time or late",
    help="Which units have submitted for a period, when, on time or late, and with what outcome; and each unit's "
    "newest file with its own outcome (a rejected correction shows while an earlier file is the one that counts). "
    "In Chinese, or English with --lang en; a table that fits the terminal, or --format csv|json for machines.",
    epilog=example(
        "union-stats status --period 2022",
        "union-stats status --period 2023Q1 --lang en",
        "union-stats status --period 2023Q1 --format csv > status_2023Q1.csv",
    ),
)
def status_command(
    period: Period,
    warehouse: Warehouse = WAREHOUSE_FILE,
    lang: Annotated[
        str,
        typer.Option(
            "--lang",
            help="the language of headers and outcomes: zh (Chinese) or en (English)",
            callback=choice("zh", "en"),
            metavar="zh|en",
        ),
    ] = "zh",
    output: Annotated[
        str,
        typer.Option(
            "--format",
            help="table (fits the terminal; whole in a pipe), or csv / json: one row per unit, UTF-8, for machines",
            callback=choice("table", "csv", "json"),
            metavar="table|csv|json",
        ),
    ] = "table",
) -> int:
    from union_stats import status
    from union_stats import warehouse as db

    warehouse = existing_warehouse(warehouse)
    try:
        with db.connect(warehouse, read_only=True) as con:
            answered = status.answer(con, period)  # a year with quarters only: its quarters
    except (duckdb.Error, db.WarehouseBusy) as error:
        raise warehouse_failure(warehouse, error) from error
    if not answered:
        raise Failure(f"no submissions or expected units recorded for period {period} in {warehouse}")
    if output != "table":
        rows = [row for found in answered.values() for row in found]
        write_utf8(status.to_csv(rows, lang) if output == "csv" else status.to_json(rows, lang))
        return 0
    if period not in answered:
        stdout().print(status.from_quarters_note(period, list(answered), lang))
    for shown, rows in answered.items():
        print_table(status.table(shown, rows, lang))
    return 0


# --- explain: how a figure is made (src/union_stats/explain.py holds the logic) ---------------------------------

EXPLAIN_FORMATS = ("table", "json")


def _check_explain_format(value: str) -> str:
    if value not in EXPLAIN_FORMATS:
        raise typer.BadParameter(f"{value!r} is not a format: table or json")
    return value


@app.command(
    "explain",
    short_help="how a figure is made: its definition, each unit's contribution and the cells behind it",
    help="How a district figure is made, read from the warehouse (opened read-only): the report's words, the catalog "
    "indicator behind it (measure, detail sheet and filter or indicator row, aggregation, reporting group), each "
    "unit's contribution and share, and the file, sheet and cells (or rows) each comes from. Contributions add up "
    "to the figure's value; a distinct count (F23, F24) counts over the district and lists the distinct values. "
    "An unknown figure or period, or a missing warehouse, is one line and exit 2.",
    epilog=example(
        "union-stats explain F44 --period 2022",
        "union-stats explain F03 --period 2022 --format json --warehouse w.duckdb",
    ),
)
def explain_command(
    figure: Annotated[str, typer.Argument(help="the report figure, F01 to F66", metavar="FIGURE", show_default=False)],
    period: Period,
    warehouse: Warehouse = WAREHOUSE_FILE,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="table (for people, Chinese labels) or json",
            callback=_check_explain_format,
            metavar="FORMAT",
        ),
    ] = "table",
) -> int:
    from union_stats import explain
    from union_stats.warehouse import WarehouseBusy

    try:
        explanation = explain.explain(warehouse, figure, period)
    except explain.ExplainError as error:
        raise Failure(str(error), code=2) from error
    except (duckdb.Error, WarehouseBusy) as error:
        raise warehouse_failure(warehouse, error) from error
    if output_format == "json":
        print(json.dumps(explanation.to_json(), ensure_ascii=False, indent=2))
        return 0
    for part in explain.render(explanation):
        if isinstance(part, Table):
            print_table(part)
        else:
            stdout().print(part)
    return 0


# --- sql: an analyst's query, read-only ---------------------------------------------------------------------------

SQL_READ_ONLY = "只读：union-stats sql 不能修改数据仓库，也不能读写其他文件或更改设置 (read-only)"
# what DuckDB says when read_only or the lockdown (warehouse.ANALYST_LOCKDOWN) stops a statement; a
# duckdb.PermissionException (a file, an extension) is one too
SQL_BLOCKED = (
    "read-only mode",
    "configuration has been locked",
    "persistent secrets are disabled",
    "belongs to an attached database",
    "disabled by configuration",
    "disabled through configuration",
)
SQL_NUMERIC_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
    "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL",
}  # fmt: skip
SQL_FETCH_ROWS = 10_000  # CSV and JSON are written this many rows at a time


def _sql_query(query: str | None) -> str:
    """The query: the argument, else what is piped in on stdin (a terminal is not waited on)."""
    if query is None:
        try:
            query = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
        except (OSError, ValueError):  # no stdin to read (closed, or captured)
            query = ""
    if not query.strip():
        raise UsageError("no query: give it as the argument, or on stdin (echo 'select 1' | union-stats sql)")
    return query


def _sql_json(value: object) -> str:
    """One value as JSON: numbers stay numbers (a DECIMAL exactly as stored), times in ISO 8601."""
    from datetime import date, time
    from decimal import Decimal

    if value is None or isinstance(value, bool | int | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return json.dumps(value) if math.isfinite(value) else json.dumps(str(value))
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {_sql_json(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_sql_json(item) for item in value) + "]"
    if isinstance(value, date | time):  # a datetime is a date
        return json.dumps(value.isoformat())
    return json.dumps(_sql_text(value), ensure_ascii=False)


def _sql_text(value: object) -> str:
    """One value as text, for CSV and the table (NULL is the caller's: an empty field, or a dim NULL)."""
    from decimal import Decimal

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list | tuple | dict):
        return _sql_json(value)
    if isinstance(value, bytes):  # as DuckDB prints a BLOB
        return "".join(chr(byte) if 32 <= byte < 127 and byte != 92 else f"\\x{byte:02X}" for byte in value)
    return str(value)


def _sql_rows(result: duckdb.DuckDBPyConnection) -> Iterator[tuple]:
    while rows := result.fetchmany(SQL_FETCH_ROWS):
        yield from rows


def _sql_table(columns: list[str], types: list[str], rows: list[tuple]) -> Table:
    table = Table(caption=f"{len(rows):,} row{'' if len(rows) == 1 else 's'}")
    for name, kind in zip(columns, types, strict=True):
        numeric = kind.split("(")[0] in SQL_NUMERIC_TYPES
        table.add_column(Text(name), justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(Text("NULL", style="dim") if value is None else Text(_sql_text(value)) for value in row))
    return table


def _sql_failure(error: duckdb.Error) -> Failure:
    """A statement DuckDB refused or failed: exit 2 for the query's own mistake (bad SQL, a write), else 1."""
    from union_stats.warehouse import first_line

    line = first_line(error)
    if isinstance(error, duckdb.PermissionException) or any(text in str(error).lower() for text in SQL_BLOCKED):
        return Failure(f"{SQL_READ_ONLY}: {line}", 2)
    if isinstance(error, duckdb.OutOfMemoryException):
        return Failure(
            f"union-stats sql: {line} (UNION_STATS_DUCKDB_MEMORY_LIMIT raises the limit; nothing spills to disk here)"
        )
    if isinstance(error, duckdb.InternalException | duckdb.FatalException):
        return Failure(f"union-stats sql: {line}")
    return Failure(f"union-stats sql: {line}", 2)


class SqlFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command(
    "sql",
    short_help="ask the warehouse a read-only SQL query (DuckDB) and print the rows",
    help="Ask the warehouse a SQL query (DuckDB's dialect) and print the rows: a table that fits the terminal, CSV "
    "or JSON (an array of objects). QUERY may instead come on stdin. The warehouse is opened read-only and locked "
    "down: a statement that would change it, read or write any other file (COPY, ATTACH, EXPORT, read_csv), "
    "install or load an extension, or change a setting is refused with exit 2, as is a query DuckDB cannot run; "
    "exit 1 when a run is writing the warehouse.",
    epilog=example(
        "union-stats sql \"select figure_id, reproduced, matches from report.district_figures where period = '2022'\"",
        "union-stats sql --format csv 'from marts.fct_indicator_value' > values.csv",
        "echo 'select period, count(*) from ops.submissions group by all' | union-stats sql --format json",
    ),
)
def sql_command(
    query: Annotated[
        str | None,
        typer.Argument(
            help="the SQL to run (several statements: the last one's rows are printed)  [default: read from stdin]",
            show_default=False,
            metavar="QUERY",
        ),
    ] = None,
    warehouse: Warehouse = WAREHOUSE_FILE,
    output: Annotated[
        SqlFormat,
        typer.Option(
            "--format",
            help="table (rich, fits the terminal), csv (a header row, NULL as an empty field) or json",
            case_sensitive=False,
        ),
    ] = SqlFormat.table,
) -> int:
    from union_stats import warehouse as db

    query = _sql_query(query)
    warehouse = existing_warehouse(warehouse, code=2)
    try:
        con = db.analyst_connection(warehouse)
    except duckdb.Error as error:
        if "lock" in str(error).lower():
            raise Failure(
                f"the warehouse {warehouse} is in use by a writer (a `union-stats run`, or a client holding it "
                "open read-write): try again when it has finished"
            ) from error
        raise Failure(f"cannot read the warehouse {warehouse}: {db.first_line(error)}", 2) from error
    try:
        result = con.execute(query)
        if result.description is None:  # a statement without a result
            return 0
        columns = [column[0] for column in result.description]
        if output == SqlFormat.table:
            print_table(_sql_table(columns, [str(column[1]) for column in result.description], result.fetchall()))
        elif output == SqlFormat.csv:
            from union_stats.publish.export import BOM

            write_utf8(BOM)  # for Excel, as every CSV the command line writes
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(columns)
            for row in _sql_rows(result):
                writer.writerow(["" if value is None else _sql_text(value) for value in row])
        else:  # one object a row, keyed by column (a repeated name gets _2, _3, ...)
            keys: list[str] = []
            for name in columns:
                key, n = name, 1
                while key in keys:
                    n += 1
                    key = f"{name}_{n}"
                keys.append(key)
            names = [json.dumps(key, ensure_ascii=False) for key in keys]
            sys.stdout.write("[")
            for index, row in enumerate(_sql_rows(result)):
                fields = ", ".join(f"{name}: {_sql_json(value)}" for name, value in zip(names, row, strict=True))
                sys.stdout.write(("," if index else "") + "\n{" + fields + "}")
            sys.stdout.write("\n]\n")
        sys.stdout.flush()
    except duckdb.Error as error:
        raise _sql_failure(error) from error
    except BrokenPipeError:  # `union-stats sql ... | head`: the reader has what it wanted
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python exits
        except (OSError, ValueError):
            pass
    finally:
        con.close()
    return 0

"""The `union-stats` command: run the pipeline, write templates and sample data, check files.

Every plain mistake (a period that is no period, a file or a warehouse that is not there, a count below one)
is answered with one line on stderr and exit code 2 (usage) or 1 (failure), and leaves no file behind.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from union_stats.paths import RAW_DIR, WAREHOUSE_FILE

try:  # Typer vendors its own Click (typer._click); its exceptions are not those of the `click` package
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # pragma: no cover - a Typer that uses Click itself
    from click.exceptions import ClickException, UsageError
from union_stats.periods import FIRST_YEAR, LAST_YEAR, PeriodError, is_period, is_quarter

# soft_wrap: a long line (a path, a rejected file's reason) is printed whole, not broken at rich's 80 columns
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True, highlight=False)

# in a pipe or a file rich cannot measure a terminal and assumes 80 columns; a table then takes the width its
# cells need, up to this
PIPE_TABLE_WIDTH = 400


class Failure(Exception):
    """A command that cannot do what it was asked: one line on stderr and this exit code (1, or 2 for usage)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _print_table(table: Table) -> None:
    """Print a table whole: on a terminal at its width, in a pipe or a file at the width its cells need."""
    if console.is_terminal or "COLUMNS" in os.environ:
        console.print(table)
        return
    natural = console.measure(table, options=console.options.update_width(PIPE_TABLE_WIDTH)).maximum
    width = console.width
    if natural <= width:
        console.print(table)
        return
    console.width = natural
    try:
        console.print(table)
    finally:
        console.width = width


def _figures_table(period: str, figures: list) -> Table:
    if all(figure.published is None for figure in figures):
        return _unreported_figures_table(period, figures)
    matched = sum(figure.matches for figure in figures)
    incomplete = sum(not figure.complete for figure in figures)
    title = f"District figures {period}: {matched} of {len(figures)} match"
    if incomplete:
        title += f" [yellow]({incomplete} incomplete: not every unit of their group has an accepted file)[/]"
    table = Table(title=title)
    for header, justify in (
        ("figure", "left"),
        ("report says", "left"),
        ("published", "right"),
        ("reproduced", "right"),
        ("value (base unit)", "right"),
        ("", "center"),
        ("units", "right"),
    ):
        table.add_column(header, justify=justify)
    for figure in figures:
        value = "—" if figure.value is None else f"{figure.value:,.2f}".rstrip("0").rstrip(".")
        # units with a current accepted file / units of the figure's group expected; yellow ⚠ when some are missing
        units = f"{figure.units_accepted}/{figure.units_expected}"
        table.add_row(
            figure.figure_id,
            figure.quote_zh[:28],
            figure.published,
            figure.reproduced or "—",
            f"{value} {figure.base_unit}",
            "[green]✓[/]" if figure.matches else "[red]✗[/]",
            units if figure.complete else f"[yellow]{units} ⚠[/]",
        )
    return table


def _value_text(value) -> str:
    return "—" if value is None else f"{value:,.2f}".rstrip("0").rstrip(".")


def _unreported_figures_table(period: str, figures: list) -> Table:
    """A period without a published report (reference/published_reports.csv): its figures are shown with their
    values and what they rest on, and compared with nothing (the 2022 report's numbers say nothing of 2023)."""
    incomplete = sum(not figure.complete for figure in figures)
    nonzero = sum(bool(figure.value) for figure in figures)
    title = (
        f"District figures {period}: {len(figures)} figures ({nonzero} non-zero), no published report to compare with"
    )
    if incomplete:
        title += f" [yellow]({incomplete} incomplete: not every unit of their group has an accepted file)[/]"
    table = Table(title=title)
    for header, justify in (("figure", "left"), ("report says (2022)", "left"), ("value (base unit)", "right")):
        table.add_column(header, justify=justify)
    table.add_column("units", justify="right")
    for figure in figures:
        units = f"{figure.units_accepted}/{figure.units_expected}"
        table.add_row(
            figure.figure_id,
            figure.quote_zh[:28],
            f"{_value_text(figure.value)} {figure.base_unit}",
            units if figure.complete else f"[yellow]{units} ⚠[/]",
        )
    return table


def _targets_table(targets: list[dict]) -> Table:
    first = targets[0]
    table = Table(title=f"Targets {first['year']} (reference/targets.csv): progress as of {first['period']}")
    for header, justify in (
        ("stated target", "left"),
        ("indicator", "left"),
        ("target", "right"),
        ("achieved", "right"),
        ("progress", "right"),
        ("met", "center"),
    ):
        table.add_column(header, justify=justify)
    for row in targets:
        ratio = "—" if row["progress_ratio"] is None else f"{float(row['progress_ratio']):.0%}"
        table.add_row(
            row["quote_zh"],
            row["indicator_code"],
            _value_text(row["target"]),
            _value_text(row["achieved"]),
            ratio,
            "[green]✓[/]" if row["met"] else "—",
        )
    return table


def _print_unreported(period: str, figures: list, warehouse: Path) -> str:
    """After the figures of a period without a published report: its year's targets, if any; and the words the
    run's last line says instead of "N of 66 match" (units with an accepted file, figures complete)."""
    from union_stats import warehouse as db

    try:
        targets = db.read_target_progress(warehouse, period)
        units = db.read_completeness(warehouse, period)
    except (duckdb.Error, db.WarehouseBusy) as error:
        raise _warehouse_failure(warehouse, error) from error
    if targets:
        _print_table(_targets_table(targets))
    accepted = sum(row["status"] in ("accepted", "accepted_with_warnings") for row in units)
    complete = sum(figure.complete for figure in figures)
    return (
        f"{accepted} of {len(units)} units with an accepted file; {complete} of {len(figures)} figures complete; "
        f"no published report for {period}: nothing to compare with"
    )


PARQUET_DIR_ENV = "UNION_STATS_PARQUET_DIR"


def _parquet_setting() -> Path | None:
    """The folder `UNION_STATS_PARQUET_DIR` names: `union-stats run` publishes the Parquet copy there."""
    value = os.environ.get(PARQUET_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def _publish_after_run(warehouse: Path, target: Path, *, only_if_stale: bool) -> None:
    """The Parquet copy after a run (`UNION_STATS_PARQUET_DIR`); after a no-op run only when the copy there is
    missing or older than the warehouse's latest successful run. A failure is exit 1 with one line: the run's
    work is kept in the warehouse, the previous copy is unchanged, and the line says how to publish again."""
    from union_stats import parquet
    from union_stats.warehouse import first_line

    try:
        if only_if_stale and parquet.is_current(target, warehouse):
            console.print(f"Parquet copy {target} is up to date")
            return
        published = parquet.publish(warehouse, target)
    except (parquet.PublishError, duckdb.Error) as error:
        raise Failure(
            f"the run's data are in the warehouse {warehouse}, but publishing the Parquet copy "
            f"({PARQUET_DIR_ENV}) failed: {first_line(error)}; the previous copy is unchanged: "
            f"`union-stats publish --parquet {target} --warehouse {warehouse}` publishes it again"
        ) from error
    console.print(f"published {published.relations} relations ({published.rows:,} rows) as Parquet to {target}")


def cmd_run(args: argparse.Namespace) -> int:
    from union_stats import discover

    parquet_dir = _parquet_setting()
    if parquet_dir is not None:
        from union_stats import parquet

        try:
            parquet.check_target(parquet_dir)
        except parquet.PublishError as error:
            raise Failure(f"run failed before starting: {PARQUET_DIR_ENV}: {error}") from error
    if not args.raw_dir.is_dir():
        raise Failure(f"run failed: no folder {args.raw_dir}" + (" (it is a file)" if args.raw_dir.exists() else ""))
    if args.warehouse.exists() and not args.warehouse.is_file():
        raise Failure(f"run failed: the warehouse {args.warehouse} is a folder, not a DuckDB file")
    period = args.period or discover.latest_period(args.raw_dir)
    if period is None or not (args.raw_dir / period).is_dir():
        wanted = (
            f"folder {args.raw_dir / period}" if period else f"period folder (like 2022 or 2022Q1) under {args.raw_dir}"
        )
        raise Failure(f"run failed: no {wanted}")
    try:
        from union_stats import warehouse

        unchanged = warehouse.nothing_new(args.raw_dir, args.warehouse, args.period)
        if unchanged is None:
            dask = getattr(args, "dask", None)
            if dask is not None:
                from flows.cluster import ClusterError, check_scheduler

                try:  # before anything is written: a scheduler that does not answer is a one-line failure
                    check_scheduler(dask)
                except ClusterError as error:
                    raise Failure(f"run failed: {error}") from error
            from union_stats.paths import use_prefect_home

            use_prefect_home(args.warehouse)  # before Prefect is imported: its state lives beside the warehouse
            from union_stats import prefect_server

            server = prefect_server.start()  # its start-up overlaps with importing Prefect and the flow
            with warehouse.run_lock(args.warehouse):
                from flows.ingest import run_ingest

                if server is not None:
                    from union_stats.validate.gx_runner import preload

                    preload()  # the run validates: Great Expectations loads while the server starts
                    server.wait_ready()
                summary = run_ingest(
                    period=args.period, raw_dir=args.raw_dir, warehouse=args.warehouse, dask_address=dask
                )
    except Failure:
        raise
    except Exception as error:  # the operator gets one line; the flow's log has the rest
        raise Failure(f"run failed: {type(error).__name__}: {error}") from error
    from union_stats import warehouse as db

    if unchanged is not None:
        period, figures = unchanged
        _print_table(_figures_table(period, figures))
        if db.has_published_report(figures):
            outcome = f"{sum(f.matches for f in figures)} of {len(figures)} figures match"
        else:
            outcome = _print_unreported(period, figures, args.warehouse)
        console.print(
            f"period {period}: nothing new since the last run (every file is in the warehouse); [bold]{outcome}[/]"
        )
        if parquet_dir is not None:
            _publish_after_run(args.warehouse, parquet_dir, only_if_stale=True)
        return 0
    _print_table(_figures_table(summary.period, summary.figures))
    if summary.compared:
        outcome = f"{summary.matched} of {len(summary.figures)} figures match"
    else:
        outcome = _print_unreported(summary.period, summary.figures, args.warehouse)
    console.print(
        f"period {summary.period}: {summary.files} files, {summary.processed} new: {summary.accepted} accepted, "
        f"{summary.rejected} rejected, {summary.held} held; [bold]{outcome}[/]; warehouse {args.warehouse}"
    )
    for file_name, reason in summary.rejected_files:
        console.print(f"[red]rejected[/] {escape(file_name)}: {escape(reason)}")
    if summary.report_dir is not None:
        console.print(f"data-quality reports: {summary.report_dir}")
    if parquet_dir is not None:  # a flow that found nothing new (started another way meanwhile) changed nothing
        _publish_after_run(args.warehouse, parquet_dir, only_if_stale=summary.processed == 0)
    return 0


def _existing_warehouse(warehouse: Path, code: int = 1) -> Path:
    """close, reopen and status work on a warehouse a run made: never create one (an empty .duckdb file)."""
    if not warehouse.exists():
        raise Failure(f"no warehouse at {warehouse}: run `union-stats run` first", code)
    if not warehouse.is_file():
        raise Failure(f"no warehouse at {warehouse}: it is a folder, not a DuckDB file", code)
    return warehouse


def _warehouse_failure(warehouse: Path, error: Exception) -> Failure:
    from union_stats.warehouse import first_line

    return Failure(f"cannot use the warehouse {warehouse}: {first_line(error)}")


def cmd_status(args: argparse.Namespace) -> int:
    from union_stats import status
    from union_stats import warehouse as db

    warehouse = _existing_warehouse(args.warehouse)
    try:
        with db.connect(warehouse, read_only=True) as con:
            rows = status.rows(con, args.period)
    except (duckdb.Error, db.WarehouseBusy) as error:
        raise _warehouse_failure(warehouse, error) from error
    if not rows:
        raise Failure(f"no submissions or expected units recorded for period {args.period} in {warehouse}")
    lang = getattr(args, "lang", "zh")
    output = getattr(args, "format", "table")
    if output == "table":
        _print_table(status.table(args.period, rows, lang))
        return 0
    text = status.to_csv(rows, lang) if output == "csv" else status.to_json(rows, lang)
    _write_utf8(text)
    return 0


def _write_utf8(text: str) -> None:
    """Machine output is UTF-8 whatever the locale (a GBK console on Windows, LANG=C in a cron job)."""
    sys.stdout.flush()
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:  # a text-only stream (a test's StringIO): it takes the text as is
        sys.stdout.write(text)
        return
    binary.write(text.encode("utf-8"))
    binary.flush()


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


def cmd_sql(args: argparse.Namespace) -> int:
    from union_stats import warehouse as db

    query = _sql_query(args.query)
    warehouse = _existing_warehouse(args.warehouse, code=2)
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
        if args.format == "table":
            _print_table(_sql_table(columns, [str(column[1]) for column in result.description], result.fetchall()))
        elif args.format == "csv":
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


def cmd_publish(args: argparse.Namespace) -> int:
    from union_stats import parquet

    try:
        parquet.check_target(args.parquet)  # before the warehouse: a wrong folder is said first, and costs nothing
        published = parquet.publish(_existing_warehouse(args.warehouse), args.parquet)
    except parquet.PublishError as error:
        raise Failure(str(error)) from error
    manifest = published.manifest
    run = manifest["last_run"]
    console.print(
        f"published {published.relations} relations of {' and '.join(parquet.SCHEMAS)} ({published.rows:,} rows; "
        f"periods {', '.join(manifest['periods']) or 'none'}; last run {run['run_id'] if run else 'none'}) "
        f"to {args.parquet}"
    )
    console.print(f"manifest: {args.parquet / parquet.MANIFEST}")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    """The data dictionary: every documented relation and column of the warehouse, with its type, as one page."""
    from union_stats import model_docs
    from union_stats import warehouse as db
    from union_stats.paths import data_dictionary_for

    warehouse = _existing_warehouse(args.warehouse)
    out = args.out if args.out is not None else data_dictionary_for(warehouse)
    if out.is_dir():
        raise Failure(f"cannot write the data dictionary to {out}: it is a folder; give a file name (.html)")
    if not out.parent.is_dir():
        raise Failure(f"cannot write the data dictionary to {out}: the folder {out.parent} does not exist")
    try:
        with db.connect(warehouse, read_only=True) as con:
            model_docs.write_dictionary(con, out)
    except model_docs.DocError as error:
        raise Failure(f"the model documentation is wrong: {error}") from error
    except (duckdb.Error, db.WarehouseBusy) as error:
        raise _warehouse_failure(warehouse, error) from error
    console.print(f"data dictionary: {out}")
    return 0


def cmd_lock(args: argparse.Namespace) -> int:
    from union_stats import warehouse as db

    closing = args.command == "close"
    warehouse = _existing_warehouse(args.warehouse)
    try:
        changed = db.set_period_lock(warehouse, args.period, closed=closing, note=getattr(args, "note", "") or "")
    except (duckdb.Error, db.WarehouseBusy) as error:
        raise _warehouse_failure(warehouse, error) from error
    state = "closed" if closing else "open"
    console.print(f"period {args.period} {'is now' if changed else 'was already'} {state}")
    if not closing and changed:
        console.print("files that arrived while it was closed load on the next `union-stats run`")
    return 0


def cmd_template(args: argparse.Namespace) -> int:
    from union_stats import reference, template

    units = {unit.unit_code: unit for unit in reference.reference_units()}
    if args.unit not in units:
        raise typer.BadParameter(f"unknown unit code {args.unit!r}; known: {', '.join(units)}", param_hint="'--unit'")
    out = Path(args.out)
    if out.suffix.lower() != ".xlsx":
        raise typer.BadParameter(
            f"{args.out!r} does not end in .xlsx (the template is an Excel workbook)", param_hint="'--out'"
        )
    if out.is_dir():
        raise Failure(f"cannot write {out}: it is a folder")
    if not out.parent.is_dir():
        raise Failure(f"cannot write {out}: no folder {out.parent}")
    version = args.template_version or reference.CURRENT_TEMPLATE
    if version not in reference.accepted_versions(args.period):
        accepted = ", ".join(reference.accepted_versions(args.period)) or "none"
        raise typer.BadParameter(
            f"{args.period} does not accept template {version} (accepted: {accepted})",
            param_hint="'--template-version'",
        )
    path = template.write_blank(out, units[args.unit], args.period, template_version=version)
    console.print(f"wrote {path}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from union_stats import reference, sample

    if args.quarterly and is_quarter(args.period):
        raise typer.BadParameter(
            f"--quarterly writes the four quarters of a year: give a year, not {args.period}", param_hint="'--period'"
        )
    if args.quarterly and args.units is not None:
        raise UsageError("--units and --quarterly do not go together (--quarterly writes the 18 real units)")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise Failure(f"cannot write into {out}: it is a file, not a folder")
    version = args.template_version or reference.CURRENT_TEMPLATE
    if args.quarterly:
        paths = sample.write_year(args.period, out, seed=args.seed, template_version=version)
    else:
        paths = sample.write_sample(args.period, out, units=args.units, seed=args.seed, template_version=version)
    console.print(f"wrote {len(paths)} workbooks to {args.out}")
    return 0


def cmd_suites(args: argparse.Namespace) -> int:
    from union_stats import analyst_views, warehouse
    from union_stats.validate import suites

    for path in [*suites.write_suites(), *warehouse.write_raw_ddl(), *analyst_views.write_wide_view()]:
        console.print(f"wrote {path}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    if args.dry_run:
        from flows.schedules import next_runs

        for deployment, runs in next_runs().items():
            console.print(f"{deployment}: " + ", ".join(f"{run:%Y-%m-%d %H:%M %z}" for run in runs))
        return 0
    from union_stats.paths import use_prefect_home

    use_prefect_home(WAREHOUSE_FILE)  # before Prefect is imported: the scheduled runs load the default warehouse
    from flows.schedules import serve_deployments

    serve_deployments()  # blocks until interrupted; Prefect pauses the schedules on shutdown
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from union_stats import bench

    out = args.out
    if out is not None:
        if out.suffix.lower() not in (".csv", ".json"):
            raise typer.BadParameter(
                f"{str(out)!r} does not end in .csv or .json (the table is written as CSV or JSON)",
                param_hint="'--out'",
            )
        if out.is_dir():
            raise Failure(f"cannot write {out}: it is a folder")
        if not out.parent.is_dir():
            raise Failure(f"cannot write {out}: no folder {out.parent}")
    if args.work_dir.exists() and not args.work_dir.is_dir():
        raise typer.BadParameter(f"{args.work_dir} is a file, not a folder", param_hint="'--work-dir'")

    def progress(row: bench.Row) -> None:
        n = "" if row.n is None else f"N={row.n:,} "
        console.print(f"[dim]{n}{escape(row.measure)}: {row.seconds:,.2f} s[/]")

    console.print(f"machine: {bench.machine_line(bench.machine())}")
    try:
        result = bench.measure(args.units, args.work_dir, args.seed, shipped_raw_dir=RAW_DIR, on_row=progress)
    except bench.BenchError as error:
        raise Failure(f"bench failed: {error}") from error
    for table in bench.tables(result):
        _print_table(table)
    console.print(f"machine: {bench.machine_line(result.machine)}")
    if out is not None:
        console.print(f"wrote {bench.write(result, out)}")
    return 0


SEVERITY_ZH = {"error": "[red]错误[/]", "warning": "[yellow]警告[/]", "info": "[blue]提示[/]"}


def cmd_validate(args: argparse.Namespace) -> int:
    from union_stats import checking
    from union_stats.quality_report import OUTCOME_ZH

    missing = [path for path in args.files if not path.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(str(path) for path in missing)}")
    if args.report_dir is not None and args.report_dir.exists() and not args.report_dir.is_dir():
        raise typer.BadParameter(f"{args.report_dir} is a file, not a folder", param_hint="'--report-dir'")
    results = checking.check_files(args.files, report_dir=args.report_dir)
    any_error = False
    for result in results:
        any_error |= result.status == "rejected"
        console.rule(f"{result.file_name}  [{result.period}]  {OUTCOME_ZH[result.status]}")
        for path in result.reports:
            console.print(f"报告：{path}", soft_wrap=True)
        if not result.findings:
            console.print("未发现问题。")
            continue
        table = Table(show_header=True, header_style="bold")
        table.add_column("严重程度", no_wrap=True)
        table.add_column("位置", no_wrap=True)  # a cell reference split over two lines cannot be found
        table.add_column("填报值", overflow="fold", max_width=20)
        table.add_column("规则", overflow="fold")
        table.add_column("问题及修改方法", overflow="fold")
        for finding in result.findings:
            table.add_row(
                SEVERITY_ZH.get(finding.severity, finding.severity),
                finding.where or "整个文件",
                finding.value or "",
                finding.rule,
                finding.message,
            )
        console.print(table)
    return 1 if any_error else 0


# ---------------------------------------------------------------------------------------------------------------
# the command line (Typer on Click): every option has help, defaults are shown, each command has an example


def _check_period(value: str | None) -> str | None:
    """A year (2022) or a quarter (2022Q3) of a real year: anything else is a usage error, before any work."""
    if value is None:
        return None
    text = value.strip()
    if not is_period(text) or not FIRST_YEAR <= int(text[:4]) <= LAST_YEAR:
        raise typer.BadParameter(
            f"{value!r} is not a period: a year like 2022 or a quarter like 2022Q3 (Q1 to Q4), "
            f"years {FIRST_YEAR} to {LAST_YEAR}"
        )
    return text


def _check_dask(value: str | None) -> str | None:
    """A Dask scheduler address `tcp://host:port` (checked for its form only; the run connects to it)."""
    if value is None or not value.strip():
        return None
    from flows.cluster import address_problem

    problem = address_problem(value)
    if problem is not None:
        raise typer.BadParameter(problem)
    return value.strip()


def _choice(*values: str):
    """A callback that takes one of `values` (any case) and answers anything else with a usage error."""

    def check(value: str) -> str:
        text = str(value).strip().lower()
        if text not in values:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(values)}")
        return text

    return check


def _shown(path: Path) -> str:
    """A default path as help shows it: relative to the current folder when it is under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _example(*lines: str) -> str:
    return "\b\nExample:\n" + "\n".join(f"  {line}" for line in lines)


PERIOD_HELP = "a year (2022) or a quarter (2022Q3)"
WAREHOUSE_HELP = "the DuckDB warehouse file (made by `union-stats run`)"

app = typer.Typer(
    name="union-stats",
    help="Panyu union statistics warehouse: load, check and publish the units' statistics workbooks.",
    add_completion=False,
    no_args_is_help=False,
    rich_markup_mode=None,  # plain Click help: readable in a pipe, nothing cut at 80 columns
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
)

Period = Annotated[
    str, typer.Option("--period", help=PERIOD_HELP, callback=_check_period, show_default=False, metavar="PERIOD")
]
RawDir = Annotated[
    Path,
    typer.Option(
        "--raw-dir",
        help=f"folder holding one folder per period (where the units' files are)  [default: {_shown(RAW_DIR)}]",
        show_default=False,
        metavar="DIR",
    ),
]
Warehouse = Annotated[
    Path,
    typer.Option(
        "--warehouse", help=f"{WAREHOUSE_HELP}  [default: {_shown(WAREHOUSE_FILE)}]", show_default=False, metavar="FILE"
    ),
]


@app.command(
    "run",
    short_help="ingest a period's workbooks into the warehouse and print the figures",
    help="Ingest a period's workbooks into the warehouse and print the district figures; exit 1 with one line "
    "when the run fails. With UNION_STATS_PARQUET_DIR=DIR set, also publish the Parquet copy into DIR (as "
    "`union-stats publish --parquet DIR` does) after a run that loaded something, or when the copy there is missing "
    "or older than the warehouse's last run.",
    epilog=_example(
        "union-stats run --period 2022",
        "union-stats run --raw-dir data/raw --warehouse w.duckdb",
        "union-stats run --raw-dir /shared/raw --warehouse /shared/w.duckdb --dask tcp://10.0.0.5:8786",
    ),
)
def _run(
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help=f"{PERIOD_HELP}  [default: the latest period folder under --raw-dir]",
            callback=_check_period,
            show_default=False,
            metavar="PERIOD",
        ),
    ] = None,
    raw_dir: RawDir = RAW_DIR,
    warehouse: Warehouse = WAREHOUSE_FILE,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="also print Prefect's log lines (they always go to its API)")
    ] = False,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            help="parse and validate on the Dask cluster whose scheduler is at this address, tcp://host:port; its "
            "workers must read the raw folder and the warehouse's folder at the same paths  "
            "[default: this machine, without Dask]",
            envvar="UNION_STATS_DASK_ADDRESS",
            callback=_check_dask,
            show_default=False,
            show_envvar=True,
            metavar="ADDRESS",
        ),
    ] = None,
) -> int:
    if not verbose:
        # the terminal shows the project's own lines; Prefect's log (tracebacks of a failed run included) still
        # reaches its API and UI, and `--verbose` prints it here too
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    return cmd_run(
        argparse.Namespace(
            command="run", period=period, raw_dir=raw_dir, warehouse=warehouse, verbose=verbose, dask=dask
        )
    )


@app.command(
    "validate",
    short_help="check workbooks with the same rules as a run, without the warehouse",
    help="Check workbooks with the same rules as a run, without the warehouse; exit 0 when no file has an "
    "error, 1 when any has, 2 for a usage error.",
    epilog=_example("union-stats validate data/raw/2022/shiqiao_2022.xlsx --report-dir reports"),
)
def _validate(
    files: Annotated[
        list[Path], typer.Argument(help="the workbooks (.xlsx) to check", metavar="FILE", show_default=False)
    ],
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report-dir",
            help="write an HTML report and an annotated copy of each file into this "
            "folder  [default: no reports, only the findings printed]",
            show_default=False,
            metavar="DIR",
        ),
    ] = None,
) -> int:
    return cmd_validate(argparse.Namespace(command="validate", files=files, report_dir=report_dir))


@app.command(
    "status",
    short_help="which units have submitted for a period, on time or late",
    help="Which units have submitted for a period, when, on time or late, and with what outcome; and each unit's "
    "newest file with its own outcome (a rejected correction shows while an earlier file is the one that counts). "
    "In Chinese, or English with --lang en; a table that fits the terminal, or --format csv|json for machines.",
    epilog=_example(
        "union-stats status --period 2022",
        "union-stats status --period 2023Q1 --lang en",
        "union-stats status --period 2023Q1 --format csv > status_2023Q1.csv",
    ),
)
def _status(
    period: Period,
    warehouse: Warehouse = WAREHOUSE_FILE,
    lang: Annotated[
        str,
        typer.Option(
            "--lang",
            help="the language of headers and outcomes: zh (Chinese) or en (English)",
            callback=_choice("zh", "en"),
            metavar="zh|en",
        ),
    ] = "zh",
    output: Annotated[
        str,
        typer.Option(
            "--format",
            help="table (fits the terminal; whole in a pipe), or csv / json: one row per unit, UTF-8, for machines",
            callback=_choice("table", "csv", "json"),
            metavar="table|csv|json",
        ),
    ] = "table",
) -> int:
    return cmd_status(
        argparse.Namespace(command="status", period=period, warehouse=warehouse, lang=lang, format=output)
    )


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
    epilog=_example(
        "union-stats sql \"select figure_id, reproduced, matches from report.district_figures where period = '2022'\"",
        "union-stats sql --format csv 'from marts.fct_indicator_value' > values.csv",
        "echo 'select period, count(*) from ops.submissions group by all' | union-stats sql --format json",
    ),
)
def _sql(
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
    return cmd_sql(argparse.Namespace(command="sql", query=query, warehouse=warehouse, format=output.value))


@app.command(
    "close",
    short_help="close a period the district has approved: later files are kept, not loaded",
    help="Close a period the district has approved: files arriving later are kept and reported, not loaded.",
    epilog=_example('union-stats close --period 2022 --note "approved 2023-03-01"'),
)
def _close(
    period: Period,
    note: Annotated[
        str,
        typer.Option(
            "--note",
            help="why or on whose approval, kept with the lock  [default: no note]",
            show_default=False,
            metavar="TEXT",
        ),
    ] = "",
    warehouse: Warehouse = WAREHOUSE_FILE,
) -> int:
    return cmd_lock(argparse.Namespace(command="close", period=period, note=note, warehouse=warehouse))


@app.command(
    "reopen",
    short_help="reopen a closed period",
    help="Reopen a closed period: files held while it was closed load on the next run.",
    epilog=_example("union-stats reopen --period 2022"),
)
def _reopen(period: Period, warehouse: Warehouse = WAREHOUSE_FILE) -> int:
    return cmd_lock(argparse.Namespace(command="reopen", period=period, warehouse=warehouse))


@app.command(
    "publish",
    short_help="publish marts and report as Hive-partitioned Parquet (by period) with a manifest",
    help="Publish every table and view of the marts and report schemas as Parquet, partitioned by period (or year) "
    "with Hive folders, and a manifest.json, into DIR: one copy several machines and BI tools read without the "
    "DuckDB file. DIR is replaced as a whole, in one swap (readers never see half a copy); a failure leaves the "
    "previous copy as it was. Set UNION_STATS_PARQUET_DIR to publish on each `union-stats run`.",
    epilog=_example(
        "union-stats publish --parquet /srv/share/union-stats",
        "union-stats publish --parquet out/parquet --warehouse w.duckdb",
    ),
)
def _publish(
    parquet: Annotated[
        Path,
        typer.Option(
            "--parquet",
            help="the folder to publish into: new, empty, or a copy published before (it is replaced whole); its "
            "parent folder must exist",
            show_default=False,
            metavar="DIR",
        ),
    ],
    warehouse: Warehouse = WAREHOUSE_FILE,
) -> int:
    return cmd_publish(argparse.Namespace(command="publish", parquet=parquet, warehouse=warehouse))


@app.command(
    "docs",
    short_help="write the data dictionary: every relation and column, described, with its type and tests",
    help="Write the data dictionary of the warehouse as one self-contained HTML page (no script, nothing fetched): "
    "each schema, table and view with its description in Chinese and English, its grain and declared tests, and "
    "each column with its DuckDB type and description, from the schema.yml files (the same text the build writes "
    "as comments: `select comment from duckdb_columns()`).",
    epilog=_example(
        "union-stats docs",
        "union-stats docs --warehouse w.duckdb --out /srv/share/data_dictionary.html",
    ),
)
def _docs(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="the HTML file to write  [default: data_dictionary.html beside the warehouse]",
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    warehouse: Warehouse = WAREHOUSE_FILE,
) -> int:
    return cmd_docs(argparse.Namespace(command="docs", out=out, warehouse=warehouse))


@app.command(
    "serve",
    short_help="serve the quarterly and annual close deployments (Asia/Shanghai)",
    help="Serve the scheduled deployments (quarterly close on the 15th after each quarter, annual close on "
    "20 January, Asia/Shanghai) until interrupted.",
    epilog=_example("union-stats serve --dry-run"),
)
def _serve(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the next run times and exit")] = False,
) -> int:
    return cmd_serve(argparse.Namespace(command="serve", dry_run=dry_run))


def _check_template_version(value: str | None) -> str | None:
    from union_stats import reference

    if value is not None and value not in reference.template_versions():
        raise typer.BadParameter(
            f"unknown template version {value!r}; known: {', '.join(reference.template_versions())}"
        )
    return value


TemplateVersion = Annotated[
    str | None,
    typer.Option(
        "--template-version",
        help="the template version to write, e.g. v1 (reference/templates/; reference/periods.toml says which "
        "periods accept it)  [default: the current version]",
        callback=_check_template_version,
        show_default=False,
        metavar="VERSION",
    ),
]


@app.command(
    "template",
    short_help="write a blank submission template for one unit",
    help="Write a blank submission template for one unit (cover filled in, indicator rows listed, dropdowns).",
    epilog=_example("union-stats template --unit shiqiao --period 2023 --out shiqiao_2023.xlsx"),
)
def _template(
    unit: Annotated[
        str,
        typer.Option(
            "--unit", help="unit code from reference/units.csv, e.g. shiqiao", show_default=False, metavar="CODE"
        ),
    ],
    period: Period,
    out: Annotated[str, typer.Option("--out", help="the .xlsx file to write", show_default=False, metavar="FILE")],
    template_version: TemplateVersion = None,
) -> int:
    return cmd_template(
        argparse.Namespace(command="template", unit=unit, period=period, out=out, template_version=template_version)
    )


@app.command(
    "sample",
    short_help="write sample submissions (the 18 real units, or N synthetic ones)",
    help="Write sample submissions: the 18 real units whose totals land on the report's figures, or N "
    "synthetic town-like units.",
    epilog=_example(
        "union-stats sample --period 2022 --out data/raw/2022",
        "union-stats sample --period 2023 --quarterly --out data/raw",
        "union-stats sample --period 2024Q1 --units 40 --out /tmp/2024Q1",
    ),
)
def _sample(
    period: Period,
    out: Annotated[
        str,
        typer.Option(
            "--out",
            help="folder to write into (a period folder; with --quarterly, the folder that gets <year>Q1..Q4/)",
            show_default=False,
            metavar="DIR",
        ),
    ],
    units: Annotated[
        int | None,
        typer.Option(
            "--units",
            min=1,
            help="write N synthetic town-like units (and a units.csv) instead of the "
            "18 real ones  [default: the 18 real units]",
            show_default=False,
            metavar="N",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="random seed: the same seed writes the same files", metavar="S")
    ] = 2022,
    quarterly: Annotated[
        bool,
        typer.Option("--quarterly", help="with a year as --period: write its four quarters to <out>/<year>Q1..Q4/"),
    ] = False,
    template_version: TemplateVersion = None,
) -> int:
    return cmd_sample(
        argparse.Namespace(
            command="sample",
            period=period,
            out=out,
            units=units,
            seed=seed,
            quarterly=quarterly,
            template_version=template_version,
        )
    )


@app.command(
    "suites",
    short_help="rewrite expectations/*.json from the template and the catalog",
    help="Rewrite expectations/*.json from the template and the indicator catalog.",
    epilog=_example("union-stats suites && git diff expectations/"),
)
def _suites() -> int:
    return cmd_suites(argparse.Namespace(command="suites"))


def _check_units(value: str) -> list[int]:
    """A comma list of workbook counts, each at least 1 (`18,200,2000`): anything else is a usage error."""
    parts = [part.strip() for part in str(value).split(",")]
    if not parts or not all(part.isdigit() and int(part) >= 1 for part in parts):
        raise typer.BadParameter(f"{value!r} is not a comma list of workbook counts of at least 1, like 18,200,2000")
    return sorted({int(part) for part in parts})


@app.command(
    "bench",
    short_help="measure a run over N synthetic workbooks against the floor and the bare start-up",
    help="Measure, over N synthetic workbooks each: the floor (fastexcel reads every sheet), each stage, the whole "
    "run in a fresh process, a no-op rerun and `validate` of one file; and the fixed costs they are compared with "
    "(a bare start-up of the stack with an empty Prefect flow, bare imports). Prints a table per N; exit 1 with one "
    "line when a measured process fails.",
    epilog=_example(
        "union-stats bench --units 18,200,2000 --out bench.json",
        "union-stats bench --units 10000 --work-dir /var/tmp/bench --out bench-10000.csv",
    ),
)
def _bench(
    units: Annotated[
        str,
        typer.Option(
            "--units",
            help="how many synthetic workbooks, a comma list: one measurement per count  [default: 18,200,2000,10000]",
            callback=_check_units,
            show_default=False,
            metavar="N,N,...",
        ),
    ] = ",".join(str(n) for n in (18, 200, 2000, 10000)),
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="also write the rows to this .csv or .json file  [default: only the printed tables]",
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            "--work-dir",
            help="folder where the synthetic workbooks are generated once and reused by later benchmarks (the "
            "runs' warehouses go there too, and are removed)  [default: union-stats-bench in the system temp folder]",
            show_default=False,
            metavar="DIR",
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option("--seed", help="random seed of the synthetic workbooks (another seed, other files)", metavar="S"),
    ] = 1,
) -> int:
    from union_stats import bench

    return cmd_bench(
        argparse.Namespace(
            command="bench", units=units, out=out, work_dir=work_dir or bench.DEFAULT_WORK_DIR, seed=seed
        )
    )


# --- explain: how a figure is made (src/union_stats/explain.py holds the logic) ---------------------------------

EXPLAIN_FORMATS = ("table", "json")


def _check_explain_format(value: str) -> str:
    if value not in EXPLAIN_FORMATS:
        raise typer.BadParameter(f"{value!r} is not a format: table or json")
    return value


def cmd_explain(args: argparse.Namespace) -> int:
    import json

    from union_stats import explain
    from union_stats.warehouse import WarehouseBusy

    try:
        explanation = explain.explain(args.warehouse, args.figure, args.period)
    except explain.ExplainError as error:
        raise Failure(str(error), code=2) from error
    except (duckdb.Error, WarehouseBusy) as error:
        raise _warehouse_failure(args.warehouse, error) from error
    if args.format == "json":
        print(json.dumps(explanation.to_json(), ensure_ascii=False, indent=2))
        return 0
    for part in explain.render(explanation):
        if isinstance(part, Table):
            _print_table(part)
        else:
            console.print(part)
    return 0


@app.command(
    "explain",
    short_help="how a figure is made: its definition, each unit's contribution and the cells behind it",
    help="How a district figure is made, read from the warehouse (opened read-only): the report's words, the catalog "
    "indicator behind it (measure, detail sheet and filter or indicator row, aggregation, reporting group), each "
    "unit's contribution and share, and the file, sheet and cells (or rows) each comes from. Contributions add up "
    "to the figure's value; a distinct count (F23, F24) counts over the district and lists the distinct values. "
    "An unknown figure or period, or a missing warehouse, is one line and exit 2.",
    epilog=_example(
        "union-stats explain F44 --period 2022",
        "union-stats explain F03 --period 2022 --format json --warehouse w.duckdb",
    ),
)
def _explain(
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
    return cmd_explain(
        argparse.Namespace(command="explain", figure=figure, period=period, warehouse=warehouse, format=output_format)
    )


# --- union-stats report: the district report page, its validation page and workbook (issue 12, items 5 and 6) ---


def cmd_report(args: argparse.Namespace) -> int:
    """The page is read from the warehouse read-only: it never waits for, or blocks, a run for longer than a read."""
    from union_stats import report_page
    from union_stats import warehouse as db

    warehouse = args.warehouse
    if not warehouse.is_file():
        what = "it is a folder, not a DuckDB file" if warehouse.exists() else "run `union-stats run` first"
        raise Failure(f"no warehouse at {warehouse}: {what}", code=2)
    out = args.out or report_page.default_out(warehouse, args.period)
    if out.suffix.lower() != ".html":
        raise Failure(f"--out {out}: the report page is an .html file (its workbook is written beside it)", code=2)
    if args.out is not None and not out.parent.is_dir():
        raise Failure(f"--out {out}: the folder {out.parent} does not exist", code=2)
    try:
        files = report_page.write_report(warehouse, args.period, out)
    except report_page.ReportError as error:
        raise Failure(str(error), code=2) from error
    except (duckdb.Error, db.WarehouseBusy) as error:
        raise _warehouse_failure(warehouse, error) from error
    console.print(f"report page: {files.html}")
    console.print(f"validation results: {files.validation}")
    console.print(f"workbook: {files.xlsx}")
    return 0


@app.command(
    "report",
    short_help="write the district report page (offline HTML) with its validation page and workbook",
    help="Write the period's district report as one self-contained HTML page (no CDN, no script: it opens offline): "
    "the 66 figures by section (published vs reproduced where a report was published for the period), the targets "
    "and their progress, a chart of each headline indicator by town, year-on-year change where the warehouse holds "
    "the year before, completeness and timeliness of the submissions and the findings by unit. Beside it: the "
    "validation results page (FILE_validation.html: one row per submission and rule) and a workbook with the "
    "same tables (FILE.xlsx).",
    epilog=_example(
        "union-stats report --period 2022",
        "union-stats report --period 2023Q2 --out report_2023Q2.html --warehouse /shared/w.duckdb",
    ),
)
def _report(
    period: Period,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="the page to write (.html); the .xlsx and FILE_validation.html go beside it  "
            "[default: reports/PERIOD/district_report.html beside the warehouse]",
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    warehouse: Warehouse = WAREHOUSE_FILE,
) -> int:
    return cmd_report(argparse.Namespace(command="report", period=period, out=out, warehouse=warehouse))


# --- union-stats users: the submission portal's accounts (issue 13; src/union_stats/portal/accounts.py) ---------

users_app = typer.Typer(
    name="users",
    help="The submission portal's accounts: a unit's (it submits for one unit code) or the office's. They live in "
    "portal.sqlite beside the warehouse (SQLite, not DuckDB: the portal answers while a run holds the warehouse), "
    "with the audit trail of every change and login. A password is read as one line from stdin, never from the "
    "command line, and kept only as a scrypt hash.",
    short_help="portal accounts: add, reset a password, disable, list",
    epilog=_example(
        "union-stats users add shiqiao.clerk --unit shiqiao --password-stdin < password.txt",
        "union-stats users list",
    ),
    no_args_is_help=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
)
app.add_typer(users_app, name="users")

UserName = Annotated[
    str,
    typer.Argument(help="the user name: 2 to 32 of a-z 0-9 _ . -", metavar="NAME", show_default=False),
]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="read the password (at least 10 characters) as one line from stdin; required",
    ),
]


def _actor() -> str:
    """Who ran a `users` command, for the audit trail: the operating-system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a container)
        return "cli"


def _read_password(password_stdin: bool) -> str:
    """One line from stdin (a terminal is asked without echo); its line end is not part of it."""
    from union_stats.portal import accounts

    if not password_stdin:
        raise Failure("give the password on stdin with --password-stdin (never on the command line)", code=2)
    try:
        if sys.stdin is not None and sys.stdin.isatty():
            import getpass

            line = getpass.getpass("password: ")
        else:
            line = "" if sys.stdin is None else sys.stdin.readline()
    except (OSError, ValueError, EOFError):  # no stdin to read (closed, or captured)
        line = ""
    password = line.removesuffix("\n").removesuffix("\r")
    try:
        return accounts.check_password(password)
    except accounts.InvalidAccount as error:
        raise Failure(f"{error} (read from stdin with --password-stdin)", code=2) from None


def _portal_store(warehouse: Path):
    """The accounts beside the warehouse: its folder must exist (the warehouse itself need not, yet)."""
    from union_stats.portal import accounts

    if warehouse.is_dir():
        raise Failure(f"no warehouse at {warehouse}: it is a folder, not a DuckDB file")
    if not warehouse.parent.is_dir():
        raise Failure(f"no folder {warehouse.parent}: the portal's accounts live beside the warehouse {warehouse}")
    return accounts.AccountStore(accounts.portal_db_for(warehouse))


def _account_call(action, *args, **kwargs):
    """An account operation: a bad name or password is exit 2, a name taken or unknown exit 1, one line each."""
    import sqlite3

    from union_stats.portal import accounts

    try:
        return action(*args, **kwargs)
    except accounts.InvalidAccount as error:
        raise Failure(str(error), code=2) from None
    except accounts.AccountError as error:
        raise Failure(str(error)) from None
    except sqlite3.Error as error:
        raise Failure(f"cannot use the portal's store: {_one_line(str(error))}") from None


def _check_name(username: str) -> str:
    from union_stats.portal import accounts

    try:
        return accounts.check_username(username)
    except accounts.InvalidAccount as error:
        raise Failure(str(error), code=2) from None


def cmd_users_add(args: argparse.Namespace) -> int:
    from union_stats.portal import accounts

    _check_name(args.name)
    try:
        accounts.check_role(args.unit, args.office)
    except accounts.InvalidAccount as error:
        raise Failure(str(error), code=2) from None
    password = _read_password(args.password_stdin)
    store = _portal_store(args.warehouse)
    account = _account_call(store.add, args.name, password, unit_code=args.unit, office=args.office, actor=_actor())
    who = "the office" if account.role == "office" else f"unit {account.unit_code}"
    console.print(f"added {account.username} ({who}) to {store.path}")
    return 0


def cmd_users_reset(args: argparse.Namespace) -> int:
    _check_name(args.name)
    password = _read_password(args.password_stdin)
    store = _portal_store(args.warehouse)
    _account_call(store.reset, args.name, password, actor=_actor())
    console.print(f"new password for {args.name} in {store.path}")
    return 0


def cmd_users_disable(args: argparse.Namespace) -> int:
    _check_name(args.name)
    store = _portal_store(args.warehouse)
    _account_call(store.disable, args.name, actor=_actor())
    console.print(f"disabled {args.name}: it can no longer log in ({store.path})")
    return 0


def cmd_users_unlock(args: argparse.Namespace) -> int:
    _check_name(args.name)
    store = _portal_store(args.warehouse)
    _account_call(store.unlock, args.name, actor=_actor())
    console.print(f"unlocked {args.name}: failed logins before now no longer count against it ({store.path})")
    return 0


def _when(moment: str | None) -> str:
    return "—" if not moment else f"{moment[:19].replace('T', ' ')} UTC"


def cmd_users_list(args: argparse.Namespace) -> int:
    store = _portal_store(args.warehouse)
    rows = _account_call(store.accounts)
    if not rows:
        console.print(f"no portal accounts in {store.path}")
        return 0
    table = Table(title=f"Portal accounts ({store.path})")
    for header in ("name", "role", "unit", "disabled", "created", "last login"):
        table.add_column(header)
    for row in rows:
        table.add_row(
            escape(row.username),
            row.role,
            row.unit_code or "—",
            "yes" if row.disabled else "no",
            _when(row.created_at),
            _when(row.last_login_at),
        )
    _print_table(table)
    return 0


@users_app.command(
    "add",
    short_help="add a unit's or the office's account (password on stdin)",
    help="Add an account: a unit's (--unit CODE, a code of reference/units.csv) or the office's (--office). The "
    "password is one line on stdin (at least 10 characters). A name taken is exit 1; a bad name, unit or "
    "password exit 2, and nothing is written.",
    epilog=_example(
        "union-stats users add shiqiao.clerk --unit shiqiao --password-stdin < password.txt",
        "printf '%s\\n' \"$PASSWORD\" | union-stats users add office.li --office --password-stdin",
    ),
)
def _users_add(
    name: UserName,
    unit: Annotated[
        str | None,
        typer.Option(
            "--unit",
            help="the unit the account submits for  [default: none: give --unit or --office]",
            show_default=False,
            metavar="CODE",
        ),
    ] = None,
    office: Annotated[bool, typer.Option("--office", help="the district office's account (sees every unit)")] = False,
    password_stdin: PasswordStdin = False,
    warehouse: Warehouse = WAREHOUSE_FILE,
) -> int:
    return cmd_users_add(
        argparse.Namespace(
            command="users add", name=name, unit=unit, office=office, password_stdin=password_stdin, warehouse=warehouse
        )
    )


@users_app.command(
    "reset",
    short_help="give an account a new password (on stdin)",
    help="Give an account a new password, read as one line from stdin (at least 10 characters).",
    epilog=_example("union-stats users reset shiqiao.clerk --password-stdin < new_password.txt"),
)
def _users_reset(name: UserName, password_stdin: PasswordStdin = False, warehouse: Warehouse = WAREHOUSE_FILE) -> int:
    return cmd_users_reset(
        argparse.Namespace(command="users reset", name=name, password_stdin=password_stdin, warehouse=warehouse)
    )


@users_app.command(
    "disable",
    short_help="stop an account from logging in",
    help="Stop an account from logging in; it stays in the list and in the audit trail.",
    epilog=_example("union-stats users disable shiqiao.clerk"),
)
def _users_disable(name: UserName, warehouse: Warehouse = WAREHOUSE_FILE) -> int:
    return cmd_users_disable(argparse.Namespace(command="users disable", name=name, warehouse=warehouse))


@users_app.command(
    "unlock",
    short_help="lift a login lock on an account (after too many wrong passwords)",
    help="Lift every login lock on an account at once: the failed logins before now no longer count against it "
    "(a lock otherwise ends by itself 15 minutes after the failures). The office can do the same in the portal.",
    epilog=_example("union-stats users unlock shiqiao.clerk"),
)
def _users_unlock(name: UserName, warehouse: Warehouse = WAREHOUSE_FILE) -> int:
    return cmd_users_unlock(argparse.Namespace(command="users unlock", name=name, warehouse=warehouse))


@users_app.command(
    "list",
    short_help="list the accounts: name, role, unit, disabled, created, last login",
    help="List the portal's accounts: name, role, unit, whether disabled, when made and last logged in (UTC). "
    "No password or hash is ever shown.",
    epilog=_example("union-stats users list --warehouse /shared/w.duckdb"),
)
def _users_list(warehouse: Warehouse = WAREHOUSE_FILE) -> int:
    return cmd_users_list(argparse.Namespace(command="users list", warehouse=warehouse))


def cmd_portal(args: argparse.Namespace) -> int:
    import socket

    if args.warehouse.is_dir():
        raise Failure(f"no warehouse at {args.warehouse}: it is a folder, not a DuckDB file")
    if args.raw_dir.exists() and not args.raw_dir.is_dir():
        raise typer.BadParameter(f"{args.raw_dir} is a file, not a folder", param_hint="'--raw-dir'")
    if not 0 < args.port < 65536:
        raise typer.BadParameter(f"{args.port} is not a port (1 to 65535)", param_hint="'--port'")
    # a taken port is one line here, not uvicorn's traceback after the suites have warmed
    try:
        with socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((args.host, args.port))
    except OSError as error:
        raise Failure(f"cannot serve on {args.host}:{args.port}: {error.strerror or error}") from None
    from union_stats.portal import accounts
    from union_stats.portal.app import serve

    store = accounts.AccountStore(accounts.portal_db_for(args.warehouse))
    if not store.accounts():
        console.print(
            "[yellow]no portal accounts yet:[/] add one with `union-stats users add NAME --office --password-stdin`"
        )
    args.raw_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"portal on http://{args.host}:{args.port}/ (raw folder {args.raw_dir}, warehouse {args.warehouse})")
    try:
        serve(args.raw_dir, args.warehouse, args.host, args.port)
    except RuntimeError as error:
        raise Failure(f"the portal cannot start: {error}") from None
    return 0


@app.command(
    "portal",
    short_help="serve the submission portal: units upload and see their check, the office approves and runs",
    help="Serve the submission portal (in Chinese) over HTTP: a unit's clerk logs in, downloads the blank "
    "template, uploads a workbook and sees its check at once (the same findings as `union-stats validate`), "
    "explains its warnings and sees its history; the office sees every unit's completeness and timeliness, "
    "approves or returns submissions, closes and reopens periods and starts runs. Uploads are archived and "
    "placed in the period's raw folder, where the next run loads them. Accounts: `union-stats users`. Put it "
    "behind an HTTPS proxy for use beyond this machine (UNION_STATS_PORTAL_SECURE=1 marks its cookies Secure).",
    epilog=_example(
        "union-stats users add office --office --password-stdin < office-password.txt",
        "union-stats portal --host 0.0.0.0 --port 8000",
    ),
)
def _portal(
    host: Annotated[str, typer.Option("--host", help="the address to listen on", metavar="ADDRESS")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="the port to listen on", metavar="PORT")] = 8000,
    raw_dir: RawDir = RAW_DIR,
    warehouse: Warehouse = WAREHOUSE_FILE,
) -> int:
    return cmd_portal(argparse.Namespace(command="portal", host=host, port=port, raw_dir=raw_dir, warehouse=warehouse))


# plain mistakes a command meets while working (a period text, a missing or unwritable file): one line each;
# anything else is a bug and keeps its traceback
PLAIN_MISTAKES = (
    PeriodError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)


def cmd_export(args: argparse.Namespace) -> int:
    from union_stats import export

    try:
        export.check_target(args.out)  # before the warehouse: a wrong folder is said first, and costs nothing
        exported = export.export(_existing_warehouse(args.warehouse), args.out, args.format)
    except export.ExportError as error:
        raise Failure(str(error)) from error
    rows = sum(item.rows for item in exported)
    where = exported[0].file if args.format == "xlsx" else args.out
    console.print(
        f"exported {len(exported)} relations of {' and '.join(export.SCHEMAS)} ({rows:,} rows) as {args.format} "
        f"to {where}"
    )
    return 0


@app.command(
    "export",
    short_help="export every table and view of marts and report as Parquet, CSV or one Excel workbook",
    help="Export every table and view of the marts and report schemas, read-only, into a new or empty folder DIR: "
    "parquet or csv write one file per relation (DIR/<schema>.<name>.parquet|csv), xlsx one workbook "
    "(DIR/union_stats.xlsx) with a sheet per relation and an index sheet naming each sheet's relation (Excel "
    "allows 31 characters in a sheet name). A snapshot for a spreadsheet or a tool; `union-stats publish` keeps a "
    "partitioned Parquet copy current instead.",
    epilog=_example(
        "union-stats export --format xlsx --out exports/2023",
        "union-stats export --format parquet --out /tmp/union-stats --warehouse w.duckdb",
    ),
)
def _export(
    output: Annotated[
        str,
        typer.Option(
            "--format",
            help="parquet, csv (UTF-8, with a header row) or xlsx",
            callback=_choice("parquet", "csv", "xlsx"),
            show_default=False,
            metavar="parquet|csv|xlsx",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="the folder to write into: new or empty (its parent folder must exist)",
            show_default=False,
            metavar="DIR",
        ),
    ],
    warehouse: Warehouse = WAREHOUSE_FILE,
) -> int:
    return cmd_export(argparse.Namespace(command="export", format=output, out=out, warehouse=warehouse))


# plain mistakes a command meets while working (a period text, a missing or unwritable file): one line each;
# anything else is a bug and keeps its traceback
PLAIN_MISTAKES = (
    PeriodError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def _say(message: str) -> None:
    errors.print(f"[red]error:[/] {escape(_one_line(message))}")


def main(argv: list[str] | None = None) -> int:
    # this runs on closed networks: no usage statistics, and no log noise from failing to send them
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] != ["run"]:  # `run` decides for itself, after reading --verbose
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name="union-stats", standalone_mode=False)
    except UsageError as error:
        where = error.ctx.command_path if error.ctx is not None else "union-stats"
        if where == "union-stats" and args[:1] and args[0] in command.commands:  # raised by a command's body
            where = f"union-stats {args[0]}"
        _say(f"{where}: {error.format_message()} (see `{where} --help`)")
        return 2
    except ClickException as error:
        _say(error.format_message())
        return error.exit_code
    except typer.Abort:
        _say("interrupted")
        return 130
    except Failure as failure:
        _say(str(failure))
        return failure.code
    except PLAIN_MISTAKES as error:
        _say(f"{type(error).__name__}: {error}")
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())

"""`union-stats run`: a period through `pipeline.run_period`, then its figures (against the published report where
there is one), the rejected files and the Parquet copy."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.markup import escape
from rich.table import Table

from union_stats import labels
from union_stats.cli.common import (
    PERIOD_HELP,
    Failure,
    RawDir,
    Warehouse,
    app,
    check_period,
    check_writable,
    example,
    print_table,
    stdout,
    warehouse_failure,
)
from union_stats.cli.interrupt import ends_on_ctrl_c
from union_stats.paths import RAW_DIR, WAREHOUSE_FILE


def figures_table(period: str, figures: list) -> Table:
    if all(figure.published is None for figure in figures):
        return unreported_figures_table(period, figures)
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


def value_text(value) -> str:
    return "—" if value is None else f"{value:,.2f}".rstrip("0").rstrip(".")


def unreported_figures_table(period: str, figures: list) -> Table:
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
            f"{value_text(figure.value)} {figure.base_unit}",
            units if figure.complete else f"[yellow]{units} ⚠[/]",
        )
    return table


def targets_table(targets: list[dict]) -> Table:
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
            value_text(row["target"]),
            value_text(row["achieved"]),
            ratio,
            "[green]✓[/]" if row["met"] else "—",
        )
    return table


def print_unreported(period: str, figures: list, warehouse: Path) -> str:
    """After the figures of a period without a published report: its year's targets, if any; and the words the
    run's last line says instead of "N of 66 match" (units with an accepted file, figures complete)."""
    from union_stats import warehouse as db

    try:
        targets = db.read_target_progress(warehouse, period)
        units = db.read_completeness(warehouse, period)
    except (duckdb.Error, db.WarehouseBusy) as error:
        raise warehouse_failure(warehouse, error) from error
    if targets:
        print_table(targets_table(targets))
    accepted = sum(row["status"] in labels.ACCEPTED for row in units)
    complete = sum(figure.complete for figure in figures)
    return (
        f"{accepted} of {len(units)} units with an accepted file; {complete} of {len(figures)} figures complete; "
        f"no published report for {period}: nothing to compare with"
    )


def check_dask(value: str | None) -> str | None:
    """A Dask scheduler address `tcp://host:port` (checked for its form only; the run connects to it)."""
    if value is None or not value.strip():
        return None
    from flows.cluster import address_problem

    problem = address_problem(value)
    if problem is not None:
        raise typer.BadParameter(problem)
    return value.strip()


@app.command(
    "run",
    short_help="ingest a period's workbooks into the warehouse and print the figures",
    help="Ingest a period's workbooks into the warehouse and print the district figures; exit 1 with one line "
    "when the run fails. With UNION_STATS_PARQUET_DIR=DIR set, also publish the Parquet copy into DIR (as "
    "`union-stats publish --parquet DIR` does) after a run that loaded something, or when the copy there is missing "
    "or older than the warehouse's last run.",
    epilog=example(
        "union-stats run --period 2022",
        "union-stats run --raw-dir data/raw --warehouse w.duckdb",
        "union-stats run --raw-dir /shared/raw --warehouse /shared/w.duckdb --dask tcp://10.0.0.5:8786",
    ),
)
def run_command(
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help=f"{PERIOD_HELP}  [default: the latest period folder under --raw-dir]",
            callback=check_period,
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
            callback=check_dask,
            show_default=False,
            show_envvar=True,
            metavar="ADDRESS",
        ),
    ] = None,
) -> int:
    from union_stats import pipeline

    if not verbose:
        # the terminal shows the project's own lines; Prefect's log (tracebacks of a failed run included) still
        # reaches its API and UI, and `--verbose` prints it here too
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    if not warehouse.is_dir():  # a folder given as the warehouse is the run's own one-line refusal
        check_writable(warehouse)  # the warehouse, its archive and reports go beside it
    from union_stats.progress import run_progress

    try:
        # Ctrl-C: exit 130 and one line within 2 s, whatever the run is doing; on a terminal, what the run is doing
        # from its first second (a spinner with the step under way), gone when the figures are printed
        with ends_on_ctrl_c(), run_progress("starting the run"):
            from flows.start import ingest_flow

            result = pipeline.run_period(period, raw_dir, warehouse, flow=ingest_flow, dask_address=dask)
    except pipeline.RunRefused as error:
        raise Failure(str(error)) from error
    except Exception as error:  # the operator gets one line; the flow's log has the rest
        raise Failure(f"run failed: {type(error).__name__}: {error}") from error
    summary = result.summary
    print_table(figures_table(summary.period, summary.figures))
    if summary.compared:
        outcome = f"{summary.matched} of {len(summary.figures)} figures match"
    else:
        outcome = print_unreported(summary.period, summary.figures, warehouse)
    if result.nothing_new:
        stdout().print(
            f"period {summary.period}: nothing new since the last run (every file is in the warehouse); "
            f"[bold]{outcome}[/]"
        )
    else:
        stdout().print(
            f"period {summary.period}: {summary.files} files, {summary.processed} new: {summary.accepted} accepted, "
            f"{summary.rejected} rejected, {summary.held} held; [bold]{outcome}[/]; warehouse {warehouse}"
        )
        for file_name, reason in summary.rejected_files:
            stdout().print(f"[red]rejected[/] {escape(file_name)}: {escape(reason)}")
        if summary.report_dir is not None:
            stdout().print(f"data-quality reports: {summary.report_dir}")
    if result.parquet_current:
        stdout().print(f"Parquet copy {result.parquet_dir} is up to date")
    elif result.parquet is not None:
        stdout().print(
            f"published {result.parquet.relations} relations ({result.parquet.rows:,} rows) as Parquet to "
            f"{result.parquet_dir}"
        )
    elif result.parquet_failure is not None:
        raise Failure(result.parquet_failure)
    return 0

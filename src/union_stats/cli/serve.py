"""The long-running and measuring commands: `union-stats serve` (the scheduled closes) and `bench`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from union_stats.cli.common import Failure, app, check_writable, example, print_table, stdout
from union_stats.paths import WAREHOUSE_FILE


@app.command(
    "serve",
    short_help="serve the quarterly and annual close deployments (Asia/Shanghai)",
    help="Serve the scheduled deployments (quarterly close on the 15th after each quarter, annual close on "
    "20 January, Asia/Shanghai) until interrupted.",
    epilog=example("union-stats serve --dry-run"),
)
def serve_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the next run times and exit")] = False,
) -> int:
    if dry_run:
        from flows.schedules import next_runs

        for deployment, runs in next_runs().items():
            stdout().print(f"{deployment}: " + ", ".join(f"{run:%Y-%m-%d %H:%M %z}" for run in runs))
        return 0
    from union_stats.paths import use_prefect_home

    use_prefect_home(WAREHOUSE_FILE)  # before Prefect is imported: the scheduled runs load the default warehouse
    from flows.schedules import serve_deployments

    serve_deployments()  # blocks until interrupted; Prefect pauses the schedules on shutdown
    return 0


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
    epilog=example(
        "union-stats bench --units 18,200,2000 --out bench.json",
        "union-stats bench --units 10000 --work-dir /var/tmp/bench --out bench-10000.csv",
    ),
)
def bench_command(
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
    from union_stats import cli  # the package's RAW_DIR, the shipped sample: a test points it elsewhere
    from union_stats.devtools import bench

    work_dir = work_dir or bench.DEFAULT_WORK_DIR
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
        check_writable(out)  # before minutes of measuring
    if work_dir.exists() and not work_dir.is_dir():
        raise typer.BadParameter(f"{work_dir} is a file, not a folder", param_hint="'--work-dir'")
    check_writable(work_dir, folder=work_dir)

    def progress(row: bench.Row) -> None:
        n = "" if row.n is None else f"N={row.n:,} "
        stdout().print(f"[dim]{n}{escape(row.measure)}: {row.seconds:,.2f} s[/]")

    stdout().print(f"machine: {bench.machine_line(bench.machine())}")
    try:
        result = bench.measure(units, work_dir, seed, shipped_raw_dir=cli.RAW_DIR, on_row=progress)
    except bench.BenchError as error:
        raise Failure(f"bench failed: {error}") from error
    for table in bench.tables(result):
        print_table(table)
    stdout().print(f"machine: {bench.machine_line(result.machine)}")
    if out is not None:
        stdout().print(f"wrote {bench.write(result, out)}")
    return 0

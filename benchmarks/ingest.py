"""Benchmark: how fast the stages go over N synthetic workbooks, against just reading the files.

    uv run python benchmarks/ingest.py --units 1000

Prints one row per stage (seconds, workbooks per second) and the peak memory of the process. The stages
are called directly, without Prefect, so the figures are the pipeline's own cost.
"""

from __future__ import annotations

import argparse
import platform
import resource
import tempfile
import time
from pathlib import Path

import fastexcel
from rich.console import Console
from rich.table import Table

from union_stats import discover, load, parse, sample, transform, validate, warehouse
from union_stats.runs import RunContext


def _read_only(files: list[discover.ReceivedFile]) -> None:
    """The floor: open every workbook and load every sheet as text, nothing else."""
    for item in files:
        reader = fastexcel.read_excel(item.path)
        for name in reader.sheet_names:
            reader.load_sheet(name, header_row=None, dtypes="string", skip_rows=0).to_polars()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000, help="synthetic workbooks to write and ingest")
    parser.add_argument("--period", default="2031")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    timings: list[tuple[str, float]] = []

    def timed(stage: str, work):
        started = time.perf_counter()
        result = work()
        timings.append((stage, time.perf_counter() - started))
        return result

    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "raw" / args.period
        timed(
            "generate (not part of a run)",
            lambda: sample.write_sample(args.period, raw, units=args.units, seed=args.seed),
        )
        files = timed("discover (sha256)", lambda: discover.discover(raw))
        archive = Path(scratch) / "archive"
        archived = timed(
            "archive (copy by hash)", lambda: {f.submission_id: str(discover.archive(f, archive)) for f in files}
        )
        timed("read only (fastexcel floor)", lambda: _read_only(files))
        run = RunContext.start(args.period, raw.parent, Path(scratch) / "bench.duckdb")
        batch = timed("inspect + parse", lambda: parse.parse_batch(files, args.period))
        validated = timed("validate (GX, incl. import)", lambda: validate.validate_batch(batch, run.units))

        def load_and_build() -> None:
            with warehouse.connect(run.warehouse) as con:
                warehouse.ensure_warehouse(con)
                with warehouse.transaction(con):
                    load.load_batch(con, run, batch, validated, archived)
                    transform.build(con)

        timed("load + transform", load_and_build)
        rows = sum(frame.height for frame in batch.sheets.values())

    table = Table(title=f"ingest benchmark: {args.units} workbooks, {rows:,} parsed rows")
    for header in ("stage", "seconds", "workbooks / s"):
        table.add_column(header, justify="right" if header != "stage" else "left")
    for stage, seconds in timings:
        table.add_row(stage, f"{seconds:.2f}", f"{args.units / seconds:,.0f}" if seconds else "—")
    console = Console()
    console.print(table)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console.print(
        f"peak memory {peak_mb:,.0f} MB; {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores"
    )
    console.print(
        f"accepted {validated.outcomes.filter(validated.outcomes['status'] != 'rejected').height} of {args.units}"
    )


if __name__ == "__main__":
    main()

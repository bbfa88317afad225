"""How a period is run, whoever starts it: `run_period` is the one way in, for `union-stats run`, the scheduled
closes (flows/schedules.py), the portal's jobs (which start `union-stats run`) and the bench.

A run holds the warehouse's run lock from start to end, answers from the ledger when nothing is new, is recorded
in `ops.runs` however it ends, and publishes the Parquet copy after itself when `UNION_STATS_PARQUET_DIR` says
where. Its stages, in order, are `ingest`'s: discover → archive → inspect + parse → validate → load + transform →
reports to the units → summary. The ingest flow (flows/ingest.py) runs them as Prefect tasks; the bench runs them
here, in this process, with a timer around each (`Stages.timed`).

Nothing here imports Prefect, Polars or Great Expectations at import time: a run with nothing new answers without
them, in the time the imports of the command line and DuckDB take.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from union_stats import discover, stages
from union_stats import warehouse as db
from union_stats.paths import RAW_DIR, WAREHOUSE_FILE
from union_stats.progress import step, terminal_progress
from union_stats.runs import RunContext, RunInterrupted, RunSummary, data_docs_setting

if TYPE_CHECKING:
    from union_stats import pseudonym
    from union_stats.parse import ParsedBatch
    from union_stats.publish import parquet
    from union_stats.validate import ValidatedBatch

PARQUET_DIR_ENV = "UNION_STATS_PARQUET_DIR"


class RunRefused(RuntimeError):
    """A run that cannot start (no such folder, an unusable Parquet folder, no Dask scheduler): one line, said
    before anything is written."""


def parquet_setting() -> Path | None:
    """The folder `UNION_STATS_PARQUET_DIR` names: a run publishes the Parquet copy there."""
    value = os.environ.get(PARQUET_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


# ---------------------------------------------------------------------------------------------------------------
# the stages, as plain functions (the flow wraps each in a Prefect task)


def discover_files(run: RunContext) -> list[discover.ReceivedFile]:
    """List and fingerprint the period's files."""
    total = sum(1 for path in run.period_dir.iterdir() if discover.is_submission(path))
    with terminal_progress(total, "fingerprinting") as advance:
        return discover.discover(run.period_dir, on_file=advance)


def archive_files(run: RunContext, files: list[discover.ReceivedFile]) -> dict[str, str]:
    """Copy each new file into the content-addressed archive; never overwrite."""
    step(f"archiving {len(files)} new files")
    return {item.submission_id: str(discover.archive(item, run.archive_dir)) for item in files}


def parse_files(run: RunContext, files: list[discover.ReceivedFile], keys: pseudonym.KeySource) -> ParsedBatch:
    """Inspect and parse every file into one frame per sheet kind, with lineage and people pseudonymised; a bad
    file is its own outcome."""
    with terminal_progress(len(files), "parsing") as advance:
        return stages.parse_files(files, run.period, keys=keys, on_parsed=advance)


def validate_files(run: RunContext, batch: ParsedBatch, state: db.WarehouseState) -> ValidatedBatch:
    """Run the expectation suites over the batch and decide each outcome (held, for a closed period)."""
    step(f"validating {batch.submissions.height} files")
    return stages.validate_files(
        batch, run.units, context=state.context, docs_dir=run.data_docs_dir, closed=state.closed
    )


def load_warehouse(
    run: RunContext,
    batch: ParsedBatch,
    validated: ValidatedBatch,
    archived: dict[str, str],
    keys: pseudonym.KeySource,
) -> list[db.FigureRow]:
    """Load and rebuild the models in one transaction (a failure rolls it all back); the period's figures."""
    from union_stats import load

    step("loading the warehouse and rebuilding its models")
    return load.load_and_build(run, batch, validated, archived, keys.load().fingerprint)


def report_to_units(
    run: RunContext, batch: ParsedBatch, validated: ValidatedBatch, files: list[discover.ReceivedFile]
) -> int:
    """An HTML report (and a marked copy where there is something to mark) for each file, in Chinese; and a new
    one for each file loaded earlier that this run told something (the same person paid by two units)."""
    from union_stats.publish import run_summary

    step("writing each file's report")
    written = stages.write_reports(batch, validated, files, run.report_dir)
    return len(written) + len(run_summary.write_told_back_reports(run, validated.told_back))


def summarise(
    run: RunContext, files: int, batch: ParsedBatch, validated: ValidatedBatch, figures: list[db.FigureRow]
) -> RunSummary:
    """The run's summary (the flow's version also leaves the office its Prefect artifacts)."""
    from union_stats.publish import run_summary

    return run_summary.summarise(run, files, batch, validated, figures)


@dataclass(frozen=True)
class Stages:
    """The stages of a run, in `ingest`'s order, each a callable taking what the one before gave: the plain
    functions above (`PLAIN`), the flow's Prefect tasks, or either with a timer around each (`timed`)."""

    discover: Callable[..., list[discover.ReceivedFile]]
    archive: Callable[..., dict[str, str]]
    parse: Callable[..., Any]
    validate: Callable[..., Any]
    load: Callable[..., list[db.FigureRow]]
    report: Callable[..., int]
    summarise: Callable[..., RunSummary]

    def each(self, wrap: Callable[[str, Callable], Callable]) -> Stages:
        """The same stages, each stage `wrap(name, stage)` (a timer, a Prefect task)."""
        return replace(self, **{item.name: wrap(item.name, getattr(self, item.name)) for item in fields(self)})

    def timed(self, on_stage: Callable[[str, float, Any], None]) -> Stages:
        """The same stages, each reporting `on_stage(name, seconds, result)` when it has run."""

        def wrap(name: str, stage: Callable) -> Callable:
            def run_timed(*args: Any) -> Any:
                started = time.perf_counter()
                result = stage(*args)
                on_stage(name, time.perf_counter() - started, result)
                return result

            return run_timed

        return self.each(wrap)


PLAIN = Stages(
    discover=discover_files,
    archive=archive_files,
    parse=parse_files,
    validate=validate_files,
    load=load_warehouse,
    report=report_to_units,
    summarise=summarise,
)


def ingest(run: RunContext, stages: Stages = PLAIN) -> RunSummary:
    """The stages of one run, top-down: what is new since the last run, parsed, validated, loaded, reported.

    A run that fails as a whole is recorded in `ops.runs` (the load, all or nothing, has rolled back by then);
    one that finds nothing new is recorded as such; a run that loads records itself inside its transaction; one
    stopped by Ctrl-C (RunInterrupted) is not recorded.
    """
    try:
        # Extract: what is new since the last run
        files = stages.discover(run)
        state = db.read_state(run.warehouse, run.period)
        pending = state.pending(files)
        if not pending:
            return _nothing_new(run, len(files))
        from union_stats import pseudonym

        # the key the people of these files are pseudonymised with: made on first use, else the warehouse's own
        keys = pseudonym.ensure_key(run.warehouse, state.key_fingerprint)
        archived = stages.archive(run, pending)
        batch = stages.parse(run, pending, keys)
        # Validate
        validated = stages.validate(run, batch, state)
        # Load
        figures = stages.load(run, batch, validated, archived, keys)
        # Report
        stages.report(run, batch, validated, pending)
        return stages.summarise(run, len(files), batch, validated, figures)
    except RunInterrupted:  # the operator stopped it: the load rolled back, and nothing else is written
        raise
    except BaseException as error:
        if RunInterrupted.behind(error):  # the stop, turned into another error by a library on its way out
            raise RunInterrupted() from error
        db.record_failed_run(run, error)
        raise


def _nothing_new(run: RunContext, files: int) -> RunSummary:
    """A run that found every file already dealt with: recorded as such, answered from the warehouse."""
    db.record_nothing_new(run, files)
    return RunSummary(run.run_id, run.period, files, 0, 0, 0, 0, db.read_district_figures(run.warehouse, run.period))


# ---------------------------------------------------------------------------------------------------------------
# the one way a run happens


@dataclass(frozen=True)
class RunResult:
    """A run's summary, and what became of the Parquet copy after it (`UNION_STATS_PARQUET_DIR`)."""

    summary: RunSummary
    nothing_new: bool  # answered from the ledger: no stage ran
    parquet_dir: Path | None = None  # where the copy is published; None: not asked for
    parquet: parquet.Published | None = None  # the copy this run published
    parquet_current: bool = False  # the copy there was already current: nothing published
    parquet_failure: str | None = None  # one line: the run's data are in the warehouse, the copy is not


FlowRunner = Callable[[str, Path, Path, "str | None"], RunSummary]


def run_period(
    period: str | None = None,
    raw_dir: Path = RAW_DIR,
    warehouse: Path = WAREHOUSE_FILE,
    *,
    flow: FlowRunner | None = None,
    stages: Stages = PLAIN,
    dask_address: str | None = None,
    parquet_dir: Path | None | bool = True,
) -> RunResult:
    """Run a period (default: the latest period folder under `raw_dir`) into `warehouse`, as one run.

    Before anything is written: the folders and the Parquet folder are checked, and a Dask scheduler must answer
    (RunRefused, one line). Then, holding the run lock (a second run waits, up to `UNION_STATS_LOCK_WAIT_SECONDS`,
    then WarehouseBusy): nothing new is answered from the ledger and recorded as such; anything new goes through
    the stages, either as the ingest flow (`flow`: `flows.start.ingest_flow(period, raw_dir, warehouse,
    dask_address)`, as the command line and the scheduled closes do) or in this process, without Prefect
    (`stages`, e.g. `PLAIN.timed(...)` for the bench). Last, still holding the lock, the Parquet copy:
    `parquet_dir` True reads `UNION_STATS_PARQUET_DIR`, a path publishes there, None or False publishes nothing;
    after a run that loaded nothing, only a missing or older copy is replaced. A failed publish is
    `RunResult.parquet_failure`, not an exception: the run's data are kept.
    """
    raw_dir, warehouse = Path(raw_dir), Path(warehouse)
    try:
        data_docs_setting()
    except ValueError as error:
        raise RunRefused(f"run failed before starting: {error}") from error
    target = parquet_setting() if parquet_dir is True else (parquet_dir or None)
    if target is not None:
        from union_stats.publish import parquet

        try:
            parquet.check_target(target)
        except parquet.PublishError as error:
            raise RunRefused(f"run failed before starting: {PARQUET_DIR_ENV}: {error}") from error
    if not raw_dir.is_dir():
        raise RunRefused(f"run failed: no folder {raw_dir}" + (" (it is a file)" if raw_dir.exists() else ""))
    if warehouse.exists() and not warehouse.is_file():
        raise RunRefused(f"run failed: the warehouse {warehouse} is a folder, not a DuckDB file")
    period = period or discover.latest_period(raw_dir)
    if period is None or not (raw_dir / period).is_dir():
        wanted = f"folder {raw_dir / period}" if period else f"period folder (like 2022 or 2022Q1) under {raw_dir}"
        raise RunRefused(f"run failed: no {wanted}")
    if dask_address is not None:
        from flows.cluster import ClusterError, check_scheduler

        try:  # before anything is written: a scheduler that does not answer is a one-line failure
            check_scheduler(dask_address)
        except ClusterError as error:
            raise RunRefused(f"run failed: {error}") from error
    with db.run_lock(warehouse):
        step(f"checking what is new in {period}")
        unchanged = db.nothing_new(raw_dir, warehouse, period)  # the number of files, when none is new
        if unchanged is not None:
            summary = _nothing_new(RunContext.start(period, raw_dir, warehouse), unchanged)
        elif flow is not None:
            try:
                summary = flow(period, raw_dir, warehouse, dask_address)
            except Exception as error:
                if RunInterrupted.behind(error):  # the stop, turned into another error by Prefect or pydantic
                    raise RunInterrupted() from error
                raise
        else:
            summary = ingest(RunContext.start(period, raw_dir, warehouse), stages)
        result = RunResult(summary, nothing_new=unchanged is not None, parquet_dir=target)
        if target is None:
            return result
        return _publish_parquet(result, warehouse, target, only_if_stale=summary.processed == 0)


def _publish_parquet(result: RunResult, warehouse: Path, target: Path, *, only_if_stale: bool) -> RunResult:
    """The Parquet copy after a run; after one that loaded nothing only when the copy there is missing or older
    than the warehouse's latest successful run. A failure leaves the previous copy as it was."""
    import duckdb

    from union_stats.publish import parquet

    step("publishing the Parquet copy")
    try:
        if only_if_stale and parquet.is_current(target, warehouse):
            return replace(result, parquet_current=True)
        return replace(result, parquet=parquet.publish(warehouse, target))
    except (parquet.PublishError, duckdb.Error, db.WarehouseBusy) as error:
        return replace(
            result,
            parquet_failure=f"the run's data are in the warehouse {warehouse}, but publishing the Parquet copy "
            f"({PARQUET_DIR_ENV}) failed: {db.first_line(error)}; the previous copy is unchanged: "
            f"`union-stats publish --parquet {target} --warehouse {warehouse}` publishes it again",
        )

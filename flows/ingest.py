"""The ingest flow: a period's new workbooks from the raw folder into the warehouse, then the district figures."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from union_stats import discover, load, parse, publish, reference, transform, validate
from union_stats.findings import Finding
from union_stats.progress import terminal_progress
from union_stats.paths import RAW_DIR, WAREHOUSE_FILE, archive_dir_for, data_docs_dir_for, reports_dir_for


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    period: str
    files: int  # workbooks in the period folder
    processed: int  # of which new (or held and now loadable), so parsed and recorded by this run
    accepted: int
    rejected: int
    held: int
    figures: list[publish.FigureRow]
    report_dir: Path | None = None
    rejected_files: tuple[tuple[str, str], ...] = ()  # (file name, the first error's message) of each rejected file

    @property
    def matched(self) -> int:
        return sum(figure.matches for figure in self.figures)


@task(retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def discover_files(period_dir: Path) -> list[discover.ReceivedFile]:
    """List and fingerprint the period's workbooks."""
    total = sum(1 for path in period_dir.iterdir() if discover.is_submission(path))
    with terminal_progress(total, "fingerprinting") as advance:
        return discover.discover(period_dir, on_file=advance)


@task(retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def archive_files(files: list[discover.ReceivedFile], archive_dir: Path) -> dict[str, str]:
    """Copy each new file into the content-addressed archive; never overwrite."""
    return {item.submission_id: str(discover.archive(item, archive_dir)) for item in files}


@task(cache_policy=NO_CACHE)
def parse_files(files: list[discover.ReceivedFile], period: str) -> parse.ParsedBatch:
    """Parse every workbook into one frame per sheet kind, with lineage."""
    with terminal_progress(len(files), "parsing") as advance:
        return parse.parse_batch(files, period, on_parsed=advance)


@task(cache_policy=NO_CACHE)
def validate_batch(
    batch: parse.ParsedBatch, units: tuple[reference.Unit, ...], context: validate.ValidationContext, docs_dir: Path
) -> validate.ValidatedBatch:
    """Run the expectation suites over the batch, keep the results for Data Docs, decide each outcome."""
    return validate.validate_batch(batch, units, context, docs_dir=docs_dir)


@task(cache_policy=NO_CACHE)
def load_warehouse(
    batch: parse.ParsedBatch,
    outcomes: pl.DataFrame,
    findings: list[Finding],
    units: tuple[reference.Unit, ...],
    expected_units: list[str],
    archived: dict[str, str],
    warehouse: Path,
    run_id: str,
    raw_dir: Path,
    started_at: datetime,
) -> list[publish.FigureRow]:
    """Load and rebuild the models in one transaction; return the period's district figures."""
    accepted = outcomes.filter(pl.col("status").is_in(load.ACCEPTED)).height
    rejected = outcomes.filter(pl.col("status") == "rejected").height
    with load.connect(warehouse) as con:
        load.ensure_warehouse(con)
        with load.transaction(con):  # a failure rolls back; the flow records the failed run
            load.load_batch(con, batch, outcomes, findings, units, run_id, expected_units, archived)
            transform.build(con)
            load.record_run(con, run_id, batch.period, raw_dir, started_at, "succeeded", outcomes.height, accepted, rejected)
        return publish.district_figures(con, batch.period)


@task(cache_policy=NO_CACHE)
def write_quality_reports(
    batch: parse.ParsedBatch, outcomes: pl.DataFrame, findings: list[Finding], files: list[discover.ReceivedFile], out_dir: Path
) -> int:
    """An HTML report and an annotated workbook for each submission, in Chinese, for the unit that sent it."""
    return publish.write_quality_reports(batch, outcomes, findings, files, out_dir)


@flow(name="ingest-period", log_prints=True)
def ingest_period(
    period: str | None = None,
    raw_dir: Path = RAW_DIR,
    warehouse: Path = WAREHOUSE_FILE,
) -> RunSummary:
    """Discover a period's files; parse, validate and load the new ones; publish outcomes and figures."""
    logger = get_run_logger()
    raw_dir, warehouse = Path(raw_dir), Path(warehouse)
    period = period or discover.latest_period(raw_dir)
    if period is None:
        raise FileNotFoundError(f"no period folder (like 2022 or 2022Q1) under {raw_dir}")
    period_dir = raw_dir / period
    if not period_dir.is_dir():
        raise FileNotFoundError(f"no folder for period {period}: {period_dir}")
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    started_at = datetime.now(UTC)
    try:
        return _ingest(period, period_dir, raw_dir, warehouse, run_id, started_at)
    except BaseException as error:
        # a run that fails as a whole is recorded too (the load rolled back, so nothing else changed)
        _record_failed_run(warehouse, run_id, period, raw_dir, started_at, error)
        raise


def _record_failed_run(warehouse: Path, run_id: str, period: str, raw_dir: Path, started_at: datetime, error: BaseException) -> None:
    try:
        with load.connect(warehouse) as con:
            load.ensure_warehouse(con)
            load.record_run(con, run_id, period, raw_dir, started_at, "failed", 0, 0, 0, f"{type(error).__name__}: {error}")
    except Exception as problem:  # the warehouse itself is what failed (locked, disk full): the log keeps it
        get_run_logger().error("event=run_not_recorded run_id=%s reason=%s", run_id, problem)


def _ingest(period: str, period_dir: Path, raw_dir: Path, warehouse: Path, run_id: str, started_at: datetime) -> RunSummary:
    logger = get_run_logger()
    units = reference.units_for(period_dir)
    expected_units = [unit.unit_code for unit in reference.expected_units(period_dir)]

    files = discover_files(period_dir)
    state = load.read_state(warehouse, period)
    pending = state.pending(files)
    logger.info("event=discovered period=%s files=%d new=%d folder=%s", period, len(files), len(pending), period_dir)
    if not pending:
        with load.connect(warehouse) as con:
            load.ensure_warehouse(con)
            load.record_run(con, run_id, period, raw_dir, started_at, "nothing_new", len(files), 0, 0)
        figures = publish.read_district_figures(warehouse, period)
        return RunSummary(run_id, period, len(files), 0, 0, 0, 0, figures)

    archived = archive_files(pending, archive_dir_for(warehouse))
    batch = parse_files(pending, period)
    validated = validate_batch(batch, units, state.context, data_docs_dir_for(warehouse))
    outcomes = validated.outcomes
    if state.closed:
        # a closed period keeps what arrives, with its findings, but loads nothing until it is reopened
        outcomes = outcomes.with_columns(pl.lit(load.HELD).alias("status"))
        logger.warning("event=held period=%s files=%d reason=period_closed", period, len(pending))
    figures = load_warehouse(
        batch, outcomes, validated.findings, units, expected_units, archived, warehouse, run_id, raw_dir, started_at
    )
    report_dir = reports_dir_for(warehouse) / period / run_id
    write_quality_reports(batch, outcomes, validated.findings, pending, report_dir)

    counts = {status: outcomes.filter(pl.col("status").is_in(statuses)).height
              for status, statuses in (("accepted", load.ACCEPTED), ("rejected", ["rejected"]), ("held", [load.HELD]))}
    summary = RunSummary(
        run_id, period, len(files), len(pending), counts["accepted"], counts["rejected"], counts["held"], figures, report_dir,
        rejected_files=publish.rejected_files(batch.submissions, outcomes, validated.findings),
    )
    outcome_rows = outcomes.join(batch.submissions, on="submission_id").select(
        "unit_code", "file_name", "status", "errors", "warnings"
    )
    create_markdown_artifact(
        key=f"outcomes-{period.lower()}",
        markdown=f"# 收报结果 {period}\n\n" + publish.outcomes_markdown(outcome_rows.sort("unit_code").rows()),
        description=f"Outcome of each submission processed for {period}",
    )
    create_markdown_artifact(
        key=f"completeness-{period.lower()}",
        markdown=f"# 报送情况 {period}\n\n" + publish.completeness_markdown(publish.read_completeness(warehouse, period)),
        description=f"Which units have submitted for {period}, on time or late",
    )
    if validated.data_docs is not None:
        create_link_artifact(
            key=f"data-docs-{period.lower()}",
            link=validated.data_docs.resolve().as_uri(),
            link_text="Great Expectations Data Docs",
            description="Every validation result of every run, for the analysts",
        )
    create_markdown_artifact(
        key=f"district-figures-{period.lower()}",
        markdown=f"# District figures {period}\n\n" + publish.figures_markdown(figures),
        description=f"Report figures reproduced for {period}",
    )
    logger.info(
        "event=run_finished run_id=%s period=%s processed=%d accepted=%d rejected=%d held=%d figures_matching=%d/%d",
        run_id, period, len(pending), summary.accepted, summary.rejected, summary.held, summary.matched, len(figures),
    )
    return summary

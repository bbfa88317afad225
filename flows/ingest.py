"""The ingest flow: one period's workbooks from the raw folder into the warehouse, then the district figures."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from union_stats import discover, load, parse, publish, reference, transform, validate
from union_stats.findings import Finding
from union_stats.paths import RAW_DIR, WAREHOUSE_FILE


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    period: str
    files: int
    accepted: int
    rejected: int
    figures: list[publish.FigureRow]

    @property
    def matched(self) -> int:
        return sum(figure.matches for figure in self.figures)


@task(retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def discover_files(period_dir: Path) -> list[discover.ReceivedFile]:
    """List and fingerprint the period's workbooks."""
    return discover.discover(period_dir)


@task(cache_policy=NO_CACHE)
def parse_files(files: list[discover.ReceivedFile], period: str) -> parse.ParsedBatch:
    """Parse every workbook into one frame per sheet kind, with lineage."""
    return parse.parse_batch(files, period)


@task(cache_policy=NO_CACHE)
def validate_batch(batch: parse.ParsedBatch, units: tuple[reference.Unit, ...]) -> validate.ValidatedBatch:
    """Run the expectation suites over the batch and decide each submission's outcome."""
    return validate.validate_batch(batch, units)


@task(cache_policy=NO_CACHE)
def load_warehouse(
    batch: parse.ParsedBatch,
    outcomes: pl.DataFrame,
    findings: list[Finding],
    units: tuple[reference.Unit, ...],
    warehouse: Path,
    run_id: str,
    raw_dir: Path,
    started_at: datetime,
) -> list[publish.FigureRow]:
    """Load and rebuild the models in one transaction; return the period's district figures."""
    accepted = outcomes.filter(pl.col("status").is_in(load.ACCEPTED)).height
    with load.connect(warehouse) as con:
        load.ensure_warehouse(con)
        try:
            with load.transaction(con):
                load.load_batch(con, batch, outcomes, findings, units, run_id)
                transform.build(con)
                load.record_run(
                    con, run_id, batch.period, raw_dir, started_at, "succeeded",
                    outcomes.height, accepted, outcomes.height - accepted,
                )
        except Exception as error:
            with load.transaction(con):
                load.record_run(con, run_id, batch.period, raw_dir, started_at, "failed", outcomes.height, 0, 0, str(error))
            raise
        return publish.district_figures(con, batch.period)


@flow(name="ingest-period", log_prints=True)
def ingest_period(
    period: str | None = None,
    raw_dir: Path = RAW_DIR,
    warehouse: Path = WAREHOUSE_FILE,
) -> RunSummary:
    """Discover, parse, validate and load one period's submissions; publish outcomes and figures."""
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
    units = reference.units_for(period_dir)

    files = discover_files(period_dir)
    logger.info("period %s: %d workbooks in %s", period, len(files), period_dir)
    batch = parse_files(files, period)
    validated = validate_batch(batch, units)
    figures = load_warehouse(
        batch, validated.outcomes, validated.findings, units, warehouse, run_id, raw_dir, started_at
    )

    accepted = validated.outcomes.filter(pl.col("status").is_in(load.ACCEPTED)).height
    summary = RunSummary(run_id, period, len(files), accepted, len(files) - accepted, figures)
    outcome_rows = validated.outcomes.join(batch.submissions, on="submission_id").select(
        "unit_code", "file_name", "status", "errors", "warnings"
    )
    create_markdown_artifact(
        key=f"outcomes-{period.lower()}",
        markdown=f"# 收报结果 {period}\n\n" + publish.outcomes_markdown(outcome_rows.rows()),
        description=f"Outcome of each submission for {period}",
    )
    create_markdown_artifact(
        key=f"district-figures-{period.lower()}",
        markdown=f"# District figures {period}\n\n" + publish.figures_markdown(figures),
        description=f"Report figures reproduced for {period}",
    )
    logger.info(
        "period %s: %d accepted, %d rejected; %d of %d figures match",
        period, accepted, summary.rejected, summary.matched, len(figures),
    )
    return summary

"""The ingest flow: a period's new workbooks from the raw folder into the warehouse, then the district figures.

Each stage of `union_stats.pipeline` is a task here; `pipeline.run_period` is how a run starts this flow."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from flows import cluster
from union_stats import discover, parse, pipeline, pseudonym, validate
from union_stats import warehouse as db
from union_stats.paths import RAW_DIR, WAREHOUSE_FILE
from union_stats.publish import run_summary
from union_stats.runs import RunContext, RunSummary

# the file system's stages may be retried; the others are all or nothing
RETRIED = {"discover": {"retries": 2, "retry_delay_seconds": 1}, "archive": {"retries": 2, "retry_delay_seconds": 1}}


@task(cache_policy=NO_CACHE)
def parse_chunk(run: RunContext, files: list[discover.ReceivedFile], keys: pseudonym.KeySource) -> parse.ParsedBatch:
    """Parse one chunk of the files on a cluster's worker (which reads them, and the key, at the same paths)."""
    return parse.parse_chunk(files, run.period, keys=keys)


def parse_on_cluster(
    run: RunContext, files: list[discover.ReceivedFile], keys: pseudonym.KeySource, client: Any
) -> parse.ParsedBatch:
    """The parse stage on a Dask cluster: a task per chunk, the chunks sized to keep every worker thread busy."""
    threads = max(1, sum(client.nthreads().values()))
    chunks = parse.chunked(files, max(1, min(parse.CHUNK_FILES, -(-len(files) // threads))))
    get_run_logger().info(
        "event=parse_on_cluster scheduler=%s threads=%d files=%d chunks=%d",
        client.scheduler.address,
        threads,
        len(files),
        len(chunks),
    )
    return parse.merge_batches(run.period, parse_chunk.map(unmapped(run), chunks, unmapped(keys)).result())


def validate_on_cluster(run: RunContext, batch: parse.ParsedBatch, state: db.WarehouseState) -> validate.ValidatedBatch:
    """The validate task on a Dask cluster: one task over the whole batch, so that cross-file rules see every file."""
    return TASKS.validate.submit(run, batch, state).result()


@task(cache_policy=NO_CACHE)
def publish_run(
    run: RunContext, files: int, batch: parse.ParsedBatch, validated: validate.ValidatedBatch, figures: list
) -> RunSummary:
    """The run's artifacts for the office (each unit's outcome, completeness, Data Docs, figures); its summary."""
    period = run.period.lower()
    create_markdown_artifact(
        key=f"outcomes-{period}",
        markdown=f"# 收报结果 {run.period}\n\n"
        + run_summary.outcomes_markdown(run_summary.outcome_rows(batch, validated)),
        description=f"Outcome of each submission processed for {run.period}",
    )
    create_markdown_artifact(
        key=f"completeness-{period}",
        markdown=f"# 报送情况 {run.period}\n\n"
        + run_summary.completeness_markdown(db.read_completeness(run.warehouse, run.period)),
        description=f"Which units have submitted for {run.period}, on time or late",
    )
    if validated.data_docs is not None:
        create_link_artifact(
            key=f"data-docs-{period}",
            link=validated.data_docs.resolve().as_uri(),
            link_text="Great Expectations Data Docs",
            description="Every validation result of every run, for the analysts",
        )
    create_markdown_artifact(
        key=f"district-figures-{period}",
        markdown=f"# District figures {run.period}\n\n"
        + run_summary.figures_markdown(figures, db.read_target_progress(run.warehouse, run.period)),
        description=f"Report figures reproduced for {run.period}"
        if db.has_published_report(figures)
        else f"District figures of {run.period} (no published report to compare with) and the year's targets",
    )
    summary = run_summary.summarise(run, files, batch, validated, figures)
    get_run_logger().info(
        "event=run_finished run_id=%s period=%s processed=%d accepted=%d rejected=%d held=%d figures_matching=%s/%d",
        run.run_id,
        run.period,
        summary.processed,
        summary.accepted,
        summary.rejected,
        summary.held,
        summary.matched if summary.compared else "-",  # no published report: nothing to match
        len(figures),
    )
    return summary


# the stages of pipeline.ingest as this flow's tasks: the same functions (names, docstrings, types), each a task;
# the summary is this flow's own, leaving the office its artifacts
TASKS = replace(
    pipeline.PLAIN.each(lambda name, stage: task(stage, cache_policy=NO_CACHE, **RETRIED.get(name, {}))),
    summarise=publish_run,
)


def on_cluster(client: Any) -> pipeline.Stages:
    """The tasks with parse and validate on a Dask cluster's workers."""
    return replace(
        TASKS,
        parse=lambda run, files, keys: parse_on_cluster(run, files, keys, client),
        validate=validate_on_cluster,
    )


@flow(name="ingest-period", log_prints=True)
def ingest_period(period: str | None = None, raw_dir: Path = RAW_DIR, warehouse: Path = WAREHOUSE_FILE) -> RunSummary:
    """Discover a period's files; parse, validate and load the new ones; publish outcomes and figures.

    The stages and their order are `pipeline.ingest`'s; here each is a task. On a Dask task runner
    (`run_ingest(..., dask_address=...)`) parse and validate run on the cluster's workers. A run goes through
    `pipeline.run_period`, which holds the run lock and publishes the Parquet copy around this flow.
    """
    run = RunContext.start(period, raw_dir, warehouse)
    dask = cluster.dask_client(FlowRunContext.get().task_runner)  # None: in this process (and its own workers)
    return pipeline.ingest(run, TASKS if dask is None else on_cluster(dask))


def run_ingest(
    period: str | None = None,
    raw_dir: Path = RAW_DIR,
    warehouse: Path = WAREHOUSE_FILE,
    dask_address: str | None = None,
) -> RunSummary:
    """Run the ingest flow, on the default task runner or (given a scheduler address) on a Dask cluster."""
    if dask_address is None:
        return ingest_period(period=period, raw_dir=raw_dir, warehouse=warehouse)
    with cluster.api_for_workers():
        on_dask = ingest_period.with_options(task_runner=cluster.task_runner(dask_address))
        return on_dask(period=period, raw_dir=raw_dir, warehouse=warehouse)

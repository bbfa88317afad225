"""When the warehouse loads itself: the quarterly and annual close schedules (Asia/Shanghai), the flow they run,
and the deployments `union-stats serve` starts (prefect.yaml at the repository root restates them for `prefect deploy`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import prefect
from prefect import flow, get_run_logger
from prefect.deployments.runner import RunnerDeployment
from prefect.runtime import flow_run
from prefect.schedules import Cron
from prefect.server.schemas.schedules import CronSchedule

from flows.cluster import address_from_env, address_problem
from flows.start import ingest_flow
from union_stats.paths import RAW_DIR, WAREHOUSE_FILE
from union_stats.periods import previous_period
from union_stats.pipeline import run_period
from union_stats.runs import RunSummary

# the federation works on Beijing time; a cron without a zone would fire on the server's clock (often UTC)
TIMEZONE = "Asia/Shanghai"

PeriodKind = Literal["quarter", "year"]


@dataclass(frozen=True)
class CloseSchedule:
    deployment: str
    kind: PeriodKind
    cron: str
    description: str


# 02:00, before office hours: the figures are in the warehouse when the statistics office opens,
# and a failed run is seen (and rerun) that same working day
CLOSE_SCHEDULES = (
    CloseSchedule(
        deployment="quarterly-close",
        kind="quarter",
        cron="0 2 15 1,4,7,10 *",
        description="Load the quarter that has just ended, on the 15th of the month after it (Beijing time).",
    ),
    CloseSchedule(
        deployment="annual-close",
        kind="year",
        cron="0 2 20 1 *",
        description="Load the previous year on 20 January (Beijing time).",
    ),
)


def period_due(kind: PeriodKind, at: datetime) -> str:
    """The last quarter or year that had ended by `at` on the Beijing calendar (a naive `at` is Beijing time).

    On 2027-04-15 the quarterly close is due for 2027Q1; on 2027-01-20 the annual close is due for 2026.
    """
    zone = ZoneInfo(TIMEZONE)
    # 01:00 on 1 April in Beijing is still 31 March in UTC: the period is decided on the Beijing calendar
    day = (at.replace(tzinfo=zone) if at.tzinfo is None else at.astimezone(zone)).date()
    if kind == "quarter":
        return previous_period(f"{day.year}Q{(day.month - 1) // 3 + 1}")
    if kind == "year":
        return previous_period(str(day.year))
    raise ValueError(f"kind must be 'quarter' or 'year', got {kind!r}")


@flow(name="scheduled-ingest", log_prints=True)
def scheduled_ingest(
    kind: PeriodKind,
    raw_dir: Path = RAW_DIR,
    warehouse: Path = WAREHOUSE_FILE,
    dask_address: str | None = None,
) -> RunSummary:
    """Ingest the quarter or year that had ended when this run was scheduled, as `union-stats run` would: holding
    the warehouse's run lock, and publishing the Parquet copy when `UNION_STATS_PARQUET_DIR` is set where the run
    executes (a failed publish fails the run, its data kept in the warehouse).

    With `dask_address` (a deployment's parameter; else `UNION_STATS_DASK_ADDRESS` where the run executes), parse
    and validate run on that Dask cluster.
    """
    # the scheduled time, not the clock: a late or retried run still loads the period it was scheduled for;
    # outside a scheduled run (a manual run) Prefect gives the current time
    scheduled_at = flow_run.scheduled_start_time
    period = period_due(kind, scheduled_at)
    get_run_logger().info("%s close scheduled for %s: period %s", kind, scheduled_at, period)
    dask_address = dask_address or address_from_env()
    if dask_address is not None and (problem := address_problem(dask_address)) is not None:
        raise ValueError(problem)
    # the same run as `union-stats run`: the run lock, the no-op check, the record in ops.runs, the Parquet copy
    result = run_period(period, raw_dir, warehouse, flow=ingest_flow, dask_address=dask_address)
    if result.parquet_failure is not None:
        raise RuntimeError(result.parquet_failure)
    return result.summary


def deployments() -> list[RunnerDeployment]:
    """The close deployments, one per schedule, built without contacting the Prefect API."""
    return [
        scheduled_ingest.to_deployment(
            name=close.deployment,
            schedules=[Cron(close.cron, timezone=TIMEZONE)],
            parameters={"kind": close.kind},
            description=close.description,
            tags=["union-stats"],
        )
        for close in CLOSE_SCHEDULES
    ]


def serve_deployments() -> None:
    """Register the close deployments and run their scheduled runs until interrupted."""
    # one run at a time: every run writes the same DuckDB file, which takes one writer only
    prefect.serve(*deployments(), limit=1)


def next_runs(n: int = 4, after: datetime | None = None) -> dict[str, list[datetime]]:
    """The next `n` run times of each close deployment strictly after `after` (default now), in Beijing time."""
    zone = ZoneInfo(TIMEZONE)
    after = datetime.now(zone) if after is None else after
    runs = {}
    for close in CLOSE_SCHEDULES:
        # Prefect's scheduler's own computation, so the dry run shows what the server will schedule;
        # its start is inclusive, hence the microsecond
        schedule = CronSchedule(cron=close.cron, timezone=TIMEZONE)
        dates = asyncio.run(schedule.get_dates(n=n, start=after + timedelta(microseconds=1)))
        runs[close.deployment] = [datetime.fromtimestamp(date.timestamp(), tz=zone) for date in dates]
    return runs

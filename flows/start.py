"""Start the ingest flow from any process, for `pipeline.run_period(..., flow=ingest_flow)`.

From a process that has not loaded Prefect (the command line), Prefect's state goes beside the warehouse and the
temporary API server is started before Prefect is imported, while Great Expectations loads (see
union_stats/prefect_server.py); inside a flow (a scheduled close) or with the user's own Prefect server, the
ingest flow simply runs, as a subflow there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from union_stats.runs import RunSummary


def ingest_flow(period: str, raw_dir: Path, warehouse: Path, dask_address: str | None = None) -> RunSummary:
    """Run the ingest flow for `period`, on a Dask cluster when `dask_address` is given."""
    from union_stats.paths import use_prefect_home

    use_prefect_home(warehouse)  # before Prefect is imported: its state lives beside the warehouse
    from union_stats import prefect_server
    from union_stats.progress import step

    step("starting Prefect's temporary server")
    server = prefect_server.start()  # its start-up overlaps with importing Prefect and the flow
    step("loading Prefect")
    from flows.ingest import run_ingest

    if server is not None:
        from union_stats.validate.gx_runner import preload

        step("loading Great Expectations while Prefect's server starts")
        preload()  # the run validates: Great Expectations loads while the server starts
        step("waiting for Prefect's temporary server")
        server.wait_ready()
    step("starting the ingest flow")
    with without_heartbeats(server is not None):
        return run_ingest(period=period, raw_dir=raw_dir, warehouse=warehouse, dask_address=dask_address)


@contextmanager
def without_heartbeats(temporary_server: bool) -> Iterator[None]:
    """No flow run heartbeats on the command's own temporary server. A heartbeat tells a server that outlives the
    run whether the run still lives (Prefect's detection of crashed runs); this server stops with the command, so
    there is nobody to tell, and each run's end waited up to a second for the heartbeat thread to notice it
    (0.4-0.9 s measured, Prefect 3.9). On the user's own server, or inside a scheduled flow, Prefect's setting
    stands."""
    if not temporary_server:
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield

"""The ingest flow's parse and validate tasks on a Dask cluster, through prefect-dask's `DaskTaskRunner`.

Given a scheduler address (`union-stats run --dask tcp://host:8786`, the deployments' `dask_address` parameter, or
`UNION_STATS_DASK_ADDRESS`), the flow runs with a `DaskTaskRunner` connected to it: the files are parsed in chunks,
a task per chunk, on the workers, and the whole batch is validated by one task there (the cross-file rules see
every file). Fingerprinting, archiving, the load into DuckDB and the reports stay in the flow's own process.

The workers read the files at the paths the flow gives them (the raw folder, and the warehouse's folder where
Data Docs are written): on other machines both must be on a shared folder mounted at the same path, and the
workers need this project installed. They report their task runs to the flow's Prefect API.

Nothing here imports `distributed` or `prefect_dask` at module level: only a run on a cluster pays for them.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ENV_VAR = "UNION_STATS_DASK_ADDRESS"
# an unreachable scheduler is a one-line failure within seconds, not a hang
CONNECT_TIMEOUT_SECONDS = 5

_ADDRESS = re.compile(
    r"tcp://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?):(?P<port>[0-9]{1,5})"
)


class ClusterError(Exception):
    """The cluster cannot take the run (no scheduler answers, or it has no workers): one line for the operator."""


def address_problem(text: str) -> str | None:
    """Why `text` is not a Dask scheduler address `tcp://host:port`, or None when it is one."""
    match = _ADDRESS.fullmatch(text.strip())
    if match is None:
        return f"{text!r} is not a Dask scheduler address: give tcp://host:port, like tcp://10.0.0.5:8786"
    if not 1 <= int(match["port"]) <= 65535:
        return f"{text!r}: the port must be 1 to 65535"
    return None


def address_from_env() -> str | None:
    """The scheduler address in `UNION_STATS_DASK_ADDRESS`, or None when it is unset or empty."""
    return os.environ.get(ENV_VAR, "").strip() or None


def check_scheduler(address: str, timeout: float = CONNECT_TIMEOUT_SECONDS) -> int:
    """Connect to the scheduler at `address` and wait for a worker: the worker threads it has.

    Raises `ClusterError` at once when the host refuses the connection (nothing listens on that port), else when
    nothing answers within `timeout` seconds or no worker joins in that time.
    """
    from distributed import Client

    unreachable = _unreachable(address, timeout)
    if unreachable is not None:
        raise ClusterError(f"no Dask scheduler answers at {address} ({unreachable})")
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ClusterError(f"no Dask scheduler answers at {address} (waited {timeout:g} s)") from error
    with client:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError) as error:
            raise ClusterError(f"the Dask scheduler at {address} has no workers (waited {timeout:g} s)") from error
        return sum(client.nthreads().values())


def _unreachable(address: str, timeout: float) -> str | None:
    """Why nothing can answer at `address`: the host refused the connection (nothing listens on the port: said at
    once, where distributed's client would retry until its timeout) or did not take it within `timeout`; None when
    it took it (or for any other error, which distributed's client then reports in its own words)."""
    match = _ADDRESS.fullmatch(address.strip())
    if match is None:
        return None
    try:
        socket.create_connection((match["host"].strip("[]"), int(match["port"])), timeout=timeout).close()
    except ConnectionRefusedError:
        return "connection refused"
    except TimeoutError:
        return f"waited {timeout:g} s"
    except OSError:
        return None
    return None


def task_runner(address: str) -> Any:
    """A `DaskTaskRunner` for the scheduler at `address`, with a short connect timeout."""
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=address, client_kwargs={"timeout": CONNECT_TIMEOUT_SECONDS})


def dask_client(runner: object) -> Any | None:
    """The Dask client of a flow's task runner when it is a `DaskTaskRunner`, else None (without importing it)."""
    prefect_dask = sys.modules.get("prefect_dask")
    if prefect_dask is None or not isinstance(runner, prefect_dask.DaskTaskRunner):
        return None
    return runner.client


@contextmanager
def api_for_workers() -> Iterator[None]:
    """Name the flow's Prefect API in its settings, so that the workers report their task runs to it.

    With no `PREFECT_API_URL` (no Prefect server, the usual case) a run starts a temporary API server; a worker
    given no URL would start one of its own. The temporary server is started here instead, and its address
    (on this machine's loopback interface, so reachable only from workers on the same machine) passed on.
    Workers on other machines need a Prefect server they can reach: set `PREFECT_API_URL` to it. So does a cluster
    that outlives one run: Prefect's events worker in a worker process keeps the first API it reported to, so a
    later run's task runs would go to an earlier run's (stopped) temporary server, missing from its own record.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the one the run's client would start (one per process)
    server.start()
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        yield

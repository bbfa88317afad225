"""The flow on a Dask cluster (`union-stats run --dask tcp://...`): the same figures and findings as the default runner.

One local cluster of two worker processes (loopback only) serves the whole module.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from defects import credit_code_check_character, not_a_workbook, set_indicator
from warehouse import query

from flows import cluster
from flows.ingest import run_ingest
from union_stats.paths import RAW_DIR, prefect_home_for

pytestmark = pytest.mark.usefixtures("prefect_harness")

FIGURES_SQL = (
    "select figure_id, value, reproduced, matches from report.district_figures where period = '2022' order by 1"
)
FINDINGS_SQL = (
    "select submission_id, file_name, rule, severity, sheet, cell, value, message from ops.findings order by all"
)
OUTCOMES_SQL = "select submission_id, unit_code, status, errors, warnings from ops.submissions order by all"


@pytest.fixture(scope="module")
def dask_cluster():
    """A local Dask cluster, two single-threaded worker processes on 127.0.0.1, and a client to watch it."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as local,
        distributed.Client(local, set_as_default=False) as client,
    ):
        client.get_task_stream()  # the scheduler records the task stream from its first request on
        yield local, client


@pytest.fixture(scope="module")
def raw_with_defects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped 18 workbooks of 2022 with two of them broken, plus a text file saved as .xlsx (19 files)."""
    raw = tmp_path_factory.mktemp("dask") / "raw"
    shutil.copytree(RAW_DIR / "2022", raw / "2022")
    set_indicator(raw / "2022" / "dashi_2022.xlsx", "volunteer_sessions", -5)  # rejected: a negative count
    credit_code_check_character(raw / "2022" / "shiqiao_2022.xlsx")  # rejected: a wrong check character
    not_a_workbook(raw / "2022" / "nancun_2022(补报).xlsx")
    return raw


def _warehouse_view(warehouse: Path) -> dict[str, list[tuple]]:
    sql = {"figures": FIGURES_SQL, "findings": FINDINGS_SQL, "outcomes": OUTCOMES_SQL}
    return {name: query(warehouse, text) for name, text in sql.items()}


def _tasks_on(client, since: float) -> dict[str, list[str]]:
    """The workers each Prefect task ran on since `since`, by task name (`parse_chunk`, `validate_files`)."""
    ran: dict[str, list[str]] = {}
    for record in client.get_task_stream(start=since):
        ran.setdefault(record["key"].rsplit("-", 1)[0], []).append(record["worker"])
    return ran


def test_union_stats_run_on_a_dask_cluster_gives_the_default_runner_s_figures_and_findings(
    dask_cluster, raw_with_defects: Path, tmp_path: Path, migrated_prefect_home: Path
) -> None:
    """`union-stats run --dask` in a fresh process (its own temporary Prefect server, as an office starts it) against
    the ingest flow on the default runner over the same files: the same figures, findings and outcomes, the parse
    and validate tasks on the cluster's workers, reported to the run's own server."""
    local, client = dask_cluster
    workers = set(local.scheduler_info["workers"])
    assert len(workers) == 2
    by_default = run_ingest(period="2022", raw_dir=raw_with_defects, warehouse=tmp_path / "default" / "w.duckdb")
    assert (by_default.files, by_default.accepted, by_default.rejected) == (19, 16, 3)

    warehouse = tmp_path / "dask" / "w.duckdb"
    shutil.copytree(migrated_prefect_home, prefect_home_for(warehouse))  # the office's home, which has run before
    with closing(sqlite3.connect(prefect_home_for(warehouse) / "prefect.db")) as prefect_db:
        earlier = {row[0] for row in prefect_db.execute("select id from task_run")}  # that home's earlier runs
    started = time.time()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "union_stats.cli",
            "run",
            "--raw-dir",
            str(raw_with_defects),
            "--warehouse",
            str(warehouse),
            "--dask",
            local.scheduler_address,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "19 files, 19 new: 16 accepted, 3 rejected" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    # 19 files over 2 worker threads: two parse tasks, and one validate task over the whole batch, all on the cluster
    ran = _tasks_on(client, started)
    assert len(ran.get("parse_chunk", [])) == 2 and len(ran.get("validate_files", [])) == 1, ran
    assert set(ran["parse_chunk"] + ran["validate_files"]) <= workers
    default_view = _warehouse_view(tmp_path / "default" / "w.duckdb")
    dask_view = _warehouse_view(warehouse)
    assert len(default_view["figures"]) == 66
    assert dask_view["figures"] == default_view["figures"]
    rules = {row[2] for row in default_view["findings"]}
    assert {"values.number", "codes.credit_code_check", "file.not_spreadsheet"} <= rules
    assert dask_view["findings"] == default_view["findings"]
    assert dask_view["outcomes"] == default_view["outcomes"]
    # the workers reported their task runs to the run's own temporary Prefect server (beside the warehouse),
    # not to servers of their own
    with closing(sqlite3.connect(warehouse.parent / "prefect" / "prefect.db")) as prefect_db:
        recorded = prefect_db.execute("select id, name, state_type from task_run").fetchall()
    on_workers = sorted(
        (name.rsplit("-", 1)[0], state)
        for task_run_id, name, state in recorded
        if name.startswith(("parse_chunk", "validate_files")) and task_run_id not in earlier
    )
    assert on_workers == [("parse_chunk", "COMPLETED"), ("parse_chunk", "COMPLETED"), ("validate_files", "COMPLETED")]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("tcp://127.0.0.1:8786", None),
        ("tcp://scheduler.example.org:8786", None),
        ("tcp://[::1]:8786", None),
        ("127.0.0.1:8786", "not a Dask scheduler address"),
        ("tcp://127.0.0.1", "not a Dask scheduler address"),
        ("http://127.0.0.1:8786", "not a Dask scheduler address"),
        ("tcp://:8786", "not a Dask scheduler address"),
        ("tcp://127.0.0.1:99999", "the port must be 1 to 65535"),
        ("tcp://127.0.0.1:0", "the port must be 1 to 65535"),
    ],
)
def test_a_scheduler_address_is_tcp_host_port(text: str, problem: str | None) -> None:
    found = cluster.address_problem(text)
    assert found is None if problem is None else problem in found


def test_the_default_path_does_not_import_dask() -> None:
    code = (
        "import sys; from flows.ingest import run_ingest; import union_stats.cli; "
        "print(sorted(m for m in ('distributed', 'dask', 'prefect_dask') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_a_deployment_can_set_a_dask_address() -> None:
    from flows.schedules import scheduled_ingest

    schema = scheduled_ingest.parameters.model_dump()
    assert schema["properties"]["dask_address"]["default"] is None
    assert "dask_address" not in schema["required"]


def test_with_a_prefect_server_set_the_workers_are_given_it_and_nothing_is_started(monkeypatch) -> None:
    """A run whose Prefect API is set (the harness here, an office's `PREFECT_API_URL`) passes it on as it is."""
    from prefect.server.api import server
    from prefect.settings import PREFECT_API_URL

    def no_server(*args, **kwargs):
        raise AssertionError("a temporary server was started although PREFECT_API_URL is set")

    monkeypatch.setattr(server, "SubprocessASGIServer", no_server)
    before = PREFECT_API_URL.value()
    assert before
    with cluster.api_for_workers():
        assert PREFECT_API_URL.value() == before


@pytest.mark.parametrize(
    ("raised", "said"), [(ConnectionRefusedError, "(connection refused)"), (TimeoutError, "(waited 0.2 s)")]
)
def test_a_scheduler_that_cannot_answer_is_told_without_distributed_s_retries(
    monkeypatch: pytest.MonkeyPatch, raised: type[OSError], said: str
) -> None:
    """Nothing listening on the port is said at once, and a host that does not take the connection within the
    timeout is said after it, once: distributed's client (which would retry, and wait its own timeout again) is not
    asked."""
    import distributed

    def unreachable(address, timeout):
        raise raised()

    def not_asked(*args, **kwargs):
        raise AssertionError("distributed's client was asked")

    monkeypatch.setattr(cluster.socket, "create_connection", unreachable)
    monkeypatch.setattr(distributed, "Client", not_asked)

    with pytest.raises(cluster.ClusterError) as error:
        cluster.check_scheduler("tcp://10.0.0.5:8786", timeout=0.2)

    assert str(error.value) == f"no Dask scheduler answers at tcp://10.0.0.5:8786 {said}"

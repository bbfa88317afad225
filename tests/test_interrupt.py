"""Ctrl-C during `union-stats run`, at a few moments of a real run in a fresh process: it ends within 2 s with exit
130 and one line, its temporary Prefect server goes too, and the warehouse is as it was before the run.

The signal goes to the run's process group, as a terminal sends it; the run started the Prefect server in a session
of its own, so the server is stopped by the run on its way out rather than killed under it by the terminal.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from union_stats import pipeline, warehouse
from union_stats.cli import interrupt
from union_stats.devtools.sample import write_sample
from union_stats.paths import archive_dir_for

PROMISED_SECONDS = 2.0


@pytest.fixture(scope="module")
def loaded(sample_2022_copy: Path) -> tuple[Path, Path]:
    """A warehouse holding 2022 (the session's flow run of the shipped sample), and 2023Q1 waiting."""
    write_sample("2023Q1", sample_2022_copy / "raw" / "2023Q1")
    return sample_2022_copy / "raw", sample_2022_copy / "wh" / "union_stats.duckdb"


def _snapshot(path: Path) -> dict[str, list[tuple]]:
    with warehouse.connect(path, read_only=True) as con:
        relations = con.execute(
            "select schema_name || '.' || table_name from duckdb_tables() where database_name = current_database() "
            "union all select schema_name || '.' || view_name from duckdb_views() "
            "where database_name = current_database() and not internal"
        ).fetchall()
        return {name: sorted(map(repr, con.execute(f"from {name}").fetchall())) for (name,) in sorted(relations)}


def _servers_of(home: Path) -> list[int]:
    """The processes whose Prefect home is `home` (the run's temporary server, while it lives)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                environment = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"PREFECT_HOME={home}".encode() in environment:
                found.append(int(entry.name))
    return found


def _after_one_second(started: float, warehouse_path: Path) -> bool:
    return time.monotonic() - started > 1.0  # starting: imports, the Prefect server, Great Expectations


def _while_validating(started: float, warehouse_path: Path) -> bool:
    # the period's files are archived just before they are parsed and validated (seconds, on two cores)
    return len(list(archive_dir_for(warehouse_path).rglob("*.xlsx"))) > 18


def _while_waiting_for_another_run(started: float, warehouse_path: Path) -> bool:
    return time.monotonic() - started > 1.5  # the test holds the run lock meanwhile


MOMENTS: dict[str, Callable[[float, Path], bool]] = {
    "starting": _after_one_second,
    "validating": _while_validating,
    "waiting for another run": _while_waiting_for_another_run,
}


@pytest.mark.parametrize("moment", MOMENTS)
def test_ctrl_c_ends_the_run_within_2_s_with_130_and_one_line(
    loaded: tuple[Path, Path], tmp_path: Path, moment: str, migrated_prefect_home: Path
) -> None:
    raw, original = loaded
    path = tmp_path / "warehouse" / "union_stats.duckdb"
    shutil.copytree(original.parent, path.parent)
    before = _snapshot(path)
    home = migrated_prefect_home  # its own temporary server, on a home that has run before (not a first run)
    environment = os.environ | {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    environment.pop("PREFECT_API_URL", None)
    lock = path.with_name(path.name + ".run-lock").open("a")
    if moment == "waiting for another run":
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        started = time.monotonic()
        run = subprocess.Popen(
            [sys.executable, "-m", "union_stats.cli", "run", "--raw-dir", str(raw), "--period", "2023Q1"]
            + ["--warehouse", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
            text=True,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
        while run.poll() is None and not MOMENTS[moment](started, path) and time.monotonic() - started < 240:
            time.sleep(0.01)
        assert run.poll() is None, f"the run ended before {moment}: {run.communicate()}"
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C at the terminal
        interrupted = time.monotonic()
        run.wait(timeout=60)
        took = time.monotonic() - interrupted  # the prompt is back: the command's process has ended
        out, err = run.communicate(timeout=60)
    finally:
        lock.close()

    assert run.returncode == 130, out + err
    assert took < PROMISED_SECONDS, f"{took:.2f} s"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0], err
    assert "Traceback" not in out + err
    deadline = time.monotonic() + 5
    while _servers_of(home) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _servers_of(home) == []  # the temporary server went with the run
    assert _snapshot(path) == before  # nothing of the stopped run is in the warehouse, nor is it recorded


def test_a_stop_a_library_turns_into_its_own_error_is_still_a_stop_and_not_recorded(raw_copy: Path, tmp_path) -> None:
    """Ctrl-C while Prefect's task engine sets up a task run comes out as `ValueError: Task run is not set` (seen in
    CI at the "validating" moment above): the run is stopped, as by the RunInterrupted under it, and not recorded
    as a failed run."""
    from dataclasses import replace

    from union_stats.runs import RunContext, RunInterrupted

    def parse(run, files, keys):
        try:
            raise RunInterrupted()
        except RunInterrupted:
            raise ValueError("Task run is not set")  # noqa: B904 - as the library does: the stop is its context

    path = tmp_path / "w" / "union_stats.duckdb"
    with pytest.raises(RunInterrupted):
        pipeline.ingest(RunContext.start("2022", raw_copy, path), replace(pipeline.PLAIN, parse=parse))
    assert not path.exists()  # nothing recorded: no warehouse was even made

    def broken(run, files, keys):
        raise ValueError("Task run is not set")  # the same error without a stop under it is a failed run

    with pytest.raises(ValueError):
        pipeline.ingest(RunContext.start("2022", raw_copy, path), replace(pipeline.PLAIN, parse=broken))
    with warehouse.connect(path, read_only=True) as con:
        assert con.execute("select status from ops.runs").fetchall() == [("failed",)]


def test_an_error_that_does_not_chain_the_stop_is_still_a_stop_once_ctrl_c_reached_the_run(
    raw_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C while pydantic serialises Prefect's settings comes out as `PydanticSerializationError: Error calling
    function _ser_model: RunInterrupted:`, which names the stop without chaining it (seen at the "starting" moment
    above): once the Ctrl-C has reached the run, the command still ends with 130 and the one line, and the run is
    not recorded as failed."""
    import flows.start
    from union_stats.cli import main
    from union_stats.runs import RunInterrupted

    def stopped_inside_a_library(period, raw_dir, warehouse_path, dask_address):
        RunInterrupted.stopping = True  # as the Ctrl-C handler does before it raises the stop
        raise ValueError("Error calling function `_ser_model`: RunInterrupted: ") from None

    monkeypatch.setattr(RunInterrupted, "stopping", False)
    monkeypatch.setattr(interrupt, "_said", threading.Lock())  # this process says its line once: a lock of its own
    monkeypatch.setattr(flows.start, "ingest_flow", stopped_inside_a_library)
    path = tmp_path / "w" / "union_stats.duckdb"

    code = main(["run", "--raw-dir", str(raw_copy), "--warehouse", str(path)])

    err = capsys.readouterr().err
    assert code == 130
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and interrupt.MESSAGE in lines[0], err
    assert not path.exists()  # nothing recorded

    def failed_inside_a_library(period, raw_dir, warehouse_path, dask_address):
        raise ValueError("Error calling function `_ser_model`: something else")  # no Ctrl-C: a failed run

    monkeypatch.setattr(flows.start, "ingest_flow", failed_inside_a_library)

    code = main(["run", "--raw-dir", str(raw_copy), "--warehouse", str(path)])

    assert code == 1 and "run failed: ValueError" in capsys.readouterr().err

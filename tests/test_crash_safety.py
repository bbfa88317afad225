"""A run killed with SIGKILL in the middle, and two runs started at once, leave the warehouse sound: the next
run loads what is missing, reproduces the report, and no submission is recorded twice.

These start `union-stats run` as the office does, in fresh processes, each reporting to the test session's Prefect
API (`prefect_api_env`): the temporary server a run starts for itself is another test's subject (test_prefect_home,
test_interrupt), and starting one for each of these five runs would double their time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from warehouse import query


def _start(raw: Path, warehouse: Path, environment: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "union_stats.cli", "run", "--raw-dir", str(raw), "--warehouse", str(warehouse)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=environment,
        text=True,
        start_new_session=True,  # its own process group: the kill takes all it started along
    )


def _sound(warehouse: Path) -> None:
    """18 current submissions, each recorded once, and the report reproduced."""
    assert query(warehouse, "select count(*), count(distinct submission_id) from ops.submissions") == [(18, 18)]
    assert query(warehouse, "select count(*) from ops.ledger") == [(18,)]
    assert query(warehouse, "select count(*) filter (where matches), count(*) from report.district_figures") == [
        (66, 66)
    ]


def test_a_run_killed_while_it_writes_leaves_a_warehouse_the_next_run_completes(
    raw_copy: Path, tmp_path: Path, prefect_api_env: dict[str, str]
) -> None:
    warehouse = tmp_path / "w.duckdb"
    wal = warehouse.with_name(warehouse.name + ".wal")
    run = _start(raw_copy, warehouse, prefect_api_env)
    deadline = time.monotonic() + 240
    while run.poll() is None and not wal.exists() and time.monotonic() < deadline:
        time.sleep(0.005)  # the write-ahead log appears when the load starts writing
    killed = run.poll() is None
    if killed:
        os.killpg(run.pid, signal.SIGKILL)
    output = run.communicate()[0]
    assert killed, f"the run ended before it could be killed:\n{output}"

    rerun = _start(raw_copy, warehouse, prefect_api_env)
    output = rerun.communicate(timeout=300)[0]
    assert rerun.returncode == 0, output
    assert "66 of 66" in output
    _sound(warehouse)


def test_two_runs_started_at_once_leave_one_sound_warehouse(
    raw_copy: Path, tmp_path: Path, prefect_api_env: dict[str, str]
) -> None:
    warehouse = tmp_path / "w.duckdb"
    runs = [_start(raw_copy, warehouse, prefect_api_env) for _ in (1, 2)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    codes = [run.returncode for run in runs]

    assert 0 in codes, outputs
    for code, output in zip(codes, outputs, strict=True):
        assert "Traceback" not in output, output
        if code != 0:  # the one that found the warehouse locked says so in a line and changes nothing
            assert code == 1 and "run failed" in output, output
    final = _start(raw_copy, warehouse, prefect_api_env)
    output = final.communicate(timeout=300)[0]
    assert final.returncode == 0 and "66 of 66" in output, output
    _sound(warehouse)

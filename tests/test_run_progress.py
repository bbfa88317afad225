"""A run shows what it is doing from its first second, on a terminal: a first `union-stats run` (its own Prefect
home, so Prefect's temporary server starts) in a pseudo-terminal names each step as it comes, and clears the display
before the figures are printed; off a terminal it says nothing but its result."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from union_stats import progress, warehouse
from union_stats.devtools.sample import write_sample

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]")
# the steps of a first run, in the order a clerk at the terminal sees them
STEPS = (
    "starting the run",
    "checking what is new in 2023Q1",
    "starting Prefect's temporary server",
    "loading Great Expectations",
    "starting the ingest flow",
    "fingerprinting",
    "archiving 18 new files",
    "parsing",
    "validating 18 files",
    "loading the warehouse and rebuilding its models",
    "writing each file's report",
)


def _read_terminal(master: int, seen: list[tuple[float, str]]) -> None:
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            return
        if not data:
            return
        seen.append((time.monotonic(), data.decode("utf-8", "replace")))


def test_a_first_run_names_each_step_from_its_first_second(tmp_path: Path, record_property) -> None:
    raw = tmp_path / "raw"
    write_sample("2023Q1", raw / "2023Q1")
    home = tmp_path / "prefect"
    home.mkdir()
    environment = os.environ | {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    environment.pop("PREFECT_API_URL", None)
    environment.pop(progress.PROGRESS_ENV, None)
    master, terminal = pty.openpty()
    seen: list[tuple[float, str]] = []
    started = time.monotonic()
    run = subprocess.Popen(
        [sys.executable, "-m", "union_stats.cli", "run", "--raw-dir", str(raw)]
        + ["--warehouse", str(tmp_path / "w" / "w.duckdb")],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=environment,
        text=True,
    )
    os.close(terminal)
    reader = threading.Thread(target=_read_terminal, args=(master, seen), daemon=True)
    reader.start()
    out, _ = run.communicate(timeout=600)
    reader.join(timeout=10)
    os.close(master)

    assert run.returncode == 0, out
    shown = ANSI.sub("", "".join(text for _, text in seen))
    first_shown = next(moment for moment, text in seen if STEPS[0] in ANSI.sub("", text))
    record_property(
        "benchmark",
        f"run progress: first step on the terminal {first_shown - started:.2f} s after the command started "
        f"(the whole first run {time.monotonic() - started:.1f} s)",
    )
    assert "Traceback" not in shown
    positions = [shown.find(step) for step in STEPS]
    assert all(position >= 0 for position in positions), [s for s, p in zip(STEPS, positions, strict=True) if p < 0]
    assert positions == sorted(positions), "the steps appear in the run's order"
    assert "period 2023Q1: 18 files, 18 new" in out  # the result on stdout, the display on the terminal


def test_off_a_terminal_a_step_says_nothing(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    with progress.run_progress("starting the run"):
        progress.step("parsing")
        with progress.terminal_progress(500, "fingerprinting") as advance:
            advance()
    assert capsys.readouterr() == ("", "")


def test_a_run_waiting_for_another_says_so(tmp_path: Path, monkeypatch) -> None:
    steps: list[str] = []
    monkeypatch.setattr(progress, "step", steps.append)
    monkeypatch.setenv("UNION_STATS_LOCK_WAIT_SECONDS", "0.5")
    path = tmp_path / "w.duckdb"
    with path.with_name(path.name + ".run-lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(warehouse.WarehouseBusy), warehouse.run_lock(path):
            pass
    assert steps == ["waiting for another run of this warehouse to finish"]

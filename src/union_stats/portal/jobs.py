"""The portal's work on the warehouse: runs, closes and reopens as child processes, and snapshots of the results.

DuckDB has one writing process, and a reader cannot open the file while it writes. So the portal never writes
the warehouse itself and never waits for it:

- a run, a close or a reopen the office starts is the command line's own command (`union-stats run`, `close`,
  `reopen`) in a child process, one at a time (the jobs table says whether one is running); the portal answers
  pages meanwhile and the office sees the job's state and output;
- what the pages show of the warehouse (figures, completeness, whether the period is closed) is a snapshot,
  read after each job, and again whenever the warehouse file changed since (a scheduled run, a command typed at
  the console). The read opens the file read-only without waiting: while another process writes, the pages
  show the last snapshot and say when it was taken.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import duckdb

from union_stats.portal.state import Job, PortalState

OUTPUT_LIMIT = 20_000  # characters of a job's output kept (its end)


class JobRunner:
    def __init__(self, state: PortalState, raw_dir: Path, warehouse: Path) -> None:
        self.state = state
        self.raw_dir = Path(raw_dir)
        self.warehouse = Path(warehouse)
        self.snapshot_lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def command(self, kind: str, period: str) -> list[str]:
        base = [sys.executable, "-m", "union_stats.cli", kind, "--period", period]
        if kind == "run":
            return [*base, "--raw-dir", str(self.raw_dir), "--warehouse", str(self.warehouse)]
        if kind == "close":
            return [*base, "--note", "closed in the portal", "--warehouse", str(self.warehouse)]
        return [*base, "--warehouse", str(self.warehouse)]

    def start(self, kind: str, period: str, username: str, remote: str) -> Job | None:
        """Start a job in the background; None if one is running already."""
        job = self.state.start_job(kind, period, username, remote)
        if job is None:
            return None
        thread = threading.Thread(target=self._run, args=(job,), name=f"portal-job-{job.id}", daemon=True)
        self.threads = [*(done for done in self.threads if done.is_alive()), thread]  # only those still running
        thread.start()
        return job

    def _run(self, job: Job) -> None:
        # wide lines: the page reads the command's lines (words.job_summary_zh), which a narrow console would wrap
        env = os.environ | {"NO_COLOR": "1", "COLUMNS": "1000", "PYTHONIOENCODING": "utf-8", "TERM": "dumb"}
        try:
            completed = subprocess.run(
                self.command(job.kind, job.period),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                check=False,
            )
            output = completed.stdout.decode("utf-8", "replace")[-OUTPUT_LIMIT:]
            code = completed.returncode
        except OSError as error:
            output, code = f"could not start the job: {error}", -1
        self.state.finish_job(job.id, code, output)
        self.refresh(job.period, force=True)

    def wait(self, timeout: float | None = None) -> None:
        for thread in list(self.threads):
            thread.join(timeout)

    def running(self) -> Job | None:
        return next((job for job in self.state.jobs(limit=5) if job.running), None)

    # --- snapshots ---------------------------------------------------------------------------------------------

    def snapshot(self, period: str) -> tuple[str, dict] | None:
        """The period's last snapshot (when it was taken, what it says), refreshed first if the warehouse changed
        and nobody holds it."""
        self.refresh(period)
        saved = self.state.snapshot(period)
        return None if saved is None else (saved[0], saved[2])

    def refresh(self, period: str, *, force: bool = False) -> bool:
        """Read the period's figures, completeness and lock from the warehouse, without waiting for it."""
        if not self.warehouse.is_file():
            return False
        mtime = self.warehouse.stat().st_mtime
        saved = self.state.snapshot(period)
        if not force and saved is not None and saved[1] == mtime:
            return False
        if self.running() is not None and not force:
            return False
        with self.snapshot_lock:
            data = read_snapshot(self.warehouse, period)
        if data is None:
            return False
        self.state.save_snapshot(period, mtime, data)
        return True


def read_snapshot(warehouse: Path, period: str) -> dict | None:
    """What the portal shows of a period, or None if the warehouse is held by a writer (or not yet built)."""
    from union_stats import status
    from union_stats import warehouse as db

    try:
        with db.connect(warehouse, read_only=True, wait=False) as con:
            figures = [asdict(row) for row in db.district_figures(con, period)]
            completeness = status.rows(con, period)
            closed = bool(con.execute("select count(*) from ops.period_locks where period = ?", [period]).fetchone()[0])
            outcomes = dict(
                con.execute("select submission_id, status from ops.submissions where period = ?", [period]).fetchall()
            )
    except (db.WarehouseBusy, duckdb.Error):  # held by a writer, or made before these relations: nothing new
        return None
    return {"figures": figures, "completeness": completeness, "closed": closed, "outcomes": outcomes}

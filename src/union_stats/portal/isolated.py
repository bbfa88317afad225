"""The check of a large upload in a worker process of its own, within a time budget.

A workbook within every limit of `reference/limits.toml` can still take long to check: 49,000 rows of beneficiaries
take 8 s, and an annotated copy of 390,000 cells 10 to 40 s. The portal checks such an upload here, apart from the
others (whose checks run on the portal's own checking thread), one at a time, in a process that starts warm on
the first large upload and stays so. Its work is bounded: past the budget the process is ended (and started again
for the next large upload), so a file that would take minutes is answered in the budget's time and holds nobody.
The process runs at a lower priority (`nice`) than the portal: on two cores the other uploads' checks come first.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import threading
from pathlib import Path

from union_stats import checking, reference
from union_stats.checking import FileCheck


def warm_checks() -> None:
    """Load Great Expectations and the suites, and check one blank template, so that the next check is as fast as
    any (the portal's checking thread does it before the portal answers; the large uploads' worker when it starts)."""
    from union_stats.template import write_blank
    from union_stats.validate import gx_runner

    gx_runner.preload()
    unit = reference.reference_units()[0]
    with tempfile.TemporaryDirectory() as folder:
        period_dir = Path(folder) / "2022"
        period_dir.mkdir()
        blank = write_blank(period_dir / "blank.xlsx", unit, "2022")
        checking.check_files([blank], report_dir=Path(folder) / "reports")


class CheckTimedOut(Exception):
    """The check did not finish within its budget: the worker process was ended."""


class CheckCrashed(Exception):
    """The worker process ended without an answer (killed, or out of memory)."""


def _serve(connection) -> None:
    """The worker process: warm up, then check each request `(paths, report_dir, period_dir, audience)` in turn and
    answer its `FileCheck`s (or the error, as text: an exception of the check may not survive pickling)."""
    from union_stats.publish import quality_report

    os.nice(10)
    warm_checks()
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:  # the portal stops
            return
        paths, report_dir, period_dir, audience = request
        try:
            with quality_report.for_audience(audience):
                answer = checking.check_files(paths, report_dir=report_dir, period_dir=period_dir, independent=True)
        except Exception as error:  # noqa: BLE001 - the portal answers the upload; this process lives on
            answer = RuntimeError(f"{type(error).__name__}: {error}")
        connection.send(answer)


class IsolatedChecker:
    """One worker process for large uploads, started on first use, ended past a budget or by `stop`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # one check at a time
        self.process = None
        self.connection = None
        self.stopped = False  # set by `stop`: no new worker process while the portal shuts down

    def start(self) -> None:
        """Take checks again after `stop` (the worker process itself starts with the first check)."""
        self.stopped = False

    def _start(self) -> None:
        # a fresh interpreter (spawn): nothing of the portal's threads and locks. Like any spawned process it imports
        # the main module again: the portal's entry points (the console script, uvicorn) guard theirs
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child,), name="portal-large-check", daemon=True)
        try:
            process.start()
        finally:
            child.close()
        self.process, self.connection = process, parent

    def check(self, paths: list[Path], report_dir: Path, period_dir: Path, audience, budget: float) -> list[FileCheck]:
        """The checks of `paths` (as `checking.check_files(..., independent=True)` under `audience`), or
        `CheckTimedOut` after `budget` seconds (the warm-up of a new worker process included)."""
        with self.lock:
            if self.stopped:
                raise CheckCrashed("the portal is stopping")
            if self.process is None or not self.process.is_alive():
                self._start()
            try:
                self.connection.send((paths, report_dir, period_dir, audience))
                if not self.connection.poll(budget):
                    self._end()
                    raise CheckTimedOut(f"no answer within {budget:.0f} s")
                answer = self.connection.recv()
            except (EOFError, OSError, BrokenPipeError) as error:
                self._end()
                raise CheckCrashed(str(error) or type(error).__name__) from error
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def _end(self) -> None:
        process, connection = self.process, self.connection
        self.process = self.connection = None
        if process is not None:
            process.kill()
            process.join(timeout=10)
            if process.exitcode is not None:
                process.close()
        if connection is not None:
            connection.close()

    def stop(self) -> None:
        """End the worker process: at once when idle; a check it was running ends as `CheckCrashed`, and so do the
        checks asked for until `start`."""
        self.stopped = True
        if self.lock.acquire(blocking=False):
            try:
                if self.process is not None and self.process.is_alive():
                    try:
                        self.connection.send(None)  # let it leave by itself, its resources released
                        self.process.join(timeout=10)
                    except OSError:
                        pass
                self._end()
            finally:
                self.lock.release()
            return
        process = self.process
        if process is not None and process.is_alive():
            process.kill()  # not waiting for the lock: a check in progress would hold it for its whole budget
        with self.lock:
            self._end()

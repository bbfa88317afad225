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
import threading
from pathlib import Path

from union_stats.checking import FileCheck


class CheckTimedOut(Exception):
    """The check did not finish within its budget: the worker process was ended."""


class CheckCrashed(Exception):
    """The worker process ended without an answer (killed, or out of memory)."""


def _serve(connection) -> None:
    """The worker process: warm up, then check each request `(paths, report_dir, period_dir, audience)` in turn and
    answer its `FileCheck`s (or the error, as text: an exception of the check may not survive pickling)."""
    from union_stats import checking, quality_report
    from union_stats.portal.intake import warm_checks

    os.nice(10)
    warm_checks()
    while True:
        try:
            paths, report_dir, period_dir, audience = connection.recv()
        except (EOFError, OSError):
            return
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

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of the portal's threads
        parent, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), name="portal-large-check", daemon=True)
        self.process.start()
        child.close()
        self.connection = parent

    def check(self, paths: list[Path], report_dir: Path, period_dir: Path, audience, budget: float) -> list[FileCheck]:
        """The checks of `paths` (as `checking.check_files(..., independent=True)` under `audience`), or
        `CheckTimedOut` after `budget` seconds (the warm-up of a new worker process included)."""
        with self.lock:
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
        if self.process is not None:
            self.process.kill()
            self.process.join(timeout=10)
            self.process.close()
        if self.connection is not None:
            self.connection.close()
        self.process = self.connection = None

    def stop(self) -> None:
        """End the worker process; a check it was running ends as `CheckCrashed`."""
        process = self.process
        if process is not None and process.is_alive():
            process.kill()  # before the lock: a check in progress would hold it for its whole budget
        with self.lock:
            self._end()

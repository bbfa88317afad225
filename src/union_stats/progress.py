"""What a long run is doing, on a terminal: shown from a run's first second, silent in logs, tests and scheduled runs.

`run_progress` opens one display for a whole `union-stats run` (on stderr, when it is a terminal): a spinner with
the step under way and the seconds it has taken, from before the pipeline's imports (a first run spends its first
seconds starting Prefect's temporary server and loading Great Expectations, with nothing else to show). `step`
names the next step; `terminal_progress` adds a bar for a step with many files. Without an open display (a
scheduled run, the bench, a test) `step` does nothing and `terminal_progress` draws its bar alone, on a terminal.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# below this many files a run takes a second or two: a bar would only flicker
MIN_FILES_FOR_A_BAR = 50
# UNION_STATS_PROGRESS=1 shows the display where stderr is not a terminal (a pseudo-terminal's test, a CI log
# that renders it); 0 hides it on a terminal
PROGRESS_ENV = "UNION_STATS_PROGRESS"

_lock = threading.Lock()
_display: Any = None  # the open rich Progress of `run_progress`
_step_task: Any = None


def wanted() -> bool:
    setting = os.environ.get(PROGRESS_ENV, "").strip()
    if setting in ("0", "1"):
        return setting == "1"
    return sys.stderr.isatty()


@contextmanager
def run_progress(first_step: str) -> Iterator[None]:
    """One display for a run, showing `first_step` at once; closed (and cleared) when the run ends."""
    global _display, _step_task
    if not wanted() or _display is not None:
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    display = Progress(
        SpinnerColumn(finished_text=" "),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True, force_terminal=True),
        transient=True,
        refresh_per_second=8,
    )
    display.start()
    with _lock:
        _display = display
        _step_task = display.add_task(first_step, total=None)
    try:
        yield
    finally:
        with _lock:
            _display, _step_task = None, None
        display.stop()


def step(description: str) -> None:
    """Name the step now under way (its timer starts again); nothing without an open display."""
    global _step_task
    with _lock:
        if _display is None:
            return
        if _step_task is not None:
            _display.remove_task(_step_task)
        _step_task = _display.add_task(description, total=None)


@contextmanager
def terminal_progress(total: int, description: str) -> Iterator[Callable[..., None]]:
    """Yields a function to call once per item done; draws a bar for `total` items (from MIN_FILES_FOR_A_BAR) in
    the run's display, or alone when stderr is a terminal."""
    step(description)
    if total < MIN_FILES_FOR_A_BAR:
        yield lambda *_: None
        return
    with _lock:
        display = _display
    if display is not None:
        task = display.add_task(f"  {description}", total=total)
        try:
            yield lambda *_: display.advance(task)
        finally:
            display.remove_task(task)
        return
    if not wanted():
        yield lambda *_: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda *_: progress.advance(task)

"""Progress bars for long runs: shown on a terminal, silent in logs, tests and scheduled runs."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# below this many files a run takes a second or two: a bar would only flicker
MIN_FILES_FOR_A_BAR = 50


@contextmanager
def terminal_progress(total: int, description: str) -> Iterator[Callable[..., None]]:
    """Yields a function to call once per item done; draws a rich bar when stderr is a terminal."""
    if total < MIN_FILES_FOR_A_BAR or not sys.stderr.isatty():
        yield lambda *_: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda *_: progress.advance(task)

"""Ctrl-C during `union-stats run`: the run ends within 2 seconds, with exit code 130 and one line.

The first SIGINT raises RunInterrupted where the run is (an unfinished DuckDB load rolls back; the temporary
Prefect server, in its own session, is not touched by the terminal's signal and is stopped on the way out). A
watchdog thread, woken by the signal itself (`signal.set_wakeup_fd`, so even while the main thread is inside a
native call), ends the process at the deadline if the way out takes longer (Prefect's last API calls, a native
call that does not return): a process ended there leaves the warehouse as a crash does, as it was before the
unfinished load. Further Ctrl-Cs change nothing.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from union_stats.cli.common import say
from union_stats.runs import RunInterrupted

EXIT_CODE = 130  # 128 + SIGINT, as a shell reports a command ended by Ctrl-C
DEADLINE_SECONDS = 0.5  # from the signal to the end, however the way out goes (2 s promised: room for a busy machine)
MESSAGE = (
    "interrupted (Ctrl-C): the run stopped; a load it had not finished is not in the warehouse, "
    "and the next run does what is left"
)

_said = threading.Lock()


def say_interrupted() -> None:
    """The one line, said once (by the command's way out or by the watchdog, whichever comes first)."""
    if _said.acquire(blocking=False):
        say(MESSAGE)


def _raise_interrupted(signum: int, frame: object) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C changes nothing: the run is ending
    RunInterrupted.stopping = True  # whatever error the stop becomes on its way out (RunInterrupted.behind)
    raise RunInterrupted()


def _watch(wakeup: int) -> None:
    """Wait for a SIGINT byte on the wake-up pipe; then give the way out until the deadline, and end it there."""
    try:
        while True:
            data = os.read(wakeup, 1)
            if not data:  # the command finished: the pipe is closed
                return
            if data[0] == signal.SIGINT:
                break
    except OSError:
        return
    finally:
        os.close(wakeup)
    time.sleep(DEADLINE_SECONDS)
    end_now(EXIT_CODE)


def was_interrupted() -> bool:
    """Whether this process has said it was interrupted (a run stopped by Ctrl-C)."""
    return _said.locked()


def end_now(code: int) -> NoReturn:
    """End the process at once, as a stopped run does: the one line said, the temporary Prefect server told to
    stop, the output flushed, no exit handlers (their orderly shutdown is what Ctrl-C must not wait for)."""
    from union_stats import prefect_server

    say_interrupted()
    prefect_server.stop_now()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # os._exit does not flush: the one line must be out
        except (OSError, ValueError):
            pass
    os._exit(code)


@contextmanager
def ends_on_ctrl_c() -> Iterator[None]:
    """While inside, Ctrl-C raises RunInterrupted and the process ends within the deadline (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    RunInterrupted.stopping = False
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    previous_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    previous = signal.signal(signal.SIGINT, _raise_interrupted)
    threading.Thread(target=_watch, args=(read_end,), name="ctrl-c-deadline", daemon=True).start()
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.set_wakeup_fd(previous_fd)
        os.close(write_end)  # the watchdog reads the end of the pipe and stops, unless a Ctrl-C came first

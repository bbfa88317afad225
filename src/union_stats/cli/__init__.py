"""The `union-stats` command: run the pipeline, write templates and sample data, check files.

Every plain mistake (a period that is no period, a file or a warehouse that is not there, a count below one)
is answered with one line on stderr and exit code 2 (usage) or 1 (failure), and leaves no file behind.

A module per group of commands, each a Typer command that calls the logic directly: `run` (run), `query` (status,
explain, sql), `periods` (close, reopen), `publish` (publish, export, docs, report), `workbooks` (validate,
template, sample, suites), `serve` (serve, bench), `users` (the portal's accounts) and `portal`; `common` holds
the app, the consoles and the options they share. `main` is the entry point (`union-stats = "union_stats.cli:main"`).
"""

# ruff: noqa: E402 - the Ctrl-C handler below is set before the imports, which take the time a Ctrl-C may come in
from __future__ import annotations

import gc
import os
import signal
import sys
from typing import NoReturn

from union_stats import GC_THRESHOLDS


def _started_as_the_command() -> bool:
    """This process is `union-stats` or `python -m union_stats.cli` (not a test or a program importing it)."""
    argv = getattr(sys, "orig_argv", sys.argv)
    as_module = any(a == "-m" and b == __name__ for a, b in zip(argv, argv[1:]))
    return as_module or (bool(sys.argv) and os.path.basename(sys.argv[0]) == "union-stats")


def _interrupted_while_loading(signum: int, frame: object) -> None:
    # nothing has been done yet: end at once, in one line (not a traceback from the middle of an import)
    os.write(2, b"error: interrupted (Ctrl-C) before the command began: nothing was done\n")
    os._exit(130)


if _started_as_the_command():  # a Ctrl-C while the command loads its modules (a second or so on a busy machine)
    signal.signal(signal.SIGINT, _interrupted_while_loading)
    gc.set_threshold(*GC_THRESHOLDS)

import typer
from rich.table import Table

from union_stats.cli import (  # noqa: F401 - importing a module registers its commands
    interrupt,
    periods,
    portal,
    publish,
    query,
    run,
    serve,
    users,
    workbooks,
)
from union_stats.cli.common import PLAIN_MISTAKES, Failure, app, console, errors, plain_mistake, print_table, say
from union_stats.cli.interrupt import say_interrupted
from union_stats.paths import RAW_DIR, WAREHOUSE_FILE
from union_stats.pipeline import PARQUET_DIR_ENV
from union_stats.runs import RunInterrupted

try:  # Typer vendors its own Click (typer._click); its exceptions are not those of the `click` package
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # pragma: no cover - a Typer that uses Click itself
    from click.exceptions import ClickException, UsageError

__all__ = ["PARQUET_DIR_ENV", "RAW_DIR", "WAREHOUSE_FILE", "Failure", "app", "console", "errors", "main"]

app.add_typer(users.users_app, name="users")

# `union-stats --help` lists the commands in this order (Typer keeps the order they were registered in; a command
# not named here comes after these, then the groups: users)
ORDER = (
    "run",
    "validate",
    "status",
    "sql",
    "close",
    "reopen",
    "publish",
    "docs",
    "serve",
    "template",
    "sample",
    "suites",
    "bench",
    "explain",
    "report",
    "portal",
    "export",
)
app.registered_commands.sort(key=lambda command: ORDER.index(command.name) if command.name in ORDER else len(ORDER))

_figures_table = run.figures_table  # for tests that print one table


def _print_table(table: Table) -> None:
    print_table(table)


def script() -> NoReturn:
    """`union-stats` as a process. A run stopped by Ctrl-C ends here at once, as the Ctrl-C watchdog would end it
    (interrupt.py): the interpreter's orderly exit after it (exit handlers, the temporary server's shutdown, the
    objects a run leaves) took up to 1.6 s more, and the 2 s promised was then missed on a busy machine."""
    code = main()
    if interrupt.was_interrupted():
        interrupt.end_now(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    # this runs on closed networks: no usage statistics, and no log noise from failing to send them
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    args = list(sys.argv[1:] if argv is None else argv)
    if signal.getsignal(signal.SIGINT) is _interrupted_while_loading and args[:1] != ["run"]:
        # the commands handle Ctrl-C as Python does (`run` has its own way: it keeps this until it starts)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if args[:1] != ["run"]:  # `run` decides for itself, after reading --verbose
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name="union-stats", standalone_mode=False)
    except UsageError as error:
        where = error.ctx.command_path if error.ctx is not None else "union-stats"
        if where == "union-stats" and args[:1] and args[0] in command.commands:  # raised by a command's body
            where = f"union-stats {args[0]}"
        say(f"{where}: {error.format_message()} (see `{where} --help`)")
        return 2
    except ClickException as error:
        say(error.format_message())
        return error.exit_code
    except typer.Abort:
        say("interrupted")
        return 130
    except RunInterrupted:
        say_interrupted()
        return interrupt.EXIT_CODE
    except Failure as failure:
        say(str(failure))
        return failure.code
    except PLAIN_MISTAKES as error:
        say(plain_mistake(error))
        return 1
    return code if isinstance(code, int) else 0

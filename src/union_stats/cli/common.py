"""What every command shares: the Typer app, the consoles, the one-line failure, tables that print whole, and the
options several commands take (period, raw folder, warehouse)."""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from union_stats.paths import RAW_DIR, WAREHOUSE_FILE
from union_stats.periods import FIRST_YEAR, LAST_YEAR, PeriodError, is_period

# soft_wrap: a long line (a path, a rejected file's reason) is printed whole, not broken at rich's 80 columns
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True, highlight=False)

# in a pipe or a file rich cannot measure a terminal and assumes 80 columns; a table then takes the width its
# cells need, up to this
PIPE_TABLE_WIDTH = 400

# plain mistakes a command meets while working (a period text, a missing or unwritable file): one line each;
# anything else is a bug and keeps its traceback
PLAIN_MISTAKES = (
    PeriodError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)


class Failure(Exception):
    """A command that cannot do what it was asked: one line on stderr and this exit code (1, or 2 for usage)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def stdout() -> Console:
    """The console the commands print to: the package's `union_stats.cli.console` (a test may replace it)."""
    package = sys.modules.get("union_stats.cli")
    return getattr(package, "console", console)


def print_table(table: Table, on: Console | None = None) -> None:
    """Print a table whole: on a terminal at its width, in a pipe or a file at the width its cells need."""
    on = stdout() if on is None else on
    if on.is_terminal or "COLUMNS" in os.environ:
        on.print(table)
        return
    natural = on.measure(table, options=on.options.update_width(PIPE_TABLE_WIDTH)).maximum
    width = on.width
    if natural <= width:
        on.print(table)
        return
    on.width = natural
    try:
        on.print(table)
    finally:
        on.width = width


def write_utf8(text: str) -> None:
    """Machine output is UTF-8 whatever the locale (a GBK console on Windows, LANG=C in a cron job)."""
    sys.stdout.flush()
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:  # a text-only stream (a test's StringIO): it takes the text as is
        sys.stdout.write(text)
        return
    binary.write(text.encode("utf-8"))
    binary.flush()


def one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def say(message: str) -> None:
    errors.print(f"[red]error:[/] {escape(one_line(message))}")


def existing_warehouse(warehouse: Path, code: int = 1) -> Path:
    """close, reopen and status work on a warehouse a run made: never create one (an empty .duckdb file)."""
    if not warehouse.exists():
        raise Failure(f"no warehouse at {warehouse}: run `union-stats run` first", code)
    if not warehouse.is_file():
        raise Failure(f"no warehouse at {warehouse}: it is a folder, not a DuckDB file", code)
    return warehouse


# why a file cannot be written, in Chinese, by errno (the English is the system's own words)
WRITE_REASON_ZH = {
    errno.EACCES: "没有写入权限",
    errno.EPERM: "不允许写入",
    errno.EROFS: "该位置只读",
    errno.ENOSPC: "磁盘空间已满",
    errno.EDQUOT: "超出磁盘配额",
    errno.ENOENT: "该位置不能创建文件",
    errno.ENOTDIR: "路径中有一项不是文件夹",
    errno.EISDIR: "这是一个文件夹",
}


def unwritable(path: Path, error: OSError) -> Failure:
    """One line, in Chinese and English, for an output that cannot be written."""
    zh = WRITE_REASON_ZH.get(error.errno, "系统拒绝写入")
    return Failure(f"无法写入 {path}：{zh} (cannot write {path}: {error.strerror or type(error).__name__})")


def check_writable(path: Path, folder: Path | None = None) -> None:
    """Before any work: the folder output `path` goes into (`folder`, by default its parent; the nearest existing
    one, for a folder the command makes) takes a new file; else one line in Chinese and English (Failure, exit 1).
    Nothing is left behind."""
    folder = path.parent if folder is None else folder
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        descriptor, probe = tempfile.mkstemp(prefix=".union-stats-probe-", dir=folder)
    except OSError as error:
        raise unwritable(path, error) from None
    os.close(descriptor)
    os.unlink(probe)


def plain_mistake(error: Exception) -> str:
    """A plain mistake met while working, as one line; a file the system refused says why in Chinese too."""
    line = f"{type(error).__name__}: {error}"
    if isinstance(error, OSError) and error.errno in WRITE_REASON_ZH:
        reason = "文件或文件夹不存在" if error.errno == errno.ENOENT else WRITE_REASON_ZH[error.errno]
        return f"文件操作失败（{reason}）: {line}"
    return line


def warehouse_failure(warehouse: Path, error: Exception) -> Failure:
    from union_stats.warehouse import first_line

    return Failure(f"cannot use the warehouse {warehouse}: {first_line(error)}")


# ---------------------------------------------------------------------------------------------------------------
# the command line (Typer on Click): every option has help, defaults are shown, each command has an example


def check_period(value: str | None) -> str | None:
    """A year (2022) or a quarter (2022Q3) of a real year: anything else is a usage error, before any work."""
    if value is None:
        return None
    text = value.strip()
    if not is_period(text) or not FIRST_YEAR <= int(text[:4]) <= LAST_YEAR:
        raise typer.BadParameter(
            f"{value!r} is not a period: a year like 2022 or a quarter like 2022Q3 (Q1 to Q4), "
            f"years {FIRST_YEAR} to {LAST_YEAR}"
        )
    return text


def choice(*values: str):
    """A callback that takes one of `values` (any case) and answers anything else with a usage error."""

    def check(value: str) -> str:
        text = str(value).strip().lower()
        if text not in values:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(values)}")
        return text

    return check


def shown(path: Path) -> str:
    """A default path as help shows it: relative to the current folder when it is under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def example(*lines: str) -> str:
    return "\b\nExample:\n" + "\n".join(f"  {line}" for line in lines)


# every group (Typer) of the command line is made with these settings
SETTINGS = {
    "no_args_is_help": False,
    "rich_markup_mode": None,  # plain Click help: readable in a pipe, nothing cut at 80 columns
    "context_settings": {"help_option_names": ["-h", "--help"], "max_content_width": 120},
}

PERIOD_HELP = "a year (2022) or a quarter (2022Q3)"
WAREHOUSE_HELP = "the DuckDB warehouse file (made by `union-stats run`)"

app = typer.Typer(
    name="union-stats",
    help="Panyu union statistics warehouse: load, check and publish the units' statistics workbooks.",
    add_completion=False,
    pretty_exceptions_enable=False,
    **SETTINGS,
)

Period = Annotated[
    str, typer.Option("--period", help=PERIOD_HELP, callback=check_period, show_default=False, metavar="PERIOD")
]
RawDir = Annotated[
    Path,
    typer.Option(
        "--raw-dir",
        help=f"folder holding one folder per period (where the units' files are)  [default: {shown(RAW_DIR)}]",
        show_default=False,
        metavar="DIR",
    ),
]
Warehouse = Annotated[
    Path,
    typer.Option(
        "--warehouse", help=f"{WAREHOUSE_HELP}  [default: {shown(WAREHOUSE_FILE)}]", show_default=False, metavar="FILE"
    ),
]

"""`union-stats users`: the submission portal's accounts (src/union_stats/portal/accounts.py holds the logic).

A group of its own (`users_app`), registered on the command line by `union_stats.cli`: a new subcommand is one
more function here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from union_stats.cli.common import SETTINGS, Failure, Warehouse, example, one_line, print_table, stdout
from union_stats.paths import WAREHOUSE_FILE

users_app = typer.Typer(
    name="users",
    help="The submission portal's accounts: a unit's (it submits for one unit code) or the office's. They live in "
    "portal.sqlite beside the warehouse (SQLite, not DuckDB: the portal answers while a run holds the warehouse), "
    "with the audit trail of every change and login. A password is read as one line from stdin, never from the "
    "command line, and kept only as a scrypt hash.",
    short_help="portal accounts: add, reset a password, disable, list",
    epilog=example(
        "union-stats users add shiqiao.clerk --unit shiqiao --password-stdin < password.txt",
        "union-stats users list",
    ),
    **SETTINGS,
)

UserName = Annotated[
    str,
    typer.Argument(help="the user name: 2 to 32 of a-z 0-9 _ . -", metavar="NAME", show_default=False),
]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="read the password (at least 10 characters) as one line from stdin; required",
    ),
]


def _actor() -> str:
    """Who ran a `users` command, for the audit trail: the operating-system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a container)
        return "cli"


def _read_password(password_stdin: bool) -> str:
    """One line from stdin (a terminal is asked without echo); its line end is not part of it."""
    from union_stats.portal import accounts

    if not password_stdin:
        raise Failure("give the password on stdin with --password-stdin (never on the command line)", code=2)
    try:
        if sys.stdin is not None and sys.stdin.isatty():
            import getpass

            line = getpass.getpass("password: ")
        else:
            line = "" if sys.stdin is None else sys.stdin.readline()
    except (OSError, ValueError, EOFError):  # no stdin to read (closed, or captured)
        line = ""
    password = line.removesuffix("\n").removesuffix("\r")
    try:
        return accounts.check_password(password)
    except accounts.InvalidAccount as error:
        raise Failure(f"{error} (read from stdin with --password-stdin)", code=2) from None


def _portal_store(warehouse: Path):
    """The accounts beside the warehouse: its folder must exist (the warehouse itself need not, yet)."""
    from union_stats.portal import accounts

    if warehouse.is_dir():
        raise Failure(f"no warehouse at {warehouse}: it is a folder, not a DuckDB file")
    if not warehouse.parent.is_dir():
        raise Failure(f"no folder {warehouse.parent}: the portal's accounts live beside the warehouse {warehouse}")
    return accounts.AccountStore(accounts.portal_db_for(warehouse))


def _account_call(action, *args, **kwargs):
    """An account operation: a bad name or password is exit 2, a name taken or unknown exit 1, one line each."""
    import sqlite3

    from union_stats.portal import accounts

    try:
        return action(*args, **kwargs)
    except accounts.InvalidAccount as error:
        raise Failure(str(error), code=2) from None
    except accounts.AccountError as error:
        raise Failure(str(error)) from None
    except sqlite3.Error as error:
        raise Failure(f"cannot use the portal's store: {one_line(str(error))}") from None


def _check_name(username: str) -> str:
    from union_stats.portal import accounts

    try:
        return accounts.check_username(username)
    except accounts.InvalidAccount as error:
        raise Failure(str(error), code=2) from None


def _when(moment: str | None) -> str:
    return "—" if not moment else f"{moment[:19].replace('T', ' ')} UTC"


@users_app.command(
    "add",
    short_help="add a unit's or the office's account (password on stdin)",
    help="Add an account: a unit's (--unit CODE, a code of reference/units.csv) or the office's (--office). The "
    "password is one line on stdin (at least 10 characters). A name taken is exit 1; a bad name, unit or "
    "password exit 2, and nothing is written.",
    epilog=example(
        "union-stats users add shiqiao.clerk --unit shiqiao --password-stdin < password.txt",
        "printf '%s\\n' \"$PASSWORD\" | union-stats users add office.li --office --password-stdin",
    ),
)
def users_add(
    name: UserName,
    unit: Annotated[
        str | None,
        typer.Option(
            "--unit",
            help="the unit the account submits for  [default: none: give --unit or --office]",
            show_default=False,
            metavar="CODE",
        ),
    ] = None,
    office: Annotated[bool, typer.Option("--office", help="the district office's account (sees every unit)")] = False,
    password_stdin: PasswordStdin = False,
    warehouse: Warehouse = WAREHOUSE_FILE,
) -> int:
    from union_stats.portal import accounts

    _check_name(name)
    try:
        accounts.check_role(unit, office)
    except accounts.InvalidAccount as error:
        raise Failure(str(error), code=2) from None
    password = _read_password(password_stdin)
    store = _portal_store(warehouse)
    account = _account_call(store.add, name, password, unit_code=unit, office=office, actor=_actor())
    who = "the office" if account.role == "office" else f"unit {account.unit_code}"
    stdout().print(f"added {account.username} ({who}) to {store.path}")
    return 0


@users_app.command(
    "reset",
    short_help="give an account a new password (on stdin)",
    help="Give an account a new password, read as one line from stdin (at least 10 characters).",
    epilog=example("union-stats users reset shiqiao.clerk --password-stdin < new_password.txt"),
)
def users_reset(name: UserName, password_stdin: PasswordStdin = False, warehouse: Warehouse = WAREHOUSE_FILE) -> int:
    _check_name(name)
    password = _read_password(password_stdin)
    store = _portal_store(warehouse)
    _account_call(store.reset, name, password, actor=_actor())
    stdout().print(f"new password for {name} in {store.path}")
    return 0


@users_app.command(
    "disable",
    short_help="stop an account from logging in",
    help="Stop an account from logging in; it stays in the list and in the audit trail.",
    epilog=example("union-stats users disable shiqiao.clerk"),
)
def users_disable(name: UserName, warehouse: Warehouse = WAREHOUSE_FILE) -> int:
    _check_name(name)
    store = _portal_store(warehouse)
    _account_call(store.disable, name, actor=_actor())
    stdout().print(f"disabled {name}: it can no longer log in ({store.path})")
    return 0


@users_app.command(
    "unlock",
    short_help="lift a login lock on an account (after too many wrong passwords)",
    help="Lift every login lock on an account at once: the failed logins before now no longer count against it "
    "(a lock otherwise ends by itself 15 minutes after the failures). The office can do the same in the portal.",
    epilog=example("union-stats users unlock shiqiao.clerk"),
)
def users_unlock(name: UserName, warehouse: Warehouse = WAREHOUSE_FILE) -> int:
    _check_name(name)
    store = _portal_store(warehouse)
    _account_call(store.unlock, name, actor=_actor())
    stdout().print(f"unlocked {name}: failed logins before now no longer count against it ({store.path})")
    return 0


@users_app.command(
    "list",
    short_help="list the accounts: name, role, unit, disabled, created, last login",
    help="List the portal's accounts: name, role, unit, whether disabled, when made and last logged in (UTC). "
    "No password or hash is ever shown.",
    epilog=example("union-stats users list --warehouse /shared/w.duckdb"),
)
def users_list(warehouse: Warehouse = WAREHOUSE_FILE) -> int:
    store = _portal_store(warehouse)
    rows = _account_call(store.accounts)
    if not rows:
        stdout().print(f"no portal accounts in {store.path}")
        return 0
    table = Table(title=f"Portal accounts ({store.path})")
    for header in ("name", "role", "unit", "disabled", "created", "last login"):
        table.add_column(header)
    for row in rows:
        table.add_row(
            escape(row.username),
            row.role,
            row.unit_code or "—",
            "yes" if row.disabled else "no",
            _when(row.created_at),
            _when(row.last_login_at),
        )
    print_table(table)
    return 0

"""The portal's accounts, roles and audit trail, in the portal's own small store.

The portal's state (accounts, sessions, the audit trail) lives beside the warehouse in its own SQLite file,
`portal.sqlite` (stdlib `sqlite3`, WAL mode), not in DuckDB: a run holds DuckDB's single write lock for as long
as it loads, and the portal must stay responsive meanwhile (a unit logs in, the office looks at the trail), so it
never waits on the warehouse. The file is made on first use, readable and writable by its owner only (mode 600).

An account is a unit's (it submits for one unit code of `reference/units.csv`) or the office's. Passwords are
kept only as scrypt hashes (`scrypt$n$r$p$salt$hash`, a random salt per account) and never logged or audited.
Every change to an account and every login (ok, failed, throttled) is written to the `audit` table with who,
when (UTC) and from where.

The login limit counts failures per name and address together: `MAX_FAILURES` wrong passwords for one name from
one address within `WINDOW` lock that name at that address only, so a stranger elsewhere cannot lock a clerk out
and clerks behind one shared address do not lock each other out. Two wider limits stop what the pair alone would
let through: `MAX_FAILURES_ADDRESS` failures from one address over all names (one password tried on every name)
and `MAX_FAILURES_NAME` for one name over all addresses (guessing from many machines). A locked login is refused
without looking at the password, and says until when; the office can lift a lock at once (`unlock`). Each try
reserves its place in the count before its password is checked, in one write transaction, so tries sent at once
get no more password checks than the limit allows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

PORTAL_DB = "portal.sqlite"
USERNAME = re.compile(r"^[a-z0-9_.-]{2,32}$")
MIN_PASSWORD = 10
ROLES = ("unit", "office")

# scrypt: memory-hard (n * r * 128 bytes = 16 MiB per hash)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
SCRYPT_MAXMEM = 64 * 1024 * 1024

MAX_FAILURES = 5  # wrong passwords for one name from one address, within the window
MAX_FAILURES_ADDRESS = 20  # from one address, every name together: one password tried on many names
MAX_FAILURES_NAME = 50  # for one name, every address together: guessing from many machines at once
WINDOW = timedelta(minutes=15)

# the audit trail's actions
ADD, RESET, DISABLE, UNLOCK = "add", "reset", "disable", "unlock"
LOGIN_OK, LOGIN_FAILED, LOGIN_THROTTLED = "login_ok", "login_failed", "login_throttled"

# what a lock covers: the name at one address, one address for every name, or the name from everywhere
LOCK_PAIR, LOCK_ADDRESS, LOCK_NAME = "pair", "address", "name"

SCHEMA = """
create table if not exists accounts (
    username text primary key,
    role text not null check (role in ('unit', 'office')),
    unit_code text,
    password_hash text not null,
    disabled integer not null default 0,
    created_at text not null,
    last_login_at text
);
create table if not exists audit (
    id integer primary key autoincrement,
    at text not null,
    actor text not null,
    action text not null,
    target text not null default '',
    remote text not null default '',
    detail text not null default ''
);
create index if not exists audit_by_target on audit (action, target, at);
create index if not exists audit_by_remote on audit (action, remote, at);
-- every login try, written before its password is checked ('checking'), so that tries sent at once count
create table if not exists login_attempts (
    id integer primary key autoincrement,
    at text not null,
    username text not null,
    remote text not null,
    state text not null check (state in ('checking', 'failed', 'ok'))
);
create index if not exists login_attempts_by_name on login_attempts (username, at);
create index if not exists login_attempts_by_remote on login_attempts (remote, at);
"""


class AccountError(Exception):
    """What an account operation cannot do (a name taken, an unknown user): a failure, exit 1 on the CLI."""


class InvalidAccount(AccountError):
    """A name, password, unit or role that is not allowed: a usage mistake, exit 2 on the CLI."""


@dataclass(frozen=True)
class Account:
    username: str
    role: str  # "unit" | "office"
    unit_code: str | None  # None for the office
    disabled: bool


@dataclass(frozen=True)
class AccountRow:
    """An account as `users list` shows it: never its hash."""

    username: str
    role: str
    unit_code: str | None
    disabled: bool
    created_at: str
    last_login_at: str | None


@dataclass(frozen=True)
class Lock:
    """Logins refused without a password check until `until` (UTC): for `username` at `remote` (`pair`), for
    every name from `remote` (`address`), or for `username` from everywhere (`name`)."""

    username: str
    remote: str
    scope: str
    until: datetime
    failures: int


@dataclass(frozen=True)
class Login:
    """What a login try came to: the account, or why not (`locked`, and how many tries are left before a lock)."""

    account: Account | None
    locked: Lock | None = None
    tries_left: int = 0
    checked: bool = True  # False: refused by a lock, without looking at the password


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    target: str
    remote: str
    detail: str


def portal_db_for(warehouse: Path) -> Path:
    """The portal's SQLite file: beside the warehouse, in the warehouse's folder."""
    return Path(warehouse).parent / PORTAL_DB


# --- checks (before anything is opened or written) ---------------------------------------------------------------


def check_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise InvalidAccount(
            f"{username!r} is not a user name: 2 to 32 characters of a-z, 0-9, '_', '.' and '-' (lower case)"
        )
    return username


def check_password(password: str) -> str:
    if not password:
        raise InvalidAccount("empty password")
    if len(password) < MIN_PASSWORD:
        raise InvalidAccount(f"the password is shorter than {MIN_PASSWORD} characters")
    return password


def check_role(unit_code: str | None, office: bool) -> tuple[str, str | None]:
    """("unit", code) or ("office", None); a code must be one of the reference units."""
    if office and unit_code is not None:
        raise InvalidAccount("give --unit CODE or --office, not both")
    if office:
        return "office", None
    if unit_code is None:
        raise InvalidAccount("give --unit CODE (a unit's account) or --office (the office's)")
    from union_stats.reference import reference_units

    codes = [unit.unit_code for unit in reference_units()]
    if unit_code not in codes:
        raise InvalidAccount(f"unknown unit code {unit_code!r}; known: {', '.join(codes)}")
    return "unit", unit_code


# --- passwords ---------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt_b64$hash_b64`, with a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=SCRYPT_MAXMEM,
        dklen=KEY_BYTES,
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def check_hash(password: str, stored: str) -> bool:
    """Whether `password` is the one `stored` was made from (compared in constant time); a malformed hash is not."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key, validate=True)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=SCRYPT_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@cache
def _dummy_hash() -> str:
    """Checked for an unknown name, so that how long a login takes does not tell which names exist."""
    return hash_password(secrets.token_urlsafe(16))


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


# --- the store ---------------------------------------------------------------------------------------------------


class AccountStore:
    """The accounts and the audit trail in `path` (a `portal.sqlite`). Reading a store that does not exist yet
    finds nothing and makes no file; the first change makes it (mode 600). `clock` gives the time (UTC)."""

    schema = SCHEMA  # the tables a connection makes sure of (the portal's state store adds its own)

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = _now) -> None:
        self.path = Path(path)
        self.clock = clock

    # connections: short-lived, one per operation; WAL so that readers never wait on a writer
    @contextmanager
    def _connect(self, *, create: bool = True) -> Iterator[sqlite3.Connection | None]:
        if not self.path.exists():
            if not create:
                yield None
                return
            if not self.path.parent.is_dir():
                raise AccountError(f"no folder {self.path.parent} for the portal's store")
            try:
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:  # made meanwhile by another process
                pass
        with closing(sqlite3.connect(self.path, timeout=10, isolation_level=None)) as con:
            con.row_factory = sqlite3.Row
            con.execute("pragma journal_mode = wal")
            con.execute("pragma busy_timeout = 10000")
            con.execute("pragma foreign_keys = on")
            con.executescript(self.schema)
            self._prepare(con)
            yield con

    def _prepare(self, con: sqlite3.Connection) -> None:
        """What a store of an earlier version needs before use (the portal's state store has something)."""

    def _audit(self, con: sqlite3.Connection, actor: str, action: str, target: str, remote: str, detail: str) -> None:
        con.execute(
            "insert into audit (at, actor, action, target, remote, detail) values (?, ?, ?, ?, ?, ?)",
            (_iso(self.clock()), actor, action, target, remote, detail),
        )

    def audit(self, actor: str, action: str, target: str = "", remote: str = "", detail: str = "") -> None:
        """Write one line of the audit trail (never a password)."""
        with self._connect() as con:
            self._audit(con, actor, action, target, remote, detail)

    def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        """The newest `limit` lines of the audit trail, oldest first."""
        with self._connect(create=False) as con:
            if con is None:
                return []
            rows = con.execute(
                "select * from (select * from audit order by id desc limit ?) order by id", (int(limit),)
            ).fetchall()
        return [AuditEntry(**dict(row)) for row in rows]

    @staticmethod
    def _account(row: sqlite3.Row) -> Account:
        return Account(row["username"], row["role"], row["unit_code"], bool(row["disabled"]))

    def add(
        self,
        username: str,
        password: str,
        *,
        unit_code: str | None = None,
        office: bool = False,
        actor: str = "cli",
        remote: str = "",
    ) -> Account:
        """A new account: a unit's (`unit_code`) or the office's (`office=True`)."""
        check_username(username)
        role, code = check_role(unit_code, office)
        check_password(password)
        hashed = hash_password(password)
        with self._connect() as con:
            try:
                con.execute("begin immediate")
                con.execute(
                    "insert into accounts (username, role, unit_code, password_hash, created_at) values (?, ?, ?, ?, ?)",
                    (username, role, code, hashed, _iso(self.clock())),
                )
            except sqlite3.IntegrityError:
                con.execute("rollback")
                raise AccountError(f"the name {username!r} is taken") from None
            self._audit(con, actor, ADD, username, remote, f"role={role}" + (f" unit={code}" if code else ""))
            con.execute("commit")
        return Account(username, role, code, False)

    def reset(self, username: str, password: str, *, actor: str = "cli", remote: str = "") -> None:
        """A new password for `username`; the account's live portal sessions end (a reset is often because the old
        password leaked)."""
        check_username(username)
        check_password(password)
        hashed = hash_password(password)
        with self._connect(create=False) as con:
            if con is None:
                raise AccountError(f"no user {username!r}")
            con.execute("begin immediate")
            if con.execute("update accounts set password_hash = ? where username = ?", (hashed, username)).rowcount:
                if con.execute("select 1 from sqlite_master where type = 'table' and name = 'sessions'").fetchone():
                    con.execute("delete from sessions where username = ?", (username,))
                self._audit(con, actor, RESET, username, remote, "")
                con.execute("commit")
                return
            con.execute("rollback")
        raise AccountError(f"no user {username!r}")

    def disable(self, username: str, *, actor: str = "cli", remote: str = "") -> None:
        """`username` can no longer log in (the account and its trail are kept)."""
        check_username(username)
        with self._connect(create=False) as con:
            if con is None:
                raise AccountError(f"no user {username!r}")
            con.execute("begin immediate")
            if con.execute("update accounts set disabled = 1 where username = ?", (username,)).rowcount:
                self._audit(con, actor, DISABLE, username, remote, "")
                con.execute("commit")
                return
            con.execute("rollback")
        raise AccountError(f"no user {username!r}")

    def get(self, username: str) -> Account | None:
        if not USERNAME.fullmatch(username or ""):
            return None
        with self._connect(create=False) as con:
            row = (
                None
                if con is None
                else con.execute("select * from accounts where username = ?", (username,)).fetchone()
            )
        return None if row is None else self._account(row)

    def accounts(self) -> list[AccountRow]:
        """Every account by name, with when it was made and last logged in (never its hash)."""
        with self._connect(create=False) as con:
            if con is None:
                return []
            rows = con.execute(
                "select username, role, unit_code, disabled, created_at, last_login_at from accounts order by username"
            ).fetchall()
        return [AccountRow(**{**dict(row), "disabled": bool(row["disabled"])}) for row in rows]

    def _failure_times(self, con: sqlite3.Connection, where: str, params: tuple, since: str) -> list[str]:
        """When each counted failure happened (a try still being checked counts), newest first."""
        rows = con.execute(
            f"select at from login_attempts where {where} and state in ('checking', 'failed') and at > ? "
            "order by at desc",
            (*params, since),
        ).fetchall()
        return [row[0] for row in rows]

    def _lock(self, con: sqlite3.Connection, username: str, remote: str) -> tuple[Lock | None, int]:
        """The lock that applies to a try for `username` from `remote` now (None: none), and the tries left for the
        pair before it locks. Failures before the office's last unlock of the name, and (for the pair) before the
        pair's last good login, do not count."""
        now = self.clock()
        since = _iso(now - WINDOW)
        unlocked = ""
        if username:
            unlocked = (
                con.execute("select max(at) from audit where action = ? and target = ?", (UNLOCK, username)).fetchone()[
                    0
                ]
                or ""
            )
        last_ok = (
            con.execute(
                "select max(at) from login_attempts where username = ? and remote = ? and state = 'ok'",
                (username, remote),
            ).fetchone()[0]
            or ""
        )
        scopes = [(LOCK_PAIR, "username = ? and remote = ?", (username, remote), MAX_FAILURES, last_ok)]
        if remote:
            scopes.append((LOCK_ADDRESS, "remote = ?", (remote,), MAX_FAILURES_ADDRESS, ""))
        if username:
            scopes.append((LOCK_NAME, "username = ?", (username,), MAX_FAILURES_NAME, ""))
        found: Lock | None = None
        tries_left = MAX_FAILURES
        for scope, where, params, limit, after in scopes:
            times = self._failure_times(con, where, params, max(since, unlocked, after))
            if scope == LOCK_PAIR:
                tries_left = max(0, limit - len(times))
            if len(times) >= limit:
                # locked until the failure that makes the count reach the limit leaves the window
                until = datetime.fromisoformat(times[limit - 1]) + WINDOW
                if found is None or until > found.until:
                    found = Lock(username, remote, scope, until, len(times))
        return found, tries_left

    def login(self, username: str, password: str, *, remote: str = "") -> Login:
        """A login try: the account when `password` is its password and it is not disabled and no lock applies;
        else no account, with the lock that refused it or the tries left before one (see the module's text)."""
        # a name that is no name (perhaps a password typed in the wrong field) is not written to the trail
        name = username if isinstance(username, str) and USERNAME.fullmatch(username) else ""
        with self._connect() as con:
            # the count and this try's place in it in one write transaction: tries sent at once wait here in turn
            con.execute("begin immediate")
            lock, _ = self._lock(con, name, remote)
            if lock is not None:
                self._audit(con, name, LOGIN_THROTTLED, name, remote, f"scope={lock.scope} until={_iso(lock.until)}")
                con.execute("commit")
                return Login(None, lock, checked=False)
            attempt = con.execute(
                "insert into login_attempts (at, username, remote, state) values (?, ?, ?, 'checking')",
                (_iso(self.clock()), name, remote),
            ).lastrowid
            row = con.execute("select * from accounts where username = ?", (name,)).fetchone() if name else None
            con.execute("commit")
        good = check_hash(password or "", row["password_hash"] if row is not None else _dummy_hash())
        with self._connect() as con:
            con.execute("begin immediate")
            if row is None or not good or row["disabled"]:
                reason = "unknown user" if row is None else "disabled" if row["disabled"] else "wrong password"
                con.execute("update login_attempts set state = 'failed' where id = ?", (attempt,))
                self._audit(con, name, LOGIN_FAILED, name, remote, reason)
                lock, tries_left = self._lock(con, name, remote)
                con.execute("commit")
                return Login(None, lock, tries_left)
            con.execute("update login_attempts set state = 'ok' where id = ?", (attempt,))
            con.execute("update accounts set last_login_at = ? where username = ?", (_iso(self.clock()), name))
            self._audit(con, name, LOGIN_OK, name, remote, "")
            con.execute("commit")
        return Login(self._account(row))

    def verify(self, username: str, password: str, *, remote: str = "") -> Account | None:
        """The account when `password` is its password and it is not disabled; else None (unknown name, disabled,
        wrong password, or locked: see `login`)."""
        return self.login(username, password, remote=remote).account

    def locks(self) -> list[Lock]:
        """Every lock in force now, by name and address."""
        since = _iso(self.clock() - WINDOW)
        with self._connect(create=False) as con:
            if con is None:
                return []
            pairs = con.execute(
                "select distinct username, remote from login_attempts where state in ('checking', 'failed') "
                "and at > ? order by username, remote",
                (since,),
            ).fetchall()
            found = [self._lock(con, row["username"], row["remote"])[0] for row in pairs]
        return [lock for lock in found if lock is not None]

    def unlock(self, username: str, *, actor: str = "cli", remote: str = "") -> None:
        """Lift every lock on `username` now (the failures before this moment no longer count for it)."""
        check_username(username)
        with self._connect(create=False) as con:
            if con is None or con.execute("select 1 from accounts where username = ?", (username,)).fetchone() is None:
                raise AccountError(f"no user {username!r}")
            self._audit(con, actor, UNLOCK, username, remote, "")

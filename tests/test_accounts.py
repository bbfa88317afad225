"""The portal's accounts (issue 13): roles, scrypt hashes, the login rate limit, the audit trail, `users`."""

from __future__ import annotations

import io
import logging
import re
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from union_stats import cli
from union_stats.portal import accounts
from union_stats.portal.accounts import Account, AccountError, AccountStore, InvalidAccount, portal_db_for

PASSWORD = "correct horse battery staple"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> AccountStore:
    return AccountStore(portal_db_for(tmp_path / "union_stats.duckdb"), clock=clock)


def _bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_the_store_lives_beside_the_warehouse(tmp_path: Path) -> None:
    assert portal_db_for(tmp_path / "w" / "union_stats.duckdb") == tmp_path / "w" / "portal.sqlite"


def test_add_verify_reset_disable(store: AccountStore) -> None:
    assert store.add("shiqiao.clerk", PASSWORD, unit_code="shiqiao") == Account(
        "shiqiao.clerk", "unit", "shiqiao", False
    )
    assert store.add("office.li", PASSWORD, office=True) == Account("office.li", "office", None, False)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert sqlite3.connect(store.path).execute("pragma journal_mode").fetchone()[0] == "wal"

    assert store.verify("shiqiao.clerk", PASSWORD) == Account("shiqiao.clerk", "unit", "shiqiao", False)
    assert store.get("office.li") == Account("office.li", "office", None, False)
    assert [row.username for row in store.accounts()] == ["office.li", "shiqiao.clerk"]
    assert store.accounts()[1].last_login_at is not None and store.accounts()[0].last_login_at is None

    store.reset("shiqiao.clerk", "another password 2")
    assert store.verify("shiqiao.clerk", PASSWORD) is None
    assert store.verify("shiqiao.clerk", "another password 2") is not None

    store.disable("shiqiao.clerk")
    assert store.get("shiqiao.clerk").disabled
    assert store.verify("shiqiao.clerk", "another password 2") is None


def test_wrong_password_unknown_and_disabled_users_get_none(store: AccountStore) -> None:
    store.add("dashi", PASSWORD, unit_code="dashi")
    assert store.verify("dashi", PASSWORD + "!") is None
    assert store.verify("dashi", "") is None
    assert store.verify("nobody", PASSWORD) is None
    assert store.verify("Not A Name", PASSWORD) is None
    store.disable("dashi")
    assert store.verify("dashi", PASSWORD) is None
    reasons = [entry.detail for entry in store.audit_log() if entry.action == accounts.LOGIN_FAILED]
    assert reasons == ["wrong password", "wrong password", "unknown user", "unknown user", "disabled"]


def test_mistakes_are_refused(store: AccountStore) -> None:
    store.add("dashi", PASSWORD, unit_code="dashi")
    with pytest.raises(AccountError, match="taken"):
        store.add("dashi", PASSWORD, office=True)
    for call in (
        lambda: store.add("x", PASSWORD, office=True),  # too short a name
        lambda: store.add("Dashi", PASSWORD, office=True),
        lambda: store.add("dashi2", "short", office=True),
        lambda: store.add("dashi2", "", office=True),
        lambda: store.add("dashi2", PASSWORD, unit_code="nobody"),
        lambda: store.add("dashi2", PASSWORD, unit_code="dashi", office=True),
        lambda: store.add("dashi2", PASSWORD),
    ):
        with pytest.raises(InvalidAccount):
            call()
    with pytest.raises(AccountError, match="no user"):
        store.reset("nobody", PASSWORD)
    with pytest.raises(AccountError, match="no user"):
        store.disable("nobody")
    assert [row.username for row in store.accounts()] == ["dashi"]


def test_reading_a_store_that_is_not_there_makes_no_file(tmp_path: Path) -> None:
    store = AccountStore(tmp_path / "portal.sqlite")
    assert store.get("dashi") is None and store.accounts() == [] and store.audit_log() == []
    with pytest.raises(AccountError):
        store.disable("dashi")
    assert list(tmp_path.iterdir()) == []


def test_the_hash_is_scrypt_with_a_salt_of_its_own(store: AccountStore, portal_password_cost: int) -> None:
    store.add("one", PASSWORD, office=True)
    store.add("two", PASSWORD, office=True)
    with sqlite3.connect(store.path) as con:
        hashes = [row[0] for row in con.execute("select password_hash from accounts order by username")]
    assert portal_password_cost == 16384
    pattern = re.compile(r"^scrypt\$16384\$8\$1\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$")
    matches = [pattern.fullmatch(value) for value in hashes]
    assert all(matches)
    assert hashes[0] != hashes[1] and matches[0].group(1) != matches[1].group(1)
    assert all(len(accounts.base64.b64decode(m.group(1))) == 16 for m in matches)
    assert all(len(accounts.base64.b64decode(m.group(2))) == 32 for m in matches)
    assert accounts.check_hash(PASSWORD, hashes[0]) and not accounts.check_hash("wrong password!", hashes[0])


def test_five_failures_lock_the_name_at_that_address_only(store: AccountStore, clock: Clock) -> None:
    """A stranger's five wrong passwords lock the name where the stranger is, not where the clerk is; the lock
    says until when, and ends when the first of the five leaves the window."""
    store.add("shiqiao", PASSWORD, unit_code="shiqiao")
    first = clock.now
    for tries_left in range(accounts.MAX_FAILURES - 1, -1, -1):
        login = store.login("shiqiao", "wrong password", remote="10.0.0.1")
        assert login.account is None and login.tries_left == tries_left
        clock.advance(seconds=30)
    assert login.locked is not None and login.locked.until == first + accounts.WINDOW
    # now even the right password is refused there, without being checked, and the refusal says until when
    refused = store.login("shiqiao", PASSWORD, remote="10.0.0.1")
    assert refused.account is None and refused.locked.scope == accounts.LOCK_PAIR
    assert refused.locked.until == first + accounts.WINDOW
    assert store.audit_log()[-1].action == accounts.LOGIN_THROTTLED
    # the clerk at her own address is not locked out by the stranger
    assert store.verify("shiqiao", PASSWORD, remote="10.0.0.2") == store.get("shiqiao")
    clock.advance(minutes=12)  # 14.5 minutes after the first failure: all five are within the window
    assert store.verify("shiqiao", PASSWORD, remote="10.0.0.1") is None
    clock.advance(minutes=1)  # the first failures have left the window
    assert store.verify("shiqiao", PASSWORD, remote="10.0.0.1") == store.get("shiqiao")


def test_clerks_behind_one_address_do_not_lock_each_other_out(store: AccountStore, clock: Clock) -> None:
    store.add("dashi", PASSWORD, unit_code="dashi")
    store.add("luopu", PASSWORD, unit_code="luopu")
    for _ in range(accounts.MAX_FAILURES):
        assert store.verify("dashi", "mistyped password", remote="10.9.9.9") is None
    assert store.login("dashi", PASSWORD, remote="10.9.9.9").locked is not None
    assert store.verify("luopu", PASSWORD, remote="10.9.9.9") == store.get("luopu")


def test_one_address_trying_many_names_is_locked(store: AccountStore, clock: Clock) -> None:
    """One password tried on many names from one address: past the address's limit every name is refused there."""
    store.add("dashi", PASSWORD, unit_code="dashi")
    for number in range(accounts.MAX_FAILURES_ADDRESS):
        assert store.verify(f"guess{number}", PASSWORD, remote="10.9.9.9") is None
    refused = store.login("dashi", PASSWORD, remote="10.9.9.9")
    assert refused.account is None and refused.locked.scope == accounts.LOCK_ADDRESS
    assert store.verify("dashi", PASSWORD, remote="10.1.1.1") is not None  # another address is not locked
    clock.advance(minutes=16)
    assert store.verify("dashi", PASSWORD, remote="10.9.9.9") is not None


def test_one_name_guessed_from_many_addresses_is_locked(store: AccountStore, clock: Clock) -> None:
    store.add("dashi", PASSWORD, unit_code="dashi")
    for number in range(accounts.MAX_FAILURES_NAME):
        assert store.verify("dashi", "guess", remote=f"10.8.{number // 200}.{number % 200}") is None
    refused = store.login("dashi", PASSWORD, remote="10.1.1.1")
    assert refused.account is None and refused.locked.scope == accounts.LOCK_NAME


def test_the_office_unlocks(store: AccountStore, clock: Clock) -> None:
    store.add("shiqiao", PASSWORD, unit_code="shiqiao")
    for _ in range(accounts.MAX_FAILURES):
        store.verify("shiqiao", "wrong password", remote="10.0.0.1")
    assert [(lock.username, lock.remote, lock.scope) for lock in store.locks()] == [
        ("shiqiao", "10.0.0.1", accounts.LOCK_PAIR)
    ]
    store.unlock("shiqiao", actor="office", remote="10.0.0.4")
    assert store.locks() == []
    assert store.verify("shiqiao", PASSWORD, remote="10.0.0.1") == store.get("shiqiao")
    assert [(e.actor, e.action, e.target) for e in store.audit_log()][-2] == ("office", "unlock", "shiqiao")
    with pytest.raises(AccountError):
        store.unlock("nobody")


def test_tries_sent_at_once_get_no_more_password_checks_than_the_limit(
    store: AccountStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 wrong tries at once for one name from one address: five password checks, the other 35 refused unchecked
    (each try takes its place in the count before its password is checked)."""
    import threading

    store.add("shiqiao", PASSWORD, unit_code="shiqiao")
    checked = []
    real_check = accounts.check_hash

    def counted(password: str, stored: str) -> bool:
        checked.append(password)
        return real_check(password, stored)

    monkeypatch.setattr(accounts, "check_hash", counted)
    barrier = threading.Barrier(40)

    def attempt() -> None:
        barrier.wait()
        store.verify("shiqiao", "wrong password", remote="10.0.0.1")

    threads = [threading.Thread(target=attempt) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checked) == accounts.MAX_FAILURES
    actions = [entry.action for entry in store.audit_log(limit=100)]
    assert actions.count(accounts.LOGIN_FAILED) == accounts.MAX_FAILURES
    assert actions.count(accounts.LOGIN_THROTTLED) == 40 - accounts.MAX_FAILURES


def test_the_audit_trail_records_who_what_when_and_from_where(store: AccountStore, clock: Clock) -> None:
    store.add("xinzao", PASSWORD, unit_code="xinzao", actor="office.li", remote="10.0.0.7")
    clock.advance(minutes=1)
    store.verify("xinzao", PASSWORD, remote="10.0.0.8")
    store.verify("xinzao", "not the password", remote="10.0.0.9")
    store.reset("xinzao", "a new password!", actor="office.li", remote="10.0.0.7")
    store.disable("xinzao", actor="office.li", remote="10.0.0.7")
    store.audit("office.li", "export", target="2023Q1", remote="10.0.0.7", detail="csv")
    log = store.audit_log()
    assert [(e.actor, e.action, e.target, e.remote) for e in log] == [
        ("office.li", "add", "xinzao", "10.0.0.7"),
        ("xinzao", "login_ok", "xinzao", "10.0.0.8"),
        ("xinzao", "login_failed", "xinzao", "10.0.0.9"),
        ("office.li", "reset", "xinzao", "10.0.0.7"),
        ("office.li", "disable", "xinzao", "10.0.0.7"),
        ("office.li", "export", "2023Q1", "10.0.0.7"),
    ]
    assert log[0].at == "2026-03-01T09:00:00.000000+00:00" and log[1].at.startswith("2026-03-01T09:01:00")
    assert [e.action for e in store.audit_log(limit=2)] == ["disable", "export"]


def test_the_password_is_nowhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    caplog.set_level(logging.DEBUG)
    secret, new_secret = "Zq9-unique-secret-4711", "Wx7-another-secret-0815"
    warehouse = tmp_path / "union_stats.duckdb"
    monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
    assert (
        cli.main(["users", "add", "luopu", "--unit", "luopu", "--password-stdin", "--warehouse", str(warehouse)]) == 0
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(new_secret + "\n"))
    assert cli.main(["users", "reset", "luopu", "--password-stdin", "--warehouse", str(warehouse)]) == 0
    store = AccountStore(portal_db_for(warehouse))
    assert store.verify("luopu", secret) is None
    assert store.verify("luopu", new_secret, remote="127.0.0.1") is not None
    assert cli.main(["users", "list", "--warehouse", str(warehouse)]) == 0
    printed = capsys.readouterr()
    # the file and its write-ahead log, read while a connection keeps the log open
    with sqlite3.connect(store.path) as con:
        con.execute("select count(*) from accounts").fetchone()
        stored = _bytes(store.path)
    for text in (secret, new_secret):
        assert text.encode() not in stored and text.encode("utf-16-le") not in stored
        assert text not in printed.out + printed.err and text not in caplog.text
        assert all(text not in (e.detail + e.target + e.actor) for e in store.audit_log())


def _users(arguments: list[str], stdin: str, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = cli.main(["users", *arguments])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


@pytest.mark.parametrize(
    ("arguments", "stdin", "expected", "says"),
    [
        (["add", "dashi", "--unit", "nobody", "--password-stdin"], PASSWORD, 2, "unknown unit code 'nobody'"),
        (["add", "dashi", "--unit", "dashi", "--office", "--password-stdin"], PASSWORD, 2, "not both"),
        (["add", "dashi", "--password-stdin"], PASSWORD, 2, "--unit CODE"),
        (["add", "dashi", "--office", "--password-stdin"], "", 2, "empty password"),
        (["add", "dashi", "--office", "--password-stdin"], "\n", 2, "empty password"),
        (["add", "dashi", "--office", "--password-stdin"], "123456789\n", 2, "shorter than 10"),
        (["add", "dashi", "--office"], PASSWORD, 2, "--password-stdin"),
        (["add", "D", "--office", "--password-stdin"], PASSWORD, 2, "is not a user name"),
        (["add", "has space", "--office", "--password-stdin"], PASSWORD, 2, "is not a user name"),
        (["add", "a" * 33, "--office", "--password-stdin"], PASSWORD, 2, "is not a user name"),
        (["add", "dashi", "--unit", "dashi", "--bogus"], PASSWORD, 2, "No such option"),
        (["reset", "dashi", "--password-stdin"], "short\n", 2, "shorter than 10"),
        (["reset", "Dashi!", "--password-stdin"], PASSWORD, 2, "is not a user name"),
        (["disable"], "", 2, "Missing argument"),
        (["list", "extra"], "", 2, "unexpected extra argument"),
        ([], "", 2, "Missing command"),
        (["reset", "dashi", "--password-stdin"], PASSWORD, 1, "no user 'dashi'"),
        (["disable", "dashi"], "", 1, "no user 'dashi'"),
        (["unlock", "dashi"], "", 1, "no user 'dashi'"),
        (["unlock", "Dashi!"], "", 2, "is not a user name"),
    ],
)
def test_a_users_mistake_is_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch, capsys, arguments: list[str], stdin: str, expected: int, says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = _users([*arguments, "--warehouse", "w.duckdb"] if arguments else [], stdin, monkeypatch, capsys)
    assert "Traceback" not in out + err
    assert code == expected, err
    assert len(err.strip().splitlines()) == 1 and says in err, err
    assert list(tmp_path.iterdir()) == []


def test_users_add_list_disable_on_the_command_line(tmp_path: Path, monkeypatch, capsys) -> None:
    warehouse = ["--warehouse", str(tmp_path / "w.duckdb")]
    code, out, err = _users(
        ["add", "shiqiao.clerk", "--unit", "shiqiao", "--password-stdin", *warehouse],
        PASSWORD + "\r\n",
        monkeypatch,
        capsys,
    )
    assert (code, err) == (0, "") and "added shiqiao.clerk (unit shiqiao)" in out
    assert AccountStore(tmp_path / "portal.sqlite").verify("shiqiao.clerk", PASSWORD) is not None  # no \r kept
    assert (
        _users(["add", "office.li", "--office", "--password-stdin", *warehouse], PASSWORD, monkeypatch, capsys)[0] == 0
    )
    code, out, err = _users(
        ["add", "office.li", "--office", "--password-stdin", *warehouse], PASSWORD, monkeypatch, capsys
    )
    assert code == 1 and "taken" in err and len(err.strip().splitlines()) == 1
    assert _users(["disable", "office.li", *warehouse], "", monkeypatch, capsys)[0] == 0

    code, out, err = _users(["list", *warehouse], "", monkeypatch, capsys)
    assert (code, err) == (0, "")
    assert "shiqiao.clerk" in out and "office.li" in out and "shiqiao" in out and "UTC" in out
    assert "scrypt" not in out and PASSWORD not in out
    for header in ("name", "role", "unit", "disabled", "created", "last login"):
        assert header in out
    actions = [(e.action, e.target) for e in AccountStore(tmp_path / "portal.sqlite").audit_log()]
    assert actions == [
        ("add", "shiqiao.clerk"),
        ("login_ok", "shiqiao.clerk"),
        ("add", "office.li"),
        ("disable", "office.li"),
    ]
    assert all(
        e.actor.startswith("cli")
        for e in AccountStore(tmp_path / "portal.sqlite").audit_log()
        if e.action != "login_ok"
    )


def test_users_unlock_on_the_command_line(tmp_path: Path, monkeypatch, capsys) -> None:
    warehouse = ["--warehouse", str(tmp_path / "w.duckdb")]
    assert (
        _users(["add", "dashi", "--unit", "dashi", "--password-stdin", *warehouse], PASSWORD, monkeypatch, capsys)[0]
        == 0
    )
    store = AccountStore(tmp_path / "portal.sqlite")
    for _ in range(accounts.MAX_FAILURES):
        store.verify("dashi", "wrong password", remote="10.0.0.1")
    assert store.verify("dashi", PASSWORD, remote="10.0.0.1") is None
    code, out, err = _users(["unlock", "dashi", *warehouse], "", monkeypatch, capsys)
    assert (code, err) == (0, "") and "unlocked dashi" in out
    assert store.verify("dashi", PASSWORD, remote="10.0.0.1") is not None
    assert ("unlock", "dashi") in [(e.action, e.target) for e in store.audit_log()]


def test_users_list_of_no_store_makes_none(tmp_path: Path, monkeypatch, capsys) -> None:
    code, out, _ = _users(["list", "--warehouse", str(tmp_path / "w.duckdb")], "", monkeypatch, capsys)
    assert code == 0 and "no portal accounts" in out and list(tmp_path.iterdir()) == []


def test_users_needs_the_warehouse_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    code, _, err = _users(
        ["add", "dashi", "--unit", "dashi", "--password-stdin", "--warehouse", str(tmp_path / "no" / "w.duckdb")],
        PASSWORD,
        monkeypatch,
        capsys,
    )
    assert code == 1 and "no folder" in err and list(tmp_path.iterdir()) == []


def test_users_add_in_a_fresh_process_reads_the_password_from_a_pipe(tmp_path: Path) -> None:
    import subprocess
    import sys

    def users(*arguments: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "union_stats.cli", "users", *arguments, "--warehouse", "w.duckdb"],
            cwd=tmp_path,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    done = users("add", "shawan", "--unit", "shawan", "--password-stdin", stdin=PASSWORD + "\n")
    assert (done.returncode, done.stderr) == (0, "")
    short = users("add", "shawan2", "--unit", "shawan", "--password-stdin", stdin="too short\n")
    assert short.returncode == 2 and len(short.stderr.strip().splitlines()) == 1 and "Traceback" not in short.stderr
    listed = users("list")
    assert listed.returncode == 0 and "shawan" in listed.stdout and "scrypt" not in listed.stdout
    for run in (done, short, listed):
        assert PASSWORD not in run.stdout + run.stderr and "too short" not in run.stdout + run.stderr
    assert stat.S_IMODE((tmp_path / "portal.sqlite").stat().st_mode) == 0o600
    assert AccountStore(tmp_path / "portal.sqlite").verify("shawan", PASSWORD) is not None

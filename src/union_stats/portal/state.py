"""The portal's own state: sessions, uploads and their checks, explanations, reviews, jobs and snapshots.

It lives in the same SQLite file as the accounts and the audit trail (`portal.sqlite`, beside the warehouse), for
the same reason: the portal never waits on DuckDB. What the portal knows of the warehouse (a period's figures,
its completeness, whether it is closed) is a snapshot read after each job it starts (and whenever the warehouse
changed since), kept here as JSON: while a run holds the warehouse the pages show the last snapshot and say when
it was taken.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import timedelta

from union_stats.portal.accounts import SCHEMA as ACCOUNTS_SCHEMA
from union_stats.portal.accounts import Account, AccountStore, _iso

SESSION_LIFETIME = timedelta(hours=8)

# the audit trail's actions of the portal (the accounts' own are in accounts.py)
LOGOUT, UPLOAD, EXPLAIN, APPROVE, RETURN = "logout", "upload", "explain", "approve", "return"
JOB_STARTED, JOB_FINISHED = "job_started", "job_finished"
OPEN_PERIOD, STOP_PERIOD = "open_period", "stop_period"
UPLOAD_NOT_CHECKED = "upload_not_checked"  # an upload whose check did not finish within its time: nothing kept

DECISIONS = {"approve": "approved", "return": "returned"}
JOB_KINDS = ("run", "close", "reopen")

PORTAL_SCHEMA = """
create table if not exists sessions (
    token_hash text primary key,
    username text not null references accounts (username),
    csrf_token text not null,
    created_at text not null,
    expires_at text not null,
    remote text not null default ''
);
create table if not exists uploads (
    id integer primary key autoincrement,
    submission_id text not null,
    sha256 text not null,
    unit_code text not null,
    username text not null,
    period text not null,
    client_name text not null,
    stored_name text not null,
    placed integer not null,
    size_bytes integer not null,
    received_at text not null,
    status text not null,
    findings text not null,
    reports text not null,
    unique (unit_code, period, sha256)
);
create index if not exists uploads_by_submission on uploads (submission_id);
create table if not exists explanations (
    upload_id integer not null references uploads (id),
    finding_key text not null,
    text text not null,
    username text not null,
    at text not null,
    primary key (upload_id, finding_key)
);
create table if not exists reviews (
    id integer primary key autoincrement,
    upload_id integer not null references uploads (id),
    decision text not null check (decision in ('approved', 'returned')),
    comment text not null,
    username text not null,
    at text not null
);
create table if not exists jobs (
    id integer primary key autoincrement,
    kind text not null,
    period text not null,
    username text not null,
    started_at text not null,
    finished_at text,
    exit_code integer,
    output text not null default ''
);
-- the periods the office opened for uploads on the portal (beside those reference/periods.toml opens)
create table if not exists open_periods (
    period text primary key,
    username text not null,
    at text not null
);
create table if not exists snapshots (
    period text primary key,
    taken_at text not null,
    warehouse_mtime real not null,
    data text not null
);
"""


def token_hash(token: str) -> str:
    """A session token is kept only as its hash: a copy of the store opens no session."""
    return hashlib.sha256(token.encode()).hexdigest()


def finding_key(finding: dict) -> str:
    """Which finding an explanation answers: its rule and place (stable across a re-check of the same file)."""
    return "|".join((finding["rule"], finding.get("sheet") or "", finding.get("cell") or ""))


@dataclass(frozen=True)
class Session:
    username: str
    csrf_token: str
    expires_at: str


@dataclass(frozen=True)
class Upload:
    id: int
    submission_id: str
    sha256: str
    unit_code: str
    username: str
    period: str
    client_name: str
    stored_name: str
    placed: bool
    size_bytes: int
    received_at: str
    status: str
    findings: list[dict]
    reports: list[str]

    @property
    def warehouse_id(self) -> str:
        """The warehouse's submission id of these bytes (a run's `ops.*`): a prefix of their sha256, the same for
        every upload of the same bytes. The portal's own id, `submission_id`, is one upload's."""
        return self.sha256[:16]

    @classmethod
    def of(cls, row: sqlite3.Row) -> Upload:
        values = dict(row)
        values["placed"] = bool(values["placed"])
        values["findings"] = json.loads(values["findings"])
        values["reports"] = json.loads(values["reports"])
        return cls(**values)


@dataclass(frozen=True)
class Review:
    decision: str
    comment: str
    username: str
    at: str


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    period: str
    username: str
    started_at: str
    finished_at: str | None
    exit_code: int | None
    output: str

    @property
    def running(self) -> bool:
        return self.finished_at is None


def new_upload_id() -> str:
    """An upload's id: random, 16 hex digits, never derived from the file (two units' same bytes are two uploads)."""
    return secrets.token_hex(8)


def counted(uploads: list[Upload], outcomes: dict[str, str] | None = None) -> Upload | None:
    """Of one unit's uploads for one period, the one a run loads (or has loaded): the newest that was placed in the
    raw folder and passed its check, unless the warehouse itself turned it down. A later upload with errors does
    not replace it: a run keeps the file it has."""
    for upload in sorted(uploads, key=lambda item: item.id, reverse=True):
        if upload.placed and upload.status != "rejected" and (outcomes or {}).get(upload.warehouse_id) != "rejected":
            return upload
    return None


class PortalState(AccountStore):
    """Accounts and audit (AccountStore) plus the portal's own tables."""

    schema = ACCOUNTS_SCHEMA + PORTAL_SCHEMA

    def _prepare(self, con: sqlite3.Connection) -> None:
        # an upload's id is unique; a store made before it was (when the id was the file's hash prefix, the same
        # for two units' same bytes) gets a new id for each repeat first
        if con.execute("select 1 from sqlite_master where name = 'uploads_by_upload_id'").fetchone():
            return
        con.execute("begin immediate")
        repeats = con.execute(
            "select id from uploads where id not in (select min(id) from uploads group by submission_id)"
        ).fetchall()
        for row in repeats:
            con.execute("update uploads set submission_id = ? where id = ?", (new_upload_id(), row[0]))
        con.execute("create unique index if not exists uploads_by_upload_id on uploads (submission_id)")
        con.execute("commit")

    # --- sessions ----------------------------------------------------------------------------------------------

    def open_session(self, account: Account, remote: str) -> tuple[str, Session]:
        """A new session for `account`: its token (for the cookie, never stored) and its CSRF token."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self.clock()
        expires = _iso(now + SESSION_LIFETIME)
        with self._connect() as con:
            con.execute("delete from sessions where expires_at < ?", (_iso(now),))
            con.execute(
                "insert into sessions values (?, ?, ?, ?, ?, ?)",
                (token_hash(token), account.username, csrf, _iso(now), expires, remote),
            )
        return token, Session(account.username, csrf, expires)

    def session(self, token: str) -> tuple[Session, Account] | None:
        """The live session of `token` and its account, if the token is known, unexpired and the account enabled."""
        with self._connect() as con:
            row = con.execute(
                "select sessions.username, csrf_token, expires_at, role, unit_code, disabled from sessions "
                "join accounts using (username) where token_hash = ?",
                (token_hash(token),),
            ).fetchone()
        if row is None or row["expires_at"] < _iso(self.clock()) or row["disabled"]:
            return None
        account = Account(row["username"], row["role"], row["unit_code"], False)
        return Session(row["username"], row["csrf_token"], row["expires_at"]), account

    def close_session(self, token: str, remote: str) -> None:
        with self._connect() as con:
            row = con.execute("select username from sessions where token_hash = ?", (token_hash(token),)).fetchone()
            con.execute("delete from sessions where token_hash = ?", (token_hash(token),))
            if row is not None:
                self._audit(con, row["username"], LOGOUT, row["username"], remote, "")

    # --- uploads ------------------------------------------------------------------------------------------------

    def find_upload(self, unit_code: str, period: str, sha256: str) -> Upload | None:
        with self._connect() as con:
            row = con.execute(
                "select * from uploads where unit_code = ? and period = ? and sha256 = ?", (unit_code, period, sha256)
            ).fetchone()
        return None if row is None else Upload.of(row)

    def record_upload(self, upload: dict, remote: str) -> Upload:
        """Record a checked upload (and audit it) in one transaction; its id is the portal's own (`new_upload_id`)."""
        values = {"submission_id": new_upload_id(), **upload}
        values["findings"] = json.dumps(values["findings"], ensure_ascii=False)
        values["reports"] = json.dumps(values["reports"], ensure_ascii=False)
        values["placed"] = int(values["placed"])
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self._connect() as con:
            con.execute("begin immediate")
            cursor = con.execute(f"insert into uploads ({columns}) values ({marks})", tuple(values.values()))
            self._audit(
                con,
                upload["username"],
                UPLOAD,
                values["submission_id"],
                remote,
                f"unit={upload['unit_code']} period={upload['period']} status={upload['status']} "
                f"stored={upload['stored_name']} placed={int(upload['placed'])}",
            )
            con.execute("commit")
            row = con.execute("select * from uploads where id = ?", (cursor.lastrowid,)).fetchone()
        return Upload.of(row)

    def upload_for(self, submission_id: str, account: Account) -> Upload | None:
        """The upload of `submission_id` if `account` may see it: its own unit's, or (the office) any."""
        with self._connect() as con:
            row = con.execute("select * from uploads where submission_id = ?", (submission_id,)).fetchone()
        if row is None or (account.role != "office" and row["unit_code"] != account.unit_code):
            return None
        return Upload.of(row)

    def uploads(self, *, unit_code: str | None = None, period: str | None = None) -> list[Upload]:
        """Uploads, newest first, of one unit and/or one period."""
        where, params = [], []
        if unit_code is not None:
            where.append("unit_code = ?")
            params.append(unit_code)
        if period is not None:
            where.append("period = ?")
            params.append(period)
        clause = f"where {' and '.join(where)}" if where else ""
        with self._connect() as con:
            rows = con.execute(f"select * from uploads {clause} order by id desc", params).fetchall()
        return [Upload.of(row) for row in rows]

    # --- explanations and reviews -------------------------------------------------------------------------------

    def explanations(self, upload_id: int) -> dict[str, dict]:
        with self._connect() as con:
            rows = con.execute("select * from explanations where upload_id = ?", (upload_id,)).fetchall()
        return {row["finding_key"]: dict(row) for row in rows}

    def explain(self, upload: Upload, texts: dict[str, str], username: str, remote: str) -> int:
        """Store the unit's explanation of each warning (by finding key); an empty text removes one."""
        keys = {finding_key(finding) for finding in upload.findings if finding["severity"] == "warning"}
        changed = 0
        with self._connect() as con:
            con.execute("begin immediate")
            for key, text in texts.items():
                if key not in keys:
                    continue
                if text:
                    con.execute(
                        "insert into explanations values (?, ?, ?, ?, ?) on conflict (upload_id, finding_key) "
                        "do update set text = excluded.text, username = excluded.username, at = excluded.at",
                        (upload.id, key, text, username, _iso(self.clock())),
                    )
                else:
                    con.execute("delete from explanations where upload_id = ? and finding_key = ?", (upload.id, key))
                changed += 1
            self._audit(con, username, EXPLAIN, upload.submission_id, remote, f"upload={upload.id} items={changed}")
            con.execute("commit")
        return changed

    def explanation_counts(self) -> dict[int, int]:
        with self._connect() as con:
            rows = con.execute("select upload_id, count(*) from explanations group by upload_id").fetchall()
        return {row[0]: row[1] for row in rows}

    def review(self, upload: Upload, decision: str, comment: str, username: str, remote: str) -> Review:
        """The office approves or returns an upload, with a comment (a return must say why)."""
        with self._connect() as con:
            con.execute("begin immediate")
            at = _iso(self.clock())
            con.execute(
                "insert into reviews (upload_id, decision, comment, username, at) values (?, ?, ?, ?, ?)",
                (upload.id, DECISIONS[decision], comment, username, at),
            )
            action = APPROVE if decision == "approve" else RETURN
            self._audit(
                con, username, action, upload.submission_id, remote, f"upload={upload.id} unit={upload.unit_code}"
            )
            con.execute("commit")
        return Review(DECISIONS[decision], comment, username, at)

    def reviews(self, upload_id: int) -> list[Review]:
        """Every review of an upload, oldest first (the last one stands)."""
        with self._connect() as con:
            rows = con.execute(
                "select decision, comment, username, at from reviews where upload_id = ? order by id", (upload_id,)
            ).fetchall()
        return [Review(**dict(row)) for row in rows]

    def latest_reviews(self) -> dict[int, Review]:
        with self._connect() as con:
            rows = con.execute(
                "select upload_id, decision, comment, username, at from reviews "
                "where id in (select max(id) from reviews group by upload_id)"
            ).fetchall()
        return {row["upload_id"]: Review(row["decision"], row["comment"], row["username"], row["at"]) for row in rows}

    # --- periods open for uploads ---------------------------------------------------------------------------

    def opened_periods(self) -> dict[str, tuple[str, str]]:
        """The periods the office opened on the portal: period -> (who, when)."""
        with self._connect(create=False) as con:
            if con is None:
                return {}
            rows = con.execute("select period, username, at from open_periods").fetchall()
        return {row["period"]: (row["username"], row["at"]) for row in rows}

    def open_period(self, period: str, username: str, remote: str) -> bool:
        """The office opens `period` for uploads; False if it was open already (by the office)."""
        with self._connect() as con:
            con.execute("begin immediate")
            added = con.execute(
                "insert into open_periods values (?, ?, ?) on conflict (period) do nothing",
                (period, username, _iso(self.clock())),
            ).rowcount
            if added:
                self._audit(con, username, OPEN_PERIOD, period, remote, "")
            con.execute("commit")
        return bool(added)

    def stop_period(self, period: str, username: str, remote: str) -> bool:
        """The office stops uploads for a period it opened on the portal; False if it had not opened it."""
        with self._connect() as con:
            con.execute("begin immediate")
            removed = con.execute("delete from open_periods where period = ?", (period,)).rowcount
            if removed:
                self._audit(con, username, STOP_PERIOD, period, remote, "")
            con.execute("commit")
        return bool(removed)

    # --- jobs and snapshots -------------------------------------------------------------------------------------

    def start_job(self, kind: str, period: str, username: str, remote: str) -> Job | None:
        """A new job, unless one is running (None then): the portal starts one warehouse writer at a time."""
        with self._connect() as con:
            con.execute("begin immediate")
            if con.execute("select 1 from jobs where finished_at is null").fetchone() is not None:
                con.execute("rollback")
                return None
            cursor = con.execute(
                "insert into jobs (kind, period, username, started_at) values (?, ?, ?, ?)",
                (kind, period, username, _iso(self.clock())),
            )
            self._audit(con, username, JOB_STARTED, period, remote, f"job={cursor.lastrowid} kind={kind}")
            con.execute("commit")
            row = con.execute("select * from jobs where id = ?", (cursor.lastrowid,)).fetchone()
        return Job(**dict(row))

    def finish_job(self, job_id: int, exit_code: int, output: str) -> None:
        with self._connect() as con:
            con.execute("begin immediate")
            row = con.execute("select * from jobs where id = ?", (job_id,)).fetchone()
            con.execute(
                "update jobs set finished_at = ?, exit_code = ?, output = ? where id = ?",
                (_iso(self.clock()), exit_code, output, job_id),
            )
            self._audit(
                con,
                row["username"],
                JOB_FINISHED,
                row["period"],
                "",
                f"job={job_id} kind={row['kind']} exit={exit_code}",
            )
            con.execute("commit")

    def abandon_jobs(self) -> None:
        """Jobs left running by a portal that stopped: their process is gone with it."""
        with self._connect() as con:
            con.execute(
                "update jobs set finished_at = ?, exit_code = -1, output = output || ? where finished_at is null",
                (_iso(self.clock()), "\n(the portal stopped while this job ran)"),
            )

    def job(self, job_id: int) -> Job | None:
        with self._connect() as con:
            row = con.execute("select * from jobs where id = ?", (job_id,)).fetchone()
        return None if row is None else Job(**dict(row))

    def jobs(self, limit: int = 20) -> list[Job]:
        with self._connect() as con:
            rows = con.execute("select * from jobs order by id desc limit ?", (limit,)).fetchall()
        return [Job(**dict(row)) for row in rows]

    def save_snapshot(self, period: str, warehouse_mtime: float, data: dict) -> None:
        with self._connect() as con:
            con.execute(
                "insert into snapshots values (?, ?, ?, ?) on conflict (period) do update set "
                "taken_at = excluded.taken_at, warehouse_mtime = excluded.warehouse_mtime, data = excluded.data",
                (period, _iso(self.clock()), warehouse_mtime, json.dumps(data, ensure_ascii=False, default=str)),
            )

    def snapshot(self, period: str) -> tuple[str, float, dict] | None:
        with self._connect() as con:
            row = con.execute("select * from snapshots where period = ?", (period,)).fetchone()
        return None if row is None else (row["taken_at"], row["warehouse_mtime"], json.loads(row["data"]))

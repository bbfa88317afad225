"""The warehouse: the one module that opens, creates and reads the DuckDB file.

Connections (read-write or read-only, waiting while another process holds the file), transactions, the
schemas and tables, the reference data, the run lock, the state a run starts from (what the period already holds
and what a batch is checked against), the "nothing new" check every run starts with, the record of runs, and the
reads people need (district figures, completeness). The load stage writes through what it gets from here.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from union_stats import discover, office_time, transform
from union_stats.discover import ReceivedFile
from union_stats.labels import ACCEPTED, HELD
from union_stats.paths import SQL_DIR
from union_stats.reference import raw_columns, template
from union_stats.runs import RunContext, ValidationContext

log = logging.getLogger(__name__)


LOCK_WAIT_SECONDS = 600  # how long a process waits for another to release the warehouse
DUCKDB_MEMORY_LIMIT = "512MB"


class WarehouseBusy(RuntimeError):
    """Another process held the warehouse for longer than this one would wait."""


def first_line(error: BaseException) -> str:
    """An error as one line for the person who caused it (DuckDB's and the file system's messages run on)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _duckdb_config() -> dict[str, str]:
    """DuckDB's memory for one connection: by default it takes up to 80% of the machine, and a province's
    rebuild of the detail-row models would; bounded, it spills to `<warehouse>.tmp/` instead (slower). A first load
    of 10,000 v2 workbooks ran out of it building int_indicator_detail_rows until that model was narrowed; since,
    a full bench round of 10,000 loaded within it (README, Performance). `UNION_STATS_DUCKDB_MEMORY_LIMIT` (DuckDB's
    own spelling, e.g. `4GB`) changes it."""
    return {"memory_limit": os.environ.get("UNION_STATS_DUCKDB_MEMORY_LIMIT", DUCKDB_MEMORY_LIMIT)}


# `union-stats sql`: an analyst's query reads the warehouse and nothing else. read_only alone stops writes to
# the warehouse only; a query could still COPY TO a file, ATTACH or EXPORT elsewhere, read any file, INSTALL or
# LOAD an extension, or SET its way out. Checked for DuckDB 2.0 in tests/test_sql_readonly.py.
ANALYST_LOCKDOWN = {
    # no file, URL or extension outside the warehouse: COPY TO/FROM, ATTACH, EXPORT DATABASE, read_csv(),
    # glob(), INSTALL, LOAD (DuckDB still allows the warehouse file itself, its WAL and its temp folder)
    "enable_external_access": "false",
    "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "false",
    "allow_community_extensions": "false",
    "allow_extension_repositories": "forbidden",
    "allow_persistent_secrets": "false",  # CREATE PERSISTENT SECRET would write under ~/.duckdb
    "python_enable_replacements": "false",  # no Python object of the caller scanned as a table
    # no spill files: and the temp folder (<warehouse>.tmp/) would otherwise be one COPY TO may write into
    "temp_directory": "",
    "lock_configuration": "true",  # no SET, RESET or PRAGMA undoes any of the above
}


def analyst_connection(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection locked down for `union-stats sql` (ANALYST_LOCKDOWN, and the memory limit): no
    statement through it can change the warehouse or touch any other file. It does not wait: a warehouse a
    writer holds raises duckdb.IOException ("Could not set lock") at once."""
    return _connect(warehouse, read_only=True, config=_duckdb_config() | ANALYST_LOCKDOWN)


def _connect(warehouse: Path, read_only: bool, config: dict[str, str]) -> duckdb.DuckDBPyConnection:
    """The one place the warehouse file is opened. Its times (TIMESTAMP WITH TIME ZONE) are rendered in the
    office's zone (office_time: Asia/Shanghai), with their offset, in every result and every file written from it;
    the configuration is locked, if asked, only after that."""
    config = dict(config)
    lock = config.pop("lock_configuration", None)
    con = duckdb.connect(str(warehouse), read_only=read_only, config=config)
    try:
        con.execute(f"set TimeZone = '{office_time.zone_name()}'")  # an IANA name, checked by zoneinfo
        if lock is not None:
            con.execute(f"set lock_configuration = {lock}")
    except BaseException:
        con.close()
        raise
    return con


def _open(warehouse: Path, read_only: bool, wait: bool = True) -> duckdb.DuckDBPyConnection:
    """A connection, waiting while another process holds the file: DuckDB has one writer, and a reader cannot
    open the file while it writes, so a second run (or `status` during a run) queues instead of failing. Without
    `wait` (the portal, which shows what it read last instead) a held file is WarehouseBusy at once."""
    waited, delay = 0.0, 0.05
    patience = float(os.environ.get("UNION_STATS_LOCK_WAIT_SECONDS", LOCK_WAIT_SECONDS)) if wait else 0.0
    while True:
        try:
            return _connect(warehouse, read_only, _duckdb_config())
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise
            if waited >= patience:
                raise WarehouseBusy(
                    f"the warehouse {warehouse} is in use by another process (a run, or a client holding it open); "
                    f"waited {waited:.0f} s: try again when it has finished"
                ) from error
        time.sleep(delay)
        waited += delay
        delay = min(delay * 2, 1.0)


@contextmanager
def connect(warehouse: Path, read_only: bool = False, wait: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    if not read_only:
        warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = _open(warehouse, read_only, wait)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def run_lock(warehouse: Path) -> Iterator[None]:
    """One run at a time per warehouse, for the whole run: a second run waits for the first (DuckDB has one
    writer anyway), and the two never race to create the Prefect database they share beside the warehouse."""
    try:
        import fcntl
    except ImportError:  # not on a POSIX system: the warehouse's own lock still keeps writes apart
        yield
        return
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    patience = float(os.environ.get("UNION_STATS_LOCK_WAIT_SECONDS", LOCK_WAIT_SECONDS))
    with warehouse.with_name(warehouse.name + ".run-lock").open("a") as handle:
        waited = 0.0
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    from union_stats.progress import step

                    step("waiting for another run of this warehouse to finish")
                if waited >= patience:
                    raise WarehouseBusy(
                        f"another run of {warehouse} has been going for over {waited:.0f} s: try again when it has finished"
                    ) from None
                time.sleep(0.25)
                waited += 0.25
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: a failure anywhere inside leaves the warehouse as it was."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def raw_table_ddl() -> dict[str, str]:
    """The statement creating each raw table, by file name (`raw.<kind>.sql`): the lineage columns, then the
    template sheet's columns, all text as parsed. Generated from the template into `sql/ddl/` (`union-stats
    suites` writes them; a test fails when the committed files drift)."""
    statements = {}
    spec = template()
    for sheet in spec.sheets:
        columns = [f"{name} {'bigint' if name == 'source_row' else 'varchar'}" for name in raw_columns(sheet)]
        body = ",\n".join(f"    {column}" for column in columns)
        personal = (
            "-- names and ID numbers are not stored: person_key is the ID number's keyed hash (pseudonym.py)\n"
            if sheet.id_column
            else ""
        )
        statements[f"raw.{sheet.kind}.sql"] = (
            f"-- generated from the template ({spec.version}) by `union-stats suites`: the “{sheet.sheet}” sheet's rows as\n"
            f"-- parsed (every cell as text), each with its lineage; accepted submissions only\n"
            f"{personal}create table if not exists raw.{sheet.kind} (\n{body}\n)\n"
        )
    return statements


def write_raw_ddl(sql_dir: Path = SQL_DIR) -> list[Path]:
    written = []
    for name, text in raw_table_ddl().items():
        path = sql_dir / "ddl" / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def ensure_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    """Schemas and the pipeline's own tables (`sql/ddl/`: ops, and one raw table per sheet kind)."""
    transform.ensure_schemas(con)


@dataclass
class WarehouseState:
    """What the warehouse knows about a period before a run: which files it has dealt with, and context."""

    period: str
    statuses: dict[str, str] = field(default_factory=dict)  # submission_id -> status, for the period
    closed: bool = False
    context: ValidationContext | None = None  # what a batch is checked against (read_state with_context)
    key_fingerprint: str | None = None  # of the key the warehouse's person keys were made with, once there are any

    def pending(self, files: list[ReceivedFile]) -> list[ReceivedFile]:
        """Files still to process: never seen, or held while the period was closed and now open again.

        The same bytes under two names are one submission (content-addressed): the first name counts.
        """
        unique = list({item.submission_id: item for item in reversed(files)}.values())[::-1]
        if self.closed:
            return [item for item in unique if item.submission_id not in self.statuses]
        return [item for item in unique if self.statuses.get(item.submission_id) in (None, HELD)]


def read_state(warehouse: Path, period: str, with_context: bool = True) -> WarehouseState:
    """The warehouse's knowledge of a period (empty when there is no warehouse yet)."""
    state = WarehouseState(period)
    if not warehouse.exists():
        return state
    with connect(warehouse, read_only=True) as con:
        tables = {
            f"{schema}.{name}"
            for schema, name in con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        }
        if "ops.submission_log" not in tables:
            return state
        state.statuses = dict(
            con.execute("select submission_id, status from ops.submission_log where period = ?", [period]).fetchall()
        )
        state.closed = bool(
            con.execute("select count(*) from ops.period_locks where period = ?", [period]).fetchall()[0][0]
        )
        if "ops.pseudonym_key" in tables:
            recorded = con.execute("select fingerprint from ops.pseudonym_key").fetchall()
            state.key_fingerprint = recorded[0][0] if recorded else None
        if not with_context:
            return state
        state.context = ValidationContext()
        if "marts.fct_indicator_value" in tables:
            state.context.history = con.sql(
                "select unit_code, period, indicator_code, cast(value as double) as value "
                "from marts.fct_indicator_value where value is not null"
            ).pl()
        for sheet in template().details:
            compared = [*sheet.unique_across_units]
            if sheet.same_person:
                compared += ["file_name", "source_row", "person_key", *sheet.same_person]
            if compared and f"raw.{sheet.kind}" in tables:
                columns = ", ".join(f"raw_rows.{name}" for name in compared)
                # where each row's ID number sits, for a warning told back to that file (sheet_layouts)
                id_letter = "layouts.column_letter as id_letter" if sheet.same_person else "null as id_letter"
                state.context.other_records[sheet.kind] = con.sql(
                    f"select raw_rows.submission_id, raw_rows.unit_code, {columns}, {id_letter} "
                    f"from raw.{sheet.kind} as raw_rows "
                    "join ops.submission_log using (submission_id) "
                    "left join ops.sheet_layouts as layouts on layouts.submission_id = raw_rows.submission_id "
                    "and layouts.sheet_kind = $kind and layouts.field = $id_field "
                    "where ops.submission_log.period = $period and list_contains($accepted, ops.submission_log.status)",
                    params={
                        "period": period,
                        "accepted": list(ACCEPTED),
                        "kind": sheet.kind,
                        "id_field": sheet.id_column.name if sheet.id_column else "",
                    },
                ).pl()
    return state


def record_run(
    con: duckdb.DuckDBPyConnection,
    run: RunContext,
    status: str,
    files_seen: int = 0,
    accepted: int = 0,
    rejected: int = 0,
    message: str = "",
) -> None:
    """How a run ended, in `ops.runs` (inside the caller's transaction, if any)."""
    con.execute(
        "insert or replace into ops.runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run.run_id,
            run.period,
            str(run.raw_dir),
            run.started_at,
            datetime.now(UTC),
            status,
            files_seen,
            accepted,
            rejected,
            message,
        ],
    )


def record_outside_a_load(run: RunContext, status: str, files_seen: int = 0, message: str = "") -> None:
    """A run that loaded nothing (nothing new, or failed) is recorded on its own."""
    with connect(run.warehouse) as con:
        ensure_warehouse(con)
        record_run(con, run, status, files_seen, message=message)


def record_nothing_new(run: RunContext, files_seen: int) -> None:
    """A run that found nothing new: one row, without the schema work of a load (the warehouse has its tables)."""
    with connect(run.warehouse) as con:
        if not _relation_exists(con, "ops", "runs"):
            ensure_warehouse(con)
        record_run(con, run, "nothing_new", files_seen)


def record_failed_run(run: RunContext, error: BaseException) -> None:
    """A run that failed as a whole is recorded too; if the warehouse itself is what failed, the log keeps it."""
    try:
        record_outside_a_load(run, "failed", message=f"{type(error).__name__}: {error}")
    except Exception as problem:
        log.error("event=run_not_recorded run_id=%s reason=%s", run.run_id, problem)


def set_period_lock(warehouse: Path, period: str, closed: bool, note: str = "") -> bool:
    """Close or reopen a period; returns whether anything changed."""
    with connect(warehouse) as con:
        ensure_warehouse(con)
        was_closed = bool(
            con.execute("select count(*) from ops.period_locks where period = ?", [period]).fetchall()[0][0]
        )
        if closed and not was_closed:
            con.execute("insert into ops.period_locks values (?, ?, ?)", [period, datetime.now(UTC), note])
        elif not closed and was_closed:
            con.execute("delete from ops.period_locks where period = ?", [period])
        if was_closed != closed:
            transform.build(con, targets={"marts.dim_period", "report.submission_completeness"})
        return was_closed != closed


@dataclass(frozen=True)
class FigureRow:
    figure_id: str
    quote_zh: str
    value: float | None
    base_unit: str
    # None where no report was published for the period (reference/published_reports.csv): nothing to compare
    published: str | None
    reproduced: str | None
    comparator: str
    matches: bool | None
    # what the figure rests on: the units of its reporting group expected for the period, how many sent a file
    # (whatever its outcome), how many have a current accepted one, and whether that is all of them
    units_expected: int
    units_submitted: int
    units_accepted: int
    complete: bool


def district_figures(con: duckdb.DuckDBPyConnection, period: str) -> list[FigureRow]:
    rows = con.execute(
        "select figure_id, quote_zh, value, base_unit, published, reproduced, comparator, matches, "
        "units_expected, units_submitted, units_accepted, complete "
        "from report.district_figures where period = ? order by figure_id",
        [period],
    ).fetchall()
    return [FigureRow(*row) for row in rows]


def has_published_report(figures: list) -> bool:
    """Whether the figures of a period are compared with a published report: only then do they carry its words."""
    return any(figure.published is not None for figure in figures)


def read_district_figures(warehouse: Path, period: str) -> list[FigureRow]:
    with connect(warehouse, read_only=True) as con:
        return district_figures(con, period)


def _relation_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
        ).fetchall()[0][0]
    )


def target_progress(con: duckdb.DuckDBPyConnection, period: str) -> list[dict]:
    """The stated targets of the period's year, with the district's progress as of the period (its quarter's row
    of report.target_progress_by_period; for a year, the latest step loaded): none for a year without targets."""
    if not _relation_exists(con, "report", "target_progress_by_period"):
        return []  # a warehouse built before the relation existed: its next run that loads builds it
    relation = con.sql(
        "select year, period, quarter, indicator_code, indicator_name_zh, unit_zh, target, comparator, achieved, "
        "basis, progress_ratio, met, quote_zh from report.target_progress_by_period "
        "where year = left($period, 4) and (period = $period or length($period) = 4) "
        "qualify row_number() over (partition by indicator_code order by quarter is null desc, quarter desc) = 1 "
        "order by indicator_code",
        params={"period": period},
    )
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def read_target_progress(warehouse: Path, period: str) -> list[dict]:
    with connect(warehouse, read_only=True) as con:
        return target_progress(con, period)


def completeness(con: duckdb.DuckDBPyConnection, period: str) -> list[dict]:
    relation = con.sql(
        "select unit_code, unit_name_zh, status, files, first_received_at, due_on, on_time, days_late, errors, warnings "
        "from report.submission_completeness where period = $period order by submitted, unit_code",
        params={"period": period},
    )
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def read_completeness(warehouse: Path, period: str) -> list[dict]:
    with connect(warehouse, read_only=True) as con:
        return completeness(con, period)


def nothing_new(raw_dir: Path, warehouse: Path, period: str | None = None) -> int | None:
    """When every file of the period is already in the warehouse: how many files the period folder holds.

    A run asks this before starting anything (`pipeline.run_period`: a no-op run answers in the time the imports
    take, without Prefect), and the stages ask it again (`pipeline.ingest`), so a flow started any other way does
    no work either.
    """
    period = period or discover.latest_period(raw_dir)
    if period is None or not (raw_dir / period).is_dir() or not warehouse.exists():
        return None
    files = discover.discover(raw_dir / period)
    state = read_state(warehouse, period, with_context=False)
    if state.pending(files):
        return None
    return len(files)

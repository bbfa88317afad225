"""Load stage: write a validated batch into the DuckDB warehouse in one transaction, then rebuild the models.

Loads are incremental and by submission: every received file, its outcome and findings are recorded;
accepted files' rows go to the raw layer, and a unit's newer accepted file supersedes its earlier one
(which stays, marked superseded). If anything fails, the transaction rolls back and the warehouse stays
as it was.
"""

from __future__ import annotations

import dataclasses
import os
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from union_stats import reference, transform
from union_stats.discover import ReceivedFile
from union_stats.findings import Finding, findings_frame
from union_stats.parse import LINEAGE_COLUMNS, ParsedBatch
from union_stats.paths import REFERENCE_DIR
from union_stats.reference import Unit, template
from union_stats.validate import ValidationContext

ACCEPTED = ("accepted", "accepted_with_warnings")
LOCK_WAIT_SECONDS = 600  # how long a process waits for another to release the warehouse
HELD = "held"


@contextmanager
def connect(warehouse: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    if not read_only:
        warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = _open(warehouse, read_only)
    try:
        yield con
    finally:
        con.close()


class WarehouseBusy(RuntimeError):
    """Another process held the warehouse for longer than this one would wait."""


def _open(warehouse: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection, waiting while another process holds the file: DuckDB has one writer, and a reader cannot
    open the file while it writes, so a second run (or `status` during a run) queues instead of failing."""
    waited, delay = 0.0, 0.05
    patience = float(os.environ.get("UNION_STATS_LOCK_WAIT_SECONDS", LOCK_WAIT_SECONDS))
    while True:
        try:
            return duckdb.connect(str(warehouse), read_only=read_only)
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
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: a failure anywhere inside leaves the warehouse as it was."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def _raw_table_ddl(kind: str, columns: list[str]) -> str:
    lineage = ", ".join(f"{name} {'bigint' if name == 'source_row' else 'varchar'}" for name in LINEAGE_COLUMNS)
    fields = ", ".join(f"{name} varchar" for name in columns)
    return f"create table if not exists raw.{kind} ({lineage}, {fields})"


def ensure_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    """Schemas, operational tables and one raw table per sheet kind of the template."""
    transform.ensure_schemas(con)
    for sheet in template().sheets:
        con.execute(_raw_table_ddl(sheet.kind, [column.name for column in sheet.columns]))


def _register(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> None:
    con.register("incoming", frame.to_arrow())


def _replace_table(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    _register(con, frame)
    con.execute(f"create or replace table {name} as select * from incoming")
    con.unregister("incoming")


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    if frame.height == 0:
        return
    _register(con, frame)
    columns = ", ".join(frame.columns)
    con.execute(f"insert into {table} ({columns}) select {columns} from incoming")
    con.unregister("incoming")


def _delete_where_in(con: duckdb.DuckDBPyConnection, table: str, column: str, values: list[str]) -> None:
    if values:
        con.execute(f"delete from {table} where {column} in (select unnest(?))", [values])


def _blank_as_null(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.String).replace("", None))


def _deadline_rules() -> pl.DataFrame:
    settings = tomllib.loads((REFERENCE_DIR / "periods.toml").read_text(encoding="utf-8"))
    return pl.DataFrame(
        [{"period_kind": kind, "days_after_end": days} for kind, days in settings["deadlines"].items()]
    )


def load_reference(con: duckdb.DuckDBPyConnection, units: tuple[Unit, ...]) -> None:
    """The catalog, figures and rules are replaced whole; units accumulate (a period may bring its own)."""
    reference_codes = {unit.unit_code for unit in reference.reference_units()}
    incoming = pl.DataFrame(
        [
            dataclasses.asdict(unit) | {"origin": "reference" if unit.unit_code in reference_codes else "period_units_file"}
            for unit in units
        ],
        schema={field.name: pl.Float64 if field.name == "size_weight" else pl.String for field in dataclasses.fields(Unit)}
        | {"origin": pl.String},
    )
    tables = {row[0] for row in con.execute("select table_name from information_schema.tables where table_schema = 'ref'").fetchall()}
    if "units" in tables:
        known = con.sql("select * from ref.units").pl()
        incoming = pl.concat([known.filter(~pl.col("unit_code").is_in(incoming["unit_code"].implode())), incoming], how="vertical_relaxed")
    _replace_table(con, "ref.units", incoming.sort("unit_code"))
    _replace_table(con, "ref.indicators", _blank_as_null(pl.DataFrame([dataclasses.asdict(i) for i in reference.indicators()])))
    _replace_table(con, "ref.figures", pl.DataFrame([dataclasses.asdict(f) for f in reference.figures()]))
    _replace_table(con, "ref.reporting_groups", pl.DataFrame(reference.reporting_groups()))
    _replace_table(con, "ref.deadline_rules", _deadline_rules())
    _replace_table(
        con, "ref.targets", pl.DataFrame(list(reference.targets()), schema=dict.fromkeys(reference.TARGET_COLUMNS, pl.String))
    )


@dataclass
class WarehouseState:
    """What the warehouse knows about a period before a run: which files it has dealt with, and context."""

    period: str
    statuses: dict[str, str] = field(default_factory=dict)  # submission_id -> status, for the period
    closed: bool = False
    context: ValidationContext = field(default_factory=ValidationContext)

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
        state.closed = bool(con.execute("select count(*) from ops.period_locks where period = ?", [period]).fetchall()[0][0])
        if not with_context:
            return state
        if "marts.fct_indicator_value" in tables:
            state.context.history = con.sql(
                "select unit_code, period, indicator_code, cast(value as double) as value "
                "from marts.fct_indicator_value where value is not null"
            ).pl()
        for sheet in template().details:
            if sheet.unique_across_units and f"raw.{sheet.kind}" in tables:
                columns = ", ".join(f"raw_rows.{name}" for name in sheet.unique_across_units)
                state.context.other_records[sheet.kind] = con.sql(
                    f"select raw_rows.submission_id, raw_rows.unit_code, {columns} from raw.{sheet.kind} as raw_rows "
                    "join ops.submission_log using (submission_id) "
                    "where ops.submission_log.period = $period and ops.submission_log.status in ('accepted', 'accepted_with_warnings')",
                    params={"period": period},
                ).pl()
    return state


def arrival_times(con: duckdb.DuckDBPyConnection, submissions: pl.DataFrame, now: datetime) -> list[datetime]:
    """Each submission's arrival time: the ledger's first_seen_at for a file the warehouse has already seen,
    else the time discovery gave it (its first sighting, or the receipts manifest's time).

    A manifest speaks for the content first seen under a name: a different content under a file name the ledger
    already has for the period was written after that one was seen, so a manifest time not later than that
    sighting gives way to `now` (a unit correcting `shiqiao_2022.xlsx` in place has not sent it in 2023)."""
    first_seen = dict(con.execute(
        "select sha256, first_seen_at from ops.ledger where sha256 in (select unnest(?))", [submissions["sha256"].to_list()]
    ).fetchall())
    seen_names = dict(con.execute(
        "select file_name, max(first_seen_at) from ops.ledger where period = ? group by file_name",
        [submissions["period"][0] if submissions.height else None],
    ).fetchall())
    times = []
    for sha256, file_name, received_at in submissions.select("sha256", "file_name", "received_at").iter_rows():
        if sha256 in first_seen:
            times.append(first_seen[sha256])
        elif received_at is None or (file_name in seen_names and received_at <= seen_names[file_name]):
            times.append(now)
        else:
            times.append(received_at)
    return [time.astimezone(UTC) for time in times]


def load_batch(
    con: duckdb.DuckDBPyConnection,
    batch: ParsedBatch,
    outcomes: pl.DataFrame,
    findings: list[Finding],
    units: tuple[Unit, ...],
    run_id: str,
    expected_units: list[str],
    archived: dict[str, str],
) -> None:
    """Record every file of the batch; load the accepted ones' rows; supersede what they replace."""
    processed_at = datetime.now(UTC)
    submission_ids = outcomes["submission_id"].to_list()
    accepted_ids = outcomes.filter(pl.col("status").is_in(ACCEPTED))["submission_id"].to_list()

    load_reference(con, units)
    con.execute("delete from ops.expected_units where period = ?", [batch.period])
    _insert(con, "ops.expected_units", pl.DataFrame({"period": batch.period, "unit_code": expected_units}))

    submissions = batch.submissions.join(outcomes, on="submission_id", how="left").with_columns(
        pl.lit(batch.period).alias("period"),
        pl.lit(run_id).alias("run_id"),
        pl.lit(processed_at).alias("processed_at"),
    )
    submissions = submissions.with_columns(
        pl.Series("received_at", arrival_times(con, submissions, processed_at), dtype=pl.Datetime("us", "UTC"))
    )
    # the ledger keeps each file's first sighting: a file it already has (a rerun, a held file loaded after a
    # reopen) keeps its entry and its first_seen_at; only files never seen before are added
    known = {row[0] for row in con.execute(
        "select sha256 from ops.ledger where sha256 in (select unnest(?))", [submissions["sha256"].to_list()]
    ).fetchall()}
    ledger = submissions.filter(~pl.col("sha256").is_in(list(known))).unique("sha256", keep="first").select(
        "sha256", "file_name", "period", "size_bytes",
        pl.col("received_at").alias("first_seen_at"),
        pl.col("submission_id").replace_strict(archived, default=None).alias("archived_path"),
    )
    _insert(con, "ops.ledger", ledger)

    _delete_where_in(con, "ops.submission_log", "submission_id", submission_ids)
    _insert(
        con,
        "ops.submission_log",
        submissions.select(
            "submission_id", "sha256", "file_name", "size_bytes", "received_at", "unit_code", "unit_name", "period",
            "template_version", "contact_name", "status", "errors", "warnings", "infos", "run_id", "processed_at",
        ),
    )
    _delete_where_in(con, "ops.findings_log", "submission_id", submission_ids)
    _insert(con, "ops.findings_log", findings_frame(findings).with_columns(pl.lit(run_id).alias("run_id")))
    _delete_where_in(con, "ops.sheet_layouts", "submission_id", submission_ids)
    _insert(con, "ops.sheet_layouts", batch.layouts)

    for kind, frame in batch.sheets.items():
        _delete_where_in(con, f"raw.{kind}", "submission_id", submission_ids)
        _insert(con, f"raw.{kind}", frame.filter(pl.col("submission_id").is_in(accepted_ids)))

    # one current file per unit and period: the latest accepted one; the others stay, marked superseded
    con.execute(
        """
        update ops.submission_log set status = 'superseded', superseded_by = latest.submission_id
        from (
            select unit_code, arg_max(submission_id, (received_at, processed_at, submission_id)) as submission_id
            from ops.submission_log
            where period = ? and status in ('accepted', 'accepted_with_warnings')
            group by unit_code
        ) as latest
        where ops.submission_log.period = ?
            and ops.submission_log.unit_code = latest.unit_code
            and ops.submission_log.status in ('accepted', 'accepted_with_warnings')
            and ops.submission_log.submission_id <> latest.submission_id
        """,
        [batch.period, batch.period],
    )


def record_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    period: str,
    raw_dir: Path,
    started_at: datetime,
    status: str,
    files_seen: int,
    accepted: int,
    rejected: int,
    message: str = "",
) -> None:
    con.execute(
        "insert or replace into ops.runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, period, str(raw_dir), started_at, datetime.now(UTC), status, files_seen, accepted, rejected, message],
    )


def set_period_lock(warehouse: Path, period: str, closed: bool, note: str = "") -> bool:
    """Close or reopen a period; returns whether anything changed."""
    with connect(warehouse) as con:
        ensure_warehouse(con)
        was_closed = bool(con.execute("select count(*) from ops.period_locks where period = ?", [period]).fetchall()[0][0])
        if closed and not was_closed:
            con.execute("insert into ops.period_locks values (?, ?, ?)", [period, datetime.now(UTC), note])
        elif not closed and was_closed:
            con.execute("delete from ops.period_locks where period = ?", [period])
        if was_closed != closed:
            transform.build(con, targets={"marts.dim_period", "report.submission_completeness"})
        return was_closed != closed

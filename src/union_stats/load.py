"""Load stage: write a validated batch into the DuckDB warehouse in one transaction, then rebuild the models.

Reference data is replaced whole; a period's raw partition is replaced by the run's accepted submissions;
every received file, its outcome and its findings are recorded whether accepted or not. If anything fails,
the transaction rolls back and the warehouse stays as it was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from union_stats import reference, transform
from union_stats.findings import Finding, findings_frame
from union_stats.parse import LINEAGE_COLUMNS, ParsedBatch
from union_stats.reference import Unit, template

ACCEPTED = ("accepted", "accepted_with_warnings")


@contextmanager
def connect(warehouse: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    if not read_only:
        warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def _raw_table_ddl(kind: str, columns: list[str]) -> str:
    lineage = ", ".join(f"{name} {'bigint' if name == 'source_row' else 'varchar'}" for name in LINEAGE_COLUMNS)
    fields = ", ".join(f"{name} varchar" for name in columns)
    return f"create table if not exists raw.{kind} ({lineage}, {fields})"


def ensure_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    """Schemas, operational tables and one raw table per sheet kind of the template."""
    transform.ensure_schemas(con)
    for sheet in template().sheets:
        con.execute(_raw_table_ddl(sheet.kind, [column.name for column in sheet.columns]))


def _replace_table(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    con.register("incoming", frame.to_arrow())
    con.execute(f"create or replace table {name} as select * from incoming")
    con.unregister("incoming")


def _blank_as_null(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.String).replace("", None))


def load_reference(con: duckdb.DuckDBPyConnection, units: tuple[Unit, ...]) -> None:
    reference_codes = {unit.unit_code for unit in reference.reference_units()}
    _replace_table(
        con,
        "ref.units",
        pl.DataFrame(
            [
                dataclasses.asdict(unit) | {"origin": "reference" if unit.unit_code in reference_codes else "period_units_file"}
                for unit in units
            ]
        ),
    )
    _replace_table(con, "ref.indicators", _blank_as_null(pl.DataFrame([dataclasses.asdict(i) for i in reference.indicators()])))
    _replace_table(con, "ref.figures", pl.DataFrame([dataclasses.asdict(f) for f in reference.figures()]))
    _replace_table(con, "ref.reporting_groups", pl.DataFrame(reference.reporting_groups()))


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    if frame.height == 0:
        return
    con.register("incoming", frame.to_arrow())
    columns = ", ".join(frame.columns)
    con.execute(f"insert into {table} ({columns}) select {columns} from incoming")
    con.unregister("incoming")


def _delete_where_in(con: duckdb.DuckDBPyConnection, table: str, column: str, values: list[str]) -> None:
    if values:
        con.execute(f"delete from {table} where {column} in (select unnest(?))", [values])


def load_batch(
    con: duckdb.DuckDBPyConnection,
    batch: ParsedBatch,
    outcomes: pl.DataFrame,
    findings: list[Finding],
    units: tuple[Unit, ...],
    run_id: str,
) -> None:
    """Record every submission and finding; replace the period's raw partition with the accepted rows."""
    processed_at = datetime.now(UTC)
    submission_ids = outcomes["submission_id"].to_list()
    accepted_ids = outcomes.filter(pl.col("status").is_in(ACCEPTED))["submission_id"].to_list()

    load_reference(con, units)

    # a period's warehouse content is the run's accepted files: earlier accepted files of the period that
    # this run no longer received are kept on record but marked superseded
    con.execute(
        "update ops.submission_log set status = 'superseded' "
        "where period = ? and status in ('accepted', 'accepted_with_warnings') "
        "and submission_id not in (select unnest(?))",
        [batch.period, submission_ids],
    )
    submissions = batch.submissions.join(outcomes, on="submission_id", how="left").with_columns(
        pl.lit(batch.period).alias("period"),
        pl.lit(run_id).alias("run_id"),
        pl.lit(processed_at).alias("processed_at"),
    )
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
        con.execute(f"delete from raw.{kind} where period = ?", [batch.period])
        _insert(con, f"raw.{kind}", frame.filter(pl.col("submission_id").is_in(accepted_ids)))


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

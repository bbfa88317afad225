"""Load stage: write a validated batch into the DuckDB warehouse in one transaction, then rebuild the models.

Loads are incremental and by submission: every received file, its outcome and findings are recorded;
accepted files' rows go to the raw layer, and a unit's newer accepted file supersedes its earlier one
(which stays, marked superseded). If anything fails, the transaction rolls back and the warehouse stays
as it was.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import duckdb
import polars as pl

from union_stats import transform
from union_stats.findings import Finding, findings_frame
from union_stats.labels import ACCEPTED
from union_stats.parse import ParsedBatch
from union_stats.ref_tables import load_reference, register
from union_stats.reference import raw_columns, template
from union_stats.runs import RunContext
from union_stats.validate import ValidatedBatch
from union_stats.warehouse import FigureRow, connect, district_figures, ensure_warehouse, record_run, transaction


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    if frame.height == 0:
        return
    register(con, frame)
    columns = ", ".join(frame.columns)
    con.execute(f"insert into {table} ({columns}) select {columns} from incoming")
    con.unregister("incoming")


def _delete_where_in(con: duckdb.DuckDBPyConnection, table: str, column: str, values: list[str]) -> None:
    if values:
        con.execute(f"delete from {table} where {column} in (select unnest(?))", [values])


def arrival_times(con: duckdb.DuckDBPyConnection, submissions: pl.DataFrame, now: datetime) -> list[datetime]:
    """Each submission's arrival time: the ledger's first_seen_at for a file the warehouse has already seen,
    else the time discovery gave it (its first sighting, or the receipts manifest's time).

    A manifest speaks for the content first seen under a name: a different content under a file name the ledger
    already has for the period was written after that one was seen, so a manifest time not later than that
    sighting gives way to `now` (a unit correcting `shiqiao_2022.xlsx` in place has not sent it in 2023)."""
    first_seen = dict(
        con.execute(
            "select sha256, first_seen_at from ops.ledger where sha256 in (select unnest(?))",
            [submissions["sha256"].to_list()],
        ).fetchall()
    )
    seen_names = dict(
        con.execute(
            "select file_name, max(first_seen_at) from ops.ledger where period = ? group by file_name",
            [submissions["period"][0] if submissions.height else None],
        ).fetchall()
    )
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
    run: RunContext,
    batch: ParsedBatch,
    validated: ValidatedBatch,
    archived: dict[str, str],
    key_fingerprint: str | None = None,
) -> None:
    """Record every file of the batch; load the accepted ones' rows; supersede what they replace; and, the
    first time a person is loaded, the fingerprint of the key their keys were made with."""
    outcomes, findings, run_id, expected_units = validated.outcomes, validated.findings, run.run_id, run.expected_units
    processed_at = datetime.now(UTC)
    submission_ids = outcomes["submission_id"].to_list()
    accepted_ids = outcomes.filter(pl.col("status").is_in(ACCEPTED))["submission_id"].to_list()

    load_reference(con, run.units)
    con.execute("delete from ops.expected_units where period = ?", [batch.period])
    _insert(
        con,
        "ops.expected_units",
        pl.DataFrame(
            {"period": batch.period, "unit_code": list(expected_units)},
            schema={"period": pl.String, "unit_code": pl.String},
        ),
    )

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
    known = {
        row[0]
        for row in con.execute(
            "select sha256 from ops.ledger where sha256 in (select unnest(?))", [submissions["sha256"].to_list()]
        ).fetchall()
    }
    ledger = (
        submissions.filter(~pl.col("sha256").is_in(list(known)))
        .unique("sha256", keep="first")
        .select(
            "sha256",
            "file_name",
            "period",
            "size_bytes",
            pl.col("received_at").alias("first_seen_at"),
            pl.col("submission_id").replace_strict(archived, default=None).alias("archived_path"),
        )
    )
    _insert(con, "ops.ledger", ledger)

    _delete_where_in(con, "ops.submission_log", "submission_id", submission_ids)
    _insert(
        con,
        "ops.submission_log",
        submissions.select(
            "submission_id",
            "sha256",
            "file_name",
            "size_bytes",
            "received_at",
            "unit_code",
            "unit_name",
            "period",
            "template_version",
            "contact_name",
            "status",
            "errors",
            "warnings",
            "infos",
            "run_id",
            "processed_at",
        ),
    )
    _delete_where_in(con, "ops.findings_log", "submission_id", submission_ids)
    _insert(con, "ops.findings_log", findings_frame(findings).with_columns(pl.lit(run_id).alias("run_id")))
    _tell_back(con, validated.told_back, run_id)
    _delete_where_in(con, "ops.sheet_layouts", "submission_id", submission_ids)
    _insert(con, "ops.sheet_layouts", batch.layouts)

    spec = template()
    for kind, frame in batch.sheets.items():
        _delete_where_in(con, f"raw.{kind}", "submission_id", submission_ids)
        stored = frame.filter(pl.col("submission_id").is_in(accepted_ids)).select(raw_columns(spec.sheet_spec(kind)))
        _insert(con, f"raw.{kind}", stored)
    if key_fingerprint is not None:
        _record_key(con, run, batch, accepted_ids, key_fingerprint)

    # one current file per unit and period: the latest accepted one; the others stay, marked superseded
    con.execute(
        """
        update ops.submission_log set status = 'superseded', superseded_by = latest.submission_id
        from (
            select unit_code, arg_max(submission_id, (received_at, processed_at, submission_id)) as submission_id
            from ops.submission_log
            where period = $period and list_contains($accepted, status)
            group by unit_code
        ) as latest
        where ops.submission_log.period = $period
            and ops.submission_log.unit_code = latest.unit_code
            and list_contains($accepted, ops.submission_log.status)
            and ops.submission_log.submission_id <> latest.submission_id
        """,
        {"period": batch.period, "accepted": list(ACCEPTED)},
    )


def _tell_back(con: duckdb.DuckDBPyConnection, told: list[Finding], run_id: str) -> None:
    """Findings for files loaded earlier (see validate.told_back): added to theirs, counted, and an accepted
    file becomes accepted with warnings (its unit must confirm, as the other unit must)."""
    if not told:
        return
    _insert(con, "ops.findings_log", findings_frame(told).with_columns(pl.lit(run_id).alias("run_id")))
    counts = Counter(finding.submission_id for finding in told)
    con.execute(
        """
        update ops.submission_log set
            warnings = submission_log.warnings + told.added,
            status = case when submission_log.status = 'accepted' then 'accepted_with_warnings' else submission_log.status end
        from (select unnest(?) as submission_id, unnest(?) as added) as told
        where ops.submission_log.submission_id = told.submission_id
        """,
        [list(counts), list(counts.values())],
    )


def _record_key(
    con: duckdb.DuckDBPyConnection, run: RunContext, batch: ParsedBatch, accepted_ids: list[str], fingerprint: str
) -> None:
    recorded = con.execute("select fingerprint from ops.pseudonym_key").fetchall()
    if recorded:
        if recorded[0][0] != fingerprint:  # read_state checked it; a second writer in between would be caught here
            raise RuntimeError("the pseudonymisation key changed during the run")
        return
    keyed = any(
        frame.filter(pl.col("submission_id").is_in(accepted_ids))["person_key"].is_not_null().any()
        for frame in batch.sheets.values()
        if "person_key" in frame.columns
    )
    if keyed:
        con.execute("insert into ops.pseudonym_key values (?, ?, ?)", [fingerprint, datetime.now(UTC), run.run_id])


def load_and_build(
    run: RunContext,
    batch: ParsedBatch,
    validated: ValidatedBatch,
    archived: dict[str, str],
    key_fingerprint: str | None = None,
) -> list[FigureRow]:
    """Load a validated batch and rebuild the models in one transaction, record the run; the period's figures.
    A failure anywhere rolls it all back: the warehouse stays as it was."""
    with connect(run.warehouse) as con:
        ensure_warehouse(con)
        with transaction(con):
            load_batch(con, run, batch, validated, archived, key_fingerprint)
            transform.build(con, period=run.period, run_id=run.run_id)
            record_run(con, run, "succeeded", validated.outcomes.height, *validated.counts())
        return district_figures(con, run.period)

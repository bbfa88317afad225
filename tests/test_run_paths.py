"""One way a run happens, whoever starts it: a scheduled close (the deployments' flow, called as Prefect calls it)
and `union-stats run` of the same files leave the same warehouse, both record themselves in `ops.runs`, and both
hold the warehouse's run lock."""

from __future__ import annotations

import fcntl
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flows.schedules import scheduled_ingest
from union_stats import cli, pipeline, warehouse
from union_stats.paths import RAW_DIR

pytestmark = pytest.mark.usefixtures("prefect_harness")

SHANGHAI = ZoneInfo("Asia/Shanghai")
SCHEMAS = ("ref", "ops", "raw", "staging", "marts", "report")


def _relations(con) -> list[str]:
    return [
        f"{schema}.{name}"
        for schema, name in con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database() "
            "union all select schema_name, view_name from duckdb_views() "
            "where database_name = current_database() and not internal"
        ).fetchall()
        if schema in SCHEMAS
    ]


def _snapshot(path: Path) -> dict[str, list[tuple]]:
    """Every relation's rows, without what differs by nature between two runs: run ids and the times a run
    stamps (`*_at`, but for arrival times, which come from the receipts manifest), and the warehouse's folder."""
    folder = str(path.parent)
    snapshot = {}
    with warehouse.connect(path, read_only=True) as con:
        for relation in sorted(_relations(con)):
            columns = [
                name
                for (name,) in con.execute(f"select column_name from (describe {relation})").fetchall()
                if name != "run_id" and not (name.endswith("_at") and name not in ("received_at", "first_seen_at"))
            ]
            rows = con.execute(f"select {', '.join(columns)} from {relation}").fetchall()
            snapshot[relation] = sorted(
                (tuple(value.replace(folder, "<warehouse>") if isinstance(value, str) else value for value in row))
                for row in rows
            )
    return snapshot


@pytest.fixture
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    # the same key for both warehouses: their person keys must agree
    monkeypatch.setenv("UNION_STATS_PSEUDONYM_KEY", "0123456789abcdef" * 4)
    monkeypatch.setenv("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    monkeypatch.delenv(pipeline.PARQUET_DIR_ENV, raising=False)
    # the annual close of 20 January 2023 loads 2022: the time Prefect gives a flow run scheduled then
    from prefect.runtime import flow_run

    monkeypatch.setitem(flow_run.FIELDS, "scheduled_start_time", lambda: datetime(2023, 1, 20, 2, tzinfo=SHANGHAI))


@pytest.mark.usefixtures("quiet")
def test_a_scheduled_close_and_a_command_line_run_leave_the_same_warehouse(tmp_path: Path) -> None:
    scheduled, by_hand = tmp_path / "scheduled" / "union_stats.duckdb", tmp_path / "cli" / "union_stats.duckdb"
    command = ["run", "--period", "2022", "--raw-dir", str(RAW_DIR), "--warehouse", str(by_hand)]

    summary = scheduled_ingest(kind="year", raw_dir=RAW_DIR, warehouse=scheduled)
    assert (summary.period, summary.files, summary.accepted, summary.matched) == ("2022", 18, 18, 66)
    assert cli.main(command) == 0
    again = scheduled_ingest(kind="year", raw_dir=RAW_DIR, warehouse=scheduled)  # and each once more: nothing new
    assert (again.processed, again.matched) == (0, 66)
    assert cli.main(command) == 0

    first, second = _snapshot(scheduled), _snapshot(by_hand)
    assert first.keys() == second.keys() and "report.district_figures" in first
    assert {name: rows for name, rows in first.items() if rows != second[name]} == {}
    assert sorted(first["ops.runs"]) == sorted(
        [("2022", str(RAW_DIR), "succeeded", 18, 18, 0, ""), ("2022", str(RAW_DIR), "nothing_new", 18, 0, 0, "")]
    )
    for path in (scheduled, by_hand):  # each held the run lock beside its warehouse
        assert path.with_name(path.name + ".run-lock").is_file()


@pytest.mark.usefixtures("quiet")
def test_both_wait_for_the_run_lock_and_give_up_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "union_stats.duckdb"
    monkeypatch.setenv("UNION_STATS_LOCK_WAIT_SECONDS", "0.5")
    with path.with_name(path.name + ".run-lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another run holds the warehouse

        with pytest.raises(warehouse.WarehouseBusy, match="another run of") as scheduled:
            scheduled_ingest(kind="year", raw_dir=RAW_DIR, warehouse=path)
        code = cli.main(["run", "--period", "2022", "--raw-dir", str(RAW_DIR), "--warehouse", str(path)])

    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert f"run failed: WarehouseBusy: {scheduled.value}" in " ".join(err.split())
    assert not path.exists()  # neither wrote anything

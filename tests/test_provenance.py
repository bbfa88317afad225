"""When a file arrived: when the warehouse first saw it (kept in ops.ledger.first_seen_at), or, for files the office
received before that, the period folder's receipts manifest. Never the file's modification time, which a git
clone or a copy rewrites.

Each scenario is a sequence of real flows into one DuckDB file; the module-scoped fixtures run it once and the
tests read what each step left behind.
"""

from __future__ import annotations

import csv
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from defects import set_indicator
from warehouse import query

from flows.ingest import ingest_period
from union_stats import cli, discover
from union_stats.devtools.sample import due_on, write_sample
from union_stats.paths import RAW_DIR

BEIJING = ZoneInfo("Asia/Shanghai")
YEAR_2000 = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
SHIPPED_RECEIPTS = RAW_DIR / "2022" / discover.RECEIPTS_FILE


def _copy_sample(root: Path, *, manifest: bool) -> Path:
    """A copy of the shipped 2022 folder whose files all look written in the year 2000."""
    raw = root / "raw"
    shutil.copytree(RAW_DIR / "2022", raw / "2022")
    if not manifest:
        (raw / "2022" / discover.RECEIPTS_FILE).unlink()
    for path in (raw / "2022").iterdir():
        os.utime(path, (YEAR_2000, YEAR_2000))
    return raw


def _ledger(warehouse: Path) -> dict[str, datetime]:
    return dict(query(warehouse, "select sha256, first_seen_at from ops.ledger"))


def _received(warehouse: Path) -> dict[str, datetime]:
    return dict(query(warehouse, "select file_name, received_at from ops.submissions where status <> 'superseded'"))


def _timely(warehouse: Path) -> dict[str, tuple]:
    rows = query(
        warehouse, "select unit_code, on_time, days_late from report.submission_completeness where period = '2022'"
    )
    return {unit: (on_time, days_late) for unit, on_time, days_late in rows}


def _shipped_receipts() -> dict[str, datetime]:
    with SHIPPED_RECEIPTS.open(encoding="utf-8") as handle:
        return {row["file_name"]: datetime.fromisoformat(row["received_at"]) for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def fresh_clone(prefect_harness, tmp_path_factory) -> dict:
    """No manifest, files dated 2000: a first run, a rerun with nothing new, then shiqiao corrects its file."""
    root = tmp_path_factory.mktemp("fresh_clone")
    raw, warehouse = _copy_sample(root, manifest=False), root / "w.duckdb"
    steps: dict = {"warehouse": warehouse}
    steps["started"] = datetime.now(UTC)
    ingest_period(period="2022", raw_dir=raw, warehouse=warehouse)
    steps["finished"] = datetime.now(UTC)
    steps["first"] = _ledger(warehouse)
    steps["received"] = _received(warehouse)
    steps["timely"] = _timely(warehouse)

    rerun = ingest_period(period="2022", raw_dir=raw, warehouse=warehouse)
    steps["rerun_processed"] = rerun.processed
    steps["after_rerun"] = _ledger(warehouse)

    path = raw / "2022" / "shiqiao_2022.xlsx"
    set_indicator(path, "job_fairs", lambda value: value + 1)
    os.utime(path, (YEAR_2000, YEAR_2000))  # even a correction dated 2000 arrives now
    steps["resubmitted_at"] = datetime.now(UTC)
    ingest_period(period="2022", raw_dir=raw, warehouse=warehouse)
    steps["after_resubmission"] = _ledger(warehouse)
    steps["shiqiao"] = query(
        warehouse,
        "select sha256, status, received_at from ops.submissions where unit_code = 'shiqiao' order by received_at",
    )
    return steps


@pytest.fixture(scope="module")
def with_manifest(prefect_harness, tmp_path_factory) -> dict:
    """The shipped manifest without xinzao's line, files dated 2000; then the period is closed, dashi corrects its
    file in place (held), the period is reopened and the held file loads."""
    root = tmp_path_factory.mktemp("with_manifest")
    raw, warehouse = _copy_sample(root, manifest=True), root / "w.duckdb"
    manifest = raw / "2022" / discover.RECEIPTS_FILE
    lines = manifest.read_text(encoding="utf-8").splitlines(keepends=True)
    manifest.write_text("".join(line for line in lines if not line.startswith("xinzao_")), encoding="utf-8")
    steps: dict = {"warehouse": warehouse}
    steps["started"] = datetime.now(UTC)
    ingest_period(period="2022", raw_dir=raw, warehouse=warehouse)
    steps["finished"] = datetime.now(UTC)
    steps["received"] = _received(warehouse)
    steps["timely"] = _timely(warehouse)
    steps["ledger"] = dict(query(warehouse, "select file_name, first_seen_at from ops.ledger"))

    assert cli.main(["close", "--period", "2022", "--warehouse", str(warehouse)]) == 0
    set_indicator(raw / "2022" / "dashi_2022.xlsx", "job_fairs", lambda value: value + 2)
    steps["held_run"] = datetime.now(UTC)
    ingest_period(period="2022", raw_dir=raw, warehouse=warehouse)
    steps["held"] = query(warehouse, "select sha256, received_at from ops.submissions where status = 'held'")
    assert cli.main(["reopen", "--period", "2022", "--warehouse", str(warehouse)]) == 0
    steps["reopened_run"] = datetime.now(UTC)
    ingest_period(period="2022", raw_dir=raw, warehouse=warehouse)
    steps["dashi"] = query(
        warehouse,
        "select sha256, status, received_at from ops.submissions where unit_code = 'dashi' order by received_at",
    )
    steps["after_reopen_ledger"] = _ledger(warehouse)
    return steps


def test_without_a_manifest_arrival_is_the_run_not_the_file_date(fresh_clone) -> None:
    received = fresh_clone["received"]
    assert len(received) == 18
    for file_name, received_at in received.items():
        assert fresh_clone["started"] <= received_at <= fresh_clone["finished"], file_name
    # the ledger holds the same time
    assert sorted(fresh_clone["first"].values()) == sorted(received.values())


def test_completeness_follows_the_first_seen_time(fresh_clone) -> None:
    # seen for the first time years after the due date, so late: that is what the warehouse knows without receipts
    late_by = (fresh_clone["started"].date() - due_on("2022")).days
    for unit, (on_time, days_late) in fresh_clone["timely"].items():
        assert on_time is False, unit
        assert late_by - 1 <= days_late <= late_by + 1, unit


def test_a_rerun_changes_no_first_seen_time(fresh_clone) -> None:
    assert fresh_clone["rerun_processed"] == 0
    assert fresh_clone["after_rerun"] == fresh_clone["first"]


def test_a_resubmission_arrives_later_and_moves_nothing_earlier(fresh_clone) -> None:
    first, after = fresh_clone["first"], fresh_clone["after_resubmission"]
    assert len(after) == 19
    assert {sha: after[sha] for sha in first} == first  # no earlier file's first_seen_at moved
    [(old_sha, old_status, old_at), (new_sha, new_status, new_at)] = fresh_clone["shiqiao"]
    assert (old_status, new_status) == ("superseded", "accepted")
    assert old_at == first[old_sha]
    assert new_at == after[new_sha] >= fresh_clone["resubmitted_at"]


def test_the_manifest_is_honoured(with_manifest) -> None:
    receipts = _shipped_receipts()
    received = with_manifest["received"]
    for file_name, received_at in received.items():
        if file_name != "xinzao_2022.xlsx":
            assert received_at == receipts[file_name], file_name
            assert with_manifest["ledger"][file_name] == receipts[file_name], file_name
    timely = with_manifest["timely"]
    assert all(timely[unit] == (True, 0) for unit in timely if unit != "xinzao")


def test_a_file_the_manifest_does_not_name_arrives_when_first_seen(with_manifest) -> None:
    xinzao = with_manifest["received"]["xinzao_2022.xlsx"]
    assert with_manifest["started"] <= xinzao <= with_manifest["finished"]
    on_time, days_late = with_manifest["timely"]["xinzao"]
    assert on_time is False and days_late > 300


def test_a_held_file_keeps_its_first_seen_time_after_reopening(with_manifest) -> None:
    [(held_sha, held_at)] = with_manifest["held"]
    # corrected in place under a name the manifest gives: the manifest spoke for the first content, not this one
    assert with_manifest["held_run"] <= held_at < with_manifest["reopened_run"]
    [(old_sha, old_status, old_at), (new_sha, new_status, new_at)] = with_manifest["dashi"]
    assert old_at == _shipped_receipts()["dashi_2022.xlsx"] and old_status == "superseded"
    assert (new_sha, new_status) == (held_sha, "accepted")
    assert new_at == held_at == with_manifest["after_reopen_ledger"][held_sha]


def test_the_manifest_is_not_a_submission(tmp_path: Path) -> None:
    folder = tmp_path / "2022"
    folder.mkdir()
    shutil.copy(RAW_DIR / "2022" / "shiqiao_2022.xlsx", folder)
    shutil.copy(SHIPPED_RECEIPTS, folder)
    files = discover.discover(folder)
    assert [item.file_name for item in files] == ["shiqiao_2022.xlsx"]
    assert files[0].received_at == _shipped_receipts()["shiqiao_2022.xlsx"]


def test_a_manifest_time_needs_its_offset(tmp_path: Path) -> None:
    (tmp_path / discover.RECEIPTS_FILE).write_text(
        "file_name,received_at\nx_2022.xlsx,2023-01-12T09:30:00\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match="offset"):
        discover.read_receipts(tmp_path)


def test_files_first_seen_together_keep_the_order_they_were_written(tmp_path: Path) -> None:
    older, newer = tmp_path / "b_2022.xlsx", tmp_path / "a_2022.xlsx"
    for path, stamp in ((older, YEAR_2000), (newer, YEAR_2000 + 60)):
        path.write_bytes(path.name.encode())
        os.utime(path, (stamp, stamp))
    now = datetime.now(UTC)
    times = discover.arrival_times([newer, older], {}, now)
    assert now == times[older] < times[newer]


def test_the_self_check_receives_files_now(tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"x")
    os.utime(path, (YEAR_2000, YEAR_2000))
    before = datetime.now(UTC)
    assert discover.receive(path).received_at >= before


def test_the_sample_writes_the_shipped_manifest(tmp_path: Path) -> None:
    write_sample("2022", tmp_path)
    assert (tmp_path / discover.RECEIPTS_FILE).read_text(encoding="utf-8") == SHIPPED_RECEIPTS.read_text(
        encoding="utf-8"
    )
    receipts = discover.read_receipts(tmp_path)
    assert sorted(receipts) == sorted(path.name for path in (RAW_DIR / "2022").glob("*.xlsx"))
    beijing_dates = {received_at.astimezone(BEIJING).date() for received_at in receipts.values()}
    assert all(datetime(2023, 1, 1).date() <= day < due_on("2022") for day in beijing_dates)


def test_the_sample_manifest_of_a_quarter_precedes_its_due_date(tmp_path: Path) -> None:
    write_sample("2031Q2", tmp_path, units=3, seed=7)
    receipts = discover.read_receipts(tmp_path)
    assert len(receipts) == 3 and due_on("2031Q2").isoformat() == "2031-07-10"
    assert all(received_at.astimezone(BEIJING).date() < due_on("2031Q2") for received_at in receipts.values())

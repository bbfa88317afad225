"""The portal under load (issue 13, point 8): 18 units upload 5 distinct workbooks each, at once, over HTTP.

The real app runs under uvicorn on a free port in a daemon thread (warm, as `union-stats portal` starts it); 18
client threads, each with its own httpx client logged in as its unit, wait on one barrier and then upload their 5
files one after the other (so up to 18 uploads are in flight at any time, queued on the portal's one check
thread), then their first file again (the same bytes: the same upload, not a new one). Every upload must be
answered 303 and be archived, recorded and placed exactly once. The latencies are printed as a benchmark line (in
the run's "benchmarks" section, see conftest.py, so that `pytest -n auto` shows it too), never asserted: a
request's time (sent → 303) is its wait for the checking thread and its check; the checking thread's batches (how
many uploads each checked together, and how long it took) are printed beside it.
"""

from __future__ import annotations

import csv
import os
import sqlite3
import statistics
import threading
import time
from pathlib import Path

import httpx
import openpyxl
import pytest
from portal_helpers import PASSWORD, SAMPLE_DIR, csrf_of, make_portal

from union_stats import discover, reference
from union_stats.devtools.bench import percentile
from union_stats.paths import archive_dir_for
from union_stats.portal.accounts import portal_db_for
from union_stats.portal.app import create_app, served
from union_stats.portal.intake import portal_dir_for

FILES_PER_UNIT = 5
PERIOD = "2022"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CLIENT_TIMEOUT = 600.0


def unit_codes() -> list[str]:
    return [unit.unit_code for unit in reference.reference_units()]


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[bytes]]:
    """5 distinct, correct workbooks per unit: its shipped sample with another contact phone in each version."""
    folder = tmp_path_factory.mktemp("load-workbooks")
    made: dict[str, list[bytes]] = {}
    for code in unit_codes():
        versions = []
        workbook = openpyxl.load_workbook(SAMPLE_DIR / f"{code}_{PERIOD}.xlsx")
        [phone] = [
            value for label, value in workbook["封面"].iter_rows(min_col=1, max_col=2) if label.value == "联系电话"
        ]
        for version in range(FILES_PER_UNIT):
            phone.value = f"020-8888{version:04d}"
            path = folder / f"{code}_{version}.xlsx"
            workbook.save(path)
            versions.append(path.read_bytes())
        made[code] = versions
    assert len({data for versions in made.values() for data in versions}) == len(made) * FILES_PER_UNIT
    return made


def log_in(client: httpx.Client, username: str) -> str:
    token = csrf_of(client.get("/login").text)
    answer = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 303, answer.text[:500]
    landed = client.get(answer.headers["location"])
    assert landed.status_code == 200, landed.text[:500]
    return csrf_of(landed.text)


def test_18_units_upload_5_files_each_at_once(
    tmp_path: Path, workbooks: dict[str, list[bytes]], record_property
) -> None:
    codes = unit_codes()
    assert len(codes) == 18
    portal = make_portal(tmp_path, {**{f"{code}.clerk": code for code in codes}, "office": None})
    app = create_app(portal.raw_dir, portal.warehouse, warm=True)
    with served(app) as base:  # the warm-up (Great Expectations, the suites) comes first
        barrier = threading.Barrier(len(codes) + 1)
        # per unit: (status, location, seconds) of each upload, then the API's answer for each submission
        answers: dict[str, list[tuple[int, str, float]]] = {}
        api: dict[str, list[tuple[int, dict]]] = {}
        repeats: dict[str, tuple[int, str]] = {}
        failures: list[BaseException] = []

        def unit_client(code: str) -> None:
            try:
                with httpx.Client(base_url=base, timeout=CLIENT_TIMEOUT) as client:
                    csrf = log_in(client, f"{code}.clerk")
                    barrier.wait()
                    mine = answers[code] = []
                    for version, data in enumerate(workbooks[code]):
                        started = time.perf_counter()
                        answer = client.post(
                            "/upload",
                            data={"period": PERIOD, "csrf_token": csrf},
                            files={"file": (f"{code}_{PERIOD}_v{version}.xlsx", data, XLSX)},
                        )
                        mine.append(
                            (answer.status_code, answer.headers.get("location", ""), time.perf_counter() - started)
                        )
                    # the same bytes again (the first version, while the other units still upload): the same upload
                    again = client.post(
                        "/upload",
                        data={"period": PERIOD, "csrf_token": csrf},
                        files={"file": (f"{code}_{PERIOD}_again.xlsx", workbooks[code][0], XLSX)},
                    )
                    repeats[code] = (again.status_code, again.headers.get("location", ""))
                    api[code] = []
                    for _, location, _ in mine:
                        submission_id = location.rsplit("/", 1)[-1]
                        got = client.get(f"/api/submissions/{submission_id}")
                        api[code].append((got.status_code, got.json()))
            except BaseException as error:  # noqa: BLE001 - reported by the test, not lost on the thread
                failures.append(error)
                barrier.abort()

        clients = [threading.Thread(target=unit_client, args=(code,), name=f"client-{code}") for code in codes]
        for thread in clients:
            thread.start()
        barrier.wait(timeout=120)
        started = time.perf_counter()
        for thread in clients:
            thread.join(timeout=CLIENT_TIMEOUT * FILES_PER_UNIT)
        wall = time.perf_counter() - started
        assert not failures, failures
        assert not any(thread.is_alive() for thread in clients)

    # every request answered 303 to its own submission, 90 distinct ones
    total = len(codes) * FILES_PER_UNIT
    flat = [(code, *answer) for code, mine in answers.items() for answer in mine]
    assert len(flat) == total
    assert [(code, status) for code, status, _, _ in flat if status != 303] == []
    ids = {location.rsplit("/", 1)[-1] for _, _, location, _ in flat}
    assert all(location.startswith("/submissions/") for _, _, location, _ in flat)
    assert len(ids) == total
    assert {code: repeats[code] for code in codes} == {code: (303, answers[code][0][1]) for code in codes}
    for code, got in api.items():
        assert len(got) == FILES_PER_UNIT
        assert [(status, body["unit_code"], body["period"]) for status, body in got] == [
            (200, code, PERIOD)
        ] * FILES_PER_UNIT
        assert all(body["status"] == "accepted" for _, body in got), [body for _, body in got]

    # recorded once each
    with sqlite3.connect(portal_db_for(portal.warehouse)) as con:
        rows = con.execute("select submission_id, unit_code, stored_name, placed, sha256 from uploads").fetchall()
        audited = con.execute("select count(*) from audit where action = 'upload'").fetchone()[0]
    assert len(rows) == total and audited == total
    assert {row[0] for row in rows} == ids
    assert all(row[3] == 1 for row in rows)
    stored = sorted(row[2] for row in rows)
    assert len(set(stored)) == total

    # archived once each
    archived = [path for path in archive_dir_for(portal.warehouse).rglob("*") if path.is_file()]
    assert len(archived) == total, sorted(path.name for path in archived if path.name.startswith("."))
    assert {path.stem for path in archived} == {row[4] for row in rows}  # by the bytes' hash (the ids are the portal's)

    # placed once each, with one receipt line each, nothing left half-written or staged
    period_dir = portal.raw_dir / PERIOD
    placed = sorted(path.name for path in period_dir.iterdir() if path.name != discover.RECEIPTS_FILE)
    assert placed == stored
    with (period_dir / discover.RECEIPTS_FILE).open(encoding="utf-8", newline="") as handle:
        receipts = list(csv.reader(handle))
    assert receipts[0] == list(discover.RECEIPTS_COLUMNS)
    assert len(receipts) == total + 1 and all(len(line) == 2 for line in receipts)
    assert sorted(line[0] for line in receipts[1:]) == stored
    assert list((portal_dir_for(portal.warehouse) / "incoming").glob("*")) == []

    seconds = [answer[3] for answer in flat]
    # the checking thread's batches: the uploads waiting together are checked together
    batches = app.state.intake.batches
    assert sum(size for size, _ in batches) == total + len(codes)  # the repeats pass through it too
    check_seconds = [took for _, took in batches]
    record_property(
        "benchmark",
        (
            f"portal load: N={total} uploads from {len(codes)} units at once ({FILES_PER_UNIT} each in sequence), "
            f"request p50 {statistics.median(seconds):.2f} s, p95 {percentile(seconds, 0.95):.2f} s, "
            f"max {max(seconds):.2f} s; {len(batches)} checks of {statistics.mean(s for s, _ in batches):.1f} uploads "
            f"on average, a check p50 {statistics.median(check_seconds):.2f} s, max {max(check_seconds):.2f} s; "
            f"wall {wall:.1f} s ({total / wall:.2f} uploads/s); {os.cpu_count()} cores"
        ),
    )

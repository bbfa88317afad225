"""The portal's working: an upload gives the same findings as `validate` and, once a run loads it, the same
warehouse rows as the same file placed in the raw folder; explanations, reviews, history, templates; jobs and
the warehouse's snapshot while another process holds it."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import openpyxl
import pytest
from defects import DEFECTS, copy_sample
from fastapi.testclient import TestClient
from portal_helpers import SAMPLE_DIR, csrf_of, login, make_portal, sample_bytes, upload

from union_stats import checking
from union_stats.paths import archive_dir_for

# columns that say where and when a file came, not what it holds: they differ between an upload (a name the server
# chose, the upload's time) and the same bytes copied into the raw folder
CIRCUMSTANTIAL = ("file_name", "received_at", "first_received_at", "run_id", "loaded_at", "source_path", "path")


def _warning_file(folder: Path) -> Path:
    """shiqiao's sample with one warning (study aid paid to an adult: person.age), accepted with warnings."""
    path = copy_sample("shiqiao", folder)
    DEFECTS["study_aid_to_an_adult"].apply(path)
    return path


def _others(raw_period: Path) -> None:
    """The 17 other units' sample files, as the office placed them."""
    for path in SAMPLE_DIR.iterdir():
        if not path.name.startswith("shiqiao_"):
            shutil.copyfile(path, raw_period / path.name)


def _rows(warehouse: Path, submission_id: str) -> dict[str, list[tuple]]:
    """Every row of the raw and ops schemas that belongs to one submission, without circumstantial columns."""
    rows = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw', 'ops') order by all"
        ).fetchall()
        for schema, table in tables:
            columns = [row[0] for row in con.execute(f'describe "{schema}"."{table}"').fetchall()]
            if "submission_id" not in columns:
                continue
            kept = [column for column in columns if column not in CIRCUMSTANTIAL and not column.endswith("_at")]
            selected = ", ".join(f'"{column}"' for column in kept)
            rows[f"{schema}.{table}"] = sorted(
                con.execute(
                    f'select {selected} from "{schema}"."{table}" where submission_id = ?', [submission_id]
                ).fetchall(),
                key=repr,
            )
        rows["report.district_figures"] = con.execute(
            "select figure_id, value, matches from report.district_figures where period = '2022' order by 1"
        ).fetchall()
    return rows


def _finding_fields(findings) -> list[tuple]:
    return sorted((f["severity"], f["rule"], f["sheet"], f["cell"], f["message"]) for f in findings)


def test_an_upload_and_a_placed_file_give_the_same_findings_and_rows(tmp_path: Path, prefect_harness) -> None:
    from flows.ingest import ingest_period

    warning_file = _warning_file(tmp_path / "made")

    # through the portal
    portal = make_portal(tmp_path / "portal")
    _others(portal.raw_dir / "2022")
    with TestClient(portal.app()) as client:
        csrf = login(client, "shiqiao.clerk")
        answer = upload(client, csrf, warning_file.read_bytes(), name="石桥街 2022 年报（更正）.xlsx")
        assert answer.status_code == 303
        submission_id = answer.headers["location"].rsplit("/", 1)[-1]
        checked = client.get(f"/api/submissions/{submission_id}").json()
    assert checked["status"] == "accepted_with_warnings"
    assert [f["rule"] for f in checked["findings"]] == ["person.age"]

    # `union-stats validate` of the same file: the same findings; the warehouse knows the file by its hash's prefix,
    # the portal this upload by its own id
    (direct,) = checking.check_files([warning_file])
    upload_row = portal.state.uploads()[0]
    assert upload_row.submission_id == submission_id != direct.submission_id
    assert upload_row.warehouse_id == direct.submission_id
    assert _finding_fields(checked["findings"]) == _finding_fields(f.__dict__ for f in direct.findings)
    submission_id = direct.submission_id  # the warehouse's rows below are the file's

    # placed in data/raw/<period>/ by hand
    placed = tmp_path / "placed"
    (placed / "raw" / "2022").mkdir(parents=True)
    _others(placed / "raw" / "2022")
    shutil.copyfile(warning_file, placed / "raw" / "2022" / "shiqiao_2022.xlsx")

    by_portal = ingest_period(period="2022", raw_dir=portal.raw_dir, warehouse=portal.warehouse)
    # one pseudonymisation key for both warehouses, so that a person's key is the same in each
    shutil.copyfile(portal.warehouse.parent / "pseudonym.key", placed / "pseudonym.key")
    (placed / "pseudonym.key").chmod(0o600)
    by_hand = ingest_period(period="2022", raw_dir=placed / "raw", warehouse=placed / "w.duckdb")
    assert by_portal.matched == by_hand.matched == 66

    portal_rows, hand_rows = _rows(portal.warehouse, submission_id), _rows(placed / "w.duckdb", submission_id)
    assert portal_rows["ops.findings"], "the warning is in the warehouse"
    assert any(name.startswith("raw.") and rows for name, rows in portal_rows.items()), "the rows were loaded"
    assert portal_rows == hand_rows

    # the run took the upload's time as the arrival time (the receipt the portal wrote)
    with duckdb.connect(str(portal.warehouse), read_only=True) as con:
        (file_name,) = con.execute(
            "select file_name from ops.submissions where submission_id = ?", [submission_id]
        ).fetchone()
        (received,) = con.execute(
            "select received_at from ops.submissions where submission_id = ?", [submission_id]
        ).fetchone()
    assert file_name == upload_row.stored_name
    assert received.isoformat().replace(" ", "T")[:19] == upload_row.received_at[:19]


def test_explanations_reviews_and_history(tmp_path: Path) -> None:
    portal = make_portal(tmp_path)
    warning_file = _warning_file(tmp_path / "made")
    app = portal.app()
    with TestClient(app) as clerk, TestClient(app) as office:
        csrf = login(clerk, "shiqiao.clerk")
        submission_id = upload(clerk, csrf, warning_file.read_bytes()).headers["location"].rsplit("/", 1)[-1]
        page = clerk.get(f"/submissions/{submission_id}").text
        (key,) = [
            line.split('name="explain::', 1)[1].split('"', 1)[0] for line in page.splitlines() if "explain::" in line
        ]
        number = "440199196203151235"  # an ID number typed into the explanation: kept only masked
        saved = clerk.post(
            f"/submissions/{submission_id}/explanations",
            data={"csrf_token": csrf, f"explain::{key}": f"该职工子女助学金按规定发给其父亲代领（{number}）"},
            follow_redirects=False,
        )
        assert saved.status_code == 303
        shown = clerk.get(f"/submissions/{submission_id}").text
        assert "该职工子女助学金按规定发给其父亲代领（4401**********1235）" in shown and number not in shown
        stored = b"".join(path.read_bytes() for path in portal.warehouse.parent.glob("portal.sqlite*"))
        assert number.encode() not in stored

        office_csrf = login(office, "office")
        dashboard = office.get("/office?period=2022").text
        assert f"/submissions/{submission_id}" in dashboard
        seen = office.get(f"/submissions/{submission_id}").text
        assert "该职工子女助学金按规定发给其父亲代领" in seen

        # a return must say why; the unit sees it
        no_reason = office.post(
            f"/submissions/{submission_id}/review", data={"csrf_token": office_csrf, "decision": "return"}
        )
        assert no_reason.status_code == 400
        returned = office.post(
            f"/submissions/{submission_id}/review",
            data={"csrf_token": office_csrf, "decision": "return", "comment": "请核对助学对象的身份证号"},
            follow_redirects=False,
        )
        assert returned.status_code == 303
        history = clerk.get("/unit").text
        assert "已退回" in history and "请核对助学对象的身份证号" in history

        # the corrected file: a new upload in the history, approved
        corrected = upload(clerk, csrf, sample_bytes("shiqiao"), name="shiqiao_2022_v2.xlsx")
        corrected_id = corrected.headers["location"].rsplit("/", 1)[-1]
        assert clerk.get(f"/api/submissions/{corrected_id}").json()["status"] == "accepted"
        office.post(f"/submissions/{corrected_id}/review", data={"csrf_token": office_csrf, "decision": "approve"})
        history = clerk.get("/unit").text
        assert history.count("/submissions/") == 2 and "已审核通过" in history

    actions = [entry.action for entry in portal.store.audit_log()]
    for action in ("login_ok", "upload", "explain", "return", "approve"):
        assert action in actions, actions


def test_the_same_bytes_twice_are_one_upload(tmp_path: Path) -> None:
    portal = make_portal(tmp_path)
    with TestClient(portal.app()) as client:
        csrf = login(client, "shiqiao.clerk")
        first = upload(client, csrf, sample_bytes("shiqiao"), name="a.xlsx").headers["location"]
        again = upload(client, csrf, sample_bytes("shiqiao"), name="b.xlsx").headers["location"]
    assert first == again
    placed = [path for path in (portal.raw_dir / "2022").iterdir() if path.suffix == ".xlsx"]
    assert len(placed) == 1
    assert len((portal.raw_dir / "2022" / "receipts.csv").read_text(encoding="utf-8").splitlines()) == 2
    assert len([path for path in archive_dir_for(portal.warehouse).rglob("*") if path.is_file()]) == 1


def test_a_cover_of_another_unit_is_answered_archived_and_not_placed(tmp_path: Path) -> None:
    portal = make_portal(tmp_path)
    with TestClient(portal.app()) as client:
        csrf = login(client, "shiqiao.clerk")
        location = upload(client, csrf, sample_bytes("dashi"), name="dashi_2022.xlsx").headers["location"]
        answer = client.get(location, headers={"Accept": "application/json"}).json()
        page = client.get(location).text
    assert answer["status"] == "rejected" and answer["unit_code"] == "shiqiao"
    assert any(f["rule"] == "structure.unit_mismatch" and f["cell"] == "B2" for f in answer["findings"])
    assert "不会入库" in page
    assert not any(path.suffix == ".xlsx" for path in (portal.raw_dir / "2022").iterdir())
    assert len([path for path in archive_dir_for(portal.warehouse).rglob("*") if path.is_file()]) == 1


def test_the_template_is_the_units_own(tmp_path: Path) -> None:
    portal = make_portal(tmp_path)
    with TestClient(portal.app()) as client:
        login(client, "dashi.clerk")
        answer = client.get("/template.xlsx?period=2023Q2")
    assert answer.status_code == 200
    assert "dashi_2023Q2.xlsx" in answer.headers["content-disposition"]
    cover = openpyxl.load_workbook(io.BytesIO(answer.content))["封面"]
    values = {str(cell.value) for row in cover.iter_rows() for cell in row if cell.value is not None}
    assert "dashi" in values and "2023Q2" in values


def test_pages_answer_while_another_process_writes_the_warehouse(tmp_path: Path) -> None:
    """A run holds DuckDB's write lock: the office's pages still answer, from the last snapshot, without waiting."""
    portal = make_portal(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); con.execute('create table t (x int)'); "
            "print('holding', flush=True); time.sleep(60)",
            str(portal.warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with TestClient(portal.app()) as client:
            login(client, "office")
            started = time.monotonic()
            dashboard = client.get("/office?period=2022")
            figures = client.get("/office/figures?period=2022")
            took = time.monotonic() - started
        assert dashboard.status_code == 200 and figures.status_code == 200
        assert "运行入库" in figures.text  # no snapshot yet: it says how to get one
        assert took < 30, "the pages must not wait for the warehouse"  # a hang guard, not a speed target
    finally:
        holder.kill()
        holder.wait()


def test_a_failed_job_is_recorded_and_shown(tmp_path: Path) -> None:
    portal = make_portal(tmp_path)
    app = portal.app()
    with TestClient(app) as client:
        csrf = login(client, "office")
        started = client.post(
            "/office/jobs", data={"csrf_token": csrf, "kind": "close", "period": "2022"}, follow_redirects=False
        )
        assert started.status_code == 303
        app.state.runner.wait(timeout=120)
        job = client.get(started.headers["location"], headers={"Accept": "application/json"}).json()
        page = client.get(started.headers["location"]).text
    assert job["running"] is False and job["exit_code"] == 1
    assert "no warehouse" in job["output"] and "Traceback" not in job["output"]
    assert "失败" in page
    actions = [entry.action for entry in portal.store.audit_log()]
    assert "job_started" in actions and "job_finished" in actions


@pytest.mark.parametrize("period", ["2022Q5", "../2022", "1999x"])
def test_a_bad_period_is_one_line(tmp_path: Path, period: str) -> None:
    portal = make_portal(tmp_path)
    with TestClient(portal.app()) as client:
        csrf = login(client, "shiqiao.clerk")
        answer = upload(client, csrf, sample_bytes("shiqiao"), period=period)
        page = client.get(f"/unit?period={period}")
    assert answer.status_code == 400 and page.status_code == 400
    assert "统计期应写作" in answer.text
    assert csrf_of(page.text)
    assert not any((portal.raw_dir).rglob("*.xlsx"))


def test_the_pages_show_the_warehouse_after_a_run_and_a_close(tmp_path: Path, prefect_harness) -> None:
    from flows.ingest import ingest_period

    portal = make_portal(tmp_path)
    _others(portal.raw_dir / "2022")
    app = portal.app()
    with TestClient(app) as clerk, TestClient(app) as office:
        csrf = login(clerk, "shiqiao.clerk")
        location = upload(clerk, csrf, sample_bytes("shiqiao")).headers["location"]
        assert "待区总工会下次运行入库" in clerk.get(location).text
        ingest_period(period="2022", raw_dir=portal.raw_dir, warehouse=portal.warehouse)  # a run outside the portal
        assert "入库情况：已入库" in clerk.get(location).text
        history = clerk.get("/unit?period=2022").text
        assert '<td class="loaded">已入库</td>' in history

        office_csrf = login(office, "office")
        figures = office.get("/office/figures?period=2022")
        assert "66 / 66 项与已发布的报告一致" in figures.text
        dashboard = office.get("/office?period=2022").text
        row = dashboard.split('data-unit="shiqiao"', 1)[1].split("</tr>", 1)[0]
        assert "逾期" in row and "按时" not in row  # the upload is today, long after the 2022 due date
        assert row.count("通过") == 2  # the check's outcome and the warehouse's

        started = office.post(
            "/office/jobs", data={"csrf_token": office_csrf, "kind": "close", "period": "2022"}, follow_redirects=False
        )
        app.state.runner.wait(timeout=120)
        job = office.get(started.headers["location"], headers={"Accept": "application/json"}).json()
        assert job["exit_code"] == 0, job["output"]
        assert "已关账" in office.get("/office?period=2022").text
        assert 'id="closed"' in clerk.get("/unit?period=2022").text
        assert 'id="reopen"' in office.get("/office?period=2022").text


def test_a_password_reset_ends_the_sessions_and_a_restart_checks_again(tmp_path: Path) -> None:
    portal = make_portal(tmp_path)
    app = portal.app()
    with TestClient(app) as client:
        login(client, "shiqiao.clerk")
        assert client.get("/unit", follow_redirects=False).status_code == 200
        portal.store.reset("shiqiao.clerk", "a-new-password-42")
        assert client.get("/unit", follow_redirects=False).status_code == 303  # back to the login
    with TestClient(app) as client:  # the same app started again (its checking thread is made anew)
        csrf = login(client, "shiqiao.clerk", "a-new-password-42")
        assert upload(client, csrf, sample_bytes("shiqiao")).status_code == 303


def test_uploads_checked_together_are_checked_each_as_if_alone(tmp_path: Path) -> None:
    """Two units' files that pay the same person: checked together by `validate` they warn each other (the run
    will too); the portal's batch of uploads of one moment checks each as if alone, as `validate` of one file."""
    from defects import BENEFICIARIES, beneficiary_cell, beneficiary_row, set_detail

    shiqiao, dashi = copy_sample("shiqiao", tmp_path / "made"), copy_sample("dashi", tmp_path / "made")
    number = beneficiary_cell(shiqiao, "身份证号", beneficiary_row(shiqiao, "住院关爱"))
    set_detail(dashi, BENEFICIARIES, "身份证号", beneficiary_row(dashi, "住院关爱"), number)

    together = checking.check_files([shiqiao, dashi])
    assert all("cross_submission.same_person" in {f.rule for f in check.findings} for check in together)
    alone = [checking.check_files([path])[0] for path in (shiqiao, dashi)]
    independent = checking.check_files([shiqiao, dashi], independent=True)
    assert [(c.status, [f.rule for f in c.findings]) for c in independent] == [
        (c.status, [f.rule for f in c.findings]) for c in alone
    ]

    # through the portal: the two uploads wait together while the checking thread is busy, and are one batch
    portal = make_portal(tmp_path / "portal")
    app = portal.app()
    with TestClient(app):
        intake = app.state.intake
        clerk = {name: portal.store.get(name) for name in ("shiqiao.clerk", "dashi.clerk")}
        with intake.lock:  # the checking thread takes the first upload, then waits for the lock
            first = intake.enqueue(clerk["shiqiao.clerk"], "2022", "first.xlsx", sample_bytes("shiqiao"), "test")
            deadline = time.monotonic() + 30
            while intake.queue.qsize() and time.monotonic() < deadline:
                time.sleep(0.05)
            futures = [
                intake.enqueue(clerk[name], "2022", path.name, path.read_bytes(), "test")
                for name, path in (("shiqiao.clerk", shiqiao), ("dashi.clerk", dashi))
            ]
        assert first.result(timeout=120).status == "accepted"
        uploads = [future.result(timeout=120) for future in futures]
    assert [size for size, _ in intake.batches] == [1, 2]
    for made, check in zip(uploads, alone):
        assert made.status == check.status
        assert [f["rule"] for f in made.findings] == [f.rule for f in check.findings]

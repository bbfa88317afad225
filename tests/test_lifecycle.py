"""A period's life: reruns, resubmissions, a broken file among good ones, missing units, closing and reopening."""

from __future__ import annotations

import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from defects import indicator_value, set_indicator
from warehouse import query

from flows.ingest import ingest_period
from union_stats import cli, parse
from union_stats.paths import archive_dir_for

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _figure(warehouse: Path, figure_id: str) -> tuple:
    return query(warehouse, "select value, matches from report.district_figures where figure_id = ?", figure_id)[0]


def test_a_rerun_with_nothing_new_does_no_parsing(loaded_2022: Path, monkeypatch) -> None:
    raw_copy, warehouse = loaded_2022 / "raw", loaded_2022 / "wh" / "union_stats.duckdb"
    assert query(warehouse, "select count(*) from ops.ledger") == [(18,)]  # the first run loaded all 18

    def no_parsing(*args, **kwargs):
        raise AssertionError("a rerun with no new files must not parse")

    monkeypatch.setattr(parse, "parse_batch", no_parsing)
    second = ingest_period(period="2022", raw_dir=raw_copy, warehouse=warehouse)
    assert (second.processed, second.matched) == (0, 66)
    # the command answers from the ledger without starting a flow at all
    assert cli.main(["run", "--raw-dir", str(raw_copy), "--warehouse", str(warehouse)]) == 0
    # and, in a fresh process, without loading what it does not need (each costs start-up time)
    probe = (
        "import sys, io; from union_stats import cli; sys.stdout = io.StringIO(); "
        f"code = cli.main(['run', '--raw-dir', {str(raw_copy)!r}, '--warehouse', {str(warehouse)!r}]); "
        "sys.stdout = sys.__stdout__; "
        "print(code, sorted(m for m in ('prefect', 'great_expectations', 'polars', 'pandas') if m in sys.modules))"
    )
    answer = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert answer.stdout.split() == ["0", "[]"], answer.stdout + answer.stderr


def test_a_resubmission_supersedes_and_the_change_is_logged(loaded_2022: Path) -> None:
    raw_copy, warehouse = loaded_2022 / "raw", loaded_2022 / "wh" / "union_stats.duckdb"
    path = raw_copy / "2022" / "shiqiao_2022.xlsx"
    [(first_id,)] = query(warehouse, "select submission_id from ops.submissions where unit_code = 'shiqiao'")
    fairs_before = indicator_value(path, "job_fairs")
    f03_before = _figure(warehouse, "F03")[0]

    set_indicator(path, "job_fairs", fairs_before + 3)  # the town corrects its file and sends it again
    summary = ingest_period(period="2022", raw_dir=raw_copy, warehouse=warehouse)

    assert (summary.processed, summary.accepted) == (1, 1)
    rows = query(
        warehouse,
        "select submission_id, status, superseded_by from ops.submissions where unit_code = 'shiqiao' order by received_at",
    )
    [(old_id, old_status, superseded_by), (new_id, new_status, _)] = rows
    assert (old_id, old_status, superseded_by) == (first_id, "superseded", new_id)
    assert new_status == "accepted"
    assert _figure(warehouse, "F03")[0] == f03_before + 3

    changes = query(
        warehouse,
        "select indicator_code, old_value, new_value, old_submission_id, new_submission_id "
        "from marts.fct_indicator_value_change where unit_code = 'shiqiao'",
    )
    assert changes == [("job_fairs", Decimal(fairs_before), Decimal(fairs_before + 3), old_id, new_id)]
    # both versions of the file are archived by content, neither overwritten
    archived = sorted(p.name.split(".")[0] for p in archive_dir_for(warehouse).rglob("*.xlsx"))
    assert len(archived) == 19
    assert query(warehouse, "select count(*) from ops.ledger") == [(19,)]


def test_a_broken_file_is_rejected_and_the_good_ones_load(raw_copy: Path, tmp_path: Path) -> None:
    """A run over the 2022 sample plus one broken workbook: 18 load, figures 66/66, the broken one is reported."""
    warehouse = tmp_path / "w.duckdb"
    broken = raw_copy / "2022" / "shiqiao_2022(更正).xlsx"
    shutil.copy(raw_copy / "2022" / "shiqiao_2022.xlsx", broken)
    set_indicator(broken, "job_fairs", "约100")

    summary = ingest_period(period="2022", raw_dir=raw_copy, warehouse=warehouse)

    assert (summary.files, summary.accepted, summary.rejected, summary.matched) == (19, 18, 1, 66)
    [(status, errors)] = query(warehouse, "select status, errors from ops.submissions where file_name = ?", broken.name)
    assert (status, errors) == ("rejected", 1)
    [(cell, message)] = query(
        warehouse,
        "select sheet || '!' || cell, message from ops.findings where file_name = ? and severity = 'error'",
        broken.name,
    )
    assert cell.startswith("指标!D") and "约100" in message
    html = summary.report_dir / "shiqiao_2022(更正).report.html"
    annotated = summary.report_dir / "shiqiao_2022(更正).annotated.xlsx"
    assert cell in html.read_text(encoding="utf-8")
    sheet = openpyxl.load_workbook(annotated)["指标"]
    assert "约100" in sheet[cell.split("!")[1]].comment.text
    assert query(warehouse, "select count(*) from raw.indicator_values where file_name = ?", broken.name) == [(0,)]


def test_completeness_lists_a_missing_unit(raw_copy: Path, tmp_path: Path, capsys) -> None:
    warehouse = tmp_path / "w.duckdb"
    (raw_copy / "2022" / "xinzao_2022.xlsx").unlink()
    ingest_period(period="2022", raw_dir=raw_copy, warehouse=warehouse)

    rows = dict(query(warehouse, "select unit_code, status from report.submission_completeness where period = '2022'"))
    assert len(rows) == 18
    assert rows.pop("xinzao") == "missing"
    assert set(rows.values()) == {"accepted"}

    assert cli.main(["status", "--period", "2022", "--warehouse", str(warehouse)]) == 0
    output = capsys.readouterr().out
    assert (
        "17 / 18" in output and "xinzao" in output and "未报送" in output
    )  # status speaks Chinese (--lang en: missing)


def test_a_closed_period_keeps_new_files_but_does_not_load_them(loaded_2022: Path) -> None:
    raw_copy, warehouse = loaded_2022 / "raw", loaded_2022 / "wh" / "union_stats.duckdb"
    path = raw_copy / "2022" / "dashi_2022.xlsx"
    f03 = _figure(warehouse, "F03")
    assert cli.main(["close", "--period", "2022", "--warehouse", str(warehouse)]) == 0

    set_indicator(path, "job_fairs", lambda value: value + 7)
    summary = ingest_period(period="2022", raw_dir=raw_copy, warehouse=warehouse)
    assert (summary.processed, summary.held, summary.accepted) == (1, 1, 0)
    assert _figure(warehouse, "F03") == f03
    assert query(warehouse, "select count(*) from ops.submissions where status = 'held'") == [(1,)]
    assert query(warehouse, "select is_closed from marts.dim_period where period = '2022'") == [(True,)]

    assert cli.main(["reopen", "--period", "2022", "--warehouse", str(warehouse)]) == 0
    summary = ingest_period(period="2022", raw_dir=raw_copy, warehouse=warehouse)
    assert (summary.processed, summary.accepted) == (1, 1)
    assert _figure(warehouse, "F03")[0] == f03[0] + 7

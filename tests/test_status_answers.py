"""`union-stats status` leaves no file unseen: a rejected file whose cover names a unit the period does not expect
(an unknown code) has its own row, beside the 18 expected units. (A year answered from its quarters is in
test_quarterly.py, where the quarters are loaded.)"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from defects import unit_unknown

from union_stats import cli, pipeline
from union_stats.paths import RAW_DIR


@pytest.fixture(scope="module")
def with_a_stranger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2022 with the 18 samples and one more file whose cover says `shiqiao2`, a unit nobody registered."""
    base = tmp_path_factory.mktemp("stranger")
    shutil.copytree(RAW_DIR / "2022", base / "raw" / "2022")
    stranger = base / "raw" / "2022" / "stranger.xlsx"
    shutil.copyfile(RAW_DIR / "2022" / "shiqiao_2022.xlsx", stranger)
    unit_unknown(stranger)  # the cover's unit code, and the file's name, say shiqiao2
    path = base / "warehouse" / "union_stats.duckdb"
    result = pipeline.run_period("2022", base / "raw", path, parquet_dir=None)
    assert (result.summary.accepted, result.summary.rejected) == (18, 1)
    return path


def test_status_lists_a_rejected_file_whose_unit_is_unknown(
    with_a_stranger: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # a pipe: the table is printed whole
    assert cli.main(["status", "--period", "2022", "--warehouse", str(with_a_stranger)]) == 0
    out = capsys.readouterr().out
    assert "报送情况 2022：18 / 18 个单位已报送" in out  # the expected units, counted as before
    row = next(line for line in out.splitlines() if "shiqiao2" in line)
    assert "退回" in row  # its outcome, on its own row
    assert "（非本期应报单位）" in out and "shiqiao2_2022.xlsx" in out

    assert cli.main(["status", "--period", "2022", "--warehouse", str(with_a_stranger), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out.removeprefix("\ufeff"))))
    assert len(rows) == 19
    [stranger] = [row for row in rows if row["unit_code"] == "shiqiao2"]
    assert (stranger["outcome"], stranger["current_file"], stranger["errors"] > "0") == (
        "rejected",
        "shiqiao2_2022.xlsx",
        True,
    )

"""`union-stats explain`: every figure of 2022 explained, its contributions adding up, its cells found in the workbooks.

One real flow run over the shipped sample (module fixture); the explanations are read back from that warehouse,
and the cells they name are opened with openpyxl in the files the run read, so a wrong row or column shows.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from union_stats import explain
from union_stats.cli import main
from union_stats.reference import figures


@pytest.fixture(scope="module")
def sample(sample_2022_copy: Path) -> tuple[Path, Path]:
    """(warehouse, folder of the files it read): one flow run for the whole test session, which checks it accepted
    all 18 files; a copy for this module."""
    return sample_2022_copy / "wh" / "union_stats.duckdb", sample_2022_copy / "raw" / "2022"


@pytest.fixture(scope="module")
def warehouse(sample) -> Path:
    return sample[0]


def _district_values(warehouse: Path) -> dict[str, Decimal]:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        return dict(con.sql("select figure_id, value from report.district_figures where period = '2022'").fetchall())


def _json(warehouse: Path, figure_id: str, capsys) -> dict:
    code = main(["explain", figure_id, "--period", "2022", "--warehouse", str(warehouse), "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_every_figure_adds_up_to_its_value(warehouse: Path, capsys) -> None:
    values = _district_values(warehouse)
    assert len(values) == 66
    for figure in figures():
        answer = _json(warehouse, figure.figure_id, capsys)
        value = values[figure.figure_id]
        assert Decimal(str(answer["value"])) == value, figure.figure_id
        assert answer["indicators"], figure.figure_id
        contributions = answer["contributions"]
        if answer["additive"]:
            total = sum(Decimal(str(item["value"])) for item in contributions)
            assert total == value, figure.figure_id
            if value:
                assert sum(item["share"] for item in contributions) == pytest.approx(1, abs=1e-3), figure.figure_id
        else:
            assert figure.figure_id in {"F23", "F24"}
            assert len(answer["distinct_values"]) == value, figure.figure_id
            assert len(set(answer["distinct_values"])) == len(answer["distinct_values"])
        for item in contributions:
            assert item["file_name"].endswith(".xlsx") and item["sheet"], (figure.figure_id, item)
            # a unit whose detail sheet has no row for the figure contributes 0 and says so
            assert item["cells"] or item["rows"] or (item["value"] == 0 and "（0行）" in item["rows_zh"]), item


def _sheet(folder: Path, file_name: str, sheet: str):
    return openpyxl.load_workbook(folder / file_name, read_only=True, data_only=True)[sheet]


def _column_of(sheet, header: str) -> int:
    for cell in next(sheet.iter_rows(min_row=1, max_row=1)):
        if cell.value == header:
            return cell.column
    raise LookupError(header)


def test_indicator_sheet_cells_hold_the_values(sample) -> None:
    """F03 comes from each unit's 指标 row for job_fairs: the cell named holds the value, on that indicator's row."""
    warehouse, folder = sample
    answer = explain.explain(warehouse, "F03", "2022")
    assert len(answer.contributions) == 18
    for item in answer.contributions:
        [cell] = item.cells
        sheet_name, reference = cell.split("!")
        assert sheet_name == "指标"
        workbook = openpyxl.load_workbook(folder / item.file_name, data_only=True)
        sheet = workbook[sheet_name]
        assert Decimal(str(sheet[reference].value)) == item.value
        row = int(re.sub(r"^[A-Z]+", "", reference))
        assert sheet[f"A{row}"].value == "job_fairs"


def test_f02_points_at_the_district_office_refund_rows(sample) -> None:
    warehouse, folder = sample
    answer = explain.explain(warehouse, "F02", "2022")
    [item] = answer.contributions  # only the district office reports refunds
    assert (item.unit_code, item.file_name, item.sheet) == ("qu_benji", "qu_benji_2022.xlsx", "小微企业经费返还")
    workbook = openpyxl.load_workbook(folder / item.file_name, data_only=True)
    total = Decimal(0)
    for cell_range in item.cells:
        sheet_name, reference = cell_range.split("!")
        assert sheet_name == "小微企业经费返还"
        cells = workbook[sheet_name][reference]
        cells = cells if isinstance(cells, tuple) else ((cells,),)
        total += sum(Decimal(str(row[0].value)) for row in cells)
    column = _column_of(workbook[item.sheet], "返还金额（元）")
    assert {re.match(r"[A-Z]+", cell.split("!")[1]).group(0) for cell in item.cells} == {
        openpyxl.utils.get_column_letter(column)
    }
    assert total == item.value == 5329000


def test_f44_rows_are_settled_mediation_cases(sample) -> None:
    warehouse, folder = sample
    answer = explain.explain(warehouse, "F44", "2022")
    [item] = answer.contributions
    assert len(item.rows) == item.value == 603
    assert item.rows_zh.startswith("劳资纠纷案件 第") and item.rows_zh.endswith("（603行）")
    sheet = _sheet(folder, item.file_name, item.sheet)
    channel, outcome = _column_of(sheet, "处理渠道"), _column_of(sheet, "处理结果")
    rows = {number: row for number, row in enumerate(sheet.iter_rows(values_only=True), start=1)}
    assert {(rows[number][channel - 1], rows[number][outcome - 1]) for number in item.rows} == {
        ("三方联调中心调解", "调解成功")
    }
    settled = sum(
        1 for row in list(rows.values())[1:] if (row[channel - 1], row[outcome - 1]) == ("三方联调中心调解", "调解成功")
    )
    assert settled == 603  # no settled case of the sheet is left out


def test_distinct_count_lists_its_values(sample) -> None:
    warehouse, folder = sample
    answer = explain.explain(warehouse, "F23", "2022")
    assert not answer.additive and all(item.share is None for item in answer.contributions)
    [item] = answer.contributions
    sheet = _sheet(folder, item.file_name, item.sheet)
    topic = _column_of(sheet, "专题")
    topics = {row[topic - 1] for row in sheet.iter_rows(min_row=2, values_only=True) if row[topic - 1]}
    assert answer.distinct_values == sorted(topics)
    assert len(answer.distinct_values) == answer.value == 31


def test_table_names_the_definition_in_chinese(warehouse: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # as on CI: the table folds its cells, and cuts no file name short
    assert main(["explain", "F44", "--period", "2022", "--warehouse", str(warehouse)]) == 0
    out = capsys.readouterr().out
    for words in (
        "调解成功603宗",
        "处理渠道=三方联调中心调解、处理结果=调解成功",
        "区总工会本级",
        "劳资纠纷案件",
        "第190-192",
    ):
        assert words in out
    # the file column, read down its lines: the whole name, folded, never cut to an ellipsis
    table = [line.split("│") for line in out.splitlines() if line.startswith("│")]
    assert "".join(cells[4].strip() for cells in table if len(cells) > 4).startswith("qu_benji_2022.xlsx")
    assert main(["explain", "F23", "--period", "2022", "--warehouse", str(warehouse)]) == 0
    out = capsys.readouterr().out
    assert "全区共 31 个不同的值" in out and "工匠精神" in out


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["F99", "--period", "2022"], "unknown figure"),
        (["F01", "--period", "2023"], "no figures for period 2023"),
        (["F01", "--period", "2022Q7"], "is not a period"),
        (["F01", "--period", "2022", "--format", "xml"], "is not a format"),
    ],
)
def test_mistakes_are_one_line_exit_2(warehouse: Path, capsys, arguments: list[str], says: str) -> None:
    assert main(["explain", *arguments, "--warehouse", str(warehouse)]) == 2
    captured = capsys.readouterr()
    assert says in captured.err and len(captured.err.strip().splitlines()) == 1 and captured.out == ""


def test_missing_warehouse_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "none.duckdb"
    assert main(["explain", "F01", "--period", "2022", "--warehouse", str(missing)]) == 2
    captured = capsys.readouterr()
    assert "no warehouse" in captured.err and len(captured.err.strip().splitlines()) == 1
    assert not missing.exists()


def test_read_only_and_light(warehouse: Path, tmp_path: Path) -> None:
    """explain changes nothing (it works on a file nobody may write) and imports neither Prefect, GX nor pandas."""
    copy = tmp_path / "w.duckdb"
    shutil.copyfile(warehouse, copy)
    before = hashlib.sha256(copy.read_bytes()).hexdigest()
    copy.chmod(0o444)
    probe = (
        "import sys, json\n"
        "from union_stats.cli import main\n"
        f"code = main(['explain', 'F59', '--period', '2022', '--warehouse', {str(copy)!r}, '--format', 'json'])\n"
        "heavy = sorted(m for m in ('prefect', 'great_expectations', 'pandas', 'polars') if m in sys.modules)\n"
        "print(json.dumps({'code': code, 'heavy': heavy}), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env={**os.environ}, check=False, timeout=120
    )
    status = json.loads(result.stderr.strip().splitlines()[-1])
    assert status == {"code": 0, "heavy": []}, result.stderr
    answer = json.loads(result.stdout)
    assert sum(item["value"] for item in answer["contributions"]) == answer["value"] == 36034
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == before
    assert not (tmp_path / "w.duckdb.wal").exists()

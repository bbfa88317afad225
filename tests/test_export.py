"""`union-stats export`: every table and view of marts and report, as Parquet, CSV or one workbook; each relation's
rows read back with another reader (DuckDB, Polars, openpyxl) in the same number, and the warehouse untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest
from warehouse import query

from union_stats import cli
from union_stats.publish import export

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def warehouse(sample_2022_copy: Path) -> Path:
    """The 2022 sample, loaded by the flow (one run for the whole test session, a copy for this module)."""
    return sample_2022_copy / "wh" / "union_stats.duckdb"


def _counts(warehouse: Path) -> dict[str, int]:
    """Rows of each table and view of the analyst schemas, asked of the warehouse itself."""
    relations = query(
        warehouse,
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('marts', 'report') order by all",
    )
    return {
        f"{schema}.{name}": query(warehouse, f'select count(*) from "{schema}"."{name}"')[0][0]
        for schema, name in relations
    }


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _export(warehouse: Path, fmt: str, out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    before = _digest(warehouse)
    assert cli.main(["export", "--format", fmt, "--out", str(out), "--warehouse", str(warehouse)]) == 0
    assert _digest(warehouse) == before  # read-only: not a byte of the warehouse changed
    printed = capsys.readouterr()
    assert printed.err == ""
    return printed.out


def test_parquet_round_trips_with_duckdb(warehouse: Path, tmp_path: Path, capsys) -> None:
    expected = _counts(warehouse)
    assert "report.district_figures" in expected and "report.target_progress_by_period" in expected
    out = tmp_path / "parquet"
    printed = _export(warehouse, "parquet", out, capsys)

    assert sorted(path.name for path in out.iterdir()) == sorted(f"{name}.parquet" for name in expected)
    with duckdb.connect() as con:
        read = {
            name: con.execute(f"select count(*) from read_parquet('{out / (name + '.parquet')}')").fetchone()[0]
            for name in expected
        }
    assert read == expected
    assert f"exported {len(expected)} relations" in printed and f"({sum(expected.values()):,} rows)" in printed
    # the values come through, not just the row counts: the 2022 figures still match the report
    with duckdb.connect() as con:
        assert con.execute(
            f"select count(*) filter (where matches) from read_parquet('{out / 'report.district_figures.parquet'}')"
        ).fetchone() == (66,)


def test_csv_round_trips_with_polars(warehouse: Path, tmp_path: Path, capsys) -> None:
    expected = _counts(warehouse)
    out = tmp_path / "csv"
    out.mkdir()  # an empty folder is taken as well as a new one
    _export(warehouse, "csv", out, capsys)

    assert {path.name for path in out.iterdir()} == {f"{name}.csv" for name in expected}
    read = {name: pl.read_csv(out / f"{name}.csv", infer_schema=False, encoding="utf8").height for name in expected}
    assert read == expected
    units = pl.read_csv(out / "marts.dim_unit.csv", infer_schema=False)
    assert "市桥街总工会" in units["name_zh"].to_list()  # UTF-8, Chinese intact
    # each file starts with the byte order mark, so that Excel reads it as UTF-8 (readers skip it)
    assert all(path.read_bytes().startswith(b"\xef\xbb\xbf") for path in out.iterdir())
    assert units.columns[0] == "unit_code"


def test_xlsx_has_a_sheet_per_relation_and_an_index(warehouse: Path, tmp_path: Path, capsys) -> None:
    expected = _counts(warehouse)
    out = tmp_path / "xlsx"
    printed = _export(warehouse, "xlsx", out, capsys)

    assert [path.name for path in out.iterdir()] == [export.WORKBOOK] and export.WORKBOOK in printed
    workbook = openpyxl.load_workbook(out / export.WORKBOOK, read_only=True)
    assert workbook.sheetnames[0] == export.INDEX_SHEET
    assert all(len(name) <= 31 for name in workbook.sheetnames)
    assert len(set(name.lower() for name in workbook.sheetnames)) == len(workbook.sheetnames)
    index = list(workbook[export.INDEX_SHEET].iter_rows(min_row=2, max_col=4, values_only=True))
    listed = {relation: (sheet, rows) for sheet, relation, _, rows in index if relation}
    assert set(listed) == set(expected)
    assert any(len(name) > 31 for name in expected)  # some names had to be mapped
    for relation, (sheet, rows) in listed.items():
        data = list(workbook[sheet].iter_rows(values_only=True))
        assert rows == expected[relation] == len(data) - 1, relation  # the header, then one row per row
    figures = list(workbook[listed["report.district_figures"][0]].iter_rows(values_only=True))
    header = figures[0]
    assert sum(row[header.index("matches")] is True for row in figures[1:]) == 66


def test_a_folder_with_files_is_refused_in_one_line(warehouse: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "used"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    code = cli.main(["export", "--format", "csv", "--out", str(out), "--warehouse", str(warehouse)])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "not empty" in err
    assert [path.name for path in out.iterdir()] == ["notes.txt"]
    assert [path.name for path in tmp_path.iterdir()] == ["used"]  # no staging folder left behind


@pytest.mark.parametrize(
    ("arguments", "code", "says"),
    [
        (["--format", "json", "--out", "x"], 2, "--format"),
        (["--out", "x"], 2, "--format"),
        (["--format", "csv"], 2, "--out"),
        (["--format", "csv", "--out", "nowhere/x"], 1, "no folder"),
        (["--format", "csv", "--out", "x", "--warehouse", "missing.duckdb"], 1, "run `union-stats run` first"),
    ],
)
def test_mistakes_are_one_line(arguments: list[str], code: int, says: str, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["export", *arguments]) == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and says in err
    assert list(tmp_path.iterdir()) == []


def test_long_names_get_unique_sheet_names() -> None:
    names = export.sheet_names(
        ["report.target_progress_by_period", "report.target_progress_by_period_2", "marts.dim_unit", "x" * 40]
    )
    assert names["marts.dim_unit"] == "marts.dim_unit"
    assert all(len(name) <= 31 for name in names.values())
    assert len({name.lower() for name in names.values()}) == 4

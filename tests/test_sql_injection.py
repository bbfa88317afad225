"""SQL text in a submission (or in a path) is data, never SQL: the whole pipeline on hostile workbooks.

A copy of the shipped 2022 sample, with:

- shiqiao's workbook renamed `shiqiao_2022 x'); drop table ops.submission_log; -- "q" \\.xlsx`, its cover's
  填报人, its 备注 cells and detail cells (an enterprise name, case numbers) holding SQL quotes, semicolons,
  `"` and `\\`, and an extra sheet named `x'); drop table ops.runs; --`: it is still accepted, and feeds the
  figures;
- a second dashi workbook (named with SQL as well) whose cover unit code and period are SQL and whose
  新建工会企业 sheet is renamed `新建工会企业'; drop table raw.x;--`: rejected (its findings quote the code and period);
- the raw folder, the warehouse's folder and the Parquet folder all named with SQL too.

The run (the real flow) completes, every table is there with its rows, the hostile text is stored verbatim where
it belongs, the 66 figures still match, the Parquet copy publishes, and `union-stats sql` reads it all back.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import duckdb
import pytest
from defects import COVER, ENTERPRISES, INDICATORS, cover_row, editing, header_column, indicator_row
from warehouse import query

from flows.ingest import ingest_period
from union_stats import cli
from union_stats.paths import RAW_DIR
from union_stats.pseudonym import mask_name
from union_stats.publish import parquet

pytestmark = pytest.mark.usefixtures("prefect_harness")

DROP_LOG = "x'); drop table ops.submission_log; --"
DELETE_VALUES = "'; delete from raw.indicator_values; select '"
QUOTES = 'say "hi" \\ back\\slash; --'
SHIQIAO_FILE = f'shiqiao_2022 {DROP_LOG} "q" \\.xlsx'
DASHI_FILE = "dashi_2022 '; delete from raw.indicator_values; select 'x.xlsx"
EXTRA_SHEET = "x'); drop table ops.runs; --"  # 28 characters: a sheet name has at most 31, and no []:*?/\
RENAMED_SHEET = f"{ENTERPRISES}'; drop table raw.x;--"
CONTACT = f"张三{DROP_LOG}"
CASES = "劳资纠纷案件"
# the 备注 of three indicator rows
REMARKS = {"job_fairs": DELETE_VALUES, "employment_services": QUOTES, "new_members": DROP_LOG}
ENTERPRISE = f'番禺样例"{DROP_LOG}"有限公司（虚构）'
CASE_NUMBERS = ("PY2022-GH-0008'; drop table marts.fct_dispute_case; --", 'PY2022-GH-0009"\\;')


def _make_shiqiao(folder: Path) -> Path:
    path = folder / "shiqiao_2022.xlsx"
    with editing(path) as book:
        cover = book[COVER]
        cover[f"B{cover_row(cover, '填报人')}"].value = CONTACT
        sheet = book[INDICATORS]
        remark = header_column(sheet, "备注")
        for code, text in REMARKS.items():
            sheet[f"{remark}{indicator_row(sheet, code)}"].value = text
        enterprises = book[ENTERPRISES]
        enterprises[f"{header_column(enterprises, '企业名称')}2"].value = ENTERPRISE
        cases = book[CASES]
        for row, number in enumerate(CASE_NUMBERS, start=2):
            cases[f"{header_column(cases, '案件编号')}{row}"].value = number
        extra = book.create_sheet(EXTRA_SHEET)
        extra["A1"], extra["B1"] = DELETE_VALUES, QUOTES
    return path.rename(folder / SHIQIAO_FILE)


def _make_dashi_copy(folder: Path) -> Path:
    path = folder / DASHI_FILE
    shutil.copyfile(folder / "dashi_2022.xlsx", path)
    with editing(path) as book:
        cover = book[COVER]
        cover[f"B{cover_row(cover, '单位代码')}"].value = "dashi'; drop table ref.units; --"
        cover[f"B{cover_row(cover, '统计期')}"].value = "2022'); drop table ops.runs; --"
        book[ENTERPRISES].title = RENAMED_SHEET
    return path


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("injection")
    raw = base / "raw x'); drop table ops.runs; --"
    shutil.copytree(RAW_DIR / "2022", raw / "2022")
    _make_shiqiao(raw / "2022")
    _make_dashi_copy(raw / "2022")
    warehouse = base / "wh '; drop table ops.ledger; -- \"" / "union_stats.duckdb"
    summary = ingest_period(period="2022", raw_dir=raw, warehouse=warehouse)
    return {"base": base, "raw": raw, "warehouse": warehouse, "summary": summary}


def test_the_run_completes_with_its_outcomes(ran: dict) -> None:
    summary = ran["summary"]
    assert (summary.files, summary.accepted, summary.rejected) == (19, 18, 1)
    assert [name for name, _ in summary.rejected_files] == [DASHI_FILE]
    assert query(ran["warehouse"], "select status, message from ops.runs") == [("succeeded", "")]


def test_every_table_is_there_with_its_rows(ran: dict) -> None:
    counts = {
        table: query(ran["warehouse"], f"select count(*) from {table}")[0][0]  # our own table names
        for table in (
            "ops.submission_log",
            "ops.ledger",
            "ops.runs",
            "ops.findings_log",
            "ops.sheet_layouts",
            "raw.indicator_values",
            "raw.enterprises_unionised",
            "raw.dispute_cases",
            "ref.units",
            "marts.fct_indicator_value",
            "marts.fct_dispute_case",
            "report.district_figures",
        )
    }
    assert counts["ops.submission_log"] == counts["ops.ledger"] == 19
    assert counts["ops.runs"] == 1
    assert counts["report.district_figures"] == 66
    assert all(counts.values()), counts
    accepted = query(ran["warehouse"], "select count(distinct submission_id) from raw.indicator_values")
    assert accepted == [(18,)]


def test_the_hostile_text_is_stored_verbatim(ran: dict) -> None:
    warehouse = ran["warehouse"]
    assert query(
        warehouse, "select status, contact_name from ops.submission_log where file_name = ?", SHIQIAO_FILE
    ) == [("accepted", mask_name(CONTACT))]  # the clerk's name is kept masked: its first character only
    assert query(warehouse, "select file_name from ops.ledger where file_name = ?", SHIQIAO_FILE) == [(SHIQIAO_FILE,)]
    remarks = query(
        warehouse,
        "select indicator_code, remark from raw.indicator_values where file_name = ? and remark is not null",
        SHIQIAO_FILE,
    )
    assert dict(remarks) == REMARKS
    assert query(warehouse, "select count(*) from raw.enterprises_unionised where enterprise_name = ?", ENTERPRISE) == [
        (1,)
    ]
    cases = query(warehouse, "select case_no from marts.fct_dispute_case where file_name = ?", SHIQIAO_FILE)
    assert set(CASE_NUMBERS) <= {case for (case,) in cases}
    assert query(warehouse, "select status from ops.submission_log where file_name = ?", DASHI_FILE) == [("rejected",)]
    values = {
        value for (value,) in query(warehouse, "select value from ops.findings_log where file_name = ?", DASHI_FILE)
    }
    assert "dashi'; drop table ref.units; --" in values  # the cover's unit code, quoted by its finding
    assert "2022'); drop table ops.runs; --".upper() in values  # its period (a period is read upper-cased)


def test_the_66_figures_still_match(ran: dict) -> None:
    assert ran["summary"].matched == 66
    rows = query(ran["warehouse"], "select count(*), count(*) filter (matches) from report.district_figures")
    assert rows == [(66, 66)]


def test_the_parquet_copy_publishes_into_a_folder_named_with_sql(ran: dict) -> None:
    target = ran["base"] / "parquet x'); drop table ops.runs; --"
    published = parquet.publish(ran["warehouse"], target)

    assert published.relations > 0
    with duckdb.connect() as con:
        rows = con.execute(
            "select count(*) from read_parquet(?, hive_partitioning = true)",
            [str(target / "report" / "district_figures" / "*" / "*.parquet")],
        ).fetchall()
    assert rows == [(66,)]


def test_an_analyst_reads_it_all_back_through_union_stats_sql(ran: dict, capsys: pytest.CaptureFixture[str]) -> None:
    """Every relation of a real warehouse answers through the locked-down connection (no view needs an extension
    or a file), and the hostile text comes out as it went in."""
    warehouse = str(ran["warehouse"])
    relations = query(
        ran["warehouse"],
        "select table_schema, table_name from information_schema.tables where table_catalog = current_database()",
    )
    assert len(relations) > 30
    for schema, name in relations:
        statement = f'select count(*) as n from "{schema}"."{name}"'  # names from the warehouse's own catalog
        assert cli.main(["sql", "--warehouse", warehouse, "--format", "json", statement]) == 0, (schema, name)
        printed = capsys.readouterr()
        assert printed.err == "" and json.loads(printed.out) == [{"n": query(ran["warehouse"], statement)[0][0]}]

    statement = (
        "select file_name, contact_name from ops.submission_log where unit_code = 'shiqiao' and status = 'accepted'"
    )
    assert cli.main(["sql", "--warehouse", warehouse, "--format", "json", statement]) == 0
    assert json.loads(capsys.readouterr().out) == [{"file_name": SHIQIAO_FILE, "contact_name": mask_name(CONTACT)}]
    assert (
        cli.main(["sql", "--warehouse", warehouse, "--format", "csv", "select remark from raw.indicator_values"]) == 0
    )
    remarks = {row[0] for row in csv.reader(io.StringIO(capsys.readouterr().out))}
    assert set(REMARKS.values()) <= remarks

"""Numbers are read, checked and stored as the clerk typed them, at any size a report can hold.

fastexcel prints a number cell with nine decimals (53,660,220.13 -> `53660220.130000003`): above 2**23 yuan
every amount with cents used to break the "at most two decimals" rule. These tests write numbers the way
office programs store them (IEEE doubles) and check what comes out of the reader, the rules and the warehouse.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import fastexcel
import openpyxl
import pytest
import xlsxwriter
from defects import CASES, copy_sample, editing, header_column, set_indicator
from hypothesis import given, settings
from hypothesis import strategies as st
from warehouse import query

from union_stats import checking, parse, reference

ABOVE_2_23 = Decimal("53660220.13")  # the size of the report's own F43 (55.03 million yuan), with cents


def _read_back(values: list[float], cell_format: dict | None = None) -> list[str | None]:
    """Write numbers into a fresh workbook's column A, read them back as a run does, normalised as money."""
    import io

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet("s")
    style = workbook.add_format(cell_format) if cell_format else None
    for row, value in enumerate(values):
        sheet.write_number(row, 0, value, style)
    workbook.close()
    reader = fastexcel.read_excel(buffer.getvalue())
    rows = parse.sheet_rows(reader, "s")
    return [parse.normalise_cell(row[0], "money") for row in rows]


@settings(max_examples=60, derandomize=True, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=99_999_999_999), min_size=1, max_size=40))
def test_every_amount_in_cents_up_to_a_billion_reads_back_exactly(cents: list[int]) -> None:
    amounts = [Decimal(c) / 100 for c in cents]
    read = _read_back([float(amount) for amount in amounts])
    assert [Decimal(text) for text in read] == amounts
    assert all(len(text.partition(".")[2]) <= 2 for text in read)


@pytest.mark.parametrize(
    "typed, expected",
    [
        (0.0, "0"),
        (0.01, "0.01"),
        (8_388_608.13, "8388608.13"),  # 2**23 with cents: the first amount the old reader misread
        (53_660_220.13, "53660220.13"),
        (999_999_999.99, "999999999.99"),
        (16_500_000.0, "16500000"),
        (1234.5, "1234.5"),
        (1e20, "100000000000000000000"),
    ],
)
def test_a_number_cell_reads_as_the_number_typed(typed: float, expected: str) -> None:
    assert _read_back([typed]) == [expected]


def test_text_the_reader_could_not_have_printed_is_kept_as_typed() -> None:
    assert parse.reader_number_text("12.5000000001") == "12.5000000001"
    assert parse.reader_number_text("1,234") == "1,234"
    assert parse.normalise_cell("１２", "integer") == "12"


def test_a_date_handed_over_as_a_serial_number_is_a_date() -> None:
    assert parse.normalise_cell("44625", "date") == "2022-03-05"
    assert parse.normalise_cell("44625.75", "date") == "2022-03-05"
    assert parse.normalise_cell("2022", "date") == "2022"  # a year typed in a date cell is no date: a finding
    assert parse.normalise_cell("44625", "integer") == "44625"


def test_a_date_in_a_format_the_reader_does_not_know_is_still_a_date(tmp_path: Path) -> None:
    """A date cell with a number format calamine does not recognise comes as its serial; it must still check."""
    path = copy_sample("shiqiao", tmp_path)
    with editing(path) as workbook:
        sheet = workbook["新建工会企业"]
        column = header_column(sheet, "工会成立日期")
        sheet[f"{column}2"].value = 44625  # 2022-03-05 as Excel stores it
        sheet[f"{column}2"].number_format = "[$-zh-CN,13]yyyy\\年m\\月d\\日;@"
    [result] = checking.check_files([path])
    assert result.status == "accepted", [f.message for f in result.findings]


def _mediation_cases(path: Path) -> tuple[str, list[int]]:
    """The column of 诉求金额 and the rows of the district office's mediation cases."""
    sheet = openpyxl.load_workbook(path)[CASES]
    channel = header_column(sheet, "处理渠道")
    rows = [cell.row for cell in sheet[channel][1:] if cell.value == "三方联调中心调解"]
    return header_column(sheet, "诉求金额（元）"), rows


def _give_amount_above_2_23(path: Path) -> tuple[str, Decimal]:
    """One mediation case claims 53,660,220.13 yuan; the indicator row it feeds is corrected to match."""
    column, rows = _mediation_cases(path)
    with editing(path) as workbook:
        sheet = workbook[CASES]
        sheet[f"{column}{rows[0]}"].value = float(ABOVE_2_23)
        total = sum(Decimal(str(sheet[f"{column}{row}"].value)) for row in rows)
    set_indicator(path, "mediation_amount", float(total))
    return f"{column}{rows[0]}", total


def test_an_amount_above_2_23_with_cents_passes_the_self_check(tmp_path: Path) -> None:
    path = copy_sample("qu_benji", tmp_path)
    _give_amount_above_2_23(path)
    [result] = checking.check_files([path])
    assert result.status == "accepted", [f.message for f in result.findings]


@pytest.mark.usefixtures("prefect_harness")
def test_an_amount_above_2_23_with_cents_is_stored_to_the_cent(raw_copy: Path, tmp_path: Path) -> None:
    from flows.ingest import ingest_period

    path = raw_copy / "2022" / "qu_benji_2022.xlsx"
    cell, total = _give_amount_above_2_23(path)
    set_indicator(path, "education_subsidy_amount", 98_765_432.19)  # an indicator-sheet amount, too
    warehouse = tmp_path / "w.duckdb"

    summary = ingest_period(period="2022", raw_dir=raw_copy, warehouse=warehouse)

    assert summary.rejected == 0, summary.rejected_files
    row = int(cell.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    assert query(
        warehouse,
        "select amount_claimed_yuan from marts.fct_dispute_case where unit_code = 'qu_benji' and source_row = ?",
        row,
    ) == [(ABOVE_2_23,)]
    values = dict(
        query(
            warehouse,
            "select indicator_code, value from marts.fct_indicator_value where unit_code = 'qu_benji' "
            "and indicator_code in ('mediation_amount', 'education_subsidy_amount')",
        )
    )
    assert values == {"mediation_amount": total, "education_subsidy_amount": Decimal("98765432.19")}
    assert reference.indicators()  # the catalog still loads with the template's new column attributes

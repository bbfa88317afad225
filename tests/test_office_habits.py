"""Correct office habits pass, and a run over such files loads exactly what a person sees in Excel.

The habits are defects of `defects.py` whose expected outcome is a clean pass (each checked on its own by
test_validation_rules); here they are applied together to the shipped 2022 files and run through the flow: the
values in the warehouse are those Excel shows, to the cent and the day.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from defects import CASES, DEFECTS, lawyer_panel_rows
from warehouse import query

HABITS = (
    "cover_name_written_in_full",
    "cover_period_written_with_nian",
    "date_with_a_time_of_day",
    "empty_extra_sheets",
    "indicator_summed_with_binary_noise",
)


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_over_files_with_office_habits_loads_what_excel_shows(raw_copy: Path, tmp_path: Path) -> None:
    from flows.ingest import ingest_period

    folder = raw_copy / "2022"
    qu_benji = folder / "qu_benji_2022.xlsx"
    _, amount, rows = lawyer_panel_rows(qu_benji)
    before = Decimal(str(openpyxl.load_workbook(qu_benji)[CASES][f"{amount}{rows[0]}"].value))
    for name in HABITS:
        DEFECTS[name].apply(folder / f"{DEFECTS[name].unit}_2022.xlsx")
    warehouse = tmp_path / "w.duckdb"

    summary = ingest_period(period="2022", raw_dir=raw_copy, warehouse=warehouse)

    assert summary.rejected == 0, summary.rejected_files
    # the SUMIFS cached 16500098.379999993; Excel shows 16500098.38, the cases add up to it
    assert query(
        warehouse,
        "select value from marts.fct_indicator_value "
        "where unit_code = 'qu_benji' and indicator_code = 'lawyer_panel_claimed'",
    ) == [(Decimal("16500098.38"),)]
    assert query(
        warehouse,
        "select amount_claimed_yuan from marts.fct_dispute_case where unit_code = 'qu_benji' and source_row = ?",
        rows[0],
    ) == [(before + Decimal("98.38"),)]
    # a date entered with a time of day is that date
    assert query(
        warehouse,
        "select founded_on from marts.fct_enterprise_unionised where unit_code = 'shiqiao' and source_row = 2",
    ) == [(date(2022, 1, 6),)]
    # the cover's 2022年 is the period 2022, and the unit's full name is kept as written
    assert query(
        warehouse,
        "select period, unit_name from ops.submission_log where unit_code = 'shiqiao' and status = 'accepted'",
    ) == [("2022", "番禺区市桥街道总工会")]
    matched = query(warehouse, "select count(*) from report.district_figures where matches")
    assert matched == [(66,)]

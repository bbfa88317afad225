"""Distinct counts (F23 专题, F24 内容): over which units and rows they are taken, on data where the choice matters.

The catalog says it (reference/indicators.csv: reported_by, measure, measure_field, distinct_within): the rows of
the 培训课程 sheet in the current accepted files of the units that report the indicator (the district office), a
value counted once over the district however often it is taught, a content told apart within its topic, and values
compared without their spaces.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from defects import INDICATORS, editing, indicator_row
from warehouse import query

TRAINING = "培训课程"


def _add_courses(path: Path, courses: list[tuple[str, str, float]]) -> None:
    with editing(path) as workbook:
        sheet = workbook[TRAINING]
        for topic, module, hours in courses:
            sheet.append([topic, module, hours])


def _set_indicator(path: Path, code: str, value: int) -> None:
    with editing(path) as workbook:
        sheet = workbook[INDICATORS]
        sheet[f"D{indicator_row(sheet, code)}"].value = value


@pytest.mark.usefixtures("prefect_harness")
def test_distinct_counts_are_taken_over_the_reporting_units_rows_within_their_topic(
    raw_copy: Path, tmp_path: Path
) -> None:
    from flows.ingest import ingest_period
    from union_stats.explain import explain

    folder = raw_copy / "2022"
    office = folder / "qu_benji_2022.xlsx"
    rows = list(openpyxl.load_workbook(office)[TRAINING].iter_rows(min_row=2, values_only=True))
    topic, module, _ = rows[0]
    other_topic = next(row[0] for row in rows if row[0] != topic)
    _add_courses(
        office,
        [
            (topic, "案例分析（新）", 2),  # a new content under an existing topic: +1 content
            (other_topic, "案例分析（新）", 2),  # the same words under another topic: another content, +1
            (topic, module, 1.5),  # the same course taught again: counted once
            (f" {topic} ", module.replace("·", " · "), 1),  # the same, typed with spaces: counted once
        ],
    )
    _set_indicator(office, "training_modules", 137)  # the office's own row agrees with its sheet
    # a town's file carrying training courses moves neither figure: the district office reports them
    _add_courses(folder / "shiqiao_2022.xlsx", [("镇街自办专题", "镇街自办内容", 3)])
    warehouse = tmp_path / "w.duckdb"

    summary = ingest_period(period="2022", raw_dir=raw_copy, warehouse=warehouse)

    assert summary.rejected == 0, summary.rejected_files
    reproduced = dict(
        query(
            warehouse,
            "select figure_id, value from report.district_figures "
            "where period = '2022' and figure_id in ('F23', 'F24')",
        )
    )
    assert reproduced == {"F23": 31, "F24": 137}
    values = set(explain(warehouse, "F24", "2022").distinct_values)
    assert f"{topic} / 案例分析（新）" in values and f"{other_topic} / 案例分析（新）" in values
    assert not any("镇街自办" in value for value in values)

"""Figures that say what they rest on: for each figure, the units of its reporting group expected for the period,
how many sent a file, how many have an accepted one, and whether that is all of them. A figure nobody fed is 0,
never NULL, and a unit of a kind that does not report an indicator never moves its figure.

Each scenario is one real flow into its own DuckDB file, shared by the assertions of the scenario.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from warehouse import query

from flows.ingest import ingest_period
from union_stats import warehouse as warehouse_db
from union_stats.paths import RAW_DIR
from union_stats.reference import indicators

pytestmark = pytest.mark.usefixtures("prefect_harness")

COLUMNS = (
    "figure_id",
    "value",
    "reproduced",
    "matches",
    "units_expected",
    "units_submitted",
    "units_accepted",
    "complete",
)
# which reporting group (indicators.csv reported_by) each figure rests on
GROUP = {indicator.figure_id: indicator.reported_by for indicator in indicators() if indicator.figure_id}
NEW_TOPIC = ("全新专题：不该计入", "全新专题：不该计入·内容", 2)


def _figures(warehouse: Path) -> dict[str, dict]:
    rows = query(
        warehouse, f"select {', '.join(COLUMNS)} from report.district_figures where period = '2022' order by figure_id"
    )
    return {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in rows}


def _ingest(raw_dir: Path, warehouse: Path) -> dict[str, dict]:
    ingest_period(period="2022", raw_dir=raw_dir, warehouse=warehouse)
    return _figures(warehouse)


def _copy(tmp_path_factory: pytest.TempPathFactory, name: str) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp(name)
    shutil.copytree(RAW_DIR / "2022", root / "raw" / "2022")
    return root / "raw", root / "w.duckdb"


def _add_course(path: Path, row: tuple) -> None:
    workbook = openpyxl.load_workbook(path)
    workbook["培训课程"].append(list(row))
    workbook.save(path)


@pytest.fixture(scope="module")
def full(sample_2022_copy: Path) -> tuple[Path, dict[str, dict]]:
    """The shipped sample as it is: one flow run for the whole test session, a copy for this module."""
    warehouse = sample_2022_copy / "wh" / "union_stats.duckdb"
    return warehouse, _figures(warehouse)


@pytest.fixture(scope="module")
def town_missing(prefect_harness, tmp_path_factory) -> dict[str, dict]:
    raw, warehouse = _copy(tmp_path_factory, "town_missing")
    (raw / "2022" / "xinzao_2022.xlsx").unlink()
    return _ingest(raw, warehouse)


@pytest.fixture(scope="module")
def office_missing(prefect_harness, tmp_path_factory) -> dict[str, dict]:
    raw, warehouse = _copy(tmp_path_factory, "office_missing")
    (raw / "2022" / "qu_benji_2022.xlsx").unlink()
    return _ingest(raw, warehouse)


@pytest.fixture(scope="module")
def stray_courses(prefect_harness, tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """A town and the education union each add a course with a topic the district office never offered."""
    raw, warehouse = _copy(tmp_path_factory, "stray_courses")
    for unit in ("shiqiao", "qu_jiaoyu"):
        _add_course(raw / "2022" / f"{unit}_2022.xlsx", NEW_TOPIC)
    return warehouse, _ingest(raw, warehouse)


def test_the_training_figures_are_reported_by_the_district_office_only() -> None:
    # the stray-courses scenario relies on it: towns and the education union do not report F23/F24
    assert GROUP["F23"] == GROUP["F24"] == "district_office"


def test_full_sample_every_figure_complete(full) -> None:
    warehouse, figures = full
    assert len(figures) == 66
    assert all(figure["matches"] for figure in figures.values())
    assert all(figure["complete"] for figure in figures.values())
    expected_size = {"all": 18, "towns": 16, "district_office": 1, "education_union": 1}
    for figure_id, figure in figures.items():
        size = expected_size[GROUP[figure_id]]
        assert (figure["units_expected"], figure["units_submitted"], figure["units_accepted"]) == (size,) * 3, figure_id
    all_figures = [figure for figure_id, figure in figures.items() if GROUP[figure_id] == "all"]
    assert all_figures and all(
        (figure["units_accepted"], figure["units_expected"]) == (18, 18) for figure in all_figures
    )
    # the reading functions carry the new fields
    rows = warehouse_db.read_district_figures(warehouse, "2022")
    assert len(rows) == 66 and all(row.complete and row.units_accepted == row.units_expected for row in rows)


def test_a_missing_town_makes_the_town_figures_incomplete(town_missing, full) -> None:
    _, complete = full
    for figure_id, figure in town_missing.items():
        group = GROUP[figure_id]
        if group in ("towns", "all"):
            assert not figure["complete"], figure_id
            assert figure["units_accepted"] == figure["units_submitted"] == figure["units_expected"] - 1, figure_id
            assert figure["units_expected"] == complete[figure_id]["units_expected"]
        else:
            assert figure["complete"], figure_id
            assert figure["value"] == complete[figure_id]["value"], figure_id


def test_a_missing_office_gives_zero_not_null(office_missing) -> None:
    office = [figure for figure_id, figure in office_missing.items() if GROUP[figure_id] == "district_office"]
    assert len(office) > 30
    for figure in office:
        assert figure["value"] == 0, figure["figure_id"]
        assert not figure["complete"] and (figure["units_expected"], figure["units_accepted"]) == (1, 0)
        assert figure["reproduced"] is not None and figure["reproduced"].lstrip("超过约").startswith("0")
    others = [
        figure for figure_id, figure in office_missing.items() if GROUP[figure_id] in ("towns", "education_union")
    ]
    assert others and all(figure["complete"] for figure in others)


def test_courses_from_units_that_do_not_report_them_move_nothing(stray_courses, full) -> None:
    warehouse, figures = stray_courses
    _, complete = full
    # the files were accepted (the rows are kept, with their lineage), but F23/F24 do not move
    statuses = dict(
        query(warehouse, "select unit_code, status from ops.submissions where unit_code in ('shiqiao', 'qu_jiaoyu')")
    )
    assert set(statuses.values()) <= {"accepted", "accepted_with_warnings"}
    assert query(warehouse, "select count(*) from raw.training_courses where topic = ?", NEW_TOPIC[0]) == [(2,)]
    for figure_id in ("F23", "F24"):
        assert (
            figures[figure_id]["value"] == complete[figure_id]["value"] == Decimal({"F23": 31, "F24": 135}[figure_id])
        )
        assert figures[figure_id]["matches"] and figures[figure_id]["complete"]
    assert query(
        warehouse, "select count(*) from marts.int_indicator_detail_rows where measure_value like '全新专题%'"
    ) == [(0,)]
    assert sum(figure["matches"] for figure in figures.values()) == 66


@pytest.mark.parametrize("scenario", ["full", "town_missing", "office_missing", "stray_courses"])
def test_no_figure_is_ever_null(scenario, request) -> None:
    result = request.getfixturevalue(scenario)
    figures = result[1] if isinstance(result, tuple) else result
    assert len(figures) == 66
    for figure in figures.values():
        assert None not in figure.values(), figure

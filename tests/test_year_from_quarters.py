"""`union-stats report --period YEAR` for a year the warehouse holds only as quarters (no annual return loaded).

The four quarters of 2022 are written by `union-stats sample`'s `write_year`, then a few of their workbooks are
given values far from the sample's (tens of millions with cents, zeros, a 是/否 flag that changes in Q4, a training
topic taught again in a later quarter) with the openpyxl helpers of `defects.py`. One warehouse is loaded with Q1..Q3
(copied aside: the incomplete year), then Q4 (the whole year). The page's figures must be what the quarters'
workbooks give by the catalog's aggregation rule, computed here from the files alone: sums add up over the quarters,
a flag counts each unit's latest quarter's answer, a distinct count counts distinct values over all the quarters.
With three quarters the page must name them, say the year is incomplete and never call their sum the year.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from defects import editing, indicator_value, set_indicator
from test_sample import number, read_unit
from warehouse import query

from union_stats import pipeline
from union_stats.cli import main
from union_stats.devtools.sample import write_year
from union_stats.periods import quarters_of
from union_stats.publish import report_page
from union_stats.reference import figures, indicators

YEAR = "2022"
QUARTERS = quarters_of(YEAR)
CATALOG = {indicator.figure_id: indicator for indicator in indicators() if indicator.figure_id}
# far from the sample's values: tens of millions with cents, and a zero, in the year's four quarters
EDU_FUNDS = [Decimal("12345678.91"), Decimal("0"), Decimal("23456789.07"), Decimal("34567890.12")]  # F66, qu_jiaoyu
GIFT_VALUE = [Decimal("0"), Decimal("98765432.10"), Decimal("0.01"), Decimal("10000000.99")]  # F11, qu_benji
VOLUNTEER_TIMES = [87654321, 0, 12345678, 50000000]  # F09, shiqiao
# F60 (a flag): shiqiao says 是 until Q4's 否, dashi 否 until Q4's 是: the year takes each one's latest answer
FLAGS = {"shiqiao": ["是", "是", "是", "否"], "dashi": ["否", "否", "否", "是"]}
WHOLE_HEADING = "全年数值（四季汇总，基本单位）"
PARTIAL_HEADING = f"已入库季度累计（{'、'.join(QUARTERS[:3])}，非全年）"


def _file(raw: Path, unit: str, quarter: str) -> Path:
    return raw / quarter / f"{unit}_{quarter}.xlsx"


def _teach_a_topic_again(raw: Path) -> None:
    """qu_benji's first course of the earliest quarter with courses is taught again in a later quarter: that
    quarter's own counts of topics and modules go up by one, the year's distinct counts do not."""
    sheet_name = "培训课程"
    courses = {}
    for quarter in QUARTERS:
        workbook = openpyxl.load_workbook(_file(raw, "qu_benji", quarter), read_only=True)
        courses[quarter] = [row for row in workbook[sheet_name].iter_rows(min_row=2, values_only=True) if row[0]]
    source = next(quarter for quarter in QUARTERS if courses[quarter])
    later = next(quarter for quarter in QUARTERS if quarter > source)
    again = courses[source][0]
    assert all(row[0] != again[0] for row in courses[later]), "the sample keeps each topic in one quarter"
    path = _file(raw, "qu_benji", later)
    with editing(path) as workbook:
        workbook[sheet_name].append(list(again))
    for code in ("training_topics", "training_modules"):
        set_indicator(path, code, lambda value: int(number(str(value or 0))) + 1)


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    write_year(YEAR, raw)
    for index, quarter in enumerate(QUARTERS):
        set_indicator(_file(raw, "qu_jiaoyu", quarter), "edu_home_building_funds", float(EDU_FUNDS[index]))
        set_indicator(_file(raw, "qu_benji", quarter), "hotel_gift_value", float(GIFT_VALUE[index]))
        set_indicator(_file(raw, "shiqiao", quarter), "volunteer_person_times", VOLUNTEER_TIMES[index])
        for unit, answers in FLAGS.items():
            set_indicator(_file(raw, unit, quarter), "new_form_federation", answers[index])
    _teach_a_topic_again(raw)
    return raw


@pytest.fixture(scope="module")
def warehouses(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`partial`: Q1..Q3 loaded; `whole`: all four quarters. No annual return in either."""
    root = tmp_path_factory.mktemp("warehouse")
    whole = root / "union_stats.duckdb"
    loaded = {}
    for quarter in QUARTERS:
        result = pipeline.run_period(quarter, raw, whole, parquet_dir=None)
        assert result.summary.accepted == 18, (quarter, result.summary)
        if quarter == QUARTERS[2]:
            loaded["partial"] = root / "partial.duckdb"
            shutil.copyfile(whole, loaded["partial"])
    loaded["whole"] = whole
    return loaded


def shown(text: str | None) -> Decimal:
    """A number cell as Excel shows it (15 significant digits), as the warehouse reads it: the reader's text of
    98765432.10 is 98765432.109999994."""
    return Decimal(format(float(text), ".15g")) if text else Decimal(0)


def _key(text: object) -> str:
    return "".join(str(text or "").split())  # values compare without their spaces


def expected_year(raw: Path, quarters: list[str]) -> dict[str, Decimal]:
    """figure_id -> the year's district value, from the quarters' workbooks alone, by the catalog's rule."""
    summed: dict[str, Decimal] = defaultdict(Decimal)
    latest_flag: dict[tuple[str, str], str | None] = {}
    distinct: dict[str, set] = defaultdict(set)
    for quarter in quarters:  # in order: a later quarter's flag replaces an earlier one's
        for path in sorted((raw / quarter).glob("*.xlsx")):
            unit = path.stem.rsplit("_", 1)[0]
            values, details = read_unit(path)
            for figure_id, indicator in CATALOG.items():
                code = indicator.indicator_code
                if code not in values:  # the template lists only the indicators the unit's kind reports
                    continue
                if indicator.aggregation == "sum":
                    summed[figure_id] += shown(values[code])
                elif indicator.aggregation == "count_yes":
                    latest_flag[figure_id, unit] = values[code]
                else:
                    for record in details[indicator.detail_sheet]:
                        if record[indicator.measure_field]:
                            within = record[indicator.distinct_within] if indicator.distinct_within else ""
                            distinct[figure_id].add((_key(within), _key(record[indicator.measure_field])))
    for (figure_id, _), answer in latest_flag.items():
        summed[figure_id] += answer == "是"
    for figure_id, seen in distinct.items():
        summed[figure_id] = Decimal(len(seen))
    return {figure.figure_id: summed.get(figure.figure_id, Decimal(0)) for figure in figures()}


def _report(warehouse: Path, name: str) -> report_page.ReportFiles:
    out = warehouse.parent / "pages" / f"{name}.html"
    out.parent.mkdir(exist_ok=True)
    assert main(["report", "--period", YEAR, "--warehouse", str(warehouse), "--out", str(out)]) == 0
    xlsx, validation = report_page.companion_paths(out)
    return report_page.ReportFiles(html=out, xlsx=xlsx, validation=validation)


@pytest.fixture(scope="module")
def pages(warehouses: dict[str, Path]) -> dict[str, report_page.ReportFiles]:
    return {name: _report(path, name) for name, path in warehouses.items()}


def _sheet(path: Path, name: str) -> tuple[str, list[dict]]:
    """A sheet of the page's workbook: its title cell, and its rows by heading (the header is row 3)."""
    sheet = openpyxl.load_workbook(path, read_only=True)[name]
    rows = list(sheet.iter_rows(values_only=True))
    headings = rows[2]
    return rows[0][0], [dict(zip(headings, row)) for row in rows[3:]]


def _cents(value: object) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _check_the_test_data(raw: Path) -> None:
    """What was written is what the workbooks hold (and the distinct count is no sum of the quarters')."""
    assert [Decimal(str(indicator_value(_file(raw, "qu_jiaoyu", q), "edu_home_building_funds"))) for q in QUARTERS] == [
        _cents(value) for value in EDU_FUNDS
    ]
    by_quarter = [expected_year(raw, [quarter]) for quarter in QUARTERS]
    year = expected_year(raw, QUARTERS)
    assert year["F23"] < sum(values["F23"] for values in by_quarter)  # a topic taught in two quarters counts once
    assert year["F66"] == sum(EDU_FUNDS) == Decimal("70370358.10")
    # a flag: each unit's latest answer (Q4's), not a sum of the quarters' yeses
    assert year["F60"] == by_quarter[3]["F60"] < sum(values["F60"] for values in by_quarter)


def _check_four_quarters_answer_for_the_year(
    warehouses: dict[str, Path], pages: dict[str, report_page.ReportFiles], raw: Path
) -> None:
    expected = expected_year(raw, QUARTERS)
    # the relation the page reads, exactly
    rows = query(
        warehouses["whole"],
        "select figure_id, value, value_to_date, basis, whole_year, quarters_loaded, quarters, missing_quarters, "
        "complete from report.district_figures_by_year where year = ? order by figure_id",
        YEAR,
    )
    assert {row[0]: row[1] for row in rows} == expected
    assert {row[3:] for row in rows} == {("quarters", True, 4, ",".join(QUARTERS), None, True)}
    assert all(row[1] == row[2] for row in rows)
    # no annual period is made up: report.district_figures still holds the quarters only
    assert query(warehouses["whole"], "select distinct period from report.district_figures order by 1") == [
        (quarter,) for quarter in QUARTERS
    ]

    # the workbook the command wrote: every figure, its value as the quarters give it
    title, figure_rows = _sheet(pages["whole"].xlsx, "指标")
    assert title == f"66项指标（{YEAR}，由{'、'.join(QUARTERS)}季报汇总）"
    assert len(figure_rows) == 66
    assert {row["编号"]: _cents(row[WHOLE_HEADING]) for row in figure_rows} == {
        figure_id: _cents(value) for figure_id, value in expected.items()
    }
    assert {row["齐全"] for row in figure_rows} == {"是"}
    # 2022 has a published report: a whole year from quarters is compared with it (these values are not its)
    assert {row["编号"]: row["一致"] for row in figure_rows}["F66"] == "✗"

    page = pages["whole"].html.read_text(encoding="utf-8")
    assert f"本页由该年四个季度（{'、'.join(QUARTERS)}）的季报汇总为全年数" in page
    assert "全年不完整" not in page and "70,370,358.10" in page

    # the validation page and the completeness sheet: every file of the four quarters, each naming its quarter
    _, completeness = _sheet(pages["whole"].xlsx, "报送情况")
    assert len(completeness) == 4 * 18 and {row["季度"] for row in completeness} == set(QUARTERS)
    _, validation = _sheet(pages["whole"].xlsx, "审核结果")
    assert {row["季度"] for row in validation} == set(QUARTERS)
    assert {row["文件"] for row in validation} == {path.name for q in QUARTERS for path in (raw / q).glob("*.xlsx")}
    assert "2022Q4" in pages["whole"].validation.read_text(encoding="utf-8")


def _check_three_quarters_say_the_year_is_incomplete(
    warehouses: dict[str, Path], pages: dict[str, report_page.ReportFiles], raw: Path
) -> None:
    held = QUARTERS[:3]
    so_far = expected_year(raw, held)
    rows = query(
        warehouses["partial"],
        "select figure_id, value, value_to_date, whole_year, quarters_loaded, quarters, missing_quarters, complete, "
        "matches from report.district_figures_by_year where year = ? order by figure_id",
        YEAR,
    )
    assert {row[0]: row[2] for row in rows} == so_far
    # a part of a year is not a year: no value, no comparison with the published report, never complete
    assert {row[1] for row in rows} == {None} and {row[8] for row in rows} == {None}
    assert {row[3:8] for row in rows} == {(False, 3, ",".join(held), QUARTERS[3], False)}

    title, figure_rows = _sheet(pages["partial"].xlsx, "指标")
    assert title == f"66项指标（{YEAR}，由{'、'.join(held)}季报汇总，全年不完整）"
    assert WHOLE_HEADING not in figure_rows[0] and "数值（基本单位）" not in figure_rows[0]
    assert "报告数" not in figure_rows[0] and "一致" not in figure_rows[0]
    assert {row["编号"]: _cents(row[PARTIAL_HEADING]) for row in figure_rows} == {
        figure_id: _cents(value) for figure_id, value in so_far.items()
    }
    page = pages["partial"].html.read_text(encoding="utf-8")
    assert f"仓库中只有 3 个季度（{'、'.join(held)}）的季报，缺 {QUARTERS[3]}：全年数据不完整" in page
    assert "不是全年数" in page and "全年不完整" in page
    assert 'class="basis partial"' in page
    _, completeness = _sheet(pages["partial"].xlsx, "报送情况")
    assert {row["季度"] for row in completeness} == set(held)


def _check_a_period_with_nothing_loaded_is_still_refused(warehouses: dict[str, Path], capsys) -> None:
    for period in ("2023", QUARTERS[3]):
        code = main(["report", "--period", period, "--warehouse", str(warehouses["partial"])])
        assert code == 2, period
        assert f"the warehouse holds no data for period {period}" in capsys.readouterr().err


def test_a_year_from_its_quarters(
    warehouses: dict[str, Path], pages: dict[str, report_page.ReportFiles], raw: Path, capsys
) -> None:
    """One test over the module's warehouses, so that one worker of `pytest -n` loads them, not each worker."""
    _check_the_test_data(raw)
    _check_four_quarters_answer_for_the_year(warehouses, pages, raw)
    _check_three_quarters_say_the_year_is_incomplete(warehouses, pages, raw)
    _check_a_period_with_nothing_loaded_is_still_refused(warehouses, capsys)

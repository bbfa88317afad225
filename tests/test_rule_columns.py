"""Rule columns on frames of a few rows: what each derived column says, without a workbook or Great Expectations."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from union_stats import reference
from union_stats.parse import ParsedBatch
from union_stats.validate import rule_columns

UNITS = reference.reference_units()


def _indicators(*rows: tuple[str, str, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"submission_id": "s1", "unit_code": unit, "source_row": n, "indicator_code": code, "value": value}
            for n, (unit, code, value) in enumerate(rows, start=2)
        ],
        schema={
            "submission_id": pl.String,
            "unit_code": pl.String,
            "source_row": pl.Int64,
            "indicator_code": pl.String,
            "value": pl.String,
        },
    )


def test_indicator_values_as_numbers_fractions_and_who_reports_them() -> None:
    frame = rule_columns.indicator_frame(
        _indicators(
            ("shiqiao", "job_fairs", "12"),
            ("shiqiao", "job_fairs", "9.5"),
            ("shiqiao", "dues_refund_amount", "100"),  # only the district office reports it
            ("qu_benji", "dues_refund_amount", "53660220.13"),
            ("shiqiao", "no_such_indicator", "1"),
        ),
        UNITS,
    )
    assert frame["value__n"].to_list() == [12.0, 9.5, 100.0, 53660220.13, 1.0]
    assert frame["value__fraction"].to_list() == [False, True, False, True, False]
    # an unknown indicator is codes.indicator_unknown's finding, so this column stays empty for it
    assert frame["indicator_code__reported_by_unit"].to_list() == [True, True, False, True, None]


def test_detail_columns_numbers_dates_check_digits_and_other_units() -> None:
    sheet = reference.template().sheet_spec("enterprises_unionised")
    rows = pl.DataFrame(
        {
            "submission_id": ["a", "a", "b"],
            "unit_code": ["shiqiao", "shiqiao", "dashi"],
            "source_row": [2, 3, 2],
            "enterprise_name": ["甲", "乙", "丙"],
            "credit_code": ["91440113MA5AAAAA1X", "91440101190433271U", "91440101190433271U"],
            "founded_on": ["2022-03-05", "2022-02-30", None],
            "new_members": ["10", "x", "3000000000"],
            "new_form_members": ["2", "1", "0"],
        }
    )
    frame = rule_columns.detail_frame(sheet, rows, None, UNITS, "2022").sort("submission_id", "source_row")
    assert frame["new_members__n"].to_list() == [10.0, None, 3_000_000_000.0]
    assert frame["founded_on__date"].to_list() == [datetime(2022, 3, 5), None, None]
    assert frame["credit_code__units"].to_list() == [1, 2, 2]
    assert frame["credit_code__other_units"].to_list() == ["", "大石街总工会", "市桥街总工会"]


@pytest.mark.parametrize(
    "file_name, cover_unit, named",
    [
        ("dashi_2022.xlsx", "dashi", "dashi"),
        ("dashi_2022_更正.xlsx", "dashi", "dashi"),
        ("大石街2022年报（终稿）.xlsx", "dashi", "dashi"),
        ("2022年报.xlsx", "dashi", "dashi"),  # names no unit: nothing to contradict
        ("市桥街2022年报.xlsx", "dashi", "shiqiao"),
        ("shiqiao_2022.xlsx", "dashi", "shiqiao"),
    ],
)
def test_the_file_name_only_must_not_name_another_unit(file_name: str, cover_unit: str, named: str) -> None:
    submissions = pl.DataFrame(
        {
            "submission_id": ["s"],
            "file_name": [file_name],
            "unit_code": [cover_unit],
            "period": ["2022"],
            "template_version": ["v1"],
            "unit_name": ["x"],
            "contact_name": ["y"],
            "readable": [True],
        }
    )
    batch = ParsedBatch("2022", submissions, {}, pl.DataFrame())
    assert rule_columns.cover_frame(batch, UNITS)["file_unit_code"].to_list() == [named]


def _batch(indicator_rows: list[tuple[str, str, str]], unit: str = "qu_benji") -> ParsedBatch:
    """A batch of one submission whose 指标 sheet holds `indicator_rows` (code, value, unit code)."""
    frame = _indicators(*[(row_unit, code, value) for code, value, row_unit in indicator_rows])
    frame = frame.with_columns(pl.lit("2022").alias("period"))
    submissions = pl.DataFrame({"submission_id": ["s1"], "unit_code": [unit], "readable": [True]})
    layouts = pl.DataFrame({"submission_id": ["s1"], "sheet_kind": ["indicator_values"]})
    return ParsedBatch("2022", submissions, {"indicator_values": frame}, layouts)


def test_a_part_beside_its_whole() -> None:
    batch = _batch([("mediation_cases", "10", "qu_benji"), ("mediation_success_cases", "12", "qu_benji")])
    [row] = rule_columns.indicator_parts_frame(batch).to_dicts()
    assert (row["part_value"], row["whole_value"], row["source_row"]) == (12.0, 10.0, 3)


def test_rows_the_unit_must_report_and_whether_they_are_there() -> None:
    batch = _batch([("job_fairs", "3", "shiqiao")], unit="shiqiao")
    frame = rule_columns.indicator_rows_frame(batch, UNITS)
    present = dict(frame.select("indicator_code", "row_present").iter_rows())
    assert present["job_fairs"] is True
    assert present["employment_services"] is False  # every unit reports it; this file deleted the row
    assert "dues_refund_amount" not in present  # only the district office reports it
    assert frame["source_row"].is_unique().all() and (frame["source_row"] < 0).all()  # stand-ins, not sheet rows


def test_change_from_last_period_and_distance_from_the_usual_range() -> None:
    from union_stats.runs import ValidationContext

    history = pl.DataFrame(
        {
            "unit_code": ["shiqiao"] * 5,
            "period": ["2017", "2018", "2019", "2020", "2021"],
            "indicator_code": ["job_fairs"] * 5,
            "value": [20.0, 22.0, 21.0, 23.0, 25.0],
        }
    )
    batch = _batch([("job_fairs", "100", "shiqiao")], unit="shiqiao")
    [row] = rule_columns.history_frame(batch, ValidationContext(history=history)).to_dicts()
    assert row["previous_value"] == 25.0 and row["change_factor"] == 4.0
    assert row["iqr_distance"] == (100 - 23) / (23 - 21)  # above Q3 by 38.5 interquartile ranges

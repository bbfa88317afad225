"""The sample generator: read back with fastexcel, the 18 units' workbooks reproduce every figure's base value."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import fastexcel
import pytest

from union_stats import credit_code
from union_stats.devtools.sample import write_sample
from union_stats.periods import period_bounds
from union_stats.reference import Indicator, figures, indicators, reference_units, template, units_for
from union_stats.template import INSTRUCTIONS_SHEET, write_blank

Rows = list[list[str | None]]


def read_sheets(path: Path) -> dict[str, Rows]:
    reader = fastexcel.read_excel(path)
    sheets = {}
    for name in reader.sheet_names:
        frame = reader.load_sheet(name, header_row=None, dtypes="string", skip_rows=0).to_polars()
        sheets[name] = [list(row) for row in frame.iter_rows()]
    return sheets


def read_unit(path: Path) -> tuple[dict[str, str | None], dict[str, list[dict[str, str | None]]]]:
    """A workbook as (indicator code -> value text, detail kind -> records keyed by column name)."""
    spec = template()
    sheets = read_sheets(path)
    values = {row[0]: row[3] for row in sheets[spec.indicators.sheet][1:] if row[0]}
    details = {}
    for detail in spec.details:
        rows = sheets[detail.sheet]
        assert rows[0] == [column.header for column in detail.columns]
        details[detail.kind] = [
            {column.name: row[position] for position, column in enumerate(detail.columns)} for row in rows[1:]
        ]
    return values, details


def number(text: str | None) -> Decimal:
    return Decimal(text) if text else Decimal(0)


def measure(indicator: Indicator, records: list[dict[str, str | None]]) -> Decimal | set[str]:
    rows = [record for record in records if all(record[name] == value for name, value in indicator.filters)]
    if indicator.measure == "count":
        return Decimal(len(rows))
    if indicator.measure == "sum":
        return sum((number(record[indicator.measure_field]) for record in rows), Decimal(0))
    return {record[indicator.measure_field] for record in rows if record[indicator.measure_field]}


def district_totals_from_files(paths: list[Path]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    distinct: dict[str, set[str]] = defaultdict(set)
    for path in paths:
        values, details = read_unit(path)
        for indicator in indicators():
            code = indicator.indicator_code
            if indicator.from_detail:
                measured = measure(indicator, details[indicator.detail_sheet])
                if isinstance(measured, set):
                    distinct[code] |= measured
                    measured = Decimal(len(measured))
                if code in values:  # the indicator sheet carries what its detail sheet gives
                    assert number(values[code]) == measured, (path.name, code)
                else:
                    assert measured == 0, (path.name, code)
                    continue
                if indicator.aggregation != "count_distinct":
                    totals[code] += measured
            elif indicator.aggregation == "count_yes":
                totals[code] += values.get(code) == "是"
            elif code in values:
                totals[code] += number(values[code])
    for code, seen in distinct.items():
        totals[code] = Decimal(len(seen))
    return totals


def expected_totals() -> dict[str, Decimal]:
    base = {figure.figure_id: Decimal(figure.base_value) for figure in figures()}
    # an indicator that feeds no figure (the 2023 target indicators) is 0 in a 2022 sample
    return {
        indicator.indicator_code: base[indicator.figure_id] if indicator.figure_id else Decimal(0)
        for indicator in indicators()
    }


def sha256s(paths: list[Path]) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


@pytest.mark.parametrize("seed", [2022, 7])
def test_real_units_reproduce_every_figure(tmp_path: Path, seed: int) -> None:
    paths = write_sample("2022", tmp_path, seed=seed)
    assert sorted(path.name for path in paths) == sorted(f"{unit.unit_code}_2022.xlsx" for unit in reference_units())
    assert dict(district_totals_from_files(paths)) == expected_totals()


def test_seeds_change_the_split_not_the_totals(tmp_path: Path) -> None:
    first = write_sample("2022", tmp_path / "a", seed=1)
    second = write_sample("2022", tmp_path / "b", seed=2)
    first_values = {path.name: read_unit(path)[0] for path in first}
    second_values = {path.name: read_unit(path)[0] for path in second}
    assert first_values != second_values
    assert district_totals_from_files(first) == district_totals_from_files(second)


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    first = write_sample("2022", tmp_path / "a")
    second = write_sample("2022", tmp_path / "b")
    assert sha256s(first) == sha256s(second)


def test_records_are_well_formed(tmp_path: Path) -> None:
    paths = write_sample("2022", tmp_path)
    start, end = period_bounds("2022")
    codes: list[str] = []
    for path in paths:
        _, details = read_unit(path)
        for record in details["enterprises_unionised"]:
            assert 1 <= int(record["new_members"])
            assert 0 <= int(record["new_form_members"]) <= int(record["new_members"])
            assert record["enterprise_name"].endswith("（虚构）")
            assert start <= date.fromisoformat(record["founded_on"][:10]) <= end
            codes.append(record["credit_code"])
        for record in details["dues_refunds"]:
            assert 3 <= int(record["employees"]) <= 100
            codes.append(record["credit_code"])
        for record in details["dispute_cases"]:
            assert int(record["workers"]) >= 1
            assert number(record["amount_recovered_yuan"]) <= number(record["amount_claimed_yuan"])
            assert start <= date.fromisoformat(record["accepted_on"][:10]) <= end
            if record["channel"] == "三方联调中心调解" and record["outcome"] != "调解成功":
                assert record["amount_recovered_yuan"] is None
    assert all(credit_code.is_valid(code) for code in codes)
    assert len(set(codes)) == len(codes)


def test_cover_and_sheet_order_follow_the_template(tmp_path: Path) -> None:
    spec = template()
    unit = reference_units()[0]
    path = write_blank(tmp_path / "blank.xlsx", unit, "2022Q3")
    sheets = read_sheets(path)
    assert list(sheets) == [spec.cover_sheet, *(sheet.sheet for sheet in spec.sheets), INSTRUCTIONS_SHEET]
    cover = {row[0]: row[1] for row in sheets[spec.cover_sheet][1:]}
    labels = {field.name: field.label for field in spec.cover_fields}
    assert cover[labels["unit_code"]] == unit.unit_code
    assert cover[labels["period"]] == "2022Q3"
    assert cover[labels["template_version"]] == spec.version
    indicator_rows = sheets[spec.indicators.sheet]
    assert indicator_rows[0] == [column.header for column in spec.indicators.columns]
    assert [row[0] for row in indicator_rows[1:]] == [
        indicator.indicator_code for indicator in indicators() if indicator.reported_by_kind(unit.kind)
    ]
    assert all(row[3] is None for row in indicator_rows[1:])


def test_synthetic_units_are_listed_and_consistent(tmp_path: Path) -> None:
    paths = write_sample("2022Q3", tmp_path, units=4, seed=11)
    assert [path.name for path in paths] == [f"syn{number:04d}_2022Q3.xlsx" for number in range(1, 5)]
    synthetic = [unit for unit in units_for(tmp_path) if unit.unit_code.startswith("syn")]
    assert [unit.kind for unit in synthetic] == ["town"] * 4
    start, end = period_bounds("2022Q3")
    assert (start, end) == (date(2022, 7, 1), date(2022, 9, 30))
    district_totals_from_files(paths)  # asserts each indicator sheet agrees with its detail sheets
    for path in paths:
        _, details = read_unit(path)
        assert details["enterprises_unionised"]
        assert all(start <= date.fromisoformat(r["founded_on"][:10]) <= end for r in details["enterprises_unionised"])
    assert sha256s(paths) == sha256s(write_sample("2022Q3", tmp_path / "again", units=4, seed=11))

"""The validation rules against corrupted copies of the shipped workbooks: each defect is found, at its cell,
with a message that tells the clerk what to fix, and decides the file's outcome.

The corruptions and what each must produce are in `defects.py`; the shipped files themselves must pass clean.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import polars as pl
import pytest
from defects import (
    DEFECTS,
    ENTERPRISES,
    INDICATORS,
    PERIOD,
    copy_sample,
    corrupt,
    editing,
    header_column,
    indicator_name,
    indicator_row,
    share_credit_code,
)

from union_stats import checking, discover, parse, reference, validate
from union_stats.findings import ERROR, WARNING, Finding
from union_stats.paths import RAW_DIR
from union_stats.pseudonym import ID_IN_TEXT

# Defects the rules do not (yet) answer as they should: strict, so a fix turns these into failures to un-mark.
KNOWN_BUGS: dict[str, str] = {}


def _cases() -> list:
    return [
        pytest.param(name, id=name, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[name])])
        if name in KNOWN_BUGS
        else pytest.param(name, id=name)
        for name in DEFECTS
    ]


def _listing(findings: list[Finding]) -> str:
    return "\n".join(f"  {f.severity} {f.rule} {f.where or '(file)'}: {f.message}" for f in findings) or "  (none)"


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[checking.FileCheck, object]]:
    """Every defect's corrupted workbook (each in a folder of its own), checked in one batch as the portal checks
    uploads of one moment: each as if alone (`independent`; test_portal holds that to checking each alone). Great
    Expectations' cost is per expectation, not per file, so one batch costs what one file does."""
    root = tmp_path_factory.mktemp("defects")
    corrupted = {name: corrupt(name, root / name) for name in DEFECTS}
    results = checking.check_files([path for path, _ in corrupted.values()], independent=True)
    by_path = {result.path: result for result in results}
    assert len(by_path) == len(corrupted)
    return {name: (by_path[path], expected) for name, (path, expected) in corrupted.items()}


@pytest.mark.parametrize("name", _cases())
def test_defect_is_found_at_its_cell_with_a_clear_message(name: str, checked: dict) -> None:
    result, expected = checked[name]

    assert result.status == expected.status, f"{DEFECTS[name].doc}\n{_listing(result.findings)}"
    if expected.rule is None:
        assert result.findings == [], _listing(result.findings)
        return
    by_rule = [finding for finding in result.findings if finding.rule == expected.rule]
    assert by_rule, f"no {expected.rule} finding for: {DEFECTS[name].doc}\n{_listing(result.findings)}"
    at_cell = [finding for finding in by_rule if (finding.where or None) == expected.where]
    assert at_cell, f"{expected.rule} expected at {expected.where}, found at {[f.where for f in by_rule]}"
    assert {finding.severity for finding in at_cell} == {expected.severity}
    assert any(all(part in finding.message for part in expected.message) for finding in at_cell), (
        f"message should contain {expected.message}:\n{_listing(at_cell)}"
    )
    # whatever the defect, no ID number is ever quoted in clear (a masked one is the most a clerk is shown)
    quoted = [f for f in result.findings if ID_IN_TEXT.search(f"{f.value} {f.message}")]
    assert quoted == [], _listing(quoted)


@pytest.mark.parametrize(
    "name", ["file_named_for_another_unit", "cover_names_another_unit", "same_person_twice_in_file"]
)
def test_a_defect_checked_alone_is_answered_as_in_the_batch(name: str, checked: dict) -> None:
    in_batch, _ = checked[name]
    [alone] = checking.check_files([in_batch.path])
    assert alone == in_batch


def test_blank_credit_codes_are_not_called_duplicates(tmp_path: Path) -> None:
    path, expected = corrupt("credit_codes_blank", tmp_path)

    [result] = checking.check_files([path])

    assert any(finding.rule == "values.required" and finding.where == expected.where for finding in result.findings)
    duplicates = [finding for finding in result.findings if finding.rule == "structure.duplicate_record"]
    assert duplicates == [], _listing(duplicates)


def test_findings_are_listed_in_row_order(tmp_path: Path) -> None:
    path = copy_sample("shiqiao", tmp_path)
    with editing(path) as workbook:  # a blank founding date on rows 2..13 of 新建工会企业: B10 must follow B9, not B1
        sheet = workbook[ENTERPRISES]
        column = header_column(sheet, "工会成立日期")
        for row in range(2, 14):
            sheet[f"{column}{row}"].value = None

    [result] = checking.check_files([path])

    rows = [
        int(finding.cell[1:])
        for finding in result.findings
        if finding.rule == "values.required" and finding.sheet == ENTERPRISES
    ]
    assert rows == list(range(2, 14))


def test_a_missing_column_is_one_finding_not_one_per_row(tmp_path: Path) -> None:
    path, expected = corrupt("header_renamed", tmp_path)

    [result] = checking.check_files([path])

    on_sheet = [finding for finding in result.findings if finding.sheet == ENTERPRISES]
    assert [(finding.rule, finding.where) for finding in on_sheet] == [("structure.header_missing", expected.where)]


def test_shipped_submissions_pass_without_errors_or_warnings(shipped_2022: list[Path]) -> None:
    results = checking.check_files(shipped_2022)

    assert {result.file_name: result.status for result in results} == {path.name: "accepted" for path in shipped_2022}
    assert [finding for result in results for finding in result.findings if finding.severity in (ERROR, WARNING)] == []


# --- across submissions ---------------------------------------------------------------------------------------


def _unit_name(unit_code: str) -> str:
    return reference.reference_unit(unit_code).name_zh


def test_same_enterprise_in_two_towns_warns_both_naming_the_other(tmp_path: Path) -> None:
    shiqiao, dashi = copy_sample("shiqiao", tmp_path), copy_sample("dashi", tmp_path)
    code, cell = share_credit_code(shiqiao, dashi)

    results = {result.file_name: result for result in checking.check_files([shiqiao, dashi])}

    for file_name, other in ((shiqiao.name, "dashi"), (dashi.name, "shiqiao")):
        result = results[file_name]
        assert result.status == "accepted_with_warnings", _listing(result.findings)
        [finding] = [finding for finding in result.findings if finding.rule == "cross_submission.duplicate_record"]
        assert (finding.severity, finding.where, finding.value) == (WARNING, f"{ENTERPRISES}!{cell}", code)
        assert f"{cell} 的“统一社会信用代码”“{code}”在本期也由其他单位（{_unit_name(other)}）填报" in finding.message


def _parsed(paths: list[Path]) -> parse.ParsedBatch:
    return parse.parse_batch([discover.receive(path) for path in paths], PERIOD)


def test_enterprise_already_reported_by_another_unit_of_the_period_warns(tmp_path: Path) -> None:
    """A run checks a late file against the rows of the period's submissions already in the warehouse."""
    shiqiao, dashi = copy_sample("shiqiao", tmp_path), copy_sample("dashi", tmp_path)
    code, cell = share_credit_code(shiqiao, dashi)
    accepted_earlier = _parsed([dashi]).sheet("enterprises_unionised")

    validated = validate.validate_batch(
        _parsed([shiqiao]),
        reference.reference_units(),
        context=validate.ValidationContext(other_records={"enterprises_unionised": accepted_earlier}),
    )

    [finding] = [finding for finding in validated.findings if finding.rule == "cross_submission.duplicate_record"]
    assert (finding.severity, finding.where) == (WARNING, f"{ENTERPRISES}!{cell}")
    assert f"“{code}”在本期也由其他单位（{_unit_name('dashi')}）填报" in finding.message
    assert validated.outcomes["status"].to_list() == ["accepted_with_warnings"]


# --- history ----------------------------------------------------------------------------------------------------

HISTORY_SCHEMA = {"unit_code": pl.String, "period": pl.String, "indicator_code": pl.String, "value": pl.Float64}
SHIQIAO = RAW_DIR / PERIOD / "shiqiao_2022.xlsx"  # read only: history needs no corruption, only a past


def _indicator_cell(code: str) -> tuple[int, float]:
    """Row and value of one indicator in the shipped shiqiao workbook."""
    sheet = openpyxl.load_workbook(SHIQIAO, read_only=False)[INDICATORS]
    row = indicator_row(sheet, code)
    return row, sheet[f"D{row}"].value


def _validated_with_history(rows: list[tuple[str, str, float]]) -> validate.ValidatedBatch:
    history = pl.DataFrame(
        [("shiqiao", period, code, value) for period, code, value in rows], schema=HISTORY_SCHEMA, orient="row"
    )
    return validate.validate_batch(
        _parsed([SHIQIAO]), reference.reference_units(), context=validate.ValidationContext(history=history)
    )


def test_value_ten_times_last_periods_warns_history_change() -> None:
    row, value = _indicator_cell("employment_services")
    previous = value // 10
    steady_row, steady = _indicator_cell("volunteer_person_times")
    factor = reference.validation_settings()["history"]["max_change_factor"]

    validated = _validated_with_history(
        [("2021", "employment_services", previous), ("2021", "volunteer_person_times", steady * 0.9)]
    )

    changes = [finding for finding in validated.findings if finding.rule == "history.change"]
    assert [(finding.severity, finding.where) for finding in changes] == [(WARNING, f"{INDICATORS}!D{row}")]
    assert (
        f"“{INDICATORS}”表 D{row} 的“{indicator_name('employment_services')}”为 {value}，"
        f"上期（2021）为 {int(previous)}，变化超过 {factor:g} 倍" in changes[0].message
    )
    assert "备注" in changes[0].message  # what to do when the figure is right
    assert validated.outcomes["status"].to_list() == ["accepted_with_warnings"]
    assert not any(finding.where == f"{INDICATORS}!D{steady_row}" for finding in validated.findings)


def test_value_far_outside_five_steady_periods_warns_history_outlier() -> None:
    row, value = _indicator_cell("employment_services")
    usual = round(value * 0.8)  # near enough that last period's change stays under the change factor
    earlier = [("2017", usual - 2), ("2018", usual - 1), ("2019", usual), ("2020", usual + 1), ("2021", usual + 2)]

    validated = _validated_with_history([(period, "employment_services", past) for period, past in earlier])

    on_row = [finding for finding in validated.findings if finding.where == f"{INDICATORS}!D{row}"]
    assert [(finding.severity, finding.rule) for finding in on_row] == [(WARNING, "history.outlier")]
    assert (
        f"D{row} 的“{indicator_name('employment_services')}”为 {value}，"
        f"明显超出本单位以往 5 期的正常范围（{usual - 1} 至 {usual + 1}）" in on_row[0].message
    )
    assert validated.outcomes["status"].to_list() == ["accepted_with_warnings"]


def test_quarters_not_summing_to_the_year_warn() -> None:
    row, value = _indicator_cell("employment_services")
    quarters = [round(value * share) for share in (0.2, 0.3, 0.25)]
    fourth = value - sum(quarters) + 40  # the quarters overshoot the annual return by 40
    history = [(f"2022Q{n}", "employment_services", past) for n, past in enumerate([*quarters, fourth], start=1)]
    # the same indicator's quarters summing exactly: no warning
    steady_row, steady = _indicator_cell("volunteer_person_times")
    history += [(f"2022Q{n}", "volunteer_person_times", steady / 4) for n in range(1, 5)]

    validated = _validated_with_history(history)

    sums = [finding for finding in validated.findings if finding.rule == "history.quarters_sum"]
    assert [(finding.severity, finding.where) for finding in sums] == [(WARNING, f"{INDICATORS}!D{row}")]
    assert f"2022年四个季度合计 {value + 40}，与年度报表的 {value} 不一致" in sums[0].message


def test_a_deleted_indicator_row_is_an_error(tmp_path: Path) -> None:
    path = copy_sample("shiqiao", tmp_path)
    with editing(path) as workbook:
        sheet = workbook[INDICATORS]
        sheet.delete_rows(indicator_row(sheet, "job_fairs"))

    [result] = checking.check_files([path])

    missing = [finding for finding in result.findings if finding.rule == "structure.indicator_row_missing"]
    assert [(finding.severity, finding.where, finding.cell) for finding in missing] == [(ERROR, INDICATORS, None)]
    assert f"缺少指标“{indicator_name('job_fairs')}”（代码 job_fairs）这一行" in missing[0].message
    assert result.status == "rejected"


def test_last_year_s_file_is_one_wrong_period_finding_not_one_per_date(tmp_path: Path) -> None:
    """A clerk sends last year's workbook: the cover says 2021 and every date is in 2021. One finding says so."""
    path = copy_sample("shiqiao", tmp_path)
    with editing(path) as workbook:
        for sheet in workbook.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    if hasattr(cell.value, "year"):
                        cell.value = cell.value.replace(year=2021)
        cover = workbook["封面"]
        for label, value in cover.iter_rows(min_col=1, max_col=2):
            if label.value == "统计期":
                value.value = "2021"
    [result] = checking.check_files([path])
    errors = [finding for finding in result.findings if finding.severity == ERROR]
    assert [finding.rule for finding in errors] == ["structure.period_mismatch"], _listing(errors)
    assert "2022" in errors[0].message


def test_the_same_bytes_under_another_unit_s_name_are_checked_under_that_name(tmp_path: Path) -> None:
    """Checked together, one file and its copy named for another unit: the copy's name is judged on its own."""
    original = copy_sample("dashi", tmp_path / "a")
    renamed = tmp_path / "b" / PERIOD / "市桥街2022年报.xlsx"
    renamed.parent.mkdir(parents=True)
    renamed.write_bytes(original.read_bytes())

    first, second, again = checking.check_files([original, renamed, original])

    assert (first.status, first.findings) == ("accepted", [])
    assert second.status == "rejected" and [f.rule for f in second.findings] == ["structure.unit_mismatch"]
    assert second.submission_id == first.submission_id and second.file_name == "市桥街2022年报.xlsx"
    assert again == first

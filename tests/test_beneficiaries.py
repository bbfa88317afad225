"""Welfare beneficiary lists (template v2): the same person across units, the pseudonymisation key, template
versions by period, and v1 files beside v2 ones."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from defects import BENEFICIARIES, beneficiary_cell, beneficiary_row, copy_sample, set_cover, set_detail
from warehouse import query

from union_stats import checking, discover, parse, pseudonym, reference, validate
from union_stats.devtools import sample
from union_stats.findings import ERROR, WARNING
from union_stats.pseudonym import ID_IN_TEXT, KEY_ENV, PseudonymKeyError, ensure_key, key_file_for

PERIOD = "2022"


def _names(path: Path) -> set[str]:
    import openpyxl

    sheet = openpyxl.load_workbook(path, read_only=True)[BENEFICIARIES]
    return {row[1] for row in sheet.iter_rows(min_row=2, values_only=True) if row[1]}


def _share_person(first: Path, second: Path, kind: str = "住院关爱") -> tuple[int, int]:
    """Give `second`'s first payment of `kind` the person of `first`'s; the two sheet rows."""
    row_first, row_second = beneficiary_row(first, kind), beneficiary_row(second, kind)
    number = beneficiary_cell(first, "身份证号", row_first)
    set_detail(second, BENEFICIARIES, "身份证号", row_second, number)
    return row_first, row_second


def _unit_name(code: str) -> str:
    return reference.reference_unit(code).name_zh


def test_same_person_paid_by_two_units_warns_both_naming_the_other_unit_and_row_not_the_person(
    tmp_path: Path,
) -> None:
    shiqiao, dashi = copy_sample("shiqiao", tmp_path), copy_sample("dashi", tmp_path)
    row_shiqiao, row_dashi = _share_person(shiqiao, dashi)
    number = beneficiary_cell(shiqiao, "身份证号", row_shiqiao)
    people = _names(shiqiao) | _names(dashi)

    results = {result.file_name: result for result in checking.check_files([shiqiao, dashi])}

    for file_name, row, other, other_file, other_row in (
        (shiqiao.name, row_shiqiao, "dashi", dashi.name, row_dashi),
        (dashi.name, row_dashi, "shiqiao", shiqiao.name, row_shiqiao),
    ):
        result = results[file_name]
        assert result.status == "accepted_with_warnings", [f.message for f in result.findings]
        [finding] = [f for f in result.findings if f.rule == "cross_submission.same_person"]
        assert finding.severity == WARNING
        assert finding.where == f"{BENEFICIARIES}!C{row}"
        assert f"本期也由 {_unit_name(other)}（{other_file} 第{other_row}行）填报" in finding.message
        # the message names no person: not the number, not its masked form, not a name
        assert number not in finding.message and pseudonym.mask_id(number) not in finding.message
        assert not ID_IN_TEXT.search(finding.message)
        assert not any(name in finding.message or name[:2] in finding.message for name in people)
        assert finding.value == pseudonym.mask_id(number)  # the clerk's own row, masked


def test_same_person_already_accepted_for_another_unit_warns_the_later_file(tmp_path: Path) -> None:
    """A run checks a late file against the period's accepted rows in the warehouse (the same key made both)."""
    shiqiao, dashi = copy_sample("shiqiao", tmp_path), copy_sample("dashi", tmp_path)
    _, row_dashi = _share_person(shiqiao, dashi, "两保计划")
    keys = pseudonym.Pseudonymiser(b"k" * 32)
    earlier = parse.parse_batch([discover.receive(shiqiao)], PERIOD, keys=keys).sheet("beneficiaries")

    validated = validate.validate_batch(
        parse.parse_batch([discover.receive(dashi)], PERIOD, keys=keys),
        reference.reference_units(),
        context=validate.ValidationContext(other_records={"beneficiaries": earlier}),
    )

    [finding] = [f for f in validated.findings if f.rule == "cross_submission.same_person"]
    assert finding.where == f"{BENEFICIARIES}!C{row_dashi}"
    assert f"也由 {_unit_name('shiqiao')}（{shiqiao.name} 第" in finding.message
    assert validated.outcomes["status"].to_list() == ["accepted_with_warnings"]


def test_a_person_is_the_same_key_in_every_file_and_never_the_number(tmp_path: Path) -> None:
    path = copy_sample("shiqiao", tmp_path)
    keys = pseudonym.Pseudonymiser(b"s" * 32)
    frame = parse.parse_batch([discover.receive(path)], PERIOD, keys=keys).sheet("beneficiaries")
    row = beneficiary_row(path, "助学")
    number = beneficiary_cell(path, "身份证号", row)

    [parsed] = frame.filter(frame["source_row"] == row).iter_rows(named=True)

    assert parsed["person_key"] == keys.key_of(number) != pseudonym.Pseudonymiser(b"t" * 32).key_of(number)
    assert (parsed["id_check"], parsed["birth_year"], parsed["sex"]) == (
        "ok",
        number[6:10],
        "男" if int(number[16]) % 2 else "女",
    )
    assert parsed["id_number"] == pseudonym.mask_id(number) and parsed["name"].endswith("**")
    assert not any(ID_IN_TEXT.search(str(value)) for value in frame.rows() for value in value)


def test_a_version_the_period_does_not_accept_is_one_finding(tmp_path: Path) -> None:
    """A v2 workbook for 2021 (v2 is accepted from 2022 on): one finding on the cover's version, nothing else."""
    path = copy_sample("shiqiao", tmp_path, period="2021")
    set_cover(path, "统计期", "2021")
    row = set_cover(path, "模板版本", "v2")

    [result] = checking.check_files([path])

    assert result.status == "rejected"
    assert [(f.rule, f.severity, f.where) for f in result.findings] == [
        ("structure.template_version", ERROR, f"封面!B{row}")
    ], [f.message for f in result.findings]
    assert "不适用于统计期 2021（本期可用的版本：v1）" in result.findings[0].message


def test_key_file_is_made_on_first_use_owner_only_and_kept(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    warehouse = tmp_path / "wh" / "w.duckdb"

    source = ensure_key(warehouse, None)

    assert source.key_file == key_file_for(warehouse).resolve()
    assert stat.S_IMODE(source.key_file.stat().st_mode) == 0o600
    fingerprint = source.load().fingerprint
    assert ensure_key(warehouse, fingerprint).load().fingerprint == fingerprint  # the same key next time


def test_a_lost_key_file_is_never_silently_replaced(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    warehouse = tmp_path / "w.duckdb"
    fingerprint = ensure_key(warehouse, None).load().fingerprint
    key_file_for(warehouse).unlink()

    with pytest.raises(PseudonymKeyError, match="请从备份恢复"):
        ensure_key(warehouse, fingerprint)
    assert not key_file_for(warehouse).exists()


def test_another_key_unsafe_file_or_short_variable_is_refused(tmp_path: Path, monkeypatch) -> None:
    warehouse = tmp_path / "w.duckdb"
    monkeypatch.delenv(KEY_ENV, raising=False)
    fingerprint = ensure_key(warehouse, None).load().fingerprint

    os.chmod(key_file_for(warehouse), 0o644)
    with pytest.raises(PseudonymKeyError, match="chmod 600"):
        ensure_key(warehouse, fingerprint)
    os.chmod(key_file_for(warehouse), 0o600)

    monkeypatch.setenv(KEY_ENV, "x" * 64)  # the variable wins over the file: here, another key
    with pytest.raises(PseudonymKeyError, match="不一致"):
        ensure_key(warehouse, fingerprint)
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(PseudonymKeyError, match="太短"):
        ensure_key(warehouse, None)


def test_run_keeps_people_only_as_keys_and_refuses_another_key(
    prefect_harness, raw_copy: Path, tmp_path: Path, monkeypatch
) -> None:
    """The 2022 sample (v2) through the flow: F51-F55 from the list, distinct people beside payments; then a
    second run under another key fails in one line and changes nothing."""
    from flows.ingest import ingest_period

    monkeypatch.setenv(KEY_ENV, "a" * 64)
    warehouse = tmp_path / "wh" / "w.duckdb"
    summary = ingest_period(period=PERIOD, raw_dir=raw_copy, warehouse=warehouse)
    assert summary.matched == 66

    sources = query(
        warehouse,
        "select indicator_code, min(source), sum(detail_rows) from marts.int_submission_indicator_values "
        "where indicator_code in ('hospital_grant_recipients', 'two_insurance_amount') group by all order by 1",
    )
    assert sources == [
        ("hospital_grant_recipients", "detail_sheet", 2702),
        ("two_insurance_amount", "detail_sheet", 210),
    ]
    counts = query(
        warehouse,
        "select beneficiary_type, payments, distinct_beneficiaries from marts.fct_beneficiary_count order by 1",
    )
    assert sorted(counts) == sorted(
        [("两保计划", 210, 210), ("住院关爱", 2702, 2702), ("助学", 11, 11), ("新春慰问", 904, 904)]
    )
    columns = {
        row[0]
        for row in query(
            warehouse, "select column_name from information_schema.columns where table_name = 'beneficiaries'"
        )
    }
    assert {"name", "id_number"}.isdisjoint(columns) and "person_key" in columns
    assert not key_file_for(warehouse).exists()  # the variable was used: no key file made

    # a correction from one unit, run under another key: refused in one line, nothing loaded
    correction = copy_sample("nancun", tmp_path / "second")
    set_cover(correction, "填报人", "陈更正")
    correction.rename(raw_copy / PERIOD / "nancun_2022_更正.xlsx")
    succeeded = query(warehouse, "select count(*) from ops.runs where status = 'succeeded'")
    monkeypatch.setenv(KEY_ENV, "b" * 64)
    with pytest.raises(PseudonymKeyError, match="不一致"):
        ingest_period(period=PERIOD, raw_dir=raw_copy, warehouse=warehouse)
    assert query(warehouse, "select count(*) from ops.runs where status = 'succeeded'") == succeeded
    assert query(warehouse, "select count(*) from ops.runs where status = 'failed'") == [(1,)]
    assert query(warehouse, "select count(*) from ops.submission_log") == [(18,)]


def test_v1_files_still_load_their_welfare_totals_from_the_indicator_sheet(
    prefect_harness, tmp_path: Path, monkeypatch
) -> None:
    """The 2022 sample written in template v1 (no beneficiary sheet) still gives 66 of 66."""
    from flows.ingest import ingest_period

    monkeypatch.setenv(KEY_ENV, "v" * 64)
    raw = tmp_path / "raw"
    sample.write_sample(PERIOD, raw / PERIOD, template_version="v1")
    warehouse = tmp_path / "wh" / "w.duckdb"

    summary = ingest_period(period=PERIOD, raw_dir=raw, warehouse=warehouse)

    assert (summary.accepted, summary.matched) == (18, 66)
    assert query(warehouse, "select distinct template_version from ops.submission_log") == [("v1",)]
    assert query(
        warehouse,
        "select distinct source from marts.int_submission_indicator_values where indicator_code = 'hospital_grant_amount'",
    ) == [("indicator_sheet",)]
    assert query(warehouse, "select count(*) from ops.pseudonym_key") == [(0,)]  # nobody keyed, no key recorded


def test_a_later_file_paying_the_same_person_tells_the_earlier_unit_too(loaded_2022: Path, tmp_path: Path) -> None:
    """Run 1 loads the sample; run 2 brings dashi's correction, which pays one of shiqiao's people again. The
    correction is warned naming shiqiao's row; shiqiao's loaded file is told too, naming the correction's row,
    becomes accepted with warnings, and gets a new report; neither message names the person."""
    from flows.ingest import ingest_period

    raw_copy, warehouse = loaded_2022 / "raw", loaded_2022 / "wh" / "union_stats.duckdb"  # after run 1
    shiqiao = raw_copy / PERIOD / "shiqiao_2022.xlsx"
    correction = copy_sample("dashi", tmp_path / "later")
    row_shiqiao, row_dashi = _share_person(shiqiao, correction, "新春慰问")
    number = beneficiary_cell(shiqiao, "身份证号", row_shiqiao)
    correction = correction.rename(raw_copy / PERIOD / "dashi_2022_更正.xlsx")

    summary = ingest_period(period=PERIOD, raw_dir=raw_copy, warehouse=warehouse)

    assert summary.processed == 1
    warned = query(
        warehouse,
        "select file_name, cell, message from ops.findings where rule = 'cross_submission.same_person' order by 1",
    )
    assert [(file_name, cell) for file_name, cell, _ in warned] == [
        (correction.name, f"C{row_dashi}"),
        (shiqiao.name, f"C{row_shiqiao}"),
    ]
    assert f"也由 {_unit_name('shiqiao')}（{shiqiao.name} 第{row_shiqiao}行）填报" in warned[0][2]
    assert f"也由 {_unit_name('dashi')}（{correction.name} 第{row_dashi}行）填报" in warned[1][2]
    assert not any(number in message or ID_IN_TEXT.search(message) for _, _, message in warned)
    assert query(warehouse, "select status, warnings from ops.submissions where file_name = ?", shiqiao.name) == [
        ("accepted_with_warnings", 1)
    ]
    [report] = summary.report_dir.glob("shiqiao_2022*.report.html")
    assert f"{correction.name} 第{row_dashi}行" in report.read_text(encoding="utf-8")

"""The parse stage: every sheet of a submission into frames, with lineage, tolerant of clerks' habits."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import polars as pl

from union_stats import discover, parse, reference
from union_stats.paths import RAW_DIR


def _parse(path: Path, period: str = "2022") -> parse.ParsedBatch:
    return parse.parse_batch([discover.receive(path)], period)


def _sheet_rows(path: Path, sheet: str) -> list[tuple]:
    """The sheet's data rows as openpyxl reads them: an independent reading to compare the parser with."""
    workbook = openpyxl.load_workbook(path, read_only=True)
    return [row for row in workbook[sheet].iter_rows(min_row=2, values_only=True) if any(v is not None for v in row)]


def test_cover_is_read_into_the_submission_record() -> None:
    batch = _parse(RAW_DIR / "2022" / "qu_benji_2022.xlsx")
    [submission] = batch.submissions.to_dicts()
    assert submission["unit_code"] == "qu_benji"
    assert submission["unit_name"] == "区总工会本级"
    assert (submission["period"], submission["template_version"], submission["readable"]) == ("2022", "v2", True)
    assert submission["sha256"] == discover.sha256_of(RAW_DIR / "2022" / "qu_benji_2022.xlsx")
    assert batch.findings == []


def test_every_sheet_is_parsed_with_lineage() -> None:
    path = RAW_DIR / "2022" / "qu_benji_2022.xlsx"
    batch = _parse(path)
    spec = reference.template()
    for sheet in spec.sheets:
        frame = batch.sheet(sheet.kind)
        expected = _sheet_rows(path, sheet.sheet)
        assert frame.height == len(expected), sheet.sheet
        assert frame["sheet_name"].unique().to_list() == ([sheet.sheet] if expected else [])
        assert frame["source_row"].to_list() == list(range(2, 2 + len(expected)))
        assert set(frame["unit_code"]) <= {"qu_benji"} and set(frame["file_name"]) <= {path.name}
        assert frame.columns[: len(parse.LINEAGE_COLUMNS)] == list(parse.LINEAGE_COLUMNS)
        assert frame.columns[len(parse.LINEAGE_COLUMNS) :] == list(sheet.parsed_columns)


def test_values_keep_their_text_and_dates_their_day() -> None:
    path = RAW_DIR / "2022" / "qu_benji_2022.xlsx"
    batch = _parse(path)
    cases = batch.sheet("dispute_cases")
    first = _sheet_rows(path, "劳资纠纷案件")[0]
    row = cases.row(0, named=True)
    assert row["case_no"] == first[0]
    assert row["accepted_on"] == first[2].date().isoformat()
    assert float(row["amount_claimed_yuan"]) == first[4]
    # the detail-sheet rows of the district office are the lawyers' panel, mediation and union-handled cases
    assert set(cases["channel"]) == {"律师团代理", "三方联调中心调解", "工会参与处理"}


def test_a_town_has_enterprises_and_no_dues_refunds() -> None:
    batch = _parse(RAW_DIR / "2022" / "shiqiao_2022.xlsx")
    enterprises = batch.sheet("enterprises_unionised")
    assert enterprises.height > 0
    assert enterprises["credit_code"].str.len_chars().unique().to_list() == [18]
    assert batch.sheet("dues_refunds").height == 0
    indicators = batch.sheet("indicator_values")
    assert indicators.filter(pl.col("indicator_code") == "enterprises_unionised")["value"].to_list() == [
        str(enterprises.height)
    ]


def test_headers_are_found_despite_spaces_full_width_and_a_title_row(tmp_path: Path) -> None:
    path = tmp_path / "shiqiao_2022.xlsx"
    shutil.copy(RAW_DIR / "2022" / "shiqiao_2022.xlsx", path)
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["小微企业经费返还"]
    sheet.insert_rows(1)
    sheet["A1"] = "小微企业经费返还明细（自加标题）"
    sheet["D2"] = " 返还金额(元) "  # half-width brackets and spaces, as clerks retype headers
    sheet.append(["样例企业", "91440113MA5AAAAA1X", 12, "１，２３４"])
    workbook.save(path)

    batch = _parse(path)
    refunds = batch.sheet("dues_refunds")
    assert refunds["source_row"].to_list() == [3]
    assert refunds["refund_yuan"].to_list() == ["1234"]
    [note] = [finding for finding in batch.findings if finding.rule == "values.normalised"]
    assert (note.sheet, note.cell, note.value, note.severity) == ("小微企业经费返还", "D3", "１，２３４", "info")
    assert [finding.rule for finding in batch.findings] == ["values.normalised"]


def test_a_file_that_is_not_a_workbook_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "shiqiao_2022.xlsx"
    path.write_text("这不是Excel文件", encoding="utf-8")
    batch = _parse(path)
    [finding] = batch.findings
    assert (finding.rule, finding.severity) == ("file.not_spreadsheet", "error")
    assert "文本" in finding.message and ".xlsx" in finding.message
    assert batch.submissions["readable"].to_list() == [False]
    assert all(frame.height == 0 for frame in batch.sheets.values())


def test_normalise_cell() -> None:
    assert parse.normalise_cell("１２３", "integer") == "123"
    assert parse.normalise_cell("1,234.5", "money") == "1234.5"
    assert parse.normalise_cell("1,2,3", "integer") == "1,2,3"  # not a thousands separator: left for the rules
    assert parse.normalise_cell("2022/3/5", "date") == "2022-03-05"
    assert parse.normalise_cell("2022年3月5日", "date") == "2022-03-05"
    assert parse.normalise_cell("2022-02-30", "date") == "2022-02-30"  # no such day: left for the rules
    assert parse.normalise_cell("  ", "text") is None
    assert parse.normalise_cell("91440113ma5aaaaa1x", "credit_code") == "91440113MA5AAAAA1X"


def test_any_file_in_the_period_folder_is_received_and_answered(tmp_path: Path) -> None:
    folder = tmp_path / "2022"
    folder.mkdir()
    shutil.copy(RAW_DIR / "2022" / "qu_jiaoyu_2022.xlsx", folder)
    (folder / "qu_jiaoyu_2022.pdf").write_bytes(b"%PDF-1.4 not a workbook")
    (folder / "~$qu_jiaoyu_2022.xlsx").write_bytes(b"lock")  # Excel's lock file while the clerk has it open
    (folder / "units.csv").write_text("unit_code,name_zh,name_en,kind,size_weight\n", encoding="utf-8")

    files = discover.discover(folder)
    assert [item.file_name for item in files] == ["qu_jiaoyu_2022.pdf", "qu_jiaoyu_2022.xlsx"]
    batch = parse.parse_batch(files, "2022")
    assert [(f.file_name, f.rule) for f in batch.findings] == [("qu_jiaoyu_2022.pdf", "file.not_spreadsheet")]


def test_a_panic_of_the_reader_is_that_file_s_outcome_and_the_others_parse(tmp_path: Path, monkeypatch) -> None:
    """calamine's PanicException derives from BaseException: one file's panic must not stop the batch."""
    import fastexcel

    class Panic(BaseException):  # what pyo3 raises for a Rust panic
        pass

    good = [discover.receive(path) for path in sorted((RAW_DIR / "2022").glob("*.xlsx"))[:2]]
    broken = tmp_path / "shiqiao_2022.xlsx"
    broken.write_bytes((RAW_DIR / "2022" / "shiqiao_2022.xlsx").read_bytes() + b"\0")
    real = fastexcel.read_excel

    def panicking(source, *args, **kwargs):
        if str(source) == str(broken):
            raise Panic("index out of bounds")
        return real(source, *args, **kwargs)

    monkeypatch.setattr(fastexcel, "read_excel", panicking)
    batch = parse.parse_batch([*good, discover.receive(broken)], "2022")

    assert batch.submissions["readable"].to_list() == [True, True, False]
    [finding] = batch.findings
    assert (finding.file_name, finding.rule) == ("shiqiao_2022.xlsx", "structure.unreadable")
    assert "Panic" in finding.message and "另存为" in finding.message

"""The per-submission quality report: an HTML page and an annotated workbook the clerk can fix the file from."""

from __future__ import annotations

import dataclasses
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from defects import editing

from union_stats.findings import ERROR, INFO, WARNING, Finding
from union_stats.paths import RAW_DIR
from union_stats.pseudonym import mask_id, scrub_ids
from union_stats.publish.quality_report import COMMENT_AUTHOR, RESULT_SHEET, SubmissionReport, write_reports

FILE_NAME = "shiqiao_2022.xlsx"
SUBMISSION_ID = "0123456789abcdef"
INJECTED_VALUE = '=HYPERLINK("http://x","y")'
HOSTILE_MESSAGE = "“指标”表 D5 的“<script>alert(1)</script>”不是有效数值：请填写非负数字。"
FILE_LEVEL_MESSAGE = "文件名与单位代码不一致：请以“单位代码_统计期.xlsx”命名后重新提交。"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def finding(severity: str, rule: str, sheet: str | None, cell: str | None, value: str | None, message: str) -> Finding:
    return Finding(SUBMISSION_ID, FILE_NAME, severity, rule, sheet, cell, value, message)


def cell_values(sheet) -> list[list[object]]:
    return [[None if cell.value == "" else cell.value for cell in row] for row in sheet.iter_rows()]


@pytest.fixture
def submitted(tmp_path: Path) -> Path:
    target = tmp_path / "inbox" / FILE_NAME
    target.parent.mkdir()
    shutil.copyfile(RAW_DIR / "2022" / FILE_NAME, target)
    return target


def submission(source_path: Path | None, *, file_name: str = FILE_NAME, status: str = "rejected") -> SubmissionReport:
    return SubmissionReport(
        submission_id=SUBMISSION_ID,
        file_name=file_name,
        unit_code="shiqiao",
        unit_name="市桥街总工会",
        period="2022",
        status=status,
        received_at=datetime(2023, 1, 10, 2, 30, tzinfo=UTC),
        sha256="ab" * 32,
        source_path=source_path,
        run_id="run-2023-01-10",
    )


FINDINGS = [
    finding(
        INFO, "values.normalised", "指标", "D7", "１２", "已将“１２”按“12”读取（全角字符已规范化），如有误请更正。"
    ),
    finding(
        WARNING, "detail.credit_code_duplicate", "新建工会企业", "B3", "91440113MAWULB4N0W", "信用代码重复：请核对。"
    ),
    finding(ERROR, "structure.file_name", None, None, None, FILE_LEVEL_MESSAGE),
    finding(ERROR, "indicator.value_number", "指标", "D5", INJECTED_VALUE, HOSTILE_MESSAGE),
    finding(ERROR, "structure.header_missing", "培训课程", None, None, "“培训课程”表找不到表头：请勿改动表头。"),
    finding(ERROR, "structure.sheet_missing", "不存在的表", None, None, "缺少工作表“不存在的表”：请使用最新模板。"),
]


def test_html_report_escapes_submission_text_and_says_how_to_fix(submitted: Path, tmp_path: Path) -> None:
    html_path, _ = write_reports(submission(submitted), FINDINGS, tmp_path / "reports")

    assert html_path == tmp_path / "reports" / "shiqiao_2022.report.html"
    html = html_path.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html
    assert "市桥街总工会" in html and "2022" in html
    assert "退回，请修改后重新提交" in html
    assert "指标!D5" in html and "新建工会企业!B3" in html and "整个文件" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert "=HYPERLINK(&#34;http://x&#34;,&#34;y&#34;)" in html
    assert "abababababab" in html and "ab" * 7 not in html  # the checksum is shortened to 12 characters
    assert "2023-01-10 10:30" in html  # received at 02:30 UTC, shown in Beijing time
    assert "http://" not in html.replace("http://x", "")  # no external resources
    # errors before warnings before info; within the errors the file-level finding leads
    positions = [html.index(text) for text in ("整个文件", "指标!D5", "新建工会企业!B3", "指标!D7")]
    assert positions == sorted(positions)


def test_cells_sort_in_natural_order(tmp_path: Path) -> None:
    findings = [finding(ERROR, "r", "指标", cell, "x", f"第{cell}格有误。") for cell in ("D10", "AA2", "D2", "E1")]
    html = write_reports(submission(None), findings, tmp_path)[0].read_text(encoding="utf-8")
    positions = [html.index(f"指标!{cell}<") for cell in ("D2", "D10", "E1", "AA2")]
    assert positions == sorted(positions)


def test_no_findings_says_so(submitted: Path, tmp_path: Path) -> None:
    html_path, annotated = write_reports(submission(submitted, status="accepted"), [], tmp_path / "reports")

    html = html_path.read_text(encoding="utf-8")
    assert "未发现问题" in html and "通过" in html
    assert annotated is None  # nothing to mark: no copy of the workbook
    assert sorted(path.name for path in (tmp_path / "reports").iterdir()) == ["shiqiao_2022.report.html"]


def test_annotated_workbook_marks_cells_and_lists_every_finding(submitted: Path, tmp_path: Path) -> None:
    original = openpyxl.load_workbook(submitted)
    _, annotated = write_reports(submission(submitted), FINDINGS, tmp_path / "reports")

    assert annotated == tmp_path / "reports" / "shiqiao_2022.annotated.xlsx"
    workbook = openpyxl.load_workbook(annotated)
    assert workbook.sheetnames == [RESULT_SHEET, *original.sheetnames]
    assert workbook.active.title == RESULT_SHEET
    assert [sheet.title for sheet in workbook.worksheets if sheet.sheet_view.tabSelected] == [RESULT_SHEET]

    # the submission's content is kept as it was (openpyxl writes an empty text cell back as an empty cell),
    # but for personal data: every ID number masked wherever it is (no personal columns are named here), and the
    # clerk's name on the cover
    for sheet in original.worksheets:
        kept = [[scrub_ids(value) if isinstance(value, str) else value for value in row] for row in cell_values(sheet)]
        if sheet.title == "封面":
            kept = [[row[0], row[1][0] + "**"] if row[:1] == ["填报人"] else row for row in kept]
        assert cell_values(workbook[sheet.title]) == kept
    assert any("**********" in str(value) for row in cell_values(workbook["帮扶对象明细"]) for value in row)

    indicators = workbook["指标"]
    assert indicators["D5"].fill.fgColor.rgb.endswith("FFC7CE")
    assert HOSTILE_MESSAGE in indicators["D5"].comment.text
    assert indicators["D5"].comment.author == COMMENT_AUTHOR
    assert indicators["D7"].fill.fgColor.rgb.endswith("DDEBF7")
    assert workbook["新建工会企业"]["B3"].fill.fgColor.rgb.endswith("FFEB9C")
    assert "信用代码重复" in workbook["新建工会企业"]["B3"].comment.text
    assert "找不到表头" in workbook["培训课程"]["A1"].comment.text  # sheet-level finding: on A1

    results = [[cell.value for cell in row] for row in workbook[RESULT_SHEET].iter_rows()]
    messages = [row[3] for row in results]
    for listed in FINDINGS:
        assert listed.message in messages
    file_level = next(row for row in results if row[3] == FILE_LEVEL_MESSAGE)
    assert file_level[:2] == ["错误", "整个文件"]
    assert any(row[3] == "缺少工作表“不存在的表”：请使用最新模板。" for row in results)
    injected = next(row for row in results if row[3] == HOSTILE_MESSAGE)
    assert injected[2] == "'" + INJECTED_VALUE  # shown as text, never run as a formula

    written = [cell for row in workbook[RESULT_SHEET].iter_rows() for cell in row if cell.value is not None]
    assert written
    assert all(cell.data_type != "f" for cell in written)
    texts = [cell.value for cell in written if isinstance(cell.value, str)]
    assert not [text for text in texts if text.startswith(FORMULA_TRIGGERS)]


def test_annotated_workbook_masks_the_personal_columns_and_listed_names_in_text(
    submitted: Path, tmp_path: Path
) -> None:
    """The copy is kept beside the warehouse and mailed back: 姓名 and 身份证号 below their header are masked, and a
    listed name or an ID number typed into any other cell too; nothing else changes."""
    with editing(submitted) as book:
        people = book["帮扶对象明细"]
        name, number = people["B2"].value, people["C2"].value
        book["指标"]["E3"] = f"代{name}领取，身份证{number}"
    personal = (("帮扶对象明细", "B", 1, "name"), ("帮扶对象明细", "C", 1, "id_number"))
    report = dataclasses.replace(submission(submitted), personal_columns=personal)

    _, annotated = write_reports(report, FINDINGS, tmp_path / "reports")

    workbook = openpyxl.load_workbook(annotated)
    people = workbook["帮扶对象明细"]
    assert people["A1"].value == "帮扶类型" and people["B1"].value == "姓名"  # headers untouched
    assert people["B2"].value == name[0] + "**" and people["C2"].value == mask_id(number)
    assert all(str(row[1]).endswith("**") for row in people.iter_rows(min_row=2, values_only=True) if row[1])
    assert workbook["指标"]["E3"].value == f"代{name[0]}**领取，身份证{mask_id(number)}"
    texts = [str(value) for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True) for value in row]
    assert not [text for text in texts if name in text or number in text]


def test_annotated_workbook_masks_id_numbers_however_they_were_typed(submitted: Path, tmp_path: Path) -> None:
    """An ID number spaced in a remark, or typed as a number anywhere (Excel's double of it), is masked in the copy
    too, though no personal column names the cell."""
    with editing(submitted) as book:
        number = next(
            value for (value,) in book["帮扶对象明细"].iter_rows(min_row=2, min_col=3, max_col=3, values_only=True)
            if str(value).isdigit()
        )  # fmt: skip
        book["指标"]["E3"] = f"身份证 {number[:6]} {number[6:14]} {number[14:]}"
        book["指标"]["E4"] = int(number)
        book["指标"]["E5"] = float(number)

    _, annotated = write_reports(submission(submitted), FINDINGS, tmp_path / "reports")

    indicators = openpyxl.load_workbook(annotated)["指标"]
    assert indicators["E3"].value == f"身份证 {mask_id(number)}"
    # a number is masked as what the cell holds: the double of it, its last digits lost
    for cell in ("E4", "E5"):
        assert re.fullmatch(r"4401\*{10}[0-9]{4}", indicators[cell].value), indicators[cell].value
    assert number[:14] not in str([indicators[cell].value for cell in ("E3", "E4", "E5")])


def test_annotated_workbook_masks_the_clerks_name_on_the_cover(submitted: Path, tmp_path: Path) -> None:
    cover = openpyxl.load_workbook(submitted)["封面"]
    (clerk,) = [value for label, value in cover.iter_rows(min_col=1, max_col=2, values_only=True) if label == "填报人"]
    _, annotated = write_reports(submission(submitted), FINDINGS, tmp_path / "reports")

    workbook = openpyxl.load_workbook(annotated)
    rows = dict(workbook["封面"].iter_rows(min_col=1, max_col=2, values_only=True))
    assert rows["填报人"] == clerk[0] + "**" and rows["单位代码"]  # the other fields as they were
    texts = [str(value) for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True) for value in row]
    assert not [text for text in texts if clerk in text]


def test_several_findings_on_one_cell_share_one_comment(submitted: Path, tmp_path: Path) -> None:
    findings = [
        finding(WARNING, "indicator.jump", "指标", "D5", "9", "比上年增长超过五倍：请确认。"),
        finding(ERROR, "indicator.detail_mismatch", "指标", "D5", "9", "与明细表不一致：请更正。"),
    ]
    _, annotated = write_reports(submission(submitted), findings, tmp_path)

    cell = openpyxl.load_workbook(annotated)["指标"]["D5"]
    assert cell.fill.fgColor.rgb.endswith("FFC7CE")  # the worst of the two
    assert cell.comment.text.index("与明细表不一致") < cell.comment.text.index("比上年增长超过五倍")


def test_hostile_file_name_and_control_characters_do_not_break_the_reports(submitted: Path, tmp_path: Path) -> None:
    hostile = submitted.with_name("=cmd.xlsx")
    submitted.rename(hostile)
    findings = [
        finding(ERROR, "indicator.value_number", "指标", "D5", "12\x00\x0b3", "“12\x0b3”不是有效数值：请更正。"),
        finding(WARNING, "x", "指标", "XFE1", "-1+1", "@SUM(A1)"),  # a cell outside Excel's grid goes on A1
    ]
    html_path, annotated = write_reports(submission(hostile, file_name="../../=cmd.xlsx"), findings, tmp_path / "out")

    assert html_path.parent == tmp_path / "out" and annotated.parent == tmp_path / "out"
    workbook = openpyxl.load_workbook(annotated)
    assert "@SUM(A1)" in workbook["指标"]["A1"].comment.text
    written = [cell.value for row in workbook[RESULT_SHEET].iter_rows() for cell in row if isinstance(cell.value, str)]
    assert "'=cmd.xlsx" in written and "'-1+1" in written and "'@SUM(A1)" in written
    assert not [value for value in written if value.startswith(FORMULA_TRIGGERS)]


def test_resubmitted_annotated_copy_gets_a_fresh_review(submitted: Path, tmp_path: Path) -> None:
    _, first = write_reports(submission(submitted), FINDINGS, tmp_path / "first")
    _, second = write_reports(submission(first, file_name=FILE_NAME), FINDINGS[:1], tmp_path / "second")

    workbook = openpyxl.load_workbook(second)
    assert workbook.sheetnames.count(RESULT_SHEET) == 1
    assert workbook["指标"]["D7"].comment.text.count("已将") == 1  # our old comment replaced, not quoted


@pytest.mark.parametrize("content", [b"not a zip", b"PK\x03\x04broken"])
def test_unreadable_workbook_gives_the_html_only(tmp_path: Path, content: bytes) -> None:
    corrupt = tmp_path / "x.xlsx"
    corrupt.write_bytes(content)

    html_path, annotated = write_reports(submission(corrupt, file_name="x.xlsx"), FINDINGS, tmp_path / "out")

    assert annotated is None
    assert html_path.name == "x.report.html" and "指标!D5" in html_path.read_text(encoding="utf-8")
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["x.report.html"]


def test_no_annotated_copy_without_a_workbook(tmp_path: Path) -> None:
    legacy = tmp_path / "shiqiao_2022.xls"
    legacy.write_bytes(b"\xd0\xcf\x11\xe0")
    assert write_reports(submission(legacy, file_name=legacy.name), FINDINGS, tmp_path)[1] is None
    assert write_reports(submission(None), FINDINGS, tmp_path)[1] is None
    assert write_reports(submission(tmp_path / "gone.xlsx"), FINDINGS, tmp_path)[1] is None


def test_programming_errors_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="status"):
        write_reports(submission(None, status="ok"), [], tmp_path)
    with pytest.raises(ValueError, match="severity"):
        write_reports(submission(None), [finding("fatal", "r", None, None, None, "m")], tmp_path)


def test_formula_looking_text_of_the_submission_stays_text_in_the_annotated_copy(
    submitted: Path, tmp_path: Path
) -> None:
    """A remark the clerk typed as `=1+1` is text in the file; the marked copy must not turn it into a formula."""
    workbook = openpyxl.load_workbook(submitted)
    remark = workbook["指标"]["E2"]
    remark.value = "=1+1"
    remark.data_type = "s"
    workbook.save(submitted)
    findings = [finding(WARNING, "history.change", "指标", "E2", "=1+1", "请说明。")]

    _, annotated = write_reports(submission(submitted), findings, tmp_path / "out")

    cell = openpyxl.load_workbook(annotated)["指标"]["E2"]
    assert (cell.value, cell.data_type) == ("=1+1", "s")


def test_a_file_stopped_before_reading_is_never_opened_to_annotate(submitted: Path, tmp_path: Path) -> None:
    findings = [finding(ERROR, "file.macro", None, None, None, "文件含有宏：请另存为 .xlsx。")]
    html, annotated = write_reports(submission(submitted), findings, tmp_path / "out")
    assert annotated is None and html.is_file()

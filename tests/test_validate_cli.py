"""`union-stats validate`: what a clerk sees when checking files before submitting them, and its exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from defects import DEFECTS, copy_sample, corrupt
from rich.console import Console

from union_stats import cli

# one per rule family, and a file that is no workbook at all
CORRUPTED = [
    "value_approximate",
    "date_outside_period",
    "credit_code_check_character",
    "recovered_exceeds_claimed",
    "indicator_disagrees_with_detail",
    "header_blank_inserted_column",
    "unit_code_not_file_name",
    "not_a_workbook",
    # every label beside a value agrees with it (issue 19)
    "indicator_rows_sorted_without_codes",
    "indicator_unit_changed_to_wan",
    "indicator_value_shown_in_wan",
    "detail_header_twice_one_hidden",
    "cover_names_another_unit",
    "id_number_typed_into_a_number_cell",
    "control_character_in_a_name",
]


@pytest.fixture(autouse=True)
def terminal_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """An 80-column console (rich's width for a pipe or a log, and a classic terminal's), whatever runs the tests."""
    monkeypatch.setattr(cli, "console", Console(width=80))


def validate(capsys: pytest.CaptureFixture[str], *arguments: object) -> tuple[int, str]:
    """Exit code and everything printed by `union-stats validate ARGUMENTS` (rich wraps long lines at 80 columns)."""
    code = cli.main(["validate", *(str(argument) for argument in arguments)])
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def unwrapped(output: str) -> str:
    """Plain printed lines joined again where rich wrapped them (paths, for instance)."""
    return "".join(output.splitlines())


def test_shipped_files_pass(capsys: pytest.CaptureFixture[str], shipped_2022: list[Path]) -> None:
    code, output = validate(capsys, *shipped_2022)

    assert code == 0, output
    assert output.count("未发现问题") == len(shipped_2022)
    assert "Traceback" not in output


@pytest.mark.parametrize("name", CORRUPTED)
def test_corrupted_file_fails_and_names_the_cell(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str) -> None:
    path, expected = corrupt(name, tmp_path)

    code, output = validate(capsys, path)

    assert code == 1, output
    assert "Traceback" not in output
    assert "退回" in output
    assert (expected.where or "整个文件") in output, f"{DEFECTS[name].doc}\n{output}"


def test_one_bad_file_among_good_ones_fails_the_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = copy_sample("qu_jiaoyu", tmp_path)
    bad, expected = corrupt("empty_file", tmp_path)

    code, output = validate(capsys, good, bad)

    assert code == 1
    assert "Traceback" not in output
    assert f"{good.name}  [2022]  通过" in output
    assert "文件是空的" in output


def test_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "2022" / "shiqiao_2022.xlsx"

    code, output = validate(capsys, missing)

    assert code == 2
    assert "no such file" in output and str(missing) in unwrapped(output)
    assert "Traceback" not in output


def test_report_dir_gets_an_html_report_per_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    clean = copy_sample("qu_jiaoyu", tmp_path)
    bad, expected = corrupt("value_approximate", tmp_path)
    reports = tmp_path / "reports"

    code, output = validate(capsys, clean, bad, "--report-dir", reports)

    assert code == 1, output
    assert "Traceback" not in output
    for path in (clean, bad):
        assert (reports / f"{path.stem}.report.html").is_file(), sorted(p.name for p in reports.iterdir())
    html = (reports / f"{bad.stem}.report.html").read_text(encoding="utf-8")
    assert expected.where in html and "约100" in html
    assert f"报告：{reports / bad.stem}.report.html" in unwrapped(output)  # the clerk is told where it is


def test_report_dir_is_named_for_a_clean_file_too(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    clean = copy_sample("qu_jiaoyu", tmp_path)
    reports = tmp_path / "reports"

    code, output = validate(capsys, clean, "--report-dir", reports)

    assert code == 0, output
    assert (reports / f"{clean.stem}.report.html").is_file()
    assert f"报告：{reports / clean.stem}.report.html" in unwrapped(output)

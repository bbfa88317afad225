"""The hostile corpus end to end: every file gets its own clear outcome, in the self-check and in a run over
the 18 samples plus the whole corpus, which still reproduces the report and records each hostile file as
rejected. The corpus itself is in `hostile.py`: `HOSTILE` (stopped by the inspect stage) and `READ` (read,
then rejected by a parse or validate rule)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hostile import HOSTILE, READ, Expected, build, build_read
from warehouse import query

from union_stats import checking
from union_stats.inspect import inspect_file
from union_stats.paths import RAW_DIR


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A period folder holding the 18 shipped samples and every file of the corpus."""
    raw = tmp_path_factory.mktemp("raw")
    shutil.copytree(RAW_DIR / "2022", raw / "2022")
    return raw


@pytest.fixture(scope="module")
def corpus(raw_dir: Path) -> dict[str, tuple[Path, Expected]]:
    built = {name: build(name, raw_dir) for name in HOSTILE}
    built |= {name: build_read(name, raw_dir) for name in READ}
    return built


@pytest.fixture(scope="module")
def checked(corpus: dict[str, tuple[Path, Expected]]) -> dict[str, checking.FileCheck]:
    """The self-check of the whole corpus, as one batch (the way a run sees it)."""
    results = checking.check_files([path for path, _ in corpus.values()])
    return {result.file_name: result for result in results}


def _listing(result: checking.FileCheck) -> str:
    return "\n".join(f"  {f.severity} {f.rule} {f.where or '(file)'}: {f.message}" for f in result.findings)


def test_the_corpus_has_at_least_thirty_kinds(corpus) -> None:
    assert len(corpus) >= 30
    assert len({expected.rule for _, expected in corpus.values()}) >= 20


@pytest.mark.parametrize("name", list(READ))
def test_files_past_the_inspection_pass_it(corpus, name: str) -> None:
    path, _ = corpus[name]
    assert inspect_file(path).ok, inspect_file(path).issues


@pytest.mark.parametrize("name", [*HOSTILE, *READ])
def test_each_file_is_rejected_with_its_own_rule(corpus, checked, name: str) -> None:
    path, expected = corpus[name]
    result = checked[path.name]
    assert result.status == "rejected", _listing(result)
    matching = [finding for finding in result.findings if finding.rule == expected.rule]
    assert matching, f"no {expected.rule}:\n{_listing(result)}"
    assert any(finding.sheet == expected.sheet for finding in matching), _listing(result)
    if expected.cell:
        assert any(finding.cell == expected.cell for finding in matching), _listing(result)
    assert any(all(word in finding.message for word in expected.message) for finding in matching), _listing(result)


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_over_samples_and_corpus_reproduces_the_report_and_rejects_each_hostile_file(
    raw_dir: Path, corpus, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from flows.ingest import ingest_period

    warehouse = tmp_path_factory.mktemp("warehouse") / "w.duckdb"
    summary = ingest_period(period="2022", raw_dir=raw_dir, warehouse=warehouse)

    assert summary.matched == 66, [f.figure_id for f in summary.figures if not f.matches]
    assert summary.processed == 18 + len(corpus)
    assert (summary.accepted, summary.rejected) == (18, len(corpus))
    assert {name for name, _ in summary.rejected_files} == {path.name for path, _ in corpus.values()}
    statuses = dict(query(warehouse, "select file_name, status from ops.submissions where period = '2022'"))
    rules = query(warehouse, "select file_name, rule from ops.findings")
    for path, expected in corpus.values():
        assert statuses[path.name] == "rejected"
        assert (path.name, expected.rule) in rules
    assert query(warehouse, "select status from ops.runs") == [("succeeded",)]
    reports = list(summary.report_dir.glob("*.report.html"))
    assert len(reports) == 18 + len(corpus)
    stopped = {path.name for name, (path, _) in corpus.items() if name in HOSTILE}
    annotated = {report.name for report in summary.report_dir.glob("*.annotated.xlsx")}
    assert not any(name.rsplit(".", 1)[0] in annotated_name for name in stopped for annotated_name in annotated)


def test_the_largest_file_the_limits_let_through_needs_under_1_gb(tmp_path: Path) -> None:
    """A sheet at the row limit (50,000 rows, every one with findings) is read and checked in a fresh process
    whose peak memory stays under 1 GB: no file that passes the inspection can exhaust the machine. The workbook is
    the template's, written as the office hands it out (xlsxwriter: a second, where openpyxl took five)."""
    import datetime
    import subprocess
    import sys

    import fastexcel

    from union_stats.inspect import load_limits
    from union_stats.reference import reference_unit
    from union_stats.template import write_workbook

    path = tmp_path / "2022" / "shiqiao_2022.xlsx"
    unit = reference_unit("shiqiao")
    record = {"credit_code": None, "founded_on": datetime.date(2022, 3, 5), "new_members": 10, "new_form_members": 2}
    enterprises = [{"enterprise_name": f"企业{number}", **record} for number in range(load_limits().max_rows - 1)]
    write_workbook(path, unit, "2022", details={"enterprises_unionised": enterprises})
    sheet = fastexcel.read_excel(path).load_sheet_by_name("新建工会企业", header_row=None)
    assert sheet.height == load_limits().max_rows  # the header, then a row for each enterprise: the limit exactly
    assert inspect_file(path).ok

    probe = (
        "import sys; from pathlib import Path; from union_stats import checking; "
        "[result] = checking.check_files([Path(sys.argv[1])]); "
        "peak = next(line for line in open('/proc/self/status') if line.startswith('VmHWM')).split()[1]; "
        "print(result.status, len(result.findings), peak)"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=300)
    status, findings, peak_kb = done.stdout.split()[-3:]
    print(f"50,000-row file: {status}, {findings} findings, peak {int(peak_kb) / 1024:.0f} MB")
    assert status == "rejected" and int(findings) >= 49_000
    assert int(peak_kb) < 1024 * 1024

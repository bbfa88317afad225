"""A year without a published report (2023, by quarters and then as a year): its figures keep their values and are
compared with nothing, the runs print what they loaded and the year's targets, progress is kept quarter by
quarter, and `status` says each unit's newest file in Chinese or English, as a table or for machines."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil

import pytest
from defects import set_indicator
from rich.cells import cell_len
from rich.console import Console
from warehouse import query

from union_stats import cli, reference
from union_stats import warehouse as db
from union_stats.devtools.sample import write_sample, write_year
from union_stats.publish import run_summary as publish

pytestmark = pytest.mark.usefixtures("prefect_harness")

YEAR = "2023"
CORRECTION = "shiqiao_2023Q2(更正).xlsx"


def _cli(*arguments: str) -> tuple[int, str]:
    """The command in this process, as an operator types it: its exit code and what it printed."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli.main(list(arguments))
    return code, buffer.getvalue()


@pytest.fixture(scope="module")
def year(prefect_harness, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """2023Q1 by the flow, 2023Q2 (with a broken correction of one town's file) and the annual 2023 returns by
    `union-stats run`, then a rerun of 2023 that finds nothing new."""
    from flows.ingest import ingest_period

    root = tmp_path_factory.mktemp("no-report")
    raw, warehouse = root / "raw", root / "wh" / "union_stats.duckdb"
    write_year(YEAR, raw)
    write_sample(YEAR, raw / YEAR)
    broken = raw / f"{YEAR}Q2" / CORRECTION  # not in the receipts: it counts as received now, after the original
    shutil.copy(raw / f"{YEAR}Q2" / "shiqiao_2023Q2.xlsx", broken)
    set_indicator(broken, "job_fairs", "约100")

    seen: dict = {"warehouse": warehouse, "raw": raw}
    seen["q1"] = ingest_period(period=f"{YEAR}Q1", raw_dir=raw, warehouse=warehouse)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("COLUMNS", raising=False)  # as in a pipe: tables printed whole, at the width their cells need
        for name, period in (("q2", f"{YEAR}Q2"), ("annual", YEAR), ("rerun", YEAR)):
            seen[name] = _cli("run", "--period", period, "--raw-dir", str(raw), "--warehouse", str(warehouse))
    return seen


def test_district_figures_keep_values_without_a_report(year: dict) -> None:
    rows = query(
        year["warehouse"],
        "select period, count(*), count(value), count(published), count(reproduced), count(matches), "
        "count(*) filter (where complete) "
        "from report.district_figures group by period order by period",
    )
    assert rows == [(period, 66, 66, 0, 0, 0, 66) for period in (YEAR, f"{YEAR}Q1", f"{YEAR}Q2")]
    # the value is the district total of the period's returns (F03, job fairs, is reported by every unit)
    for period in (YEAR, f"{YEAR}Q1", f"{YEAR}Q2"):
        [(value, total)] = query(
            year["warehouse"],
            "select (select value from report.district_figures where period = $1 and figure_id = 'F03'), "
            "(select sum(value) from marts.fct_indicator_value where indicator_code = 'job_fairs' and period = $1)",
            period,
        )
        assert value == total > 0
    assert year["q1"].compared is False and year["q1"].matched == 0


def test_only_the_periods_listed_as_published_are_compared() -> None:
    listed = {row["period"] for row in reference.published_reports()}
    assert listed == {"2022"}  # figures.csv holds the 2022 report's numbers; nothing else has a report yet
    assert YEAR not in listed


def test_a_run_of_a_period_without_a_report_prints_what_it_loaded_and_the_targets(year: dict) -> None:
    code, out = year["q2"]
    assert code == 0
    assert "of 66 figures match" not in out and "0 of 66" not in out and "✗" not in out
    assert "no published report" in out and "19 files, 19 new: 18 accepted, 1 rejected" in out
    assert "18 of 18 units with an accepted file" in out and "66 of 66 figures complete" in out
    assert f"rejected {CORRECTION}" in out
    assert f"Targets {YEAR}" in out and f"progress as of {YEAR}Q2" in out
    for target in reference.targets():
        assert target["quote_zh"] in out
    f58 = next(line for line in out.splitlines() if "F58" in line)  # the value, in its base unit
    [(value,)] = query(
        year["warehouse"],
        "select value from report.district_figures where period = ? and figure_id = 'F58'",
        f"{YEAR}Q2",
    )
    assert f"{value:,.0f} enterprises" in f58

    code, out = year["annual"]
    assert code == 0 and "of 66 figures match" not in out and f"progress as of {YEAR}:" not in out
    assert f"Targets {YEAR} (reference/targets.csv): progress as of {YEAR}" in out

    code, out = year["rerun"]
    assert code == 0 and "nothing new since the last run" in out and "no published report" in out
    assert "of 66 figures match" not in out and f"Targets {YEAR}" in out


def test_the_figures_artifact_compares_with_nothing(year: dict) -> None:
    figures = db.read_district_figures(year["warehouse"], f"{YEAR}Q2")
    targets = db.read_target_progress(year["warehouse"], f"{YEAR}Q2")
    text = publish.figures_markdown(figures, targets)
    assert "No work report was published" in text and "figures match" not in text and "✗" not in text
    assert text.count("| F") == 66 and f"progress as of {YEAR}Q2" in text
    assert [row["period"] for row in targets] == [f"{YEAR}Q2"] * len(targets)


def test_target_progress_is_kept_quarter_by_quarter(year: dict) -> None:
    warehouse = year["warehouse"]
    steps = query(
        warehouse,
        "select indicator_code, period, quarter, achieved, basis, met from report.target_progress_by_period "
        "order by indicator_code, quarter nulls last",
    )
    wanted = [row["indicator_code"] for row in reference.targets() if row["year"] == YEAR]
    assert sorted({row[0] for row in steps}) == sorted(wanted)
    for code in wanted:
        mine = [row for row in steps if row[0] == code]
        assert [(period, quarter, basis) for _, period, quarter, _, basis, _ in mine] == [
            (f"{YEAR}Q1", 1, "quarters"),
            (f"{YEAR}Q2", 2, "quarters"),
            (YEAR, None, "annual"),
        ]
        # each quarter's row is the year so far: Q1 alone, then Q1 + Q2, from the units' current returns
        by_quarter = dict(
            query(
                warehouse,
                "select period, sum(value) from marts.fct_indicator_value where indicator_code = ? group by period",
                code,
            )
        )
        assert mine[0][3] == by_quarter[f"{YEAR}Q1"]
        assert mine[1][3] == by_quarter[f"{YEAR}Q1"] + by_quarter[f"{YEAR}Q2"]
        # the year's row is what report.target_progress says (the annual returns)
        [(achieved, met)] = query(
            warehouse,
            "select achieved, met from report.target_progress where year = ? and indicator_code = ?",
            YEAR,
            code,
        )
        assert (mine[2][3], mine[2][5]) == (achieved, met)
    # the history was not written into report.target_progress: its shape and meaning are as before
    assert query(warehouse, "select count(*) from report.target_progress where year = ?", YEAR) == [(len(wanted),)]


# --- status


def _status(year: dict, *options: str) -> tuple[int, str]:
    return _cli("status", "--period", f"{YEAR}Q2", "--warehouse", str(year["warehouse"]), *options)


def test_status_in_chinese_names_the_newest_file_and_a_rejected_correction(year: dict, monkeypatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    code, out = _status(year)
    assert code == 0
    assert "报送情况 2023Q2：18 / 18 个单位已报送" in out
    for english in ("accepted", "rejected", "missing", "units submitted", "on time"):
        assert english not in out
    shiqiao = [line for line in out.splitlines() if "shiqiao" in line or "采用" in line]
    assert "退回" in shiqiao[0] and "通过" in shiqiao[0] and CORRECTION in shiqiao[0]
    assert any("采用：shiqiao_2023Q2.xlsx" in line for line in shiqiao)
    assert "…" not in out


def test_status_in_english(year: dict, monkeypatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    code, out = _status(year, "--lang", "en")
    assert code == 0 and "Submissions 2023Q2: 18 / 18 units submitted" in out
    assert "报送情况" not in out and "通过" not in out and "退回" not in out and "按时" not in out
    row = next(line for line in out.splitlines() if "shiqiao" in line)
    assert "Shiqiao Subdistrict Federation" in row and "rejected" in row and "accepted" in row
    assert "first received (Beijing time)" in " ".join(out.split())  # a time says its zone


def test_status_fits_a_narrow_terminal(year: dict, monkeypatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=buffer, width=72, force_terminal=True, color_system=None))
    assert cli.main(["status", "--period", f"{YEAR}Q2", "--warehouse", str(year["warehouse"])]) == 0
    printed = buffer.getvalue()
    assert max(cell_len(line) for line in printed.splitlines()) <= 72
    assert "…" not in printed
    for (unit,) in query(year["warehouse"], "select unit_code from ops.expected_units where period = ?", f"{YEAR}Q2"):
        assert unit in printed


def test_status_as_csv_and_json(year: dict) -> None:
    code, text = _status(year, "--format", "csv", "--lang", "en")
    assert code == 0
    assert text.startswith("\ufeffperiod,")  # the byte order mark Excel needs to read UTF-8, then the header
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert len(rows) == 18 and len({row["unit_code"] for row in rows}) == 18
    shiqiao = next(row for row in rows if row["unit_code"] == "shiqiao")
    assert shiqiao["first_received_at"].endswith("+08:00")  # in Beijing time, saying so
    assert (shiqiao["outcome"], shiqiao["current_file"], shiqiao["files"]) == ("accepted", "shiqiao_2023Q2.xlsx", "2")
    assert (shiqiao["newest_file"], shiqiao["newest_outcome"], shiqiao["newest_outcome_label"]) == (
        CORRECTION,
        "rejected",
        "rejected",
    )

    code, text = _status(year, "--format", "json")
    assert code == 0
    items = json.loads(text)
    assert len(items) == 18
    shiqiao = next(item for item in items if item["unit_code"] == "shiqiao")
    assert shiqiao["unit_name_zh"] == "市桥街总工会" and shiqiao["newest_outcome_label"] == "退回"
    assert shiqiao["outcome_label"] == "通过" and isinstance(shiqiao["files"], int)


def test_status_options_are_checked(year: dict, capsys: pytest.CaptureFixture[str]) -> None:
    for option, value in (("--lang", "fr"), ("--format", "xml")):
        assert cli.main(["status", "--period", YEAR, "--warehouse", str(year["warehouse"]), option, value]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and option in err

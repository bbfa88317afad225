"""`union-stats bench`: it measures a small N end to end and writes its rows; a wrong output is a usage error.

The measurement starts fresh processes (the bare baselines, a Prefect run, a rerun, `validate`, the portal under
18 concurrent uploads): on a two-core machine this takes about three minutes even for N = 3, the first run of the
shipped 18 being left out here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from union_stats import cli
from union_stats.devtools import bench


def test_bench_measures_three_units_and_writes_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "RAW_DIR", tmp_path / "no-shipped-sample")  # skip the shipped 18's first run
    out = tmp_path / "b.json"

    code = cli.main(["bench", "--units", "3", "--out", str(out), "--work-dir", str(tmp_path)])

    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert printed.err == ""
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["machine"]["cores"] >= 1 and result["machine"]["cpu"]
    rows = {(row["n"], row["measure"]): row for row in result["rows"]}
    for measure in (bench.FLOOR, *bench.STAGES, bench.STAGES_TOTAL, bench.RUN, bench.NOOP, bench.VALIDATE_COLD):
        row = rows[(3, measure)]
        assert row["seconds"] > 0, measure
        assert row["peak_mb"] > 0, measure
    for baseline in (
        bench.BARE_POLARS_DUCKDB,
        bench.BARE_GX,
        bench.BARE_STACK_NEW,
        bench.BARE_STACK,
        bench.BARE_STACK_PREFECT_OWN,
    ):
        assert rows[(None, baseline)]["seconds"] > 0, baseline
    assert rows[(3, bench.RUN)]["baseline"] == bench.BARE_STACK and rows[(3, bench.RUN)]["x_baseline"] > 0
    assert rows[(3, bench.NOOP)]["baseline"] == bench.BARE_POLARS_DUCKDB
    assert rows[(3, bench.VALIDATE_COLD)]["baseline"] == bench.BARE_GX
    assert rows[(3, bench.FLOOR)]["x_floor"] == pytest.approx(1.0)
    # the portal, once: 18 uploads at once (one per reference unit), then one alone
    concurrent, alone = rows[(18, bench.PORTAL_CONCURRENT)], rows[(18, bench.PORTAL_ONE)]
    assert concurrent["seconds"] > 0 and concurrent["workbooks_per_s"] > 0 and concurrent["peak_mb"] > 0
    assert alone["seconds"] > 0 and not concurrent["part_of_run"] and not alone["part_of_run"]
    assert "N = 3 workbooks" in printed.out and "machine: " in printed.out
    # the generated units stay for the next invocation; the runs' warehouses do not
    assert len(list(bench.units_folder(tmp_path, 3, bench.DEFAULT_SEED).joinpath(bench.PERIOD).glob("*.xlsx"))) == 3
    assert len(list((tmp_path / "reference-units-seed-1" / bench.PERIOD).glob("*.xlsx"))) == 18
    assert list((tmp_path / "runs").iterdir()) == []


def test_bench_refuses_an_output_that_is_not_csv_or_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    code = cli.main(["bench", "--units", "3", "--out", "x.txt", "--work-dir", str(tmp_path / "work")])

    printed = capsys.readouterr()
    assert code == 2
    assert len(printed.err.strip().splitlines()) == 1 and ".csv or .json" in printed.err
    assert list(tmp_path.iterdir()) == []


def test_the_table_is_written_as_csv_too(tmp_path: Path) -> None:
    result = bench.BenchResult(
        {"cpu": "x", "cores": 2, "memory_gb": 4, "python": "3.11", "system": "Linux", "date": "2031-01-01"},
        [bench.Row(3, bench.FLOOR, 0.5, 6.0, 1.0, 100.0), bench.Row(None, bench.BARE_GX, 4.0, part_of_run=False)],
    )

    text = bench.write(result, tmp_path / "b.csv").read_text(encoding="utf-8")

    lines = text.splitlines()
    assert lines[0].startswith("n,measure,seconds,workbooks_per_s,x_floor,peak_mb,baseline,x_baseline")
    assert len(lines) == 3 and bench.FLOOR in lines[1]

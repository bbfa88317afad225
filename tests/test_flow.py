"""The ingest flow end to end: the shipped 2022 submissions reproduce every figure of the report."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from defects import set_indicator
from warehouse import query

from flows.ingest import ingest_period
from union_stats.reference import figures
from union_stats.runs import data_docs_setting

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _numeric(text: str) -> Decimal:
    return Decimal(text)


def _published_holds(comparator: str, unit_zh: str, published: str, value: Decimal) -> bool:
    """The spec's comparators, restated independently of the warehouse's SQL so that each checks the other."""
    x = value / 10000 if unit_zh.startswith("万") else value
    p = _numeric(published)
    if comparator == "eq":
        return x == p
    if comparator.startswith("round_"):
        places = {"round_0.1": Decimal("0.1"), "round_0.01": Decimal("0.01"), "round_1": Decimal("1")}[comparator]
        return x.quantize(places, rounding="ROUND_HALF_UP") == p
    if comparator == "gt":
        return x > p
    if comparator == "plus":
        step = Decimal(10) ** (len(str(int(p))) - 1)
        return p < x < p + step
    tolerance = {"approx_5pct": Decimal("0.05"), "approx_1pct": Decimal("0.01")}[comparator]
    return abs(x - p) <= tolerance * p


def _bump_job_fairs(path: Path, by: int) -> None:
    set_indicator(path, "job_fairs", lambda value: value + by)


def test_shipped_2022_reproduces_all_66_figures(built_2022: Path) -> None:
    """The session's one flow run of the shipped 18 (`built_2022`, which also checks its summary)."""
    warehouse = built_2022 / "wh" / "union_stats.duckdb"
    assert query(warehouse, "select count(*), count(*) filter (where status = 'accepted') from ops.submissions") == [
        (18, 18)
    ]
    rows = query(
        warehouse,
        "select figure_id, value, published, reproduced, matches from report.district_figures "
        "where period = '2022' order by figure_id",
    )
    assert len(rows) == 66
    assert (built_2022 / "wh" / "gx").exists() == data_docs_setting()  # GX's file project only when asked for
    spec = {figure.figure_id: figure for figure in figures()}
    for figure_id, value, published, reproduced, matches in rows:
        figure = spec[figure_id]
        assert matches, f"{figure_id}: reproduced {reproduced}, published {published}"
        assert _published_holds(figure.comparator, figure.unit_zh, figure.published, value), figure_id
        assert figure.published in published


def test_rerun_gives_the_same_warehouse(loaded_2022: Path) -> None:
    raw_dir, warehouse = loaded_2022 / "raw", loaded_2022 / "wh" / "union_stats.duckdb"  # after the first run
    snapshot_sql = {
        "figures": "select period, figure_id, value, reproduced, matches from report.district_figures order by all",
        "facts": "select * from marts.fct_indicator_value order by all",
        "cases": "select * from marts.fct_dispute_case order by all",
        "submissions": "select submission_id, unit_code, period, sha256, status, errors, warnings "
        "from ops.submissions order by all",
        "raw": "select count(*), count(distinct submission_id) from raw.indicator_values",
    }
    first = {name: query(warehouse, sql) for name, sql in snapshot_sql.items()}
    ingest_period(period="2022", raw_dir=raw_dir, warehouse=warehouse)
    second = {name: query(warehouse, sql) for name, sql in snapshot_sql.items()}

    assert first == second
    assert first["raw"] == [(first["raw"][0][0], 18)]
    assert query(warehouse, "select status from ops.runs order by started_at") == [("succeeded",), ("nothing_new",)]


def test_a_changed_workbook_value_changes_the_district_figure(loaded_2022: Path) -> None:
    """Figures come from the workbooks only: add 5 job fairs in one town and F03 moves by 5."""
    raw_copy, warehouse = loaded_2022 / "raw", loaded_2022 / "wh" / "union_stats.duckdb"
    _bump_job_fairs(raw_copy / "2022" / "shiqiao_2022.xlsx", 5)

    ingest_period(period="2022", raw_dir=raw_copy, warehouse=warehouse)
    [(value, matches, reproduced)] = query(
        warehouse, "select value, matches, reproduced from report.district_figures where figure_id = 'F03'"
    )
    published = next(figure for figure in figures() if figure.figure_id == "F03").published
    assert value == Decimal(published) + 5
    assert not matches
    assert reproduced == f"{int(published) + 5}场次"


def test_a_failed_load_leaves_the_warehouse_as_it_was(loaded_2022: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw_copy, warehouse = loaded_2022 / "raw", loaded_2022 / "wh" / "union_stats.duckdb"
    before = {
        table: query(warehouse, f"select * from {table} order by all")
        for table in ("report.district_figures", "ops.submissions", "ops.ledger", "raw.indicator_values")
    }
    _bump_job_fairs(raw_copy / "2022" / "shiqiao_2022.xlsx", 5)  # a resubmission for the run to load

    from union_stats import transform

    real_build = transform.build

    def broken_build(con, targets=None, **kwargs):
        if targets is not None:  # the validate stage's in-memory build stays as it is
            return real_build(con, targets, **kwargs)
        con.execute("delete from raw.indicator_values")
        raise RuntimeError("simulated failure while building the marts")

    monkeypatch.setattr(transform, "build", broken_build)
    with pytest.raises(RuntimeError, match="simulated failure"):
        ingest_period(period="2022", raw_dir=raw_copy, warehouse=warehouse)

    assert {table: query(warehouse, f"select * from {table} order by all") for table in before} == before
    assert query(warehouse, "select status from ops.runs order by started_at") == [("succeeded",), ("failed",)]


def test_synthetic_units_load_with_their_units_file(tmp_path: Path) -> None:
    from union_stats.devtools.sample import write_sample

    raw_dir = tmp_path / "raw"
    write_sample("2031", raw_dir / "2031", units=5, seed=7)
    warehouse = tmp_path / "synthetic.duckdb"
    summary = ingest_period(period="2031", raw_dir=raw_dir, warehouse=warehouse)

    assert (summary.files, summary.accepted) == (5, 5)
    assert query(warehouse, "select count(distinct unit_code) from marts.fct_indicator_value") == [(5,)]
    assert query(warehouse, "select count(*) from marts.dim_unit where origin = 'period_units_file'") == [(5,)]

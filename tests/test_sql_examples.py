"""Every query of `sql/examples/` runs against a warehouse built from the sample and gives the right answer.

The warehouse is one real flow run over the 2022 sample, with two changes that give the examples on findings
and late units something to find: xinzao's file arrived five days after the due date (its receipt says so), and
shiqiao sent a correction with a negative number of job fairs, which is rejected (the accepted file stays
current, so every figure still matches the report). Each example has its own check below, and an example without
one fails the test: a query nobody checks is a query that rots. The analyst views the examples read
(`marts.indicator_values_long`, `_wide`, `marts.figure_detail_rows`) are checked on the same warehouse: typed,
one row per grain, and adding up to the figures.
"""

from __future__ import annotations

import csv
import re
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml
from defects import set_indicator

from union_stats import analyst_views, reference, transform
from union_stats.paths import RAW_DIR, SQL_DIR

EXAMPLES_DIR = SQL_DIR / "examples"
LATE_UNIT, LATE_RECEIVED_AT = "xinzao", "2023-01-20T10:00:00+08:00"  # due 2023-01-15: 5 days late
CORRECTED_UNIT = "shiqiao"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, prefect_harness) -> Path:
    from flows.ingest import ingest_period

    root = tmp_path_factory.mktemp("examples")
    raw = root / "raw"
    shutil.copytree(RAW_DIR / "2022", raw / "2022")
    receipts = raw / "2022" / "receipts.csv"
    with receipts.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["file_name"] == f"{LATE_UNIT}_2022.xlsx":
            row["received_at"] = LATE_RECEIVED_AT
    with receipts.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file_name", "received_at"])
        writer.writeheader()
        writer.writerows(rows)
    correction = raw / "2022" / f"{CORRECTED_UNIT}_2022(更正).xlsx"
    shutil.copyfile(raw / "2022" / f"{CORRECTED_UNIT}_2022.xlsx", correction)
    set_indicator(correction, "job_fairs", -3)
    target = root / "wh" / "w.duckdb"
    summary = ingest_period(period="2022", raw_dir=raw, warehouse=target)
    assert (summary.accepted, summary.rejected) == (18, 1)
    return target


@pytest.fixture(scope="module")
def con(warehouse: Path):
    connection = duckdb.connect(str(warehouse), read_only=True)
    yield connection
    connection.close()


def _run(con: duckdb.DuckDBPyConnection, name: str) -> list[dict]:
    relation = con.sql((EXAMPLES_DIR / name).read_text(encoding="utf-8"))
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def _figure(con: duckdb.DuckDBPyConnection, figure_id: str) -> Decimal:
    [(value,)] = con.execute(
        "select value from report.district_figures where period = '2022' and figure_id = ?", [figure_id]
    ).fetchall()
    return value


# --- one check per example ----------------------------------------------------------------------------------


def check_01_rank_towns_by_new_members(con, rows):
    assert len(rows) == 16  # the towns: F59 is reported by towns only
    assert sum(row["new_members"] for row in rows) == _figure(con, "F59") == 36034
    assert all(isinstance(row["new_members"], int) for row in rows)  # persons are integers, not 3963.00
    assert [row["rank"] for row in rows] == sorted(row["rank"] for row in rows)
    assert rows[0]["new_members"] == max(row["new_members"] for row in rows)
    assert rows[0]["rank"] == 1


def check_02_share_of_district_total(con, rows):
    figures = {row["figure_id"] for row in rows}
    assert len(figures) == 64  # 66 figures but the two distinct counts
    for figure_id in figures:
        mine = [row for row in rows if row["figure_id"] == figure_id]
        assert mine[0]["district_total"] == _figure(con, figure_id)
        if mine[0]["district_total"]:
            assert sum(row["share_exact"] for row in mine) == pytest.approx(1, abs=1e-9)


def check_03_year_on_year_change(con, rows):
    assert {row["year"] for row in rows} == {"2022"}
    assert all(row["previous_value"] is None and row["change"] is None for row in rows)  # no 2021: null, not 0
    by_figure = {row["figure_id"]: row["value"] for row in rows if row["figure_id"]}
    assert by_figure["F03"] == _figure(con, "F03")
    assert by_figure["F59"] == _figure(con, "F59")


def check_04_quarter_on_quarter_change(con, rows):
    assert rows == []  # no quarter is loaded


def check_05_cases_behind_f44(con, rows):
    assert len(rows) == _figure(con, "F44") == 603
    assert {(row["channel"], row["outcome"]) for row in rows} == {("三方联调中心调解", "调解成功")}
    assert all(row["file_name"].endswith(".xlsx") and row["source_row"] >= 2 for row in rows)


def check_06_dues_refunds_behind_f02(con, rows):
    assert {row["unit_name_zh"] for row in rows} == {"区总工会本级"}  # only the district office reports it
    assert sum(row["refund_yuan"] for row in rows) == _figure(con, "F02") == 5329000
    assert len(rows) == _figure(con, "F01")


def check_07_new_members_by_town(con, rows):
    assert len(rows) == 16
    for column, figure_id in (("enterprises_unionised", "F58"), ("new_members", "F59"), ("new_form_members", "F61")):
        assert sum(row[column] for row in rows) == _figure(con, figure_id)


def check_08_findings_by_unit_and_rule(con, rows):
    [(total,)] = con.sql("select count(*) from ops.findings where period = '2022'").fetchall()
    assert total > 0
    assert sum(row["findings"] for row in rows) == total
    corrected = [row for row in rows if row["unit_name_zh"] == "市桥街总工会"]
    assert any(row["severity"] == "error" for row in corrected)  # the rejected correction's finding


def check_09_late_units(con, rows):
    assert [(row["unit_code"], row["days_late"]) for row in rows] == [(LATE_UNIT, 5)]


def check_10_beneficiaries_vs_payments(con, rows):
    by_type = {row["beneficiary_type"]: row for row in rows}
    assert set(by_type) == {"新春慰问", "住院关爱", "助学", "两保计划"}
    assert by_type["新春慰问"]["payments"] == _figure(con, "F49")
    assert by_type["住院关爱"]["amount_yuan"] == _figure(con, "F52")
    assert all(row["distinct_beneficiaries"] <= row["payments"] for row in rows)


def check_11_target_progress(con, rows):
    assert len(rows) == 3 and {row["year"] for row in rows} == {"2023"}
    assert all(row["achieved"] is None and row["met"] is False for row in rows)  # nothing of 2023 is loaded


def check_12_figures_by_unit_wide(con, rows):
    assert len(rows) == 18
    assert sum(row["new_members"] or 0 for row in rows) == _figure(con, "F59")
    assert sum(row["job_fairs"] for row in rows) == _figure(con, "F03")
    assert sum(bool(row["new_form_federation"]) for row in rows) == _figure(con, "F60")
    towns = [row for row in rows if row["unit_kind"] == "town"]
    assert all(row["new_members"] is not None for row in towns)
    assert all(row["new_members"] is None for row in rows if row["unit_kind"] != "town")


def check_13_unit_contributions_to_a_figure(con, rows):
    assert len(rows) == 18
    assert sum(row["share"] for row in rows) == pytest.approx(1, abs=1e-3)
    assert sum(int(row["value"]) for row in rows) == _figure(con, "F03")
    assert all(re.fullmatch(r"指标![A-Z]+\d+", row["source"]) for row in rows)


CHECKS = {name.removeprefix("check_") + ".sql": check for name, check in globals().items() if name.startswith("check_")}


def test_every_example_has_a_check() -> None:
    assert sorted(path.name for path in EXAMPLES_DIR.glob("*.sql")) == sorted(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example_answers(con, name: str) -> None:
    CHECKS[name](con, _run(con, name))


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example_starts_with_its_question(name: str) -> None:
    lines = (EXAMPLES_DIR / name).read_text(encoding="utf-8").splitlines()
    header = [line for line in lines[: next(i for i, line in enumerate(lines) if not line.startswith("--"))]]
    assert header[0].startswith("-- Question: ") and "?" in " ".join(header)


def test_examples_are_not_models() -> None:
    """`sql/examples/` holds queries for people: the build must not turn them into relations of the warehouse."""
    models = transform.load_models()
    assert "examples" not in {model.folder for model in models}
    assert not any(model.name.startswith(("01_", "13_")) for model in models)


# --- the analyst views the examples read ----------------------------------------------------------------------


def test_wide_view_is_what_the_catalog_gives() -> None:
    """`marts.indicator_values_wide` is generated (`union-stats suites`): its file must not drift from the catalog."""
    committed = (SQL_DIR / analyst_views.WIDE_VIEW).read_text(encoding="utf-8")
    assert committed == analyst_views.wide_view_sql(), "run `union-stats suites`: indicator_values_wide.sql drifted"


def test_wide_view_documentation_is_what_the_catalog_gives() -> None:
    """Its entry in sql/marts/schema.yml describes one column per indicator, from the catalog."""
    committed = yaml.safe_load((SQL_DIR / "marts" / "schema.yml").read_text(encoding="utf-8"))["models"]
    [entry] = [model for model in committed if model["name"] == "marts.indicator_values_wide"]
    assert [entry] == yaml.safe_load("models:\n" + analyst_views.wide_view_doc())["models"], (
        "replace the entry marts.indicator_values_wide of sql/marts/schema.yml by analyst_views.wide_view_doc()"
    )


def test_views_state_their_grain() -> None:
    for name in ("indicator_values_long", "indicator_values_wide", "figure_detail_rows"):
        first = (SQL_DIR / "marts" / f"{name}.sql").read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("-- grain: one row per "), name


def test_long_view_is_typed_and_one_row_per_grain(con) -> None:
    types = dict(con.sql("select column_name, column_type from (describe marts.indicator_values_long)").fetchall())
    assert (types["value_count"], types["value_yuan"], types["value_flag"]) == ("BIGINT", "DECIMAL(18,2)", "BOOLEAN")
    [(rows, keys)] = con.sql(
        "select count(*), count(distinct (period, unit_code, indicator_code)) from marts.indicator_values_long"
    ).fetchall()
    assert rows == keys > 0
    [(facts,)] = con.sql("select count(*) from marts.fct_indicator_value").fetchall()
    assert rows == facts
    # each value sits in the one column of its type, and flags read 是/否
    [(misplaced,)] = con.sql(
        """
        select count(*) from marts.indicator_values_long
        where (value_count is not null)::int + (value_yuan is not null)::int + (value_quantity is not null)::int
            + (value_flag is not null)::int <> 1
           or (value_type = 'flag' and value_zh not in ('是', '否'))
        """
    ).fetchall()
    assert misplaced == 0
    # an indicator-sheet value names its cell, and the cell is the 数值 column of the row the value came from
    cells = con.sql(
        "select source_row, source_cell from marts.indicator_values_long where source = 'indicator_sheet'"
    ).fetchall()
    assert cells and all(cell == f"指标!D{row}" for row, cell in cells)


def test_wide_view_has_every_catalog_column_in_order(con) -> None:
    columns = [row[0] for row in con.sql("select column_name from (describe marts.indicator_values_wide)").fetchall()]
    assert columns == ["period", "unit_code", "unit_name_zh", "unit_kind"] + [
        indicator.indicator_code for indicator in reference.indicators()
    ]
    [(rows, keys)] = con.sql(
        "select count(*), count(distinct (period, unit_code)) from marts.indicator_values_wide"
    ).fetchall()
    assert rows == keys == 18


def test_detail_rows_add_up_to_each_detail_figure(con) -> None:
    totals = con.sql(
        """
        select detail.figure_id, any_value(detail.measure), sum(detail.value_count), sum(detail.value_yuan),
            count(distinct detail.distinct_value), any_value(figures.value)
        from marts.figure_detail_rows as detail
        join report.district_figures as figures on figures.period = detail.period and figures.figure_id = detail.figure_id
        where detail.period = '2022'
        group by detail.figure_id
        """
    ).fetchall()
    detail_figures = {i.figure_id for i in reference.indicators() if i.detail_sheet and i.figure_id}
    assert {row[0] for row in totals} == detail_figures
    for figure_id, measure, counted, yuan, distinct, value in totals:
        got = distinct if measure == "count_distinct" else counted if counted is not None else yuan
        assert got == value, figure_id
    [(uncelled,)] = con.sql(
        "select count(*) from marts.figure_detail_rows where measure <> 'count' and source_cell is null"
    ).fetchall()
    assert uncelled == 0


# --- with earlier periods: year-on-year and quarter-on-quarter change that is not null ----------------------


@pytest.fixture(scope="module")
def later(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 2022 warehouse (a copy, with its key) plus the 2023 annual sample and its first two quarters."""
    from flows.ingest import ingest_period
    from union_stats.devtools.sample import write_year

    root = tmp_path_factory.mktemp("later")
    target = root / "wh" / "w.duckdb"
    target.parent.mkdir()
    shutil.copyfile(warehouse, target)
    shutil.copyfile(warehouse.parent / "pseudonym.key", target.parent / "pseudonym.key")
    (target.parent / "pseudonym.key").chmod(0o600)
    raw = root / "raw"
    write_year("2023", raw, quarterly=False)
    write_year("2023", raw)
    for period in ("2023", "2023Q1", "2023Q2"):
        assert ingest_period(period=period, raw_dir=raw, warehouse=target).accepted == 18, period
    return target


def test_year_on_year_change_against_2022(later: Path) -> None:
    with duckdb.connect(str(later), read_only=True) as con:
        _year_on_year_change_against_2022(con)


def _year_on_year_change_against_2022(later: duckdb.DuckDBPyConnection) -> None:
    rows = {row["figure_id"]: row for row in _run(later, "03_year_on_year_change.sql") if row["year"] == "2023"}
    figures = dict(
        later.sql(
            "select period || figure_id, value from report.district_figures where period in ('2022', '2023')"
        ).fetchall()
    )
    for figure_id in ("F03", "F59", "F02"):
        row = rows[figure_id]
        assert (row["value"], row["previous_value"]) == (figures["2023" + figure_id], figures["2022" + figure_id])
        assert row["change"] == row["value"] - row["previous_value"]
        assert float(row["change_ratio"]) == pytest.approx(float(row["change"] / row["previous_value"]), abs=1e-4)
    assert any(row["change"] != 0 for row in rows.values())


def test_quarter_on_quarter_change(later: Path) -> None:
    with duckdb.connect(str(later), read_only=True) as con:
        _quarter_on_quarter_change(con)


def _quarter_on_quarter_change(later: duckdb.DuckDBPyConnection) -> None:
    rows = _run(later, "04_quarter_on_quarter_change.sql")
    assert {row["period"] for row in rows} == {"2023Q1", "2023Q2"}
    first = {row["figure_id"]: row for row in rows if row["period"] == "2023Q1"}
    second = {row["figure_id"]: row for row in rows if row["period"] == "2023Q2"}
    assert all(row["previous_value"] is None and row["change"] is None for row in first.values())  # no 2022Q4
    for figure_id in ("F03", "F59"):
        q1, q2 = (
            later.execute(
                "select value from report.district_figures where period = ? and figure_id = ?", [period, figure_id]
            ).fetchall()[0][0]
            for period in ("2023Q1", "2023Q2")
        )
        assert (second[figure_id]["value"], second[figure_id]["previous_value"]) == (q2, q1)
        assert second[figure_id]["change"] == q2 - q1


def test_explain_a_quarter(later: Path) -> None:
    """explain works for any period loaded: the contributions of a quarter add up to its figure."""
    from union_stats import explain

    for figure_id in ("F03", "F44", "F59"):
        answer = explain.explain(later, figure_id, "2023Q2")
        assert answer.contributions and sum(item.value for item in answer.contributions) == answer.value
        assert answer.matches is None and answer.published is None  # no report was published for a quarter
    text = " ".join(str(part) for part in explain.render(answer) if not hasattr(part, "columns"))
    assert "本期没有公布的报告" in text

"""Quarterly periods: a year's four quarterly sample returns add up to its annual one, and the warehouse rolls the
quarters up to the year and follows the year's targets (reference/targets.csv) quarter by quarter."""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from test_sample import district_totals_from_files, number, read_unit
from warehouse import query

from union_stats.devtools.sample import write_sample, write_year
from union_stats.periods import period_bounds, quarters_of
from union_stats.reference import indicators, reference_units, targets

YEAR = "2023"
CATALOG = {indicator.indicator_code: indicator for indicator in indicators()}
ADDITIVE = {code for code, item in CATALOG.items() if item.aggregation == "sum" and item.value_type != "flag"}
DATE_FIELDS = {"enterprises_unionised": "founded_on", "dispute_cases": "accepted_on"}


def _by_unit(paths: list[Path]) -> dict[str, Path]:
    return {path.stem.rsplit("_", 1)[0]: path for path in paths}


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A raw folder with the 2023 sample written both ways: 2023Q1 .. 2023Q4 and 2023."""
    raw_dir = tmp_path_factory.mktemp("raw")
    write_year(YEAR, raw_dir)
    write_year(YEAR, raw_dir, quarterly=False)
    return raw_dir


@pytest.fixture(scope="module")
def year_files(raw_dir: Path) -> dict[str, dict[str, Path]]:
    """period -> unit_code -> workbook."""
    return {period: _by_unit(sorted((raw_dir / period).glob("*.xlsx"))) for period in (*quarters_of(YEAR), YEAR)}


def test_write_year_writes_a_folder_per_quarter(raw_dir: Path) -> None:
    units = sorted(unit.unit_code for unit in reference_units())
    assert sorted(folder.name for folder in raw_dir.iterdir()) == [YEAR, *quarters_of(YEAR)]
    for period in (*quarters_of(YEAR), YEAR):
        # the workbooks, and the receipts manifest saying when the office received each
        assert sorted(path.name for path in (raw_dir / period).iterdir()) == sorted(
            [*(f"{unit}_{period}.xlsx" for unit in units), "receipts.csv"]
        )


def test_each_unit_s_quarters_add_up_to_its_year(year_files: dict[str, dict[str, Path]]) -> None:
    checked = 0
    for unit_code, annual_path in year_files[YEAR].items():
        annual_values, annual_details = read_unit(annual_path)
        quarters = [read_unit(year_files[quarter][unit_code]) for quarter in quarters_of(YEAR)]
        for code, annual in annual_values.items():
            indicator = CATALOG[code]
            reported = [values.get(code) for values, _ in quarters]
            if code in ADDITIVE:
                assert sum(number(value) for value in reported) == number(annual), (unit_code, code, reported, annual)
                checked += 1
            elif indicator.aggregation == "count_yes":
                assert reported == [annual] * 4, (unit_code, code)
            else:  # a distinct count: each topic's courses sit in one quarter, so the counts add up too

                def counted(details: dict, indicator=indicator) -> set[str]:
                    return {record[indicator.measure_field] for record in details[indicator.detail_sheet]}

                assert set().union(*(counted(details) for _, details in quarters)) == counted(annual_details)
                assert sum(number(value) for value in reported) == number(annual), (unit_code, code)
        # every detail record of the year is in exactly one quarter
        for kind, records in annual_details.items():
            in_quarters = [record for _, details in quarters for record in details[kind]]
            assert sorted(map(str, in_quarters)) == sorted(map(str, records)), (unit_code, kind)
    assert checked > 500


def test_each_quarter_is_consistent_and_dated_inside_itself(year_files: dict[str, dict[str, Path]]) -> None:
    for quarter in quarters_of(YEAR):
        start, end = period_bounds(quarter)
        district_totals_from_files(list(year_files[quarter].values()))  # asserts indicator rows equal detail sheets
        for path in year_files[quarter].values():
            _, details = read_unit(path)
            for kind, field in DATE_FIELDS.items():
                dates = [date.fromisoformat(record[field][:10]) for record in details[kind]]
                assert all(start <= day <= end for day in dates), path.name


def test_the_year_reaches_its_targets(year_files: dict[str, dict[str, Path]]) -> None:
    totals = district_totals_from_files(list(year_files[YEAR].values()))
    # the sample's choice: exactly the 10 model enterprises, one more than each "at least" target
    assert {row["indicator_code"]: totals[row["indicator_code"]] for row in targets() if row["year"] == YEAR} == {
        "model_enterprises": 10,
        "three_batches_sites": 2,
        "collective_bargaining_models": 3,
    }


def test_a_year_without_targets_fills_the_target_indicators_with_zero(tmp_path: Path) -> None:
    [town] = [path for path in write_sample("2022Q3", tmp_path) if path.name.startswith("shiqiao_")]
    values, _ = read_unit(town)
    assert {code: values[code] for code in {row["indicator_code"] for row in targets()}} == {
        "model_enterprises": "0",
        "three_batches_sites": "0",
        "collective_bargaining_models": "0",
    }


def test_one_quarter_alone_is_the_same_as_in_its_year(year_files: dict[str, dict[str, Path]], tmp_path: Path) -> None:
    alone = _by_unit(write_sample(f"{YEAR}Q2", tmp_path))

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert {unit: digest(path) for unit, path in alone.items()} == {
        unit: digest(path) for unit, path in year_files[f"{YEAR}Q2"].items()
    }


# --- the warehouse: the quarters loaded one by one, then the annual returns


PROGRESS_SQL = (
    "select indicator_code, target, achieved, basis, quarters_loaded, met from report.target_progress "
    f"where year = '{YEAR}' order by indicator_code"
)
ANNUAL_SQL = (
    "select unit_code, indicator_code, annual_value, quarters_value, quarters_loaded, value, value_source, "
    f"quarters_match_annual from marts.fct_indicator_value_annual where year = '{YEAR}'"
)


@pytest.fixture(scope="module")
def loaded(prefect_harness, raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What the warehouse says after Q1, after Q4, and after the annual returns too."""
    from flows.ingest import ingest_period

    warehouse = tmp_path_factory.mktemp("warehouse") / "union_stats.duckdb"
    seen: dict = {"statuses": []}
    for period in (*quarters_of(YEAR), YEAR):
        summary = ingest_period(period=period, raw_dir=raw_dir, warehouse=warehouse)
        seen["statuses"].append((period, summary.files, summary.accepted))
        if period in (f"{YEAR}Q1", f"{YEAR}Q4", YEAR):
            seen[period] = {"progress": query(warehouse, PROGRESS_SQL), "annual": query(warehouse, ANNUAL_SQL)}
        if period == f"{YEAR}Q4":  # the four quarters, and no annual returns yet
            seen["quarters_only"] = warehouse.with_name("quarters_only.duckdb")
            shutil.copyfile(warehouse, seen["quarters_only"])
    seen["warnings"] = query(warehouse, "select count(*) from ops.findings where severity <> 'info'")[0][0]
    seen["warehouse"] = warehouse
    return seen


def _annual_returns(year_files: dict[str, dict[str, Path]]) -> dict[tuple[str, str], Decimal]:
    """(unit, additive indicator) -> the value of the unit's annual sample return."""
    values = {}
    for unit_code, path in year_files[YEAR].items():
        for code, value in read_unit(path)[0].items():
            if code in ADDITIVE and value is not None:
                values[unit_code, code] = number(value)
    return values


def test_every_quarter_loads_clean(loaded: dict) -> None:
    assert loaded["statuses"] == [(period, 18, 18) for period in (*quarters_of(YEAR), YEAR)]
    assert loaded["warnings"] == 0  # no history swings, and the quarters agree with the year


def test_the_quarters_roll_up_to_the_annual_sample(loaded: dict, year_files: dict[str, dict[str, Path]]) -> None:
    rows = loaded[f"{YEAR}Q4"]["annual"]
    rolled_up = {
        (unit, code): quarters_value
        for unit, code, annual_value, quarters_value, quarters_loaded, value, value_source, _ in rows
        if code in ADDITIVE and quarters_value is not None
    }
    assert rolled_up == _annual_returns(year_files)
    assert {(row[4], row[6]) for row in rows} == {(4, "quarters")}  # four quarters in: the year's value is theirs
    assert all(row[5] == row[3] and row[2] is None for row in rows)

    district: dict[str, Decimal] = defaultdict(Decimal)
    for (_, code), value in rolled_up.items():
        district[code] += value
    annual_totals = district_totals_from_files(list(year_files[YEAR].values()))
    assert dict(district) == {code: annual_totals[code] for code in district}


def test_an_annual_return_takes_precedence_and_agrees_with_the_quarters(loaded: dict) -> None:
    rows = loaded[YEAR]["annual"]
    assert {(row[4], row[6], row[7]) for row in rows} == {(4, "annual", True)}
    assert all(row[5] == row[2] for row in rows)


def test_target_progress_through_the_year(loaded: dict, year_files: dict[str, dict[str, Path]]) -> None:
    first = district_totals_from_files(list(year_files[f"{YEAR}Q1"].values()))
    after_q1 = loaded[f"{YEAR}Q1"]["progress"]
    assert [(code, achieved, basis, quarters) for code, _, achieved, basis, quarters, _ in after_q1] == [
        (code, first[code], "quarters", 1) for code, *_ in after_q1
    ]
    assert all(met == (achieved >= target) for _, target, achieved, _, _, met in after_q1)
    # targets accrue towards the year's end in the sample: one quarter in, the 10 model enterprises are not all there
    assert not all(met for *_, met in after_q1)

    wanted = {row["indicator_code"]: Decimal(row["target"]) for row in targets() if row["year"] == YEAR}
    after_q4 = loaded[f"{YEAR}Q4"]["progress"]
    assert {code: target for code, target, *_ in after_q4} == wanted
    assert [(basis, quarters, met) for _, _, _, basis, quarters, met in after_q4] == [("quarters", 4, True)] * 3
    with_annual = loaded[YEAR]["progress"]
    assert [(code, achieved, basis, met) for code, _, achieved, basis, _, met in with_annual] == [
        (code, achieved, "annual", True) for code, _, achieved, *_ in after_q4
    ]


def test_runs_that_rebuild_only_their_period_leave_what_a_full_rebuild_gives(loaded: dict, tmp_path: Path) -> None:
    """After the first run, each run replaced only its own period's (or year's) rows of the incremental models;
    rebuilding every model whole from the same loaded data must give the very same rows."""
    import shutil

    import duckdb

    from union_stats import transform

    copy = tmp_path / "rebuilt.duckdb"
    shutil.copy(loaded["warehouse"], copy)
    incremental = [model for model in transform.load_models() if model.incremental_key]
    assert len(incremental) >= 10
    with duckdb.connect(str(copy)) as con:
        built = con.execute("select count(*) from ops.build_state").fetchone()[0]
        assert built == 1  # the runs after the first kept the fingerprint: they were incremental
        before = {model.relation: con.execute(f"select * from {model.relation}").fetchall() for model in incremental}
        transform.build(con)  # whole, as a first build would
        for model in incremental:
            after = con.execute(f"select * from {model.relation}").fetchall()
            assert sorted(map(repr, before[model.relation])) == sorted(map(repr, after)), model.relation
            # the sample has no resubmissions, so no change log; every other model must hold rows to compare
            assert after or model.name == "fct_indicator_value_change", f"{model.relation} is empty"


def test_status_of_a_year_with_only_its_quarters_answers_from_them(
    loaded: dict, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from union_stats import cli

    monkeypatch.delenv("COLUMNS", raising=False)  # a pipe: each table is printed whole

    assert cli.main(["status", "--period", YEAR, "--warehouse", str(loaded["quarters_only"]), "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert f"{YEAR}: no annual returns in the warehouse; its quarters instead" in out
    for quarter in quarters_of(YEAR):
        assert f"Submissions {quarter}: 18 / 18 units submitted" in out

    assert cli.main(["status", "--period", YEAR, "--warehouse", str(loaded["quarters_only"]), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out.removeprefix("\ufeff"))))
    assert sorted({row["period"] for row in rows}) == quarters_of(YEAR) and len(rows) == 4 * 18

"""The Parquet copy of `marts` and `report` (`union-stats publish --parquet DIR`, `UNION_STATS_PARQUET_DIR`).

One warehouse per module holds two periods spelt differently (2022, a year, and 2023Q1, a quarter): the shipped
sample through the flow, then the 18 units' 2023Q1 sample through `union-stats run` with the setting, which
publishes after the run. A copy of the warehouse file taken between the two is the same warehouse with 2022
only. Every copy is read back the way its users would: a fresh in-memory DuckDB and Polars, never the warehouse.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import duckdb
import polars as pl
import pytest
from warehouse import query

from union_stats import cli
from union_stats.devtools.sample import write_sample
from union_stats.paths import RAW_DIR
from union_stats.publish import parquet
from union_stats.runs import DATA_DOCS_ENV

pytestmark = pytest.mark.usefixtures("prefect_harness")

FIGURE_COLUMNS_SQL = (
    "select column_name from information_schema.columns where table_schema = 'report' "
    "and table_name = 'district_figures' order by ordinal_position"
)


@pytest.fixture(scope="module")
def warehouses(sample_2022_copy: Path) -> SimpleNamespace:
    root = sample_2022_copy  # the shipped 2022 sample, as the session's flow run left it
    both = root / "wh" / "union_stats.duckdb"
    only_2022 = root / "w2022.duckdb"
    shutil.copyfile(both, only_2022)  # closed after the run: the file is the whole warehouse
    raw = root / "raw"
    write_sample("2023Q1", raw / "2023Q1")
    auto = root / "auto"
    with pytest.MonkeyPatch.context() as env:  # whatever the run sets in the environment is undone
        env.setenv(cli.PARQUET_DIR_ENV, str(auto))
        env.setenv("PREFECT_HOME", str(root / "prefect"))
        env.setenv("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        code = cli.main(["run", "--period", "2023Q1", "--raw-dir", str(raw), "--warehouse", str(both)])
    return SimpleNamespace(both=both, only_2022=only_2022, raw=raw, auto=auto, code=code, root=root)


@pytest.fixture(scope="module")
def published(warehouses: SimpleNamespace) -> parquet.Published:
    return parquet.publish(warehouses.both, warehouses.root / "copy")


def _figure_columns(warehouse: Path) -> list[str]:
    return [row[0] for row in query(warehouse, FIGURE_COLUMNS_SQL)]


def _files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def _one_line(code: int, expected: int, err: str) -> None:
    assert code == expected, err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err


def test_run_with_the_setting_publishes_after_the_run(warehouses: SimpleNamespace) -> None:
    assert warehouses.code == 0
    manifest = json.loads((warehouses.auto / parquet.MANIFEST).read_text(encoding="utf-8"))
    latest = query(
        warehouses.both, "select run_id, period from ops.runs where status = 'succeeded' order by finished_at desc"
    )[0]
    assert (manifest["last_run"]["run_id"], manifest["last_run"]["period"]) == latest
    assert latest[1] == "2023Q1"
    assert manifest["periods"] == ["2022", "2023Q1"]
    assert manifest["warehouse"] == str(warehouses.both.resolve())


def test_district_figures_read_back_in_a_fresh_duckdb(warehouses: SimpleNamespace, published) -> None:
    columns = ", ".join(_figure_columns(warehouses.both))
    expected = query(warehouses.both, f"select {columns} from report.district_figures order by period, figure_id")
    glob = published.target / "report" / "district_figures" / "*" / "*.parquet"

    con = duckdb.connect()  # in memory: the warehouse file is never opened
    source = f"read_parquet('{glob}', hive_partitioning = true, hive_types = {{'period': 'VARCHAR'}})"
    got = con.execute(f"select {columns} from {source} order by period, figure_id").fetchall()
    types = dict(con.execute(f"select column_name, column_type from (describe from {source})").fetchall())
    in_2022 = con.execute(f"select count(*), bool_and(matches) from {source} where period = '2022'").fetchall()

    assert got == expected
    assert in_2022 == [(66, True)]  # the shipped sample reproduces every figure of the report
    assert len(got) == 132  # and 2023Q1 has its 66
    assert (types["period"], types["value"], types["matches"]) == ("VARCHAR", "DECIMAL(38,2)", "BOOLEAN")


def test_district_figures_read_back_with_polars(warehouses: SimpleNamespace, published) -> None:
    columns = _figure_columns(warehouses.both)
    expected = query(
        warehouses.both, f"select {', '.join(columns)} from report.district_figures order by period, figure_id"
    )
    glob = str(published.target / "report" / "district_figures" / "**" / "*.parquet")

    frame = pl.read_parquet(glob, hive_partitioning=True, hive_schema={"period": pl.String})
    lazy_2022 = (
        pl.scan_parquet(glob, hive_partitioning=True, hive_schema={"period": pl.String})
        .filter(pl.col("period") == "2022")
        .collect()
    )

    assert frame.select(columns).sort("period", "figure_id").rows() == expected
    assert lazy_2022.height == 66 and lazy_2022["matches"].all()
    assert frame.schema["period"] == pl.String


def test_periods_of_both_spellings_are_partitions(published) -> None:
    figures = published.target / "report" / "district_figures"
    entry = next(item for item in published.manifest["relations"] if item["name"] == "district_figures")

    assert sorted(path.name for path in figures.iterdir()) == ["period=2022", "period=2023Q1"]
    assert entry["partitions"] == {"2022": 66, "2023Q1": 66}
    # mixed spellings: even untyped, a reader gets text, and the quarter is its own period
    con = duckdb.connect()
    untyped = con.execute(
        f"select distinct period, typeof(period) from read_parquet('{figures}/*/*.parquet', hive_partitioning = true) "
        "order by 1"
    ).fetchall()
    assert untyped == [("2022", "VARCHAR"), ("2023Q1", "VARCHAR")]
    annual = next(item for item in published.manifest["relations"] if item["name"] == "fct_indicator_value_annual")
    assert annual["partition_by"] == "year" and set(annual["partitions"]) == {"2022", "2023"}


def test_the_manifest_lists_every_relation_with_its_rows_and_columns(warehouses: SimpleNamespace, published) -> None:
    manifest = published.manifest
    assert manifest == json.loads((published.target / parquet.MANIFEST).read_text(encoding="utf-8"))
    in_warehouse = query(
        warehouses.both,
        "select table_schema, table_name, table_type from information_schema.tables "
        "where table_schema in ('marts', 'report') order by all",
    )
    entries = {(entry["schema"], entry["name"]): entry for entry in manifest["relations"]}

    assert (manifest["format"], manifest["format_version"]) == (parquet.FORMAT, 1)
    assert manifest["periods"] == ["2022", "2023Q1"]
    assert sorted(entries) == [(schema, name) for schema, name, _ in in_warehouse]
    assert len(entries) >= 16
    con = duckdb.connect()
    for schema, name, table_type in in_warehouse:
        entry = entries[schema, name]
        described = query(warehouses.both, f"select column_name, column_type from (describe {schema}.{name})")
        rows = query(warehouses.both, f"select count(*) from {schema}.{name}")[0][0]
        assert entry["kind"] == ("view" if table_type == "VIEW" else "table"), name
        assert entry["row_count"] == rows, name
        assert [(column["name"], column["type"]) for column in entry["columns"]] == described, name
        assert "description" in entry and all("description" in column for column in entry["columns"])
        names = {column for column, _ in described}
        key = "period" if "period" in names else "year" if "year" in names else None
        assert entry["partition_by"] == key, name
        assert entry["path"] == f"{schema}/{name}"
        # every relation reads back through its glob, empty ones too, with every column
        hive = f", hive_partitioning = true, hive_types = {{'{key}': 'VARCHAR'}}" if key else ""
        source = f"read_parquet('{published.target / entry['glob']}'{hive})"
        assert con.execute(f"select count(*) from {source}").fetchall()[0][0] == rows, name
        read_columns = {row[0] for row in con.execute(f"select column_name from (describe from {source})").fetchall()}
        assert read_columns == names, name
        if key:
            assert sum(entry["partitions"].values()) == rows, name
    assert entries["marts", "dim_unit"]["partition_by"] is None
    assert entries["report", "target_progress"]["partition_by"] == "year"
    assert entries["marts", "fct_indicator_value_change"]["row_count"] == 0  # no resubmission: empty, still there


def test_publishing_again_replaces_the_copy_whole(warehouses: SimpleNamespace, tmp_path: Path) -> None:
    target = tmp_path / "copy"
    parquet.publish(warehouses.both, target)
    assert (target / "report" / "district_figures" / "period=2023Q1").is_dir()

    again = parquet.publish(warehouses.only_2022, target)

    assert not [path for path in target.rglob("*") if "2023Q1" in path.name]  # no stale partition
    assert again.manifest["periods"] == ["2022"]
    assert json.loads((target / parquet.MANIFEST).read_text(encoding="utf-8"))["warehouse"] == str(
        warehouses.only_2022.resolve()
    )
    assert [path.name for path in tmp_path.iterdir()] == ["copy"]  # nothing temporary left beside it
    # with one period only, the partition value looks like a number: untyped readers get an integer, which is
    # why the README says to read it as text
    glob = target / "report" / "district_figures"
    con = duckdb.connect()
    untyped = f"read_parquet('{glob}/*/*.parquet', hive_partitioning = true)"
    typed = f"read_parquet('{glob}/*/*.parquet', hive_partitioning = true, hive_types = {{'period': 'VARCHAR'}})"
    assert con.execute(f"select distinct typeof(period) from {untyped}").fetchall() == [("BIGINT",)]
    assert con.execute(f"select distinct period from {typed}").fetchall() == [("2022",)]
    polars_glob = str(glob / "**" / "*.parquet")
    assert pl.read_parquet(polars_glob, hive_partitioning=True).schema["period"] == pl.Int64
    assert pl.read_parquet(polars_glob, hive_partitioning=True, hive_schema={"period": pl.String})[
        "period"
    ].unique().to_list() == ["2022"]


def test_the_swap_without_an_atomic_exchange_also_replaces_the_copy(
    warehouses: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "copy"
    parquet.publish(warehouses.both, target)
    monkeypatch.setattr(parquet, "_exchange", lambda first, second: False)  # a system without renameat2

    parquet.publish(warehouses.only_2022, target)

    assert not (target / "report" / "district_figures" / "period=2023Q1").exists()
    assert [path.name for path in tmp_path.iterdir()] == ["copy"]


@pytest.mark.parametrize("where", ["copy", "swap"])
def test_a_failure_mid_publish_leaves_the_previous_copy(
    warehouses: SimpleNamespace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    target = tmp_path / "copy"
    parquet.publish(warehouses.both, target)
    before = _files(target)
    if where == "copy":
        real, written = parquet._copy_relation, []

        def copy_then_fail(con, relation, staging):
            if len(written) == 5:
                raise duckdb.IOException("No space left on device (simulated)")
            written.append(relation.name)
            return real(con, relation, staging)

        monkeypatch.setattr(parquet, "_copy_relation", copy_then_fail)
    else:

        def exchange_fails(first, second):
            raise PermissionError(13, "Permission denied (simulated)", str(second))

        monkeypatch.setattr(parquet, "_exchange", exchange_fails)

    with pytest.raises(parquet.PublishError, match="previous copy is unchanged"):
        parquet.publish(warehouses.only_2022, target)
    code = cli.main(["publish", "--parquet", str(target), "--warehouse", str(warehouses.only_2022)])

    _one_line(code, 1, capsys.readouterr().err)
    assert _files(target) == before
    assert [path.name for path in tmp_path.iterdir()] == ["copy"]


def test_publish_on_the_command_line(
    warehouses: SimpleNamespace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "shared" / "union-stats"
    target.parent.mkdir()

    assert cli.main(["publish", "--parquet", str(target), "--warehouse", str(warehouses.both)]) == 0

    printed = capsys.readouterr()
    relations = len(query(warehouses.both, "from information_schema.tables where table_schema in ('marts', 'report')"))
    assert f"published {relations} relations" in printed.out and "periods 2022, 2023Q1" in printed.out
    assert printed.err == ""
    assert parquet.read_manifest(target)["periods"] == ["2022", "2023Q1"]


def test_publish_refuses_what_it_must_not_replace(
    warehouses: SimpleNamespace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "minutes.txt").write_text("not a copy\n", encoding="utf-8")
    empty_warehouse = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty_warehouse)).close()  # a DuckDB file with no marts
    before = _files(tmp_path)
    cases = [
        (["--parquet", str(notes)], "holds other files"),
        (["--parquet", str(tmp_path / "new"), "--warehouse", str(empty_warehouse)], "no marts or report relations"),
        (["--parquet", str(tmp_path / "new"), "--warehouse", str(tmp_path / "none.duckdb")], "no warehouse at"),
        (["--parquet", str(tmp_path / "nowhere" / "new"), "--warehouse", str(warehouses.both)], "no folder"),
    ]
    if sys.platform.startswith("linux"):  # a folder nobody can write in, even root
        cases.append((["--parquet", "/proc/union-stats-copy", "--warehouse", str(warehouses.both)], "/proc"))
    for arguments, says in cases:
        code = cli.main(["publish", *arguments])
        err = capsys.readouterr().err
        _one_line(code, 1, err)
        assert says in err, (arguments, err)
    assert _files(tmp_path) == before


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [(cli.PARQUET_DIR_ENV, "note.txt", "is a file"), (DATA_DOCS_ENV, "sometimes", "say 1 (keep GX results")],
)
def test_a_run_with_an_unusable_setting_fails_before_any_work(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setting: str,
    value: str,
    says: str,
) -> None:
    (tmp_path / "note.txt").write_text("a file\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(setting, value)
    monkeypatch.setenv("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")

    code = cli.main(["run", "--raw-dir", str(RAW_DIR), "--warehouse", str(tmp_path / "w.duckdb")])

    err = capsys.readouterr().err
    _one_line(code, 1, err)
    assert setting in err and says in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["note.txt"]


def test_a_no_op_run_publishes_only_a_missing_or_older_copy(
    warehouses: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "copy"
    monkeypatch.setenv(cli.PARQUET_DIR_ENV, str(target))
    monkeypatch.setenv("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    run = ["run", "--period", "2022", "--raw-dir", str(RAW_DIR), "--warehouse", str(warehouses.only_2022)]

    assert cli.main(run) == 0  # nothing new: answered from the ledger, and the missing copy is published
    first = capsys.readouterr().out
    published = _files(target)
    assert "nothing new" in first and f"as Parquet to {target}" in first

    assert cli.main(run) == 0
    assert "is up to date" in capsys.readouterr().out
    assert _files(target) == published

    parquet.publish(warehouses.both, target)  # a copy of another state: the next run replaces it
    real, written = parquet._copy_relation, []

    def copy_then_fail(con, relation, staging):
        if written:
            raise duckdb.IOException("No space left on device (simulated)")
        written.append(relation.name)
        return real(con, relation, staging)

    monkeypatch.setattr(parquet, "_copy_relation", copy_then_fail)
    code = cli.main(run)
    printed = capsys.readouterr()
    _one_line(code, 1, printed.err)  # the run's work is done, but the copy is not: said, and exit 1
    assert "66 of 66 figures match" in printed.out
    assert "publishing the Parquet copy" in printed.err and "union-stats publish --parquet" in printed.err
    assert parquet.read_manifest(target)["periods"] == ["2022", "2023Q1"]  # the previous copy, unchanged

    monkeypatch.setattr(parquet, "_copy_relation", real)
    assert cli.main(run) == 0
    assert parquet.read_manifest(target)["periods"] == ["2022"]

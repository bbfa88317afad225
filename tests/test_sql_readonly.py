"""`union-stats sql`: an analyst's query reads the warehouse and nothing else.

The warehouse here is a small DuckDB file made directly (two tables, the types a query meets). Every write
path a query has (the warehouse's own statements; files through COPY, ATTACH, EXPORT; extensions; settings;
persistent secrets) is tried, and each must end with exit 2, one line on stderr, no traceback, and the folder
holding the warehouse exactly as it was, byte for byte (HOME and the current folder point into it too, so a
file written under ~/.duckdb or next to the query counts). A control test shows the same attempts succeed
through a plain read_only connection: the lockdown, not the test, is what stops them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from rich.cells import cell_len
from rich.console import Console

from union_stats import cli, warehouse

ROWS = [  # marts.amounts: id, name, amount, on_day, flag, tags, note
    (1, 'a,b "quoted"; x\'y', Decimal("1.50"), "2022-01-01", True, [1, 2], None),
    (2, "中文\n第二行", Decimal("-0.01"), "2023-06-30", False, [], "back\\slash"),
    (3, "", Decimal("1234567890123.45"), "2022-12-31", None, None, "x"),
]


def _make_warehouse(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.amounts (id integer, name varchar, amount decimal(15, 2), on_day date, "
            "flag boolean, tags integer[], note varchar)"
        )
        con.executemany("insert into marts.amounts values (?, ?, ?, ?, ?, ?, ?)", [list(row) for row in ROWS])
        con.execute("create schema ops")
        con.execute("create table ops.runs as select 'r1' as run_id, 'succeeded' as status")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("built") / "union_stats.duckdb"
    _make_warehouse(path)
    return path


@pytest.fixture
def place(tmp_path: Path, built: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding a copy of the warehouse, its (empty) temp folder, a CSV file, an empty HOME; also the
    current folder. Everything a query could write would land under it."""
    (tmp_path / "wh").mkdir()
    (tmp_path / "wh" / "union_stats.duckdb").write_bytes(built.read_bytes())
    # DuckDB's temp folder for the warehouse: a COPY TO into it is allowed unless temp_directory is cleared
    (tmp_path / "wh" / "union_stats.duckdb.tmp").mkdir()
    (tmp_path / "secret.csv").write_text("token\nhunter2\n", encoding="utf-8")
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _tree(folder: Path) -> dict[str, str]:
    """Every file (by sha256) and folder under `folder`."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "/"
        for path in sorted(folder.rglob("*"))
    }


def _sql(place: Path, capsys: pytest.CaptureFixture[str], query: str, *options: str) -> tuple[int, str, str]:
    code = cli.main(["sql", "--warehouse", str(place / "wh" / "union_stats.duckdb"), *options, query])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def _one_line_error(code: int, expected: int, out: str, err: str) -> None:
    assert "Traceback" not in out + err, out + err
    assert code == expected, out + err
    assert len(err.strip().splitlines()) == 1, err


# --- reading works, in every format --------------------------------------------------------------------------

QUERY = "select * from marts.amounts order by id"


def test_a_select_as_csv_parses_back_to_the_rows(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _sql(place, capsys, QUERY, "--format", "csv")

    assert (code, err) == (0, "")
    assert out.startswith("\ufeff")  # the byte order mark Excel needs to read UTF-8
    header, *rows = list(csv.reader(io.StringIO(out.removeprefix("\ufeff"))))
    assert header == ["id", "name", "amount", "on_day", "flag", "tags", "note"]
    assert rows == [
        ["1", 'a,b "quoted"; x\'y', "1.50", "2022-01-01", "true", "[1, 2]", ""],
        ["2", "中文\n第二行", "-0.01", "2023-06-30", "false", "[]", "back\\slash"],
        ["3", "", "1234567890123.45", "2022-12-31", "", "", "x"],
    ]


def test_a_select_as_json_parses_back_to_the_rows(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _sql(place, capsys, QUERY, "--format", "json")

    assert (code, err) == (0, "")
    parsed = json.loads(out, parse_float=Decimal)  # a DECIMAL is written as the exact number it is
    columns = ["id", "name", "amount", "on_day", "flag", "tags", "note"]
    assert parsed == [dict(zip(columns, row, strict=True)) for row in ROWS]


def test_json_keeps_repeated_column_names_apart(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _sql(place, capsys, "select 1 as a, 2 as a, null as b", "--format", "json")
    assert code == 0 and json.loads(out) == [{"a": 1, "a_2": 2, "b": None}]


def test_a_select_as_a_table_fits_the_terminal(
    place: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for width, whole in ((60, ("amount", "1.50", "-0.01", "NULL", "3 rows")), (200, ("1234567890123.45", "x'y"))):
        buffer = io.StringIO()
        monkeypatch.setattr(cli, "console", Console(file=buffer, width=width, force_terminal=True, color_system=None))

        code, _, err = _sql(place, capsys, QUERY)

        assert (code, err) == (0, "")
        text = buffer.getvalue()
        assert all(cell_len(line) <= width for line in text.splitlines()), text
        for word in whole:
            assert word in text, text


def test_the_query_may_come_on_stdin(place: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "union_stats.cli", "sql", "--warehouse", "wh/union_stats.duckdb", "--format", "csv"],
        input="select 42 as answer, 'x''y' as quoted",
        cwd=place,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "\ufeffanswer,quoted\n42,x'y\n", "")


def test_no_query_at_all_is_a_usage_error(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["sql", "--warehouse", str(place / "wh" / "union_stats.duckdb")])
    printed = capsys.readouterr()
    _one_line_error(code, 2, printed.out, printed.err)
    assert "no query" in printed.err


def test_it_imports_no_prefect_gx_pandas_or_polars(place: Path) -> None:
    script = (
        "import sys\n"
        "from union_stats import cli\n"
        "code = cli.main(['sql', '--warehouse', 'wh/union_stats.duckdb', '--format', 'json', "
        "'select count(*) as n from marts.amounts'])\n"
        "heavy = {'prefect', 'great_expectations', 'pandas', 'polars', 'pyarrow', 'numpy', 'dask', 'fastexcel'}\n"
        "print(code, sorted(heavy & {name.split('.')[0] for name in sys.modules}), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=place, capture_output=True, text=True, timeout=60, check=False
    )
    assert json.loads(done.stdout) == [{"n": 3}]
    assert done.stderr.strip() == "0 []"


def test_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sql", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Example:" in text and "union-stats sql" in text and "--format" in text and "[default: table]" in text


# --- nothing can be written ----------------------------------------------------------------------------------

# <tmp> is the folder of the warehouse's copy, <wh> the warehouse file
WRITES = {
    "create table": "create table marts.x (a integer)",
    "create table as": "create table x as select 1",
    "create view": "create view marts.v as select 1",
    "create schema": "create schema z",
    "create macro": "create macro m(a) as a",
    "insert": "insert into marts.amounts (id) values (9)",
    "update": "update marts.amounts set id = 9",
    "delete": "delete from marts.amounts",
    "drop": "drop table marts.amounts",
    "alter": "alter table marts.amounts add column c integer",
    "a write after a read": "select 1; drop table marts.amounts",
    "copy to a file": "copy (select 1) to '<tmp>/x.csv'",
    "copy a table to parquet": "copy marts.amounts to '<tmp>/amounts.parquet' (format parquet)",
    "copy partitioned into a new folder": "copy (select 1 as a) to '<tmp>/parts' (format parquet, partition_by (a))",
    "copy into the warehouse's temp folder": "copy (select 1) to '<wh>.tmp/x.csv'",
    "copy over the warehouse": "copy (select 1) to '<wh>'",
    "copy from a file": "copy marts.amounts from '<tmp>/secret.csv'",
    "attach a new database": "attach '<tmp>/new.duckdb' as n",
    "attach in memory": "attach ':memory:' as m",
    "export database": "export database '<tmp>/e'",
    "install": "install httpfs",
    "force install": "force install httpfs",
    "load": "load httpfs",
    "set": "set memory_limit = '1GB'",
    "set the access back": "set enable_external_access = true",
    "reset": "reset memory_limit",
    "set the temp folder": "set temp_directory = '<tmp>/spill'",
    "pragma memory_limit": "pragma memory_limit = '1GB'",
    "pragma profiling": "pragma enable_profiling",
    "pragma profiling output": "pragma profiling_output = '<tmp>/profile.json'",
    "logging to a file": "call enable_logging(storage = 'file', storage_path = '<tmp>/log')",
    "persistent secret": "create persistent secret s (type http)",
    "read a csv file": "select * from read_csv('<tmp>/secret.csv')",
    "read a file by name": "select * from '<tmp>/secret.csv'",
    "read a system file": "select * from read_text('/etc/passwd')",
    "list files": "select * from glob('<tmp>/*')",
}


def _attempt(statement: str, place: Path) -> str:
    return statement.replace("<wh>", str(place / "wh" / "union_stats.duckdb")).replace("<tmp>", str(place))


@pytest.mark.parametrize("statement", list(WRITES.values()), ids=list(WRITES))
def test_a_write_or_an_outside_read_is_refused_and_changes_nothing(
    place: Path, capsys: pytest.CaptureFixture[str], statement: str
) -> None:
    before = _tree(place)

    code, out, err = _sql(place, capsys, _attempt(statement, place))

    _one_line_error(code, 2, out, err)
    assert "只读" in err and "read-only" in err
    assert _tree(place) == before  # the warehouse's bytes, and no file or folder made anywhere under it


@pytest.mark.parametrize(
    ("statement", "made"),
    [
        ("copy (select 1) to '<tmp>/x.csv'", "x.csv"),
        ("copy (select 1) to '<wh>.tmp/x.csv'", "wh/union_stats.duckdb.tmp/x.csv"),
        ("export database '<tmp>/e'", "e/schema.sql"),
    ],
)
def test_control_a_plain_read_only_connection_would_have_written(
    place: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, statement: str, made: str
) -> None:
    """What the lockdown stops: with read_only alone (and the memory limit) the same statements write files."""
    monkeypatch.setattr(warehouse, "ANALYST_LOCKDOWN", {})

    code, _, err = _sql(place, capsys, _attempt(statement, place))

    assert (code, err) == (0, "")
    assert (place / made).is_file()


def test_a_refused_write_in_a_fresh_process_is_one_line(place: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "union_stats.cli", "sql", "--warehouse", "wh/union_stats.duckdb"],
        input="copy (select 1) to 'x.csv'",
        cwd=place,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    _one_line_error(done.returncode, 2, done.stdout, done.stderr)
    assert "只读：union-stats sql 不能修改数据仓库" in done.stderr and not (place / "x.csv").exists()


# --- mistakes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("selec 1", "syntax error"),
        ("select * from marts.nothing_here", "nothing_here does not exist"),
        ("select 1 / 'a'", "union-stats sql: "),
    ],
)
def test_a_bad_query_is_exit_2_and_one_line(
    place: Path, capsys: pytest.CaptureFixture[str], query: str, says: str
) -> None:
    before = _tree(place)
    code, out, err = _sql(place, capsys, query)
    _one_line_error(code, 2, out, err)
    assert says in err
    assert _tree(place) == before


@pytest.mark.parametrize("name", ["missing.duckdb", "folder", "note.txt"])
def test_no_warehouse_there_is_exit_2_and_makes_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "note.txt").write_text("not a warehouse\n", encoding="utf-8")
    before = _tree(tmp_path)

    code = cli.main(["sql", "--warehouse", name, "select 1"])

    printed = capsys.readouterr()
    _one_line_error(code, 2, printed.out, printed.err)
    assert name in printed.err
    assert _tree(tmp_path) == before


def test_a_warehouse_a_writer_holds_is_one_clear_line(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect('wh/union_stats.duckdb'); print('held', flush=True); "
            "sys.stdin.read()",
        ],
        cwd=place,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        code, out, err = _sql(place, capsys, "select 1")
    finally:
        holder.communicate("", timeout=30)

    _one_line_error(code, 1, out, err)
    assert "is in use by a writer" in err

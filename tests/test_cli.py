"""`union-stats` on the command line: help for every option, and a plain mistake is one line, never a traceback.

Every bad invocation of every command ends with exit code 2 (usage) or 1 (failure), exactly one non-empty line
on stderr, no traceback anywhere, and no file or folder left behind (no empty period folder, no empty .duckdb).
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from rich.console import Console

from union_stats import cli
from union_stats.paths import EXPECTATIONS_DIR, SQL_DIR, WAREHOUSE_FILE

COMMANDS = (
    "run",
    "validate",
    "status",
    "sql",
    "close",
    "reopen",
    "publish",
    "export",
    "serve",
    "template",
    "sample",
    "suites",
    "bench",
    "explain",
    "docs",
    "report",
    "users",
    "portal",
)

# command line -> exit code; each runs in an empty folder holding only what `mistakes_folder` puts there
BAD_ARGUMENTS: list[tuple[list[str], int]] = [
    ([], 2),
    (["bogus"], 2),
    (["--bogus"], 2),
    # run
    (["run", "--period", "2023Q7"], 2),
    (["run", "--period", "1999"], 2),
    (["run", "--period", "2022Q0"], 2),
    (["run", "--period", "last year"], 2),
    (["run", "--period"], 2),
    (["run", "extra"], 2),
    (["run", "--raw-dir", "nowhere"], 1),
    (["run", "--raw-dir", "note.txt"], 1),
    (["run", "--raw-dir", "empty"], 1),
    (["run", "--raw-dir", "raw", "--period", "2023"], 1),  # a period with no folder
    (["run", "--raw-dir", "raw", "--warehouse", "empty"], 1),  # the warehouse is a folder
    (["run", "--dask", "127.0.0.1:8786"], 2),  # a scheduler address is tcp://host:port
    (["run", "--dask", "tcp://127.0.0.1"], 2),
    (["run", "--dask", "tcp://127.0.0.1:70000"], 2),
    (["run", "--dask"], 2),
    # no scheduler answers there: refused within the connect timeout, before a warehouse or a Prefect home is made
    (["run", "--raw-dir", "raw", "--warehouse", "w.duckdb", "--dask", "tcp://127.0.0.1:1"], 1),
    # validate
    (["validate"], 2),
    (["validate", "missing.xlsx"], 2),
    (["validate", "empty"], 2),  # a folder is no file
    (["validate", "note.txt", "--report-dir", "note.txt"], 2),
    (["validate", "note.txt", "--bogus"], 2),
    # status
    (["status"], 2),
    (["status", "--period", "2022Q5"], 2),
    (["status", "--period", "2022", "--warehouse", "missing.duckdb"], 1),
    (["status", "--period", "2022", "--warehouse", "note.txt"], 1),  # not a DuckDB file
    (["status", "--period", "2022", "--warehouse", "empty"], 1),
    (["status", "--period", "2022", "--lang", "fr"], 2),
    (["status", "--period", "2022", "--format", "xml"], 2),
    # sql (read-only: a missing warehouse is a usage mistake here, and none is made)
    (["sql"], 2),  # no query, and nothing on stdin
    (["sql", "select 1", "--warehouse", "missing.duckdb"], 2),
    (["sql", "select 1", "--warehouse", "note.txt"], 2),  # not a DuckDB file
    (["sql", "select 1", "--warehouse", "empty"], 2),
    (["sql", "--format", "xml", "select 1"], 2),
    (["sql", "select 1", "extra"], 2),
    # close
    (["close"], 2),
    (["close", "--period", "20222"], 2),
    (["close", "--period", "2022", "--warehouse", "missing.duckdb"], 1),
    (["close", "--period", "2022", "--warehouse", "note.txt"], 1),
    (["close", "--period", "2022", "--note"], 2),
    # reopen
    (["reopen", "--period", "abc"], 2),
    (["reopen", "--period", "2022", "--note", "x"], 2),  # reopen takes no note
    (["reopen", "--period", "2022", "--warehouse", "missing.duckdb"], 1),
    (["reopen", "--period", "2022", "--warehouse", "empty"], 1),
    # publish (the folder is checked before the warehouse; nothing is written before both are good)
    (["publish"], 2),
    (["publish", "--parquet"], 2),
    (["publish", "--parquet", "out", "extra"], 2),
    (["publish", "--parquet", "note.txt"], 1),  # a file, not a folder
    (["publish", "--parquet", "raw"], 1),  # a folder with other things in it than an earlier copy
    (["publish", "--parquet", "nowhere/out"], 1),
    (["publish", "--parquet", "out", "--warehouse", "missing.duckdb"], 1),
    (["publish", "--parquet", "out", "--warehouse", "note.txt"], 1),  # not a DuckDB file
    (["publish", "--parquet", "out", "--warehouse", "empty"], 1),
    (["publish", "--parquet", "empty", "--warehouse", "missing.duckdb"], 1),  # an empty folder is fine, not the rest
    # export (the folder is checked before the warehouse; a failure leaves no file, not even a staging folder)
    (["export"], 2),
    (["export", "--out", "out"], 2),  # --format is required
    (["export", "--format", "pdf", "--out", "out"], 2),
    (["export", "--format", "csv"], 2),
    (["export", "--format", "csv", "--out", "raw"], 1),  # a folder that is not empty
    (["export", "--format", "csv", "--out", "note.txt"], 1),
    (["export", "--format", "csv", "--out", "nowhere/out"], 1),
    (["export", "--format", "csv", "--out", "out", "--warehouse", "missing.duckdb"], 1),
    (["export", "--format", "xlsx", "--out", "empty", "--warehouse", "note.txt"], 1),  # not a DuckDB file
    # serve
    (["serve", "--bogus"], 2),
    (["serve", "now"], 2),
    # template
    (["template", "--unit", "shiqiao", "--period", "2023Q7", "--out", "t.xlsx"], 2),
    (["template", "--unit", "nobody", "--period", "2023", "--out", "t.xlsx"], 2),
    (["template", "--unit", "shiqiao", "--period", "2023", "--out", "t.csv"], 2),
    (["template", "--unit", "shiqiao", "--period", "2023", "--out", "t"], 2),
    (["template", "--unit", "shiqiao", "--period", "2023", "--out", "nowhere/t.xlsx"], 1),
    (["template", "--unit", "shiqiao", "--period", "2023", "--out", "folder.xlsx"], 1),  # a folder
    (["template", "--period", "2023", "--out", "t.xlsx"], 2),
    # sample
    (["sample", "--period", "2023Q9", "--out", "s"], 2),
    (["sample", "--period", "1999", "--out", "s"], 2),
    (["sample", "--period", "2023Q1", "--quarterly", "--out", "s"], 2),
    (["sample", "--period", "2023", "--units", "0", "--out", "s"], 2),
    (["sample", "--period", "2023", "--units", "-3", "--out", "s"], 2),
    (["sample", "--period", "2023", "--units", "two", "--out", "s"], 2),
    (["sample", "--period", "2023", "--seed", "x", "--out", "s"], 2),
    (["sample", "--period", "2023", "--units", "3", "--quarterly", "--out", "s"], 2),
    (["sample", "--period", "2023"], 2),
    (["sample", "--period", "2023", "--out", "note.txt"], 1),  # a file, not a folder
    # suites
    (["suites", "extra"], 2),
    (["suites", "--bogus"], 2),
    # bench (each refused before any work: nothing generated, nothing measured)
    (["bench", "--units", "0"], 2),
    (["bench", "--units", "a,b"], 2),
    (["bench", "--units", "18,,200"], 2),
    (["bench", "--units", "-3"], 2),
    (["bench", "--units"], 2),
    (["bench", "--out", "x.txt"], 2),
    (["bench", "--out", "bench"], 2),
    (["bench", "--out", "folder.xlsx"], 2),
    (["bench", "--out", "nowhere/b.json"], 1),
    (["bench", "--work-dir", "note.txt"], 2),
    (["bench", "--seed", "x"], 2),
    (["bench", "extra"], 2),
    # explain (read-only: nothing is created, not even a warehouse)
    (["explain"], 2),
    (["explain", "F01"], 2),
    (["explain", "F01", "--period", "2022Q9"], 2),
    (["explain", "F01", "--period", "2022", "--warehouse", "missing.duckdb"], 2),
    (["explain", "F01", "--period", "2022", "--warehouse", "empty"], 2),  # a folder
    (["explain", "F01", "--period", "2022", "--warehouse", "note.txt"], 1),  # not a DuckDB file
    (["explain", "F01", "--period", "2022", "--format", "xml"], 2),
    # docs (the warehouse is read, never made; the page is written whole or not at all)
    (["docs", "extra"], 2),
    (["docs", "--out"], 2),
    (["docs", "--warehouse", "missing.duckdb"], 1),
    (["docs", "--warehouse", "empty"], 1),  # a folder
    (["docs", "--warehouse", "note.txt", "--out", "d.html"], 1),  # not a DuckDB file
    (["docs", "--warehouse", "note.txt", "--out", "folder.xlsx"], 1),  # a folder
    (["docs", "--warehouse", "note.txt", "--out", "nowhere/d.html"], 1),
    # report (a missing warehouse is a usage mistake here: the page only reads one; nothing is written before it)
    (["report"], 2),
    (["report", "--period", "2022Q5"], 2),
    (["report", "--period", "2022", "--warehouse", "missing.duckdb"], 2),
    (["report", "--period", "2022", "--warehouse", "empty"], 2),  # a folder
    (["report", "--period", "2022", "--warehouse", "note.txt"], 1),  # not a DuckDB file
    (["report", "--period", "2022", "--warehouse", "note.txt", "--out", "page.pdf"], 2),
    (["report", "--period", "2022", "--warehouse", "note.txt", "--out", "nowhere/page.html"], 2),
    # users (the portal's accounts, in portal.sqlite beside the warehouse: a mistake makes no such file)
    (["users"], 2),  # no subcommand
    (["users", "add", "dashi", "--unit", "nobody", "--password-stdin", "--warehouse", "w.duckdb"], 2),
    (["users", "add", "dashi", "--unit", "dashi", "--office", "--password-stdin", "--warehouse", "w.duckdb"], 2),
    (["users", "add", "dashi", "--password-stdin", "--warehouse", "w.duckdb"], 2),  # neither --unit nor --office
    (["users", "add", "Dashi", "--office", "--password-stdin", "--warehouse", "w.duckdb"], 2),
    (["users", "add", "dashi", "--office", "--warehouse", "w.duckdb"], 2),  # no --password-stdin
    (["users", "add", "dashi", "--office", "--password-stdin", "--warehouse", "w.duckdb"], 2),  # nothing on stdin
    (["users", "add", "dashi", "--office", "--password-stdin", "--warehouse", "nowhere/w.duckdb"], 2),
    (["users", "disable", "dashi", "--warehouse", "w.duckdb"], 1),  # no such user
    (["users", "disable", "dashi", "--warehouse", "empty"], 1),  # the warehouse is a folder
    (["users", "list", "--warehouse", "nowhere/w.duckdb"], 1),
    (["users", "reset", "--password-stdin"], 2),
    # portal
    (["portal", "--port", "0"], 2),
    (["portal", "--port", "70000"], 2),
    (["portal", "--port", "eighty"], 2),
    (["portal", "--raw-dir", "note.txt"], 2),
    (["portal", "--warehouse", "empty"], 1),  # the warehouse is a folder
    (["portal", "--host", "192.0.2.1", "--port", "8000"], 1),  # not an address of this machine
]


def _files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*")}


@pytest.fixture
def mistakes_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current folder for a bad invocation: a text file, an empty folder, a raw folder with only 2022."""
    (tmp_path / "note.txt").write_text("not a workbook, not a warehouse\n", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    (tmp_path / "folder.xlsx").mkdir()
    (tmp_path / "raw" / "2022").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _one_line_error(code: int, expected: int, out: str, err: str) -> None:
    assert "Traceback" not in out + err, out + err
    assert code == expected, out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert len(err.strip().splitlines()) == 1, err


def _id(value: object) -> str:
    return " ".join(value) or "(nothing)" if isinstance(value, list) else str(value)


@pytest.mark.parametrize(("arguments", "expected"), BAD_ARGUMENTS, ids=_id)
def test_a_plain_mistake_is_one_line_and_leaves_nothing_behind(
    mistakes_folder: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], expected: int
) -> None:
    before = _files(mistakes_folder)
    warehouse_existed = WAREHOUSE_FILE.exists()

    code = cli.main(arguments)

    printed = capsys.readouterr()
    _one_line_error(code, expected, printed.out, printed.err)
    assert _files(mistakes_folder) == before
    assert WAREHOUSE_FILE.exists() == warehouse_existed


def test_the_bad_arguments_cover_every_command() -> None:
    assert set(COMMANDS) == set(typer.main.get_command(cli.app).commands)
    for command in COMMANDS:
        assert sum(arguments[:1] == [command] for arguments, _ in BAD_ARGUMENTS) >= 2, command


@pytest.mark.parametrize(
    ("arguments", "expected", "says"),
    [
        (["sample", "--period", "2023Q1", "--quarterly", "--out", "out"], 2, "give a year"),
        (["close", "--period", "2022", "--warehouse", "missing.duckdb"], 1, "no warehouse at missing.duckdb"),
        (["template", "--unit", "shiqiao", "--period", "2023Q7", "--out", "t.xlsx"], 2, "'2023Q7' is not a period"),
    ],
)
def test_no_traceback_in_a_fresh_process(tmp_path: Path, arguments: list[str], expected: int, says: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "union_stats.cli", *arguments],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    _one_line_error(done.returncode, expected, done.stdout, done.stderr)
    assert says in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_messages_name_the_mistake(mistakes_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        ("sample", "--period", "2023", "--units", "0", "--out", "s"): "--units",
        ("template", "--unit", "shiqiao", "--period", "2023", "--out", "t.csv"): ".xlsx",
        ("template", "--unit", "nobody", "--period", "2023", "--out", "t.xlsx"): "unknown unit code 'nobody'",
        ("status", "--period", "2022", "--warehouse", "missing.duckdb"): "run `union-stats run` first",
        ("run", "--raw-dir", "raw", "--period", "2023"): "no folder raw/2023",
        ("run", "--raw-dir", "nowhere"): "no folder nowhere",
        ("run", "--dask", "localhost:8786"): "is not a Dask scheduler address: give tcp://host:port",
        ("run", "--raw-dir", "raw", "--warehouse", "w.duckdb", "--dask", "tcp://127.0.0.1:1"): (
            "run failed: no Dask scheduler answers at tcp://127.0.0.1:1"
        ),
        ("validate", "missing.xlsx"): "no such file: missing.xlsx",
        ("publish", "--parquet", "raw"): "no manifest.json of an earlier copy",
        ("publish", "--parquet", "out", "--warehouse", "note.txt"): "cannot read the warehouse note.txt",
        ("bogus",): "No such command",
    }
    for arguments, says in cases.items():
        cli.main(list(arguments))
        assert says in capsys.readouterr().err, arguments


@pytest.mark.parametrize("command", COMMANDS)
def test_help_explains_every_option_with_defaults_and_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([command, "--help"]) == 0
    printed = capsys.readouterr()
    text = " ".join(printed.out.split())  # help lines are wrapped

    assert printed.err == ""
    assert "Example:" in text and f"union-stats {command}" in text
    click_command = typer.main.get_command(cli.app).commands[command]
    for param in click_command.params:
        assert param.help, f"{command} {param.name} has no help"
        if param.param_type_name == "option":
            assert param.opts[0] in text
            flag = getattr(param, "is_flag", False)
            if not flag and not param.required:
                # a default is shown: Click's own, or said in the help where there is no value
                assert param.show_default or "[default: " in param.help, f"{command} {param.opts[0]}"
    if command in {"run", "status", "close", "reopen", "publish"}:
        assert "[default: data/warehouse/union_stats.duckdb]" in text or "[default: " in text
    if command == "sample":
        assert "[default: 2022]" in text and "[default: the 18 real units]" in text


def test_the_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert f"  {command} " in out


def test_template_and_sample_still_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "shiqiao_2023.xlsx"
    assert cli.main(["template", "--unit", "shiqiao", "--period", "2023", "--out", str(out)]) == 0
    assert out.is_file() and out.read_bytes()[:2] == b"PK"

    folder = tmp_path / "2023Q2"
    assert cli.main(["sample", "--period", "2023Q2", "--units", "2", "--seed", "7", "--out", str(folder)]) == 0
    assert len(list(folder.glob("*.xlsx"))) == 2 and (folder / "units.csv").is_file()
    printed = capsys.readouterr()
    assert "wrote 2 workbooks" in printed.out and printed.err == ""


def test_serve_dry_run_prints_the_next_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "quarterly-close: " in out and "annual-close: " in out and "+0800" in out


def test_suites_rewrites_expectations_and_raw_tables_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    generated = [
        *EXPECTATIONS_DIR.glob("*.json"),
        *(SQL_DIR / "ddl").glob("raw.*.sql"),
        SQL_DIR / "marts" / "indicator_values_wide.sql",  # the wide analyst view, from the catalog
    ]
    before = {path: path.read_bytes() for path in generated}

    assert cli.main(["suites"]) == 0

    assert {path: path.read_bytes() for path in generated} == before
    assert capsys.readouterr().out.count("wrote ") == len(before)


def test_a_table_in_a_pipe_is_not_cut_at_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(cli, "console", Console(file=buffer, soft_wrap=True))  # a pipe: rich assumes 80 columns
    figure = SimpleNamespace(
        figure_id="F01",
        quote_zh="全区新建工会组织并发展会员共计超过一万人次以上的数",
        published="12,345人",
        reproduced="12,345人",
        value=12345.0,
        base_unit="persons",
        matches=True,
        complete=True,
        units_accepted=18,
        units_expected=18,
    )

    cli._print_table(cli._figures_table("2022", [figure]))

    printed = buffer.getvalue()
    row = next(line for line in printed.splitlines() if "F01" in line)
    assert "…" not in printed
    assert figure.quote_zh[:28] in row and "12,345 persons" in row
    assert cli.console.width == 80  # the console is left as it was

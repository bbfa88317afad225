"""What people notice about the command line's outputs: an output that cannot be written is one line in Chinese and
English (never a traceback) and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from union_stats import cli
from union_stats.paths import RAW_DIR

SAMPLE_FILE = RAW_DIR / "2022" / "shiqiao_2022.xlsx"

# outputs no process can write, even as root: /proc takes no new file, /sys refuses one
UNWRITABLE = [
    ["docs", "--warehouse", "w.duckdb", "--out", "/proc/x.html"],
    ["docs", "--warehouse", "w.duckdb", "--out", "/sys/x.html"],
    ["report", "--period", "2022", "--warehouse", "w.duckdb", "--out", "/proc/x.html"],
    ["export", "--format", "csv", "--out", "/proc/x", "--warehouse", "w.duckdb"],
    ["export", "--format", "xlsx", "--out", "/sys/x", "--warehouse", "w.duckdb"],
    ["publish", "--parquet", "/proc/x", "--warehouse", "w.duckdb"],
    ["template", "--unit", "shiqiao", "--period", "2023", "--out", "/proc/x.xlsx"],
    ["sample", "--period", "2023", "--units", "1", "--out", "/proc/x/2023"],
    ["validate", str(SAMPLE_FILE), "--report-dir", "/proc/x"],
    ["bench", "--units", "1", "--out", "/proc/x.json", "--work-dir", "work"],
    ["bench", "--units", "1", "--work-dir", "/sys/work"],
    ["run", "--raw-dir", str(RAW_DIR), "--warehouse", "/proc/x/w.duckdb"],
]


@pytest.mark.parametrize("arguments", UNWRITABLE, ids=lambda arguments: " ".join(arguments[:1] + arguments[-2:]))
def test_an_unwritable_output_is_one_line_in_chinese_and_english(
    arguments: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.duckdb").write_text("the output is refused before the warehouse is read\n", encoding="utf-8")

    code = cli.main(arguments)

    printed = capsys.readouterr()
    assert "Traceback" not in printed.out + printed.err
    assert code == 1, printed.err
    [line] = [line for line in printed.err.splitlines() if line.strip()]
    where = next(argument for argument in arguments if argument.startswith(("/proc", "/sys")))
    assert f"无法写入 {where}：" in line and f"(cannot write {where}: " in line, line
    assert sorted(path.name for path in tmp_path.iterdir()) == ["w.duckdb"]  # nothing left behind


def test_times_are_shown_and_exported_in_the_office_zone_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")  # whatever the machine's own zone
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:  # an instant, as the warehouse keeps it (06:04 UTC is 14:04 in Beijing)
        con.execute("create schema marts")
        con.execute("create table marts.arrivals as select timestamptz '2023-01-13 06:04:00+00' as received_at")

    for output, shown in (("table", "2023-01-13 14:04:00+08:00"), ("json", '"2023-01-13T14:04:00+08:00"')):
        assert cli.main(["sql", "--warehouse", str(path), "--format", output, "from marts.arrivals"]) == 0
        assert shown in capsys.readouterr().out, output
    assert cli.main(["sql", "--warehouse", str(path), "--format", "csv", "from marts.arrivals"]) == 0
    assert capsys.readouterr().out == "\ufeffreceived_at\n2023-01-13 14:04:00+08:00\n"  # Excel's mark, then UTF-8

    assert cli.main(["export", "--format", "csv", "--out", str(tmp_path / "csv"), "--warehouse", str(path)]) == 0
    exported = (tmp_path / "csv" / "marts.arrivals.csv").read_bytes()
    assert exported.startswith("\ufeffreceived_at\n".encode()) and b"2023-01-13 14:04:00+08" in exported

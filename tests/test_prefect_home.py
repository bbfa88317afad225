"""Prefect in its place: each warehouse keeps its Prefect state beside it, so two runs against two warehouses at
the same time on one machine both succeed (no shared `~/.prefect/prefect.db`, no `database is locked`), unless
the user points at a Prefect server or chose a Prefect home."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from union_stats import paths
from union_stats.paths import RAW_DIR, use_prefect_home

PREFECT_KEYS = (
    "PREFECT_API_URL",
    "PREFECT_HOME",
    "PREFECT_PROFILES_PATH",
    "PREFECT_PROFILE",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No Prefect setting in the environment and a home of our own (so no ~/.prefect/profiles.toml); whatever
    use_prefect_home sets is undone afterwards (monkeypatch forgets a key that was absent, so set it first)."""
    for key in PREFECT_KEYS:
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def test_prefect_home_is_beside_the_warehouse(clean_env: Path, tmp_path: Path) -> None:
    use_prefect_home(tmp_path / "w1" / "w.duckdb")
    assert os.environ["PREFECT_HOME"] == str(tmp_path / "w1" / "prefect")
    assert (tmp_path / "w1" / "prefect").is_dir()
    assert "PREFECT_PROFILES_PATH" not in os.environ


def test_a_relative_warehouse_gives_an_absolute_home(clean_env: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    use_prefect_home(Path("data/warehouse/union_stats.duckdb"))
    assert os.environ["PREFECT_HOME"] == str(tmp_path / "data" / "warehouse" / "prefect")


@pytest.mark.parametrize("key", ["PREFECT_API_URL", "PREFECT_HOME"])
def test_the_users_choice_in_the_environment_is_left_alone(clean_env: Path, tmp_path: Path, monkeypatch, key) -> None:
    monkeypatch.setenv(key, "http://127.0.0.1:4200/api" if key == "PREFECT_API_URL" else str(tmp_path / "mine"))
    use_prefect_home(tmp_path / "w1" / "w.duckdb")
    assert os.environ.get("PREFECT_HOME") == (None if key == "PREFECT_API_URL" else str(tmp_path / "mine"))
    assert not (tmp_path / "w1").exists()


def test_a_server_in_the_active_profile_is_left_alone(clean_env: Path, tmp_path: Path) -> None:
    profiles = clean_env / ".prefect" / "profiles.toml"
    profiles.parent.mkdir()
    profiles.write_text(
        'active = "office"\n[profiles.office]\nPREFECT_API_URL = "http://stats-server:4200/api"\n'
        '[profiles.ephemeral]\nPREFECT_SERVER_ALLOW_EPHEMERAL_MODE = "true"\n',
        encoding="utf-8",
    )
    use_prefect_home(tmp_path / "w1" / "w.duckdb")
    assert "PREFECT_HOME" not in os.environ


def test_the_users_profiles_stay_the_ones_prefect_reads(clean_env: Path, tmp_path: Path) -> None:
    profiles = clean_env / ".prefect" / "profiles.toml"
    profiles.parent.mkdir()
    profiles.write_text(
        'active = "ephemeral"\n[profiles.ephemeral]\nPREFECT_LOGGING_LEVEL = "WARNING"\n', encoding="utf-8"
    )
    use_prefect_home(tmp_path / "w1" / "w.duckdb")
    assert os.environ["PREFECT_HOME"] == str(tmp_path / "w1" / "prefect")
    assert os.environ["PREFECT_PROFILES_PATH"] == str(profiles)


def test_two_runs_against_two_warehouses_at_once_both_succeed(tmp_path: Path) -> None:
    """Two `union-stats run`s started at the same moment, each against its own warehouse, as two offices' commands
    (each starts its temporary server on a port the system gives it): both succeed, and each run is recorded in the
    Prefect home beside its own warehouse and nowhere else. (Prefect's own temporary server picks a random port in
    8000-8999 and checks it before binding: two of them started at once can pick the same one, and one run then
    talks to the other's server, recorded in the wrong home and failing when that server stops; seen once.)"""
    home = tmp_path / "home"  # a user home of its own: nothing may land in its ~/.prefect
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in PREFECT_KEYS}
    env["HOME"] = str(home)
    env["COLUMNS"] = "200"  # rich wraps at 80 columns without a terminal

    processes = []
    for n in (1, 2):
        raw = tmp_path / f"raw{n}"
        shutil.copytree(RAW_DIR / "2022", raw / "2022")
        warehouse = tmp_path / f"w{n}" / "w.duckdb"
        command = [sys.executable, "-m", "union_stats.cli", "run", "--raw-dir", str(raw), "--warehouse", str(warehouse)]
        processes.append(
            (
                warehouse,
                subprocess.Popen(
                    command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                ),
            )
        )
    for warehouse, process in processes:
        try:
            stdout, stderr = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        assert process.returncode == 0, f"{warehouse}: exited {process.returncode}\n{stdout[-2000:]}\n{stderr[-4000:]}"
        assert "database is locked" not in stdout + stderr
        assert "66 of 66 figures match" in stdout, stdout[-2000:]

    for warehouse, _ in processes:
        prefect_db = paths.prefect_home_for(warehouse) / "prefect.db"
        assert prefect_db.is_file()
        with closing(sqlite3.connect(prefect_db)) as con:
            flows = con.execute("select flow.name from flow_run join flow on flow.id = flow_run.flow_id").fetchall()
        assert flows == [("ingest-period",)], f"{prefect_db}: {flows}"  # its own run, and only that one
    assert not (home / ".prefect" / "prefect.db").exists()

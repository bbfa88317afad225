"""Prefect in its place: each warehouse keeps its Prefect state beside it, so two runs against two warehouses at
the same time on one machine both succeed (no shared `~/.prefect/prefect.db`, no `database is locked`), unless
the user points at a Prefect server or chose a Prefect home."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
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


RUN = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from union_stats.paths import use_prefect_home

    raw, warehouse = Path(sys.argv[1]), Path(sys.argv[2])
    use_prefect_home(warehouse)  # before prefect is imported

    from prefect.settings import get_current_settings
    from flows.ingest import ingest_period

    summary = ingest_period(period="2022", raw_dir=raw, warehouse=warehouse)
    settings = get_current_settings()
    print(json.dumps({
        "matched": summary.matched, "figures": len(summary.figures), "home": str(settings.home),
        "database": str(settings.server.database.connection_url.get_secret_value()
                        if settings.server.database.connection_url else None),
    }))
    """
)


def test_two_runs_against_two_warehouses_at_once_both_succeed(tmp_path: Path) -> None:
    home = tmp_path / "home"  # a user home of its own: nothing may land in its ~/.prefect
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in PREFECT_KEYS}
    env["HOME"] = str(home)
    # as the command line has it: without it the temporary server's telemetry heartbeat may log a "database is
    # locked" of its own on its fresh database (inside one server, harmless, but it would hide what we look for)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"

    processes = []
    for n in (1, 2):
        raw = tmp_path / f"raw{n}"
        shutil.copytree(RAW_DIR / "2022", raw / "2022")
        warehouse = tmp_path / f"w{n}" / "w.duckdb"
        processes.append(
            (
                warehouse,
                subprocess.Popen(
                    [sys.executable, "-c", RUN, str(raw), str(warehouse)],
                    cwd=tmp_path,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
    results = []
    for warehouse, process in processes:
        try:
            stdout, stderr = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        assert process.returncode == 0, f"{warehouse}: exited {process.returncode}\n{stderr[-4000:]}"
        assert "database is locked" not in stderr
        results.append((warehouse, json.loads(stdout.strip().splitlines()[-1])))

    for warehouse, result in results:
        assert (result["matched"], result["figures"]) == (66, 66), result
        prefect_home = paths.prefect_home_for(warehouse)
        assert Path(result["home"]) == prefect_home
        assert (prefect_home / "prefect.db").is_file()
        assert result["database"] in (None, "None") or str(prefect_home) in result["database"]
    assert not (home / ".prefect" / "prefect.db").exists()

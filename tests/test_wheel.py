"""The package installs anywhere: a wheel built from the repository, installed in a fresh virtual environment
outside the checkout, runs the pipeline and the self-check with nothing but what the wheel carries.

Slow (building, then installing the dependencies, mostly from uv's cache, then a Prefect run): one test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from union_stats.paths import CHECKOUT, RAW_DIR

UV = shutil.which("uv")


def _run(args: list, cwd: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{args[:3]} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


@pytest.mark.skipif(UV is None, reason="uv builds the wheel and the virtual environment (CI installs it)")
@pytest.mark.skipif(CHECKOUT is None, reason="builds the wheel from the repository checkout")
def test_wheel_installed_outside_the_checkout_runs_and_validates(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        # without PYTHONDONTWRITEBYTECODE, as a user's Python: the first command writes the bytecode the next ones
        # read (with it, each command compiled Prefect and Great Expectations again: a validate took 6 s, not 3)
        if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PREFECT_API_URL", "PYTHONDONTWRITEBYTECODE")
    }
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")  # Prefect's state away from ~/.prefect and other runs
    env["COLUMNS"] = "200"  # rich wraps at 80 columns without a terminal

    # sdist first, then the wheel from the sdist: both must carry sql/, reference/ and expectations/
    dist = tmp_path / "dist"
    _run([UV, "build", "--out-dir", dist], cwd=CHECKOUT, env=env, timeout=600)
    (wheel,) = dist.glob("union_stats-*.whl")

    venv = tmp_path / "venv"
    _run([UV, "venv", "--quiet", venv, "--python", "3.11"], cwd=tmp_path, env=env, timeout=300)
    python = venv / "bin" / "python"
    _run([UV, "pip", "install", "--quiet", "--python", python, wheel], cwd=tmp_path, env=env, timeout=900)

    # what the code reads comes from the installed package, data default to the working directory
    where = _run(
        [
            python,
            "-c",
            "from union_stats import paths; import flows.ingest, flows.schedules; "
            "print(paths.CHECKOUT, paths.SQL_DIR, paths.REFERENCE_DIR, paths.EXPECTATIONS_DIR, "
            "paths.REPORT_TEMPLATES_DIR, paths.RAW_DIR, paths.WAREHOUSE_FILE, sep='\\n')",
        ],
        cwd=tmp_path,
        env=env,
        timeout=300,
    ).stdout.splitlines()
    assert where[0] == "None"
    site_packages = [Path(path) for path in where[1:5]]
    assert all(venv in path.parents and path.is_dir() for path in site_packages), where
    assert [Path(path) for path in where[5:]] == [
        tmp_path / "data" / "raw",
        tmp_path / "data" / "warehouse" / "union_stats.duckdb",
    ]

    raw = tmp_path / "raw"
    shutil.copytree(RAW_DIR / "2022", raw / "2022")
    cli = venv / "bin" / "union-stats"
    run = _run(
        [cli, "run", "--raw-dir", raw, "--warehouse", tmp_path / "w" / "w.duckdb"], cwd=tmp_path, env=env, timeout=900
    )
    assert "66 of 66" in run.stdout, run.stdout[-3000:]
    assert (tmp_path / "w" / "w.duckdb").is_file()

    _run([cli, "validate", raw / "2022" / "shiqiao_2022.xlsx"], cwd=tmp_path, env=env, timeout=300)

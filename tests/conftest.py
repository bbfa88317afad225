"""Shared fixtures: one Prefect test harness per session, and the shipped sample data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from union_stats.paths import RAW_DIR


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect API for the whole session (starting one takes seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    # a busy machine (CI, or a test run beside other work) can take longer than Prefect's 30 s to start it
    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def raw_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped raw folder's 2022 submissions, safe to corrupt."""
    target = tmp_path / "raw"
    shutil.copytree(RAW_DIR / "2022", target / "2022")
    return target


@pytest.fixture(scope="session")
def shipped_2022() -> list[Path]:
    files = sorted((RAW_DIR / "2022").glob("*.xlsx"))
    assert len(files) == 18, "the 18 sample workbooks of 2022 are shipped in data/raw/2022"
    return files


def pytest_terminal_summary(terminalreporter) -> None:
    """The benchmark lines tests record (`record_property("benchmark", line)`), printed after the run: a test's
    own output is not shown by the workers of `pytest -n auto`, its report's properties are."""
    lines = [
        value
        for report in terminalreporter.stats.get("passed", [])
        for name, value in getattr(report, "user_properties", ())
        if name == "benchmark"
    ]
    if lines:
        terminalreporter.section("benchmarks")
        for line in lines:
            terminalreporter.write_line(line)

"""The temporary Prefect server a run starts itself: left alone when the user chose one, one clear line when it
does not come up."""

from __future__ import annotations

import subprocess
import sys

import pytest

from union_stats import prefect_server


def test_nothing_is_started_when_a_server_is_configured_or_prefect_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert prefect_server.start() is None
    monkeypatch.delenv("PREFECT_API_URL")
    monkeypatch.setitem(sys.modules, "prefect", sys.modules.get("prefect") or object())
    assert prefect_server.start() is None  # its settings are fixed once imported: a harness or `serve` decides


def test_a_server_that_exits_is_one_line_not_a_hang() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    server = prefect_server.TemporaryServer(process, port=1)

    with pytest.raises(prefect_server.ServerFailed, match="exited with code 3"):
        server.wait_ready(timeout=30)


def test_a_server_that_never_answers_times_out_with_one_line() -> None:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    server = prefect_server.TemporaryServer(process, port=prefect_server._free_port())
    try:
        with pytest.raises(prefect_server.ServerFailed, match="did not answer within 1 s"):
            server.wait_ready(timeout=1)
    finally:
        server.stop()
    assert process.poll() is not None  # stopped, not left behind


@pytest.mark.parametrize("own_server", [True, False], ids=["its own temporary server", "the user's server"])
def test_a_run_sends_heartbeats_only_to_a_server_that_outlives_it(
    own_server: bool, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, get_current_settings, temporary_settings

    import flows.ingest
    from flows import start
    from union_stats.validate import gx_runner

    class Started:
        def wait_ready(self) -> None:
            pass

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))  # use_prefect_home then leaves the environment
    monkeypatch.setattr(prefect_server, "start", lambda: Started() if own_server else None)
    monkeypatch.setattr(gx_runner, "preload", lambda: None)
    seen = []
    monkeypatch.setattr(
        flows.ingest, "run_ingest", lambda **_: seen.append(get_current_settings().flows.heartbeat_frequency)
    )
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 60}):
        start.ingest_flow("2022", tmp_path / "raw", tmp_path / "w.duckdb")
        after = get_current_settings().flows.heartbeat_frequency

    assert seen == [None if own_server else 60]
    assert after == 60  # the setting is Prefect's again once the run is over

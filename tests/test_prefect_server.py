"""The temporary Prefect server a run starts itself: left alone when the user chose one, one clear line when it
does not come up."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


@contextmanager
def a_prefect_server_saying(home: str) -> Iterator[int]:
    """Something answering Prefect's health check and admin settings on a port, as another run's server would."""

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = json.dumps({"home": home} if self.path == "/api/admin/settings" else True).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield server.server_address[1]
        finally:
            server.shutdown()


def test_another_prefect_server_on_the_port_is_never_taken_for_ours(tmp_path: Path) -> None:
    """The port is free when chosen and given to the server a moment later; should another run's server have taken
    it, ours fails to bind and exits: the run must fail in one line, not send its runs to the other's server."""
    with a_prefect_server_saying(str(tmp_path / "another-warehouse" / "prefect")) as port:
        failing = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1); raise SystemExit(1)"])
        server = prefect_server.TemporaryServer(failing, port=port, home=tmp_path / "prefect")
        with pytest.raises(prefect_server.ServerFailed, match=f"port {port} was taken by another Prefect server"):
            server.wait_ready(timeout=30)


def test_our_own_server_is_recognised_by_its_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with a_prefect_server_saying(str(tmp_path / "w" / "prefect")) as port:
        running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        server = prefect_server.TemporaryServer(running, port=port, home=Path("w/prefect"))  # relative, as given
        try:
            server.wait_ready(timeout=30)
        finally:
            server.stop()


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

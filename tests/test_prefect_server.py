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

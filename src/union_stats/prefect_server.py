"""A temporary Prefect API server for one command, started before Prefect is imported.

Without `PREFECT_API_URL`, Prefect starts a temporary server when a flow first talks to its API: the command's
process imports Prefect's server code (seconds), then starts the same server in a subprocess, which imports it
again and migrates its database; all of it one step after another, on one core. Starting that subprocess
ourselves first, and pointing this process at it, overlaps the server's start-up with the command's own
imports and discovery on the second core, and spares this process the server import: an empty flow in a fresh
process took 5.7 s this way against 12.2 s (two cores, see README, Performance). It is the same server as
Prefect's own (`uvicorn prefect.server.api.server:create_app` with the temporary server's settings), with its
database in the command's `PREFECT_HOME`.

Nothing is started when the user chose a server (`PREFECT_API_URL` in the environment or the active profile) or
when Prefect is already imported in the process (a test harness, the scheduler): its settings are then fixed.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from union_stats import GC_THRESHOLDS
from union_stats.paths import PREFECT_STARTUP_TIMEOUT_SECONDS, prefect_profile_settings

HEALTH_POLL_SECONDS = 0.05
STOP_WAIT_SECONDS = 5
PR_SET_PDEATHSIG = 1  # linux/prctl.h: the signal a child gets when its parent dies


class ServerFailed(RuntimeError):
    """The temporary Prefect server did not come up: one line saying why."""


@dataclass
class TemporaryServer:
    process: subprocess.Popen
    port: int
    log: Path | None = None  # where its output goes (not the command's terminal or pipe)
    home: Path | None = None  # its Prefect home: the server that answers on `port` must say it is this one

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until the server answers its health check; ServerFailed if it exits or takes too long."""
        timeout = timeout or float(
            os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", PREFECT_STARTUP_TIMEOUT_SECONDS)
        )
        deadline = time.monotonic() + timeout
        stranger = None  # the home of another Prefect server found answering on our port

        def failed(what: str) -> ServerFailed:
            taken = f": port {self.port} was taken by another Prefect server (home {stranger})" if stranger else ""
            where = f" (its log: {self.log})" if self.log is not None else ""
            return ServerFailed(f"the temporary Prefect server {what}{taken}{where}")

        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise failed(f"exited with code {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=1) as answer:
                    if answer.status == 200:
                        stranger = self._stranger()
                        if stranger is None:
                            return
            except OSError:
                pass
            time.sleep(HEALTH_POLL_SECONDS)
        raise failed(f"did not answer within {timeout:.0f} s")

    def _stranger(self) -> str | None:
        """The Prefect home of the server answering on our port when it is not ours, else None. The port was free
        when it was chosen and is given to the server a moment later: another program may take it in between, and a
        run must never send its flow and task runs to another run's server (it would be recorded in the other's
        home, and fail when that server stops). A server that does not say its home counts as ours."""
        if self.home is None:
            return None
        try:
            with urllib.request.urlopen(f"{self.api_url}/admin/settings", timeout=1) as answer:
                home = json.load(answer).get("home")
        except (OSError, ValueError, AttributeError):
            return None
        if not home or Path(home).expanduser().resolve() == self.home.expanduser().resolve():
            return None
        return str(home)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """The server must not outlive a command killed with SIGKILL (it would hold Prefect's database)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def start() -> TemporaryServer | None:
    """Start the temporary server and point this process at it (`PREFECT_API_URL`); None when the user's own
    server or settings apply. The server is stopped when the process exits, after Prefect has sent its last
    logs and events (its queues drain before `atexit` handlers run)."""
    if (
        "prefect" in sys.modules
        or os.environ.get("PREFECT_API_URL")
        or prefect_profile_settings().get("PREFECT_API_URL")
    ):
        return None
    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:
        return None
    port = _free_port()
    environment = {
        **os.environ,
        # what Prefect's own temporary server runs with: no UI, ephemeral mode (no background services)
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": os.environ.get("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
    }
    command = [
        sys.executable,
        "-c",
        # `python -m uvicorn`, with the command's garbage collector thresholds (see union_stats.GC_THRESHOLDS)
        f"import gc, runpy; gc.set_threshold{GC_THRESHOLDS}; runpy.run_module('uvicorn', run_name='__main__', "
        "alter_sys=True)",
        "--app-dir",
        str(Path(spec.origin).parent.parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]
    # its output goes to a log in the Prefect home, not to the command's stdout and stderr: a server that outlives
    # the command by a moment must not hold the command's pipe open (`union-stats run | tee`, a test's capture)
    home = Path(os.environ.get("PREFECT_HOME") or prefect_profile_settings().get("PREFECT_HOME") or "~/.prefect")
    log = home.expanduser() / "temporary-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            # its own session: a Ctrl-C at the terminal (SIGINT to the foreground process group) stops the
            # command, which stops the server on its way out, and not the server under the command's feet (the
            # flow would then retry its API calls for minutes and end with a misleading connection error)
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )
    server = TemporaryServer(process, port, log, home)
    os.environ["PREFECT_API_URL"] = server.api_url
    STARTED.append(server)
    atexit.register(server.stop)
    return server


STARTED: list[TemporaryServer] = []  # the servers this process started, for `stop_now`


def stop_now() -> None:
    """Ask every server this process started to stop, without waiting for it (a command ending at once)."""
    for server in STARTED:
        if server.process.poll() is None:
            try:
                server.process.terminate()
            except OSError:
                pass

"""`union-stats bench`: how long a run takes over N synthetic workbooks, and against what.

For each N it generates (or reuses) N synthetic units with `sample.write_sample` and measures, on the same files:

- the floor: fastexcel reads every sheet of every workbook into Arrow, nothing else;
- each stage of a run (`pipeline.run_period` with its stages timed in this process, without Prefect: discover,
  archive, inspect + parse, validate, load + transform,
  quality reports), in one fresh child process so that its memory is its own;
- the whole `union-stats run` as a user starts it: a fresh process (Prefect included) on a fresh warehouse file,
  timed from outside;
- a no-op rerun: the same command again on the same warehouse;
- `union-stats validate` of one of the files, in a fresh process.

And once per invocation, the baselines the targets are ratios to: a bare process that imports the stack and runs
an empty Prefect flow the way a run does (`use_prefect_home` beside a warehouse; once with a new Prefect home, once
with the same home again), a bare `python -c "import polars, duckdb"` and a bare `import great_expectations`;
plus the first run of the shipped 18 (`data/raw/2022`) into a new warehouse folder.

Then, once per invocation, the submission portal: a fresh child process serves the real app under uvicorn (warm, as
`union-stats portal` does) over the 18 reference units' sample workbooks for `PERIOD` (generated once, like the
synthetic units; the portal's accounts are for reference units only). The 18 clerks, logged in, upload their file
at once over HTTP: the row is the p95 of their waits (request sent → 303 received, the wait for the portal's one
check thread included), N = 18 being the number of concurrent uploads. Then one more upload alone, the portal
idle and warm.

The N runs start from the Prefect home the warm baseline left (copied beside their fresh warehouse): they are "a
run that finds new files", not a first run ever. Peak memory is the RSS summed over a process and all its
descendants (`/proc/<pid>/status`, polled every 50 ms), the maximum over the measurement; `getrusage` of the
children (the largest single process so far) is kept beside it as a cross-check.

Nothing runs at import: `measure` does the work; `python -m union_stats.devtools.bench --stages ...` is the child that times
the stages, `python -m union_stats.devtools.bench --portal ...` the one that serves the portal and uploads to it.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

PERIOD = "2031"  # far from any real period: nothing collides with the shipped sample or a real warehouse
DEFAULT_UNITS = (18, 200, 2000, 10000)
DEFAULT_SEED = 1
DEFAULT_WORK_DIR = Path(tempfile.gettempdir()) / "union-stats-bench"
POLL_SECONDS = 0.05
READY_MARK = ".generated"  # written last into a generated folder: a folder without it is generated again

# baselines (fixed costs) by key: what a measure of each N is compared with
BARE_STACK_NEW = "bare stack start-up, new Prefect home"
BARE_STACK = "bare stack start-up, existing Prefect home"
BARE_POLARS_DUCKDB = "bare import polars, duckdb"
BARE_GX = "bare import great_expectations"
SHIPPED_FIRST_RUN = "first run of the shipped 18 (new warehouse folder)"

FLOOR = "floor: fastexcel reads every sheet to Arrow"
STAGES = (
    "discover (sha256)",
    "archive (copy by hash)",
    "inspect + parse",
    "validate (GX, incl. import)",
    "load + transform",
    "quality reports",
)
STAGES_TOTAL = "stages total (in-process, no Prefect)"
GENERATE = "generate (not part of a run)"
RUN = "run (fresh process, Prefect)"
NOOP = "no-op rerun (fresh process)"
VALIDATE_COLD = "validate one file (fresh process)"
PORTAL_CONCURRENT = "portal: check of one upload (p95 of N concurrent uploads)"
PORTAL_ONE = "portal: one upload, warm (median of 5, one after the other)"
ONE_UPLOADS = 5
PORTAL_GENERATE = "portal: generate the 18 reference units' files (not part of a run)"
PORTAL_CLIENT_TIMEOUT = 600.0

BARE_STACK_PREFECT_OWN = "bare stack start-up, Prefect's own temporary server"
# a bare process that starts the stack the way `union-stats run` does (its own early Prefect server, Great
# Expectations imported while the server starts, see prefect_server.py) and runs an empty flow: the fixed cost
# a run is compared with
EMPTY_FLOW = """
import sys
from pathlib import Path
from union_stats.paths import use_prefect_home
use_prefect_home(Path(sys.argv[1]))
from union_stats import prefect_server
server = prefect_server.start()
import prefect, polars, duckdb
from union_stats.validate.gx_runner import preload
preload()
if server is not None:
    server.wait_ready()
from prefect import flow
@flow(name="bench-empty-flow")
def empty_flow():
    return None
empty_flow()
"""
# the same, with the temporary server Prefect starts by itself when a flow first needs its API
EMPTY_FLOW_PREFECT_OWN = """
import sys
from pathlib import Path
from union_stats.paths import use_prefect_home
use_prefect_home(Path(sys.argv[1]))
import great_expectations, prefect, polars, duckdb
from prefect import flow
@flow(name="bench-empty-flow")
def empty_flow():
    return None
empty_flow()
"""


class BenchError(RuntimeError):
    """A measured process failed: the command, its exit code and the last line it printed on stderr."""


@dataclass
class Row:
    n: int | None  # None for a baseline
    measure: str
    seconds: float
    workbooks_per_s: float | None = None
    x_floor: float | None = None
    peak_mb: float | None = None
    baseline: str | None = None  # the fixed cost this measure is compared with
    x_baseline: float | None = None
    rusage_max_mb: float | None = None  # largest single child process so far (getrusage), a cross-check
    part_of_run: bool = True


@dataclass
class BenchResult:
    machine: dict
    rows: list[Row] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"machine": self.machine, "rows": [asdict(row) for row in self.rows]}


# ---------------------------------------------------------------------------------------------------------------
# memory: the RSS of a process tree, polled


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as handle:
                stat = handle.read()
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])  # after the command name, which may hold spaces
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    return children


def tree_rss_bytes(pid: int) -> int:
    """RSS of `pid` and all its descendants, now (0 once it is gone)."""
    children = _children_by_parent()
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        total += _rss_bytes(current)
        todo.extend(children.get(current, ()))
    return total


class PeakSampler:
    """Polls the RSS of a process tree every `interval` seconds on a thread and keeps the maximum."""

    def __init__(self, pid: int, interval: float = POLL_SECONDS) -> None:
        self.pid, self.interval = pid, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            self._stop.wait(self.interval)

    def start(self) -> PeakSampler:
        self._thread.start()
        return self

    def reset(self) -> int:
        """The peak so far; from now on the peak starts again from the current RSS."""
        peak = max(self.peak, tree_rss_bytes(self.pid))
        self.peak = tree_rss_bytes(self.pid)
        return peak

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _mb(value: int) -> float:
    return round(value / 2**20, 1)


def _children_maxrss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)  # KiB on Linux


# ---------------------------------------------------------------------------------------------------------------
# fresh processes, timed from outside


def _terminate_tree(pid: int) -> None:
    """SIGTERM to `pid` and every descendant, children first looked up while the parent still holds them."""
    children = _children_by_parent()
    todo, tree = [pid], []
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    for member in reversed(tree):
        try:
            os.kill(member, signal.SIGTERM)
        except OSError:
            pass


@dataclass
class Timed:
    seconds: float
    peak_mb: float
    rusage_max_mb: float
    returncode: int


def timed_process(command: list[str], log_dir: Path, name: str, ok: Iterable[int] = (0,)) -> Timed:
    """Run `command` in a fresh process, its output into `log_dir/<name>.out|.err`; time and peak RSS of its tree."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        sampler = PeakSampler(process.pid).start()
        try:
            returncode = process.wait()
        except BaseException:  # interrupted: leave no Prefect server behind (it outlives a killed parent)
            _terminate_tree(process.pid)
            sampler.stop()
            raise
        seconds = time.perf_counter() - started
        peak = sampler.stop()
    if returncode not in ok:
        lines = [line for line in err_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        last = lines[-1].strip() if lines else "(nothing on stderr)"
        raise BenchError(f"{name} exited {returncode}: {last} (output in {log_dir})")
    return Timed(seconds, _mb(peak), _children_maxrss_mb(), returncode)


def cli_command(*arguments: str) -> list[str]:
    """`union-stats ARGUMENTS` as a user starts it: a fresh interpreter of this environment."""
    return [sys.executable, "-m", "union_stats.cli", *arguments]


# ---------------------------------------------------------------------------------------------------------------
# the stages, in-process (the child `python -m union_stats.devtools.bench --stages`)


def measure_stages(period_dir: Path, scratch: Path) -> dict:
    """Time the floor, then each stage of a run over `period_dir`: the run `union-stats run` makes
    (`pipeline.run_period`: the lock, the stages in their order, the record), its stages in this process without
    Prefect, each timed."""
    import fastexcel

    from union_stats import discover, pipeline

    names = dict(zip(("discover", "archive", "parse", "validate", "load", "report"), STAGES, strict=True))
    sampler = PeakSampler(os.getpid()).start()
    stages: list[dict] = []
    parsed_rows = 0

    def floor() -> None:
        for path in sorted(period_dir.iterdir()):
            if discover.is_submission(path):
                reader = fastexcel.read_excel(path)
                for name in reader.sheet_names:
                    reader.load_sheet(name, header_row=None, dtypes="string").to_arrow()

    def on_stage(name: str, seconds: float, result) -> None:
        nonlocal parsed_rows
        if name == "parse":
            parsed_rows = sum(frame.height for frame in result.sheets.values())
        if name in names:  # the summary at the end is a few lines of Python: not a stage of its own
            stages.append({"measure": names[name], "seconds": seconds, "peak_mb": _mb(sampler.reset())})

    sampler.reset()
    started = time.perf_counter()
    floor()
    stages.append({"measure": FLOOR, "seconds": time.perf_counter() - started, "peak_mb": _mb(sampler.reset())})
    result = pipeline.run_period(
        period_dir.name,
        period_dir.parent,
        scratch / "union_stats.duckdb",
        stages=pipeline.PLAIN.timed(on_stage),
        parquet_dir=None,
    )
    sampler.stop()
    return {
        "stages": stages,
        "files": result.summary.files,
        "accepted": result.summary.accepted,
        "parsed_rows": parsed_rows,
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _stages_main(argv: list[str]) -> int:
    period_dir, scratch, out = (Path(value) for value in argv)
    result = measure_stages(period_dir, scratch)
    out.write_text(json.dumps(result), encoding="utf-8")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# the portal under N concurrent uploads (the child `python -m union_stats.devtools.bench --portal`)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (`share` in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _another_copy(data: bytes, number: int = 0) -> bytes:
    """The same workbook with a zip comment: other bytes (another upload), the same content."""
    import io
    import zipfile

    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as workbook:
        workbook.comment = f"union-stats bench: one upload, warm ({number})".encode()
    return buffer.getvalue()


def measure_portal(period_dir: Path, scratch: Path) -> dict:
    """Serve the portal over a fresh raw folder and warehouse in `scratch` (one account per workbook's unit), upload
    every workbook of `period_dir` at once, one per unit, then the first one again (other bytes) alone."""
    import re

    import httpx

    from union_stats import reference
    from union_stats.paths import EXTRA_UNITS_FILE
    from union_stats.portal.accounts import portal_db_for
    from union_stats.portal.app import create_app, served
    from union_stats.portal.state import PortalState

    files = sorted(period_dir.glob("*.xlsx"))
    units = [unit.unit_code for unit in reference.expected_units(period_dir)]
    by_unit = {code: path for code in units for path in files if path.name == f"{code}_{period_dir.name}.xlsx"}
    raw_dir, warehouse = scratch / "raw", scratch / "warehouse" / "union_stats.duckdb"
    (raw_dir / period_dir.name).mkdir(parents=True)
    if (period_dir / EXTRA_UNITS_FILE).is_file():
        shutil.copyfile(period_dir / EXTRA_UNITS_FILE, raw_dir / period_dir.name / EXTRA_UNITS_FILE)
    warehouse.parent.mkdir(parents=True)
    password = secrets.token_urlsafe(16)
    store = PortalState(portal_db_for(warehouse))
    for code in by_unit:
        store.add(f"{code}.bench", password, unit_code=code)
    store.open_period(period_dir.name, "bench", "")  # the bench period takes uploads as the office opened it

    app = create_app(raw_dir, warehouse, warm=True)
    csrf_field = re.compile(r'name="csrf_token" value="([^"]*)"')
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    def log_in(client: httpx.Client, username: str) -> str:
        token = csrf_field.search(client.get("/login").text).group(1)
        answer = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
        if answer.status_code != 303:
            raise BenchError(f"portal: login of {username} answered {answer.status_code}")
        return csrf_field.search(client.get(answer.headers["location"]).text).group(1)

    def send(client: httpx.Client, csrf: str, name: str, data: bytes) -> float:
        started = time.perf_counter()
        answer = client.post(
            "/upload", data={"period": period_dir.name, "csrf_token": csrf}, files={"file": (name, data, xlsx)}
        )
        seconds = time.perf_counter() - started
        if answer.status_code != 303:
            raise BenchError(f"portal: upload of {name} answered {answer.status_code}: {answer.text[:200]}")
        return seconds

    started = time.perf_counter()
    try:
        with served(app, timeout=PORTAL_CLIENT_TIMEOUT) as base:
            warm_up = time.perf_counter() - started
            barrier = threading.Barrier(len(by_unit) + 1)
            waits: dict[str, float] = {}
            errors: list[BaseException] = []
            clients = {code: httpx.Client(base_url=base, timeout=PORTAL_CLIENT_TIMEOUT) for code in by_unit}

            def clerk(code: str, csrf: str) -> None:
                try:
                    barrier.wait()
                    waits[code] = send(clients[code], csrf, by_unit[code].name, by_unit[code].read_bytes())
                except BaseException as error:  # noqa: BLE001 - raised again by the main thread
                    errors.append(error)
                    barrier.abort()

            try:
                tokens = {code: log_in(client, f"{code}.bench") for code, client in clients.items()}
                threads = [threading.Thread(target=clerk, args=(code, tokens[code])) for code in by_unit]
                for thread in threads:
                    thread.start()
                barrier.wait(timeout=PORTAL_CLIENT_TIMEOUT)
                started = time.perf_counter()
                for thread in threads:
                    thread.join()
                wall = time.perf_counter() - started
                if errors:
                    raise errors[0]
                first = next(iter(by_unit))
                # then one upload alone, ONE_UPLOADS times one after the other (other bytes each time): the median,
                # so that one moment of the machine's (a neighbour's burst, a collection) is not the figure
                ones = [
                    send(
                        clients[first],
                        tokens[first],
                        f"again_{number}_{by_unit[first].name}",
                        _another_copy(by_unit[first].read_bytes(), number),
                    )
                    for number in range(ONE_UPLOADS)
                ]
                one = statistics.median(ones)
            finally:
                for client in clients.values():
                    client.close()
    except BenchError:
        raise
    except RuntimeError as error:  # the portal did not start
        raise BenchError(f"portal: {error}") from error
    return {
        "uploads": len(waits),
        "waits": sorted(waits.values()),
        "p50": statistics.median(waits.values()),
        "p95": percentile(list(waits.values()), 0.95),
        "wall": wall,
        "one": one,
        "ones": ones,
        "warm_up": warm_up,
    }


def _portal_main(argv: list[str]) -> int:
    period_dir, scratch, out = (Path(value) for value in argv)
    result = measure_portal(period_dir, scratch)
    out.write_text(json.dumps(result), encoding="utf-8")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# synthetic units, generated once per (N, seed) and reused


def units_folder(work_dir: Path, units: int, seed: int) -> Path:
    """The raw folder (holding the period folder `PERIOD`) of N synthetic units."""
    return work_dir / f"units-{units}-seed-{seed}"


def ensure_units(work_dir: Path, units: int, seed: int) -> tuple[Path, float | None]:
    """The raw folder of N synthetic units, and the seconds it took to generate (None when it was reused)."""
    raw = units_folder(work_dir, units, seed)
    period_dir = raw / PERIOD
    if (period_dir / READY_MARK).is_file() and len(list(period_dir.glob("*.xlsx"))) == units:
        return raw, None
    from union_stats.devtools import sample

    shutil.rmtree(raw, ignore_errors=True)
    started = time.perf_counter()
    sample.write_sample(PERIOD, period_dir, units=units, seed=seed)
    seconds = time.perf_counter() - started
    (period_dir / READY_MARK).write_text(f"{units} units, seed {seed}, {seconds:.1f} s\n", encoding="utf-8")
    return raw, seconds


def ensure_reference_units(work_dir: Path, seed: int) -> tuple[Path, float | None]:
    """The raw folder of the 18 reference units' sample workbooks for `PERIOD` (the portal's accounts are for
    reference units only), and the seconds it took to generate (None when it was reused)."""
    raw = work_dir / f"reference-units-seed-{seed}"
    period_dir = raw / PERIOD
    if (period_dir / READY_MARK).is_file():
        return raw, None
    from union_stats.devtools import sample

    shutil.rmtree(raw, ignore_errors=True)
    started = time.perf_counter()
    paths = sample.write_sample(PERIOD, period_dir, seed=seed)
    seconds = time.perf_counter() - started
    (period_dir / READY_MARK).write_text(f"{len(paths)} reference units, seed {seed}, {seconds:.1f} s\n", "utf-8")
    return raw, seconds


# ---------------------------------------------------------------------------------------------------------------
# the machine


def machine() -> dict:
    model, memory_kb = platform.processor() or platform.machine(), 0
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 2**20, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def machine_line(info: dict) -> str:
    return (
        f"{info['cpu']}, {info['cores']} cores, {info['memory_gb']:g} GB memory, Python {info['python']}, "
        f"{info['system']}; {info['date']}"
    )


# ---------------------------------------------------------------------------------------------------------------
# the whole measurement


def _per_n(n: int, floor: float, measure_name: str, seconds: float, peak_mb: float | None, **extra) -> Row:
    """A row of one N: workbooks per second and the ratio to that N's floor."""
    return Row(
        n, measure_name, seconds, n / seconds if seconds else None, seconds / floor if floor else None, peak_mb, **extra
    )


def measure(
    units: Iterable[int],
    work_dir: Path = DEFAULT_WORK_DIR,
    seed: int = DEFAULT_SEED,
    shipped_raw_dir: Path | None = None,
    on_row: Callable[[Row], None] | None = None,
    portal: bool = True,
) -> BenchResult:
    """Measure the baselines, the portal (unless `portal` is false), then every N in `units`; `on_row` hears each
    row as it is measured."""
    result = BenchResult(machine())
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    scratch = work_dir / "runs" / f"{datetime.now():%Y%m%dT%H%M%S}-{os.getpid()}"
    scratch.mkdir(parents=True)
    logs = scratch / "logs"
    baselines: dict[str, float] = {}

    def add(row: Row) -> Row:
        result.rows.append(row)
        if on_row is not None:
            on_row(row)
        return row

    def fixed(measure_name: str, timed: Timed, compared_with: str | None = None) -> None:
        baselines[measure_name] = timed.seconds
        ratio = timed.seconds / baselines[compared_with] if compared_with in baselines else None
        add(
            Row(
                None,
                measure_name,
                timed.seconds,
                peak_mb=timed.peak_mb,
                baseline=compared_with,
                x_baseline=ratio,
                rusage_max_mb=timed.rusage_max_mb,
                part_of_run=False,
            )
        )

    try:
        python = sys.executable
        fixed(BARE_POLARS_DUCKDB, timed_process([python, "-c", "import polars, duckdb"], logs, "bare-polars-duckdb"))
        fixed(BARE_GX, timed_process([python, "-c", "import great_expectations"], logs, "bare-gx"))
        baseline_warehouse = scratch / "baseline" / "union_stats.duckdb"
        baseline_warehouse.parent.mkdir(parents=True)
        empty_flow = [python, "-c", EMPTY_FLOW, str(baseline_warehouse)]
        fixed(BARE_STACK_NEW, timed_process(empty_flow, logs, "bare-stack-new-home"))
        fixed(BARE_STACK, timed_process(empty_flow, logs, "bare-stack"))
        own = [python, "-c", EMPTY_FLOW_PREFECT_OWN, str(baseline_warehouse)]
        fixed(BARE_STACK_PREFECT_OWN, timed_process(own, logs, "bare-stack-prefect-own"), BARE_STACK)
        warm_home = baseline_warehouse.parent / "prefect"
        if shipped_raw_dir is not None and (shipped_raw_dir / "2022").is_dir():
            shipped = scratch / "shipped" / "union_stats.duckdb"
            shipped.parent.mkdir(parents=True)
            command = cli_command(
                "run", "--raw-dir", str(shipped_raw_dir), "--period", "2022", "--warehouse", str(shipped)
            )
            fixed(SHIPPED_FIRST_RUN, timed_process(command, logs, "shipped-first-run"), BARE_STACK_NEW)

        if portal:
            raw, generated = ensure_reference_units(work_dir, seed)
            n = len(list((raw / PERIOD).glob("*.xlsx")))
            if generated is not None:
                add(Row(n, PORTAL_GENERATE, generated, n / generated if generated else None, part_of_run=False))
            portal_out = scratch / "portal.json"
            command = [
                python,
                "-m",
                "union_stats.devtools.bench",
                "--portal",
                str(raw / PERIOD),
                str(scratch / "portal"),
            ]
            timed = timed_process([*command, str(portal_out)], logs, "portal")
            uploads = json.loads(portal_out.read_text(encoding="utf-8"))
            add(
                Row(
                    uploads["uploads"],
                    PORTAL_CONCURRENT,
                    uploads["p95"],
                    uploads["uploads"] / uploads["wall"] if uploads["wall"] else None,
                    peak_mb=timed.peak_mb,
                    rusage_max_mb=timed.rusage_max_mb,
                    part_of_run=False,
                )
            )
            one = uploads["one"]
            add(Row(uploads["uploads"], PORTAL_ONE, one, 1 / one if one else None, part_of_run=False))
            shutil.rmtree(scratch / "portal", ignore_errors=True)

        for n in sorted(set(units)):
            raw, generated = ensure_units(work_dir, n, seed)
            period_dir = raw / PERIOD
            if generated is not None:
                add(Row(n, GENERATE, generated, n / generated if generated else None, part_of_run=False))
            folder = scratch / f"N{n}"
            stages_out = folder / "stages.json"
            folder.mkdir(parents=True)
            stages_command = [
                python,
                "-m",
                "union_stats.devtools.bench",
                "--stages",
                str(period_dir),
                str(folder / "stages"),
            ]
            timed_process([*stages_command, str(stages_out)], logs, f"N{n}-stages")
            stages = json.loads(stages_out.read_text(encoding="utf-8"))
            by_name = {stage["measure"]: stage for stage in stages["stages"]}
            floor = by_name[FLOOR]["seconds"]

            def row(measure_name: str, seconds: float, peak_mb: float | None, **extra) -> Row:
                return add(_per_n(n, floor, measure_name, seconds, peak_mb, **extra))  # noqa: B023 - called at once

            row(FLOOR, floor, by_name[FLOOR]["peak_mb"], part_of_run=False)
            for stage in STAGES:
                row(stage, by_name[stage]["seconds"], by_name[stage]["peak_mb"])
            row(
                STAGES_TOTAL,
                sum(by_name[stage]["seconds"] for stage in STAGES),
                max(by_name[stage]["peak_mb"] for stage in STAGES),
                rusage_max_mb=stages["ru_maxrss_mb"],
            )

            warehouse = folder / "run" / "union_stats.duckdb"
            warehouse.parent.mkdir(parents=True)
            shutil.copytree(warm_home, warehouse.parent / "prefect")  # a Prefect home that has run before
            command = cli_command("run", "--raw-dir", str(raw), "--period", PERIOD, "--warehouse", str(warehouse))
            for measure_name, name, compared_with in (
                (RUN, f"N{n}-run", BARE_STACK),
                (NOOP, f"N{n}-noop", BARE_POLARS_DUCKDB),
            ):
                timed = timed_process(command, logs, name)
                row(
                    measure_name,
                    timed.seconds,
                    timed.peak_mb,
                    baseline=compared_with,
                    x_baseline=timed.seconds / baselines[compared_with],
                    rusage_max_mb=timed.rusage_max_mb,
                )
            one_file = sorted(period_dir.glob("*.xlsx"))[0]
            timed = timed_process(cli_command("validate", str(one_file)), logs, f"N{n}-validate", ok=(0, 1))
            add(
                Row(
                    n,
                    VALIDATE_COLD,
                    timed.seconds,
                    peak_mb=timed.peak_mb,
                    baseline=BARE_GX,
                    x_baseline=timed.seconds / baselines[BARE_GX],
                    rusage_max_mb=timed.rusage_max_mb,
                    part_of_run=False,
                )
            )
            shutil.rmtree(folder, ignore_errors=True)  # the warehouse of 10,000 is large; the generated files stay
    finally:
        shutil.rmtree(scratch / "baseline", ignore_errors=True)
        shutil.rmtree(scratch / "shipped", ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)  # kept only when a measurement failed (its logs say why)
    return result


# ---------------------------------------------------------------------------------------------------------------
# output


COLUMNS = ("n", "measure", "seconds", "workbooks_per_s", "x_floor", "peak_mb", "baseline", "x_baseline")


def write(result: BenchResult, out: Path) -> Path:
    """The rows as CSV (one per row, the machine in a `machine` column) or JSON (machine and rows), by extension."""
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    if out.suffix.lower() == ".json":
        partial.write_text(json.dumps(result.as_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    else:
        names = [*asdict(result.rows[0]).keys(), "machine"] if result.rows else [*COLUMNS, "machine"]
        with partial.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=names, lineterminator="\n")
            writer.writeheader()
            for row in result.rows:
                writer.writerow({**asdict(row), "machine": machine_line(result.machine)})
    os.replace(partial, out)
    return out


def _number(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{suffix}"


def tables(result: BenchResult) -> list:
    """Rich tables: the fixed costs (baselines), then one table per N."""
    from rich.table import Table

    fixed = Table(title="fixed costs (fresh processes)")
    for header, justify in (("measure", "left"), ("seconds", "right"), ("peak MB", "right"), ("vs", "right")):
        fixed.add_column(header, justify=justify)
    for row in result.rows:
        if row.n is None:
            versus = f"{row.x_baseline:.2f}× {row.baseline}" if row.x_baseline is not None else ""
            fixed.add_row(row.measure, _number(row.seconds), _number(row.peak_mb, 0), versus)
    out = [fixed]
    for n in sorted({row.n for row in result.rows if row.n is not None}):
        table = Table(title=f"N = {n:,} workbooks")
        for header, justify in (
            ("N", "right"),
            ("measure", "left"),
            ("seconds", "right"),
            ("workbooks/s", "right"),
            ("× floor", "right"),
            ("peak MB", "right"),
            ("vs fixed cost", "right"),
        ):
            table.add_column(header, justify=justify)
        for row in result.rows:
            if row.n != n:
                continue
            versus = f"{row.x_baseline:.2f}× {row.baseline}" if row.x_baseline is not None else ""
            table.add_row(
                f"{n:,}",
                row.measure,
                _number(row.seconds),
                _number(row.workbooks_per_s, 0 if (row.workbooks_per_s or 0) >= 10 else 1),
                _number(row.x_floor, 1, "×"),
                _number(row.peak_mb, 0),
                versus,
            )
        out.append(table)
    return out


if __name__ == "__main__":
    import gc

    from union_stats import GC_THRESHOLDS

    gc.set_threshold(*GC_THRESHOLDS)  # as the command that runs the stages and serves the portal does
    if sys.argv[1:2] == ["--stages"]:
        sys.exit(_stages_main(sys.argv[2:]))
    if sys.argv[1:2] == ["--portal"]:
        sys.exit(_portal_main(sys.argv[2:]))
    sys.exit(
        "usage: python -m union_stats.devtools.bench --stages|--portal PERIOD_DIR SCRATCH OUT.json (use `union-stats bench`)"
    )

"""An upload through the portal: refused at the door, or checked, kept exactly as received and placed.

The door (before anything is written): the file must be a workbook by its content and its name (.xlsx or .xls,
the zip or OLE signature), within the size limit of `reference/limits.toml`, with a plain file name (no folder,
no `..`, no control character), for a period open for uploads (`open_periods`). Past the door:

1. checked by the self-check (`checking.check_files`, the same parse and validation as `validate` and a run)
   as if in the period folder, with its HTML report and annotated copy (worded for the portal) written to the
   portal's reports folder;
2. archived under its content hash (`discover.archive`, never overwritten or deleted);
3. placed in the period's raw folder under a name the server chooses (`<unit>_<period>_<time>_<hash>.xlsx`),
   its arrival time written first to the folder's receipts manifest, so that the next run takes the upload
   time as the arrival time. The client's file name is kept as data only, never used as a path.

A file whose cover names another unit than the account's is archived and answered (the check's own
`structure.unit_mismatch`, since the stored name begins with the account's unit) but not placed: an account
submits for its own unit only. The same bytes uploaded again by the same unit for the same period are the same
upload: recorded once, answered with the first check. Each upload has an id of its own (`state.new_upload_id`):
two units' same bytes are two uploads.

Checks run on one thread (the parse and Great Expectations are not for concurrent use in one process; a check of
one file takes under a second once the suites are warm, `warm_up`). The uploads that arrive while it checks wait
and are then checked together, as one batch, each as if alone (`check_files(independent=True)`): the stages
are made for batches, and Great Expectations costs about the same for 18 files as for one, so on a deadline day
the 18th clerk waits for about two checks, not for 17 (and for one when they come together: the thread waits a
moment for uploads arriving with the first, `GATHER`). An upload of more than `LARGE_CELLS` cells (counted at the
door from the sheets' XML) never joins them: it is checked apart, one at a time, in a worker process with a
time budget (`isolated.py`), and gets no annotated copy (the report says so), so that it holds nobody's answer.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import logging
import os
import queue
import re
import shutil
import threading
import time
import tomllib
import unicodedata
import zipfile
import zlib
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from union_stats import checking, discover, office_time, periods, reference
from union_stats.findings import Finding
from union_stats.paths import REFERENCE_DIR, archive_dir_for
from union_stats.portal.accounts import Account
from union_stats.portal.isolated import CheckCrashed, CheckTimedOut, IsolatedChecker, warm_checks
from union_stats.portal.state import UPLOAD_NOT_CHECKED, PortalState, Upload
from union_stats.pseudonym import scrub_ids
from union_stats.publish import quality_report
from union_stats.rules import registry

log = logging.getLogger(__name__)

SIGNATURES = {".xlsx": b"PK\x03\x04", ".xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"}
MAX_NAME = 200
MAX_BATCH = 32  # uploads checked together at most (those waiting when the checking thread is free)
# A check costs about as much for 18 files as for one, so the checking thread, given an upload, waits a moment for
# others arriving with it: as long as the next comes within GATHER seconds, up to GATHER_MAX in all. Eighteen clerks
# pressing "upload" together are then one check (p95 about one check) instead of one and then seventeen (two).
GATHER, GATHER_MAX = 0.02, 0.15
UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f\x7f]|\.\.|^[.~]|:")

# The work an upload may cost the others. The largest real submission has a few hundred rows of at most 7 columns
# (the 2022 samples: about 2,500 cells); its check takes under a second and its annotated copy (openpyxl reads and
# writes every cell, about 27 µs each) a tenth of one. Past LARGE_CELLS an upload is checked apart (isolated.py),
# without an annotated copy, within LARGE_BUDGET seconds (a new worker's warm-up of about 10 s included).
LARGE_CELLS = 20_000
LARGE_BUDGET = 120.0
# an .xls (BIFF) is not counted cell by cell: by its size (a cell record takes about 10 to 20 bytes)
LARGE_XLS_BYTES = 400_000
# the count stops here, whatever it has found: a zip whose sheets inflate beyond this is large
COUNT_INFLATED_BYTES = 64_000_000
# a cell element of a sheet's XML, with or without a namespace prefix (<c r="A1" ...>, <x:c>, <c/>)
CELL_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,15}:)?c[\s/>]")
CELL_TAG_LONGEST = 20


class Refused(Exception):
    """An upload turned away at the door: nothing was written. `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def portal_dir_for(warehouse: Path) -> Path:
    """The portal's files (reports of uploads, a staging area) beside the warehouse."""
    return Path(warehouse).parent / "portal"


def max_upload_bytes() -> int:
    from union_stats.inspect import load_limits

    return load_limits().max_file_size


def check_name(client_name: str | None) -> str:
    """The file's type by its name (.xlsx or .xls); a name that is no plain file name is refused."""
    name = unicodedata.normalize("NFC", client_name or "").strip()
    if not name:
        raise Refused(400, "请选择要上传的报表文件。")
    if len(name) > MAX_NAME or UNSAFE_NAME.search(name):
        raise Refused(
            400, "文件名不能包含路径或特殊字符（/ \\ .. : 等），请改为“单位代码_统计期.xlsx”这样的名字后重新上传。"
        )
    suffix = Path(name).suffix.lower()
    if suffix not in SIGNATURES:
        raise Refused(415, f"只接收 Excel 报表（.xlsx 或 .xls），收到的是“{suffix or '无扩展名'}”文件。")
    return suffix


def check_content(data: bytes, suffix: str) -> None:
    if not data:
        raise Refused(400, "上传的文件是空的（0 字节），请重新选择填好的报表。")
    if len(data) > max_upload_bytes():
        raise Refused(413, f"文件超过 {max_upload_bytes() // 1_000_000} MB 的上限，请删除多余内容后重新上传。")
    if not data.startswith(SIGNATURES[suffix]):
        raise Refused(
            415,
            f"文件内容不是 {suffix} 格式的 Excel 报表（可能是改了扩展名的其他文件），请用 Excel 另存为 .xlsx 后上传。",
        )


def check_period(period: str | None) -> str:
    text = (period or "").strip().upper()
    if not periods.is_period(text) or not periods.FIRST_YEAR <= int(text[:4]) <= periods.LAST_YEAR:
        raise Refused(400, "统计期应写作年度“2022”或季度“2022Q3”。")
    return text


@dataclass(frozen=True)
class Opening:
    """Why a period takes uploads: `reference` (listed in periods.toml), `just_ended` (the year or quarter just
    ended), or `office` (opened on the portal, by `username` at `at`)."""

    period: str
    source: str
    username: str = ""
    at: str = ""


def just_ended(today: date) -> tuple[str, str]:
    """The year and the quarter that ended last before `today`: the periods the units report now."""
    return str(today.year - 1), periods.previous_period(f"{today.year}Q{(today.month - 1) // 3 + 1}")


def open_periods(state: PortalState, today: date | None = None) -> dict[str, Opening]:
    """The periods open for uploads (reference/periods.toml's [uploads], and the office's openings on the portal),
    newest first."""
    today = today or datetime.now(office_time.zone()).date()
    settings = tomllib.loads((REFERENCE_DIR / "periods.toml").read_text(encoding="utf-8")).get("uploads", {})
    found: dict[str, Opening] = {}
    if settings.get("just_ended", False):
        found |= {period: Opening(period, "just_ended") for period in just_ended(today)}
    found |= {str(period).upper(): Opening(str(period).upper(), "reference") for period in settings.get("open", [])}
    for period, (username, at) in state.opened_periods().items():
        found.setdefault(period, Opening(period, "office", username, at))
    return {period: found[period] for period in sorted(found, key=period_order, reverse=True)}


def period_order(period: str) -> tuple[int, int]:
    """Periods in the order their ends come (a year's end with its fourth quarter's, the year after it)."""
    year, _, quarter = period.partition("Q")
    return int(year), int(quarter) if quarter else 5


def count_cells(data: bytes, suffix: str, limit: int = LARGE_CELLS) -> int:
    """The cells of an upload's sheets, counted from their XML as it inflates; the count stops past `limit` (or
    past `COUNT_INFLATED_BYTES` inflated, counted as past it), so that counting a large file costs little. An .xls
    is estimated from its size; a file that is no readable zip counts 0 (its check says what is wrong with it)."""
    if suffix == ".xls":
        return limit + 1 if len(data) > LARGE_XLS_BYTES else 0
    cells, inflated = 0, 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            for entry in package.infolist():
                name = entry.filename.lower()
                if "worksheets/" not in name or not name.endswith(".xml"):
                    continue
                with package.open(entry) as part:
                    carry = b""
                    while chunk := part.read(1 << 16):
                        inflated += len(chunk)
                        text = carry + chunk
                        settled = len(text) - CELL_TAG_LONGEST  # a tag starting later may be cut off
                        cells += sum(1 for match in CELL_TAG.finditer(text, 0, len(text)) if match.start() < settled)
                        carry = text[settled:] if settled > 0 else text
                        if cells > limit or inflated > COUNT_INFLATED_BYTES:
                            return limit + 1
                    cells += len(CELL_TAG.findall(carry))
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError, ValueError, OSError):
        return 0
    return cells


@dataclass(frozen=True)
class PortalWords:
    """A finding as the portal's clerk reads it: a rule with a `portal` variant in reference/rules.toml is worded
    by that variant (the account's unit and the upload's period known, a correction uploaded again under any
    name), every other as the pipeline words it. Given to the reports (`quality_report.Audience.reword`) and used
    on the findings the portal keeps."""

    unit_names: tuple[tuple[str, str], ...]  # (the stored file name, the name of the account's unit)
    period: str

    def __call__(self, finding: Finding) -> Finding:
        rule = registry().get(finding.rule)
        if rule is None or "portal" not in rule.variants:
            return finding
        message = rule.message(
            "portal",
            sheet=finding.sheet or "",
            cell=finding.cell or "",
            value=finding.value or "",
            unit_name=dict(self.unit_names).get(finding.file_name, ""),
            run_period=self.period,
        )
        return dataclasses.replace(finding, message=message)


@dataclass
class _Pending:
    """An upload past the door, waiting for its check."""

    account: Account
    period: str
    client_name: str
    suffix: str
    sha256: str
    data: bytes
    remote: str
    received_at: datetime
    cells: int = 0
    future: Future = field(default_factory=Future)

    @property
    def large(self) -> bool:
        return self.cells > LARGE_CELLS

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.account.unit_code or "", self.period, self.sha256)

    @property
    def stored_name(self) -> str:
        return (
            f"{self.account.unit_code}_{self.period}_{self.received_at:%Y%m%dT%H%M%S%f}_{self.sha256[:12]}{self.suffix}"
        )


_STOP = object()


@dataclass
class Intake:
    state: PortalState
    raw_dir: Path
    warehouse: Path
    batches: list[tuple[int, float]] = field(default_factory=list)  # (uploads, seconds) of each check, newest last
    large_checks: list[tuple[int, float]] = field(default_factory=list)  # (cells counted, seconds), newest last

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.portal_dir = portal_dir_for(self.warehouse)
        self.queue: queue.Queue = queue.Queue()
        self.large_queue: queue.Queue = queue.Queue()
        self.worker: threading.Thread | None = None
        self.large_worker: threading.Thread | None = None
        self.isolated = IsolatedChecker()
        self.large_budget = LARGE_BUDGET
        self.arrival_lock = threading.Lock()
        self.last_arrival = datetime.min.replace(tzinfo=UTC)

    # --- the checking threads -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread that checks uploads, and the one that has large uploads checked apart (again, after
        `stop`)."""
        self.isolated.start()
        if self.worker is None or not self.worker.is_alive():
            self.worker = threading.Thread(target=self._work, name="portal-check", daemon=True)
            self.worker.start()
        if self.large_worker is None or not self.large_worker.is_alive():
            self.large_worker = threading.Thread(target=self._work_large, name="portal-check-large", daemon=True)
            self.large_worker.start()

    def stop(self) -> None:
        for worker, waiting in ((self.worker, self.queue), (self.large_worker, self.large_queue)):
            if worker is not None and worker.is_alive():
                waiting.put(_STOP)
        self.isolated.stop()  # a large check in progress ends now (its upload is answered that it was not checked)
        for worker in (self.worker, self.large_worker):
            if worker is not None and worker.is_alive():
                worker.join(timeout=60)

    def _work(self) -> None:
        while True:
            first = self.queue.get()
            if first is _STOP:
                return
            batch = [first]
            gathering_ends = time.monotonic() + GATHER_MAX
            while len(batch) < MAX_BATCH:
                try:
                    item = self.queue.get(timeout=max(0.0, min(GATHER, gathering_ends - time.monotonic())))
                except queue.Empty:
                    break
                if item is _STOP:
                    self.queue.put(_STOP)
                    break
                batch.append(item)
            self._answer_all(batch, self._check)

    def _work_large(self) -> None:
        while True:
            item = self.large_queue.get()
            if item is _STOP:
                return
            self._answer_all([item], self._check_large)  # one at a time: each within its own budget

    @staticmethod
    def _answer_all(batch: list[_Pending], check) -> None:
        try:
            check(batch)
        except BaseException as error:  # noqa: BLE001 - every waiting request gets an answer
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(error)

    def warm_up(self) -> None:
        """Load Great Expectations and the suites, and check one blank template, so that the first clerk's
        check is as fast as the next one."""
        with self.lock:
            warm_checks()

    # --- an upload ----------------------------------------------------------------------------------------------

    def open_periods(self) -> dict[str, Opening]:
        return open_periods(self.state)

    def enqueue(self, account: Account, period: str, client_name: str, data: bytes, remote: str) -> Future:
        """The door (refused: `Refused`, nothing written), then the upload waits for its check; the future gives
        its `Upload`. Counting the cells takes up to a few hundred milliseconds for a large file: call it from a
        worker thread, not the event loop."""
        if account.role != "unit" or not account.unit_code:
            raise Refused(403, "只有基层单位的账户可以上传报表。")
        suffix = check_name(client_name)
        check_content(data, suffix)
        period = check_period(period)
        if period not in self.open_periods():
            raise Refused(
                403,
                f"统计期 {period} 未开放网上报送，文件未保存：请在“本单位报送”页选择列出的统计期后上传；"
                "如确需报送该统计期，请联系区总工会开放。",
            )
        with self.arrival_lock:  # arrival times strictly increase: two uploads of one unit keep their order
            now = datetime.now(UTC)
            self.last_arrival = max(now, self.last_arrival + timedelta(microseconds=1))
            received_at = self.last_arrival
        pending = _Pending(
            account,
            period,
            client_name,
            suffix,
            hashlib.sha256(data).hexdigest(),
            data,
            remote,
            received_at,
            cells=count_cells(data, suffix),
        )
        self.start()
        (self.large_queue if pending.large else self.queue).put(pending)
        return pending.future

    def submit(self, account: Account, period: str, client_name: str, data: bytes, remote: str) -> Upload:
        """Check and keep one upload (see the module's text), waiting for it; the same bytes again give the
        first answer."""
        return self.enqueue(account, period, client_name, data, remote).result()

    def _audience(self, items: list[_Pending], *, annotate: bool) -> quality_report.Audience:
        words = PortalWords(
            tuple((item.stored_name, unit_name(item.account.unit_code)) for item in items), items[0].period
        )
        not_annotated = (
            f"这份文件超过 {LARGE_CELLS:,} 个单元格，平台没有为它制作批注版：请按下表所列的工作表和单元格逐条修改"
            "（多余的内容，如表格下方或“填表说明”表中大量的文字，可以删除）。"
        )
        return quality_report.Audience(portal=True, annotate=annotate, not_annotated_zh=not_annotated, reword=words)

    def _check(self, batch: list[_Pending]) -> None:
        """Check the uploads waiting together as one batch (the stages are made for batches: 18 files cost
        little more than one), each as if alone. Every answer is given once the batch's staged copies are gone:
        an answered upload has left nothing behind but what it keeps."""
        started = time.perf_counter()
        with self.lock:
            answers = self._checked(batch, self._check_here)
        self.batches.append((len(batch), time.perf_counter() - started))  # recorded before anyone is answered
        self._answer(batch, answers)

    def _check_here(self, period: str, items: list[_Pending], paths: list[Path]) -> list[checking.FileCheck]:
        with quality_report.for_audience(self._audience(items, annotate=True)):
            return checking.check_files(
                paths,
                report_dir=self.portal_dir / "reports" / period,
                period_dir=self.raw_dir / period,
                independent=True,
            )

    def _check_large(self, batch: list[_Pending]) -> None:
        """A large upload, checked in the worker process within the budget; past it, nothing is kept and the clerk
        is told why."""
        started = time.perf_counter()
        answers = self._checked(batch, self._check_apart)
        self.large_checks.append((batch[0].cells, time.perf_counter() - started))
        self._answer(batch, answers)

    def _check_apart(self, period: str, items: list[_Pending], paths: list[Path]) -> list[checking.FileCheck]:
        try:
            return self.isolated.check(
                paths,
                self.portal_dir / "reports" / period,
                self.raw_dir / period,
                self._audience(items, annotate=False),
                self.large_budget,
            )
        except (CheckTimedOut, CheckCrashed) as error:
            for item in items:
                self.state.audit(
                    item.account.username,
                    UPLOAD_NOT_CHECKED,
                    item.stored_name,
                    item.remote,
                    f"unit={item.account.unit_code} period={item.period} cells>{LARGE_CELLS} "
                    f"seconds={self.large_budget:.0f} reason={type(error).__name__}",
                )
            log.warning("a large upload was not checked: %s", error)
            if isinstance(error, CheckCrashed):
                raise Refused(
                    500,
                    f"检查这份文件（超过 {LARGE_CELLS:,} 个单元格）时出错，文件未保存：请删除多余的内容后重新上传；"
                    "如仍出错，请联系区总工会。",
                ) from None
            raise Refused(
                422,
                f"这份文件内容过多（超过 {LARGE_CELLS:,} 个单元格），{self.large_budget:.0f} 秒内未能检查完，文件未保存：请删除"
                "多余的内容（如表格下方或右侧多余的行列、“填表说明”表中大量的文字），另存后重新上传。",
            ) from None

    def _checked(self, batch: list[_Pending], check) -> dict[int, Upload | BaseException]:
        """Each upload's answer: the first check of the same bytes, or `check(period, items, staged paths)` of the
        others, kept (archived, placed and recorded) one by one."""
        answers: dict[int, Upload | BaseException] = {}
        leaders: dict[tuple[str, str, str], _Pending] = {}
        followers: list[_Pending] = []
        for item in batch:
            known = self.state.find_upload(*item.key)
            if known is not None:
                answers[id(item)] = known
            elif item.key in leaders:
                followers.append(item)  # the same bytes twice at once: one upload
            else:
                leaders[item.key] = item
        staging = self.portal_dir / "incoming"
        staging.mkdir(parents=True, exist_ok=True)
        staged: dict[Path, _Pending] = {}
        try:
            for item in leaders.values():
                path = staging / item.stored_name
                path.write_bytes(item.data)
                staged[path] = item
            by_period: dict[str, list[Path]] = {}
            for path, item in staged.items():
                by_period.setdefault(item.period, []).append(path)
            for period, paths in by_period.items():
                try:
                    checks = check(period, [staged[path] for path in paths], paths)
                except Exception as error:  # noqa: BLE001 - these uploads' answer, not the other periods'
                    answers.update({id(staged[path]): error for path in paths})
                    continue
                for found in checks:
                    item = staged[found.path]
                    try:
                        answers[id(item)] = self._keep(item, found)
                    except Exception as error:  # noqa: BLE001 - this upload's answer, not the others'
                        answers[id(item)] = error
        finally:
            for path in staged:
                path.unlink(missing_ok=True)
        for item in followers:
            answers[id(item)] = answers.get(id(leaders[item.key]), RuntimeError("not checked"))
        return answers

    @staticmethod
    def _answer(batch: list[_Pending], answers: dict[int, Upload | BaseException]) -> None:
        for item in batch:
            # never missing: check_files answers every file it is given
            answer = answers.get(id(item), RuntimeError(f"{item.stored_name} was not checked"))
            if isinstance(answer, BaseException):
                item.future.set_exception(answer)
            else:
                item.future.set_result(answer)

    def _keep(self, item: _Pending, check: checking.FileCheck) -> Upload:
        """Archive a checked upload, place it (unless its cover names another unit) and record it."""
        discover.archive(
            discover.ReceivedFile(check.path, item.sha256, len(item.data), item.received_at),
            archive_dir_for(self.warehouse),
        )
        # a cover naming another unit is already an error of the check (structure.unit_mismatch: the name the
        # server chose begins with the account's unit); such a file is not placed where a run would load it
        placed = not (check.unit_code and check.unit_code != item.account.unit_code)
        if placed:
            self._place(check.path, self.raw_dir / item.period, item.received_at)
        words = self._audience([item], annotate=True).reword
        upload = {
            "sha256": item.sha256,
            "unit_code": item.account.unit_code,
            "username": item.account.username,
            "period": item.period,
            "client_name": scrub_ids(unicodedata.normalize("NFC", item.client_name).strip()),
            "stored_name": item.stored_name,
            "placed": placed,
            "size_bytes": len(item.data),
            "received_at": item.received_at.isoformat(timespec="microseconds"),
            "status": check.status,
            "findings": [finding_dict(words(finding)) for finding in check.findings],
            "reports": [str(path.relative_to(self.portal_dir)) for path in check.reports],
        }
        return self.state.record_upload(upload, item.remote)

    def _place(self, staged: Path, period_dir: Path, received_at: datetime) -> None:
        """Into the period's raw folder: the receipt first (so a run that finds the file knows when it came),
        then the file itself, whole (written aside and renamed)."""
        period_dir.mkdir(parents=True, exist_ok=True)
        append_receipt(period_dir, staged.name, received_at)
        partial = period_dir / f".{staged.name}.partial"
        shutil.copyfile(staged, partial)
        os.replace(partial, period_dir / staged.name)

    def report_path(self, upload: Upload, kind: str) -> Path | None:
        """The upload's HTML report (`html`) or annotated copy (`xlsx`), if it was written."""
        for relative in upload.reports:
            path = self.portal_dir / relative
            if path.suffix == f".{kind}" and path.is_file():
                return path
        return None


def unit_name(unit_code: str | None) -> str:
    names = {unit.unit_code: unit.name_zh for unit in reference.reference_units()}
    return names.get(unit_code or "", unit_code or "")


def append_receipt(period_dir: Path, file_name: str, received_at: datetime) -> None:
    """One line of the period folder's receipts manifest (made with its header when it does not exist), under an
    exclusive lock of the file: a run reads it whole, and two uploads never interleave their lines."""
    import fcntl

    path = period_dir / discover.RECEIPTS_FILE
    with path.open("a+", encoding="utf-8", newline="") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0)
            text = handle.read()
            writer = csv.writer(handle, lineterminator="\n")
            if not text.strip():
                writer.writerow(discover.RECEIPTS_COLUMNS)
            elif not text.endswith("\n"):
                handle.write("\n")
            writer.writerow((file_name, received_at.isoformat(timespec="microseconds")))
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def finding_dict(finding: Finding) -> dict:
    return {
        "severity": finding.severity,
        "rule": finding.rule,
        "sheet": finding.sheet,
        "cell": finding.cell,
        "value": finding.value,
        "message": finding.message,
    }

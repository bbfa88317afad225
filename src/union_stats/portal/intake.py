"""An upload through the portal: refused at the door, or kept exactly as received, checked and placed.

The door (before anything is written): the file must be a workbook by its content and its name (.xlsx or .xls,
the zip or OLE signature), within the size limit of `reference/limits.toml`, with a plain file name (no folder,
no `..`, no control character). Past the door the bytes are kept as received:

1. archived under their content hash (`discover.archive`, never overwritten or deleted);
2. checked by the self-check (`checking.check_files`, the same parse and validation as `validate` and a run)
   as if in the period folder, with its HTML report and annotated copy written to the portal's reports folder;
3. placed in the period's raw folder under a name the server chooses (`<unit>_<period>_<time>_<hash>.xlsx`),
   its arrival time written first to the folder's receipts manifest, so that the next run takes the upload
   time as the arrival time. The client's file name is kept as data only, never used as a path.

A file whose cover names another unit than the account's is archived and answered (the check's own
`structure.unit_mismatch`, since the stored name begins with the account's unit) but not placed: an account
submits for its own unit only. The same bytes uploaded again by the same unit for the same period are the same
upload: recorded once, answered with the first check.

Checks run on one thread (the parse and Great Expectations are not for concurrent use in one process; a check of
one file takes under a second once the suites are warm, `warm_up`). The uploads that arrive while it checks wait
and are then checked together, as one batch, each as if alone (`check_files(independent=True)`): the stages
are made for batches, and Great Expectations costs about the same for 18 files as for one, so on a deadline day
the 18th clerk waits for about two checks, not for 17.
"""

from __future__ import annotations

import csv
import hashlib
import os
import queue
import re
import shutil
import tempfile
import threading
import time
import unicodedata
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from union_stats import checking, discover, periods
from union_stats.findings import Finding
from union_stats.paths import archive_dir_for
from union_stats.portal.accounts import Account
from union_stats.portal.state import PortalState, Upload
from union_stats.pseudonym import scrub_ids

SIGNATURES = {".xlsx": b"PK\x03\x04", ".xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"}
MAX_NAME = 200
MAX_BATCH = 32  # uploads checked together at most (those waiting when the checking thread is free)
UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f\x7f]|\.\.|^[.~]|:")


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
    future: Future = field(default_factory=Future)

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

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.portal_dir = portal_dir_for(self.warehouse)
        self.queue: queue.Queue = queue.Queue()
        self.worker: threading.Thread | None = None
        self.arrival_lock = threading.Lock()
        self.last_arrival = datetime.min.replace(tzinfo=UTC)

    # --- the checking thread --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the one thread that checks uploads (again, after `stop`)."""
        if self.worker is None or not self.worker.is_alive():
            self.worker = threading.Thread(target=self._work, name="portal-check", daemon=True)
            self.worker.start()

    def stop(self) -> None:
        if self.worker is not None and self.worker.is_alive():
            self.queue.put(_STOP)
            self.worker.join(timeout=60)

    def _work(self) -> None:
        while True:
            first = self.queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self.queue.put(_STOP)
                    break
                batch.append(item)
            try:
                self._check(batch)
            except BaseException as error:  # noqa: BLE001 - every waiting request gets an answer
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)

    def warm_up(self) -> None:
        """Load Great Expectations and the suites, and check one blank template, so that the first clerk's
        check is as fast as the next one."""
        from union_stats import reference
        from union_stats.template import write_blank
        from union_stats.validate import gx_runner

        gx_runner.preload()
        unit = reference.reference_units()[0]
        with tempfile.TemporaryDirectory() as folder:
            period_dir = Path(folder) / "2022"
            period_dir.mkdir()
            blank = write_blank(period_dir / "blank.xlsx", unit, "2022")
            with self.lock:
                checking.check_files([blank], report_dir=Path(folder) / "reports")

    # --- an upload ----------------------------------------------------------------------------------------------

    def enqueue(self, account: Account, period: str, client_name: str, data: bytes, remote: str) -> Future:
        """The door (refused: `Refused`, nothing written), then the upload waits for the checking thread; the
        future gives its `Upload`."""
        if account.role != "unit" or not account.unit_code:
            raise Refused(403, "只有基层单位的账户可以上传报表。")
        suffix = check_name(client_name)
        check_content(data, suffix)
        period = check_period(period)
        with self.arrival_lock:  # arrival times strictly increase: two uploads of one unit keep their order
            now = datetime.now(UTC)
            self.last_arrival = max(now, self.last_arrival + timedelta(microseconds=1))
            received_at = self.last_arrival
        pending = _Pending(
            account, period, client_name, suffix, hashlib.sha256(data).hexdigest(), data, remote, received_at
        )
        self.start()
        self.queue.put(pending)
        return pending.future

    def submit(self, account: Account, period: str, client_name: str, data: bytes, remote: str) -> Upload:
        """Check and keep one upload (see the module's text), waiting for it; the same bytes again give the
        first answer."""
        return self.enqueue(account, period, client_name, data, remote).result()

    def _check(self, batch: list[_Pending]) -> None:
        """Check the uploads waiting together as one batch (the stages are made for batches: 18 files cost
        little more than one), each as if alone. Every answer is given once the batch's staged copies are gone:
        an answered upload has left nothing behind but what it keeps."""
        started = time.perf_counter()
        answers: dict[int, Upload | BaseException] = {}
        with self.lock:
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
                    discover.archive(
                        discover.ReceivedFile(path, item.sha256, len(item.data), item.received_at),
                        archive_dir_for(self.warehouse),
                    )
                by_period: dict[str, list[Path]] = {}
                for path, item in staged.items():
                    by_period.setdefault(item.period, []).append(path)
                for period, paths in by_period.items():
                    checks = checking.check_files(
                        paths,
                        report_dir=self.portal_dir / "reports" / period,
                        period_dir=self.raw_dir / period,
                        independent=True,
                    )
                    for check in checks:
                        item = staged[check.path]
                        try:
                            answers[id(item)] = self._keep(item, check)
                        except Exception as error:  # noqa: BLE001 - this upload's answer, not the others'
                            answers[id(item)] = error
            finally:
                for path in staged:
                    path.unlink(missing_ok=True)
        for item in followers:
            answers[id(item)] = answers.get(id(leaders[item.key]), RuntimeError("not checked"))
        self.batches.append((len(batch), time.perf_counter() - started))  # recorded before anyone is answered
        for item in batch:
            # never missing: check_files answers every file it is given
            answer = answers.get(id(item), RuntimeError(f"{item.stored_name} was not checked"))
            if isinstance(answer, BaseException):
                item.future.set_exception(answer)
            else:
                item.future.set_result(answer)

    def _keep(self, item: _Pending, check: checking.FileCheck) -> Upload:
        """Place a checked upload (unless its cover names another unit) and record it."""
        # a cover naming another unit is already an error of the check (structure.unit_mismatch: the name the
        # server chose begins with the account's unit); such a file is not placed where a run would load it
        placed = not (check.unit_code and check.unit_code != item.account.unit_code)
        if placed:
            self._place(check.path, self.raw_dir / item.period, item.received_at)
        upload = {
            "submission_id": item.sha256[:16],
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
            "findings": [finding_dict(finding) for finding in check.findings],
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

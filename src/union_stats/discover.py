"""Discover stage: list a period's submitted workbooks, fingerprint each one and say when it arrived.

A file arrives when the warehouse first sees it: the discovery time of the run that finds it (the load keeps
the ledger's time for a file the warehouse has already seen, so reruns and reopened periods never move it).
Files the office received before the warehouse saw them (the historical sample, back-loads of old years) take
their arrival time from the period folder's receipts manifest, `receipts.csv` (`file_name,received_at`, ISO 8601
with an offset). A file's modification time is never its arrival time: a git clone or a copy rewrites it.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from union_stats.paths import EXTRA_UNITS_FILE

PERIOD_PATTERN = re.compile(r"^\d{4}(Q[1-4])?$", re.ASCII)
# the period folder's receipts manifest: when the office received files before the warehouse saw them
RECEIPTS_FILE = "receipts.csv"
RECEIPTS_COLUMNS = ("file_name", "received_at")


@dataclass(frozen=True)
class ReceivedFile:
    """One file as received: where it is, what it holds (sha256) and when it arrived."""

    path: Path
    sha256: str
    size_bytes: int
    received_at: datetime

    @property
    def submission_id(self) -> str:
        # content-addressed: the same bytes are the same submission, wherever they sit
        return self.sha256[:16]

    @property
    def file_name(self) -> str:
        return self.path.name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_periods(raw_dir: Path) -> list[str]:
    """Period folders under the raw folder, oldest first."""
    if not raw_dir.is_dir():
        return []
    return sorted(path.name for path in raw_dir.iterdir() if path.is_dir() and PERIOD_PATTERN.match(path.name))


def latest_period(raw_dir: Path) -> str | None:
    periods = list_periods(raw_dir)
    return periods[-1] if periods else None


def receive(path: Path, received_at: datetime | None = None) -> ReceivedFile:
    """Fingerprint one file; it counts as received at `received_at`, by default now (the self-check's case)."""
    return ReceivedFile(
        path=path,
        sha256=sha256_of(path),
        size_bytes=path.stat().st_size,
        received_at=received_at if received_at is not None else datetime.now(UTC),
    )


def is_submission(path: Path) -> bool:
    """Every file a unit put in the period folder counts as received, whatever its type: a PDF sent by mistake
    is kept and answered (unreadable, send a workbook), never silently skipped. Office lock files, hidden
    files, the generator's units file and the receipts manifest are not submissions."""
    return (
        path.is_file() and not path.name.startswith(("~$", ".")) and path.name not in (EXTRA_UNITS_FILE, RECEIPTS_FILE)
    )


def read_receipts(period_dir: Path) -> dict[str, datetime]:
    """The period folder's receipts manifest: file name -> when the office received it (empty without one).

    Each time must carry its offset (`2023-01-12T09:30:00+08:00`): a bare time would be guessed, so it is refused.
    """
    path = period_dir / RECEIPTS_FILE
    if not path.is_file():
        return {}
    receipts: dict[str, datetime] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in RECEIPTS_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: the receipts manifest needs the columns {', '.join(RECEIPTS_COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            name, text = (row["file_name"] or "").strip(), (row["received_at"] or "").strip()
            if not name:
                continue
            try:
                received_at = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(
                    f"{path}:{line}: {text!r} is not an ISO 8601 time (2023-01-12T09:30:00+08:00)"
                ) from None
            if received_at.tzinfo is None:
                raise ValueError(f"{path}:{line}: {text!r} has no offset (write it as 2023-01-12T09:30:00+08:00)")
            receipts[name] = received_at.astimezone(UTC)
    return receipts


def arrival_times(paths: list[Path], receipts: dict[str, datetime], now: datetime) -> dict[Path, datetime]:
    """When each file arrived, as far as this discovery can tell: the manifest's time for a file it names, else
    `now`, the discovery time. Files first seen together keep the order in which they were written to the folder
    (one microsecond apart, by modification time, then name), so that of two files of one unit found in the
    same run the later-written one is the later arrival. The load replaces these by the ledger's time for a
    file the warehouse has already seen."""
    unnamed = sorted(
        (path for path in paths if path.name not in receipts), key=lambda path: (path.stat().st_mtime, path.name)
    )
    times = {path: now + timedelta(microseconds=rank) for rank, path in enumerate(unnamed)}
    times.update({path: receipts[path.name] for path in paths if path.name in receipts})
    return times


def discover(period_dir: Path, on_file: Callable[[ReceivedFile], None] | None = None) -> list[ReceivedFile]:
    """Every workbook in the period folder (Office lock files excluded), in name order, with its arrival time."""
    paths = [path for path in sorted(period_dir.iterdir()) if is_submission(path)]
    arrived = arrival_times(paths, read_receipts(period_dir), datetime.now(UTC))
    files = []
    for path in paths:
        files.append(receive(path, arrived[path]))
        if on_file is not None:
            on_file(files[-1])
    return files


def archive(received: ReceivedFile, archive_dir: Path) -> Path:
    """Keep a copy of the file under its content hash; an archived file is never overwritten or deleted."""
    target = archive_dir / received.sha256[:2] / f"{received.sha256}{received.path.suffix.lower()}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.copyfile(received.path, partial)
    os.replace(partial, target)  # atomic: a crash never leaves a half-written archive file under the real name
    return target

"""Discover stage: list a period's submitted workbooks and fingerprint each one."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from union_stats.paths import EXTRA_UNITS_FILE

PERIOD_PATTERN = re.compile(r"^\d{4}(Q[1-4])?$")


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


def receive(path: Path) -> ReceivedFile:
    """Fingerprint one file; it counts as received when it was last written."""
    stat = path.stat()
    return ReceivedFile(
        path=path,
        sha256=sha256_of(path),
        size_bytes=stat.st_size,
        received_at=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
    )


def is_submission(path: Path) -> bool:
    """Every file a unit put in the period folder counts as received, whatever its type: a PDF sent by mistake
    is kept and answered (unreadable, send a workbook), never silently skipped. Office lock files, hidden
    files and the generator's units file are not submissions."""
    return path.is_file() and not path.name.startswith(("~$", ".")) and path.name != EXTRA_UNITS_FILE


def discover(period_dir: Path, on_file: Callable[[ReceivedFile], None] | None = None) -> list[ReceivedFile]:
    """Every workbook in the period folder (Office lock files excluded), in name order."""
    files = []
    for path in sorted(period_dir.iterdir()):
        if is_submission(path):
            files.append(receive(path))
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

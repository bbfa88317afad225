"""Findings: what a stage found wrong (or worth saying) about a submission, traced to a sheet and cell."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import polars as pl

ERROR = "error"  # blocks the submission
WARNING = "warning"  # accepted; the unit must confirm or explain in the remark column
INFO = "info"  # accepted as is; said so the unit knows (e.g. a value was normalised)
SEVERITIES = (ERROR, WARNING, INFO)

FINDING_SCHEMA = {
    "submission_id": pl.String,
    "file_name": pl.String,
    "severity": pl.String,
    "rule": pl.String,
    "sheet": pl.String,
    "cell": pl.String,
    "value": pl.String,
    "message": pl.String,
}


@dataclass(frozen=True)
class Finding:
    submission_id: str
    file_name: str
    severity: str
    rule: str
    sheet: str | None
    cell: str | None  # A1-style reference inside `sheet`, e.g. "D12"
    value: str | None
    message: str  # Chinese, for the submitter: what is wrong and what to do

    @property
    def where(self) -> str:
        """The cell the way a clerk reads it: `指标!D12`."""
        if self.sheet and self.cell:
            return f"{self.sheet}!{self.cell}"
        return self.sheet or ""


def cell_position(cell: str | None) -> tuple[int, int]:
    """(row, column) of an A1 reference, for ordering findings the way a sheet reads: D2 before D10."""
    matched = re.fullmatch(r"([A-Z]+)(\d+)", cell or "")
    if not matched:
        return (0, 0)
    column = 0
    for letter in matched.group(1):
        column = column * 26 + ord(letter) - 64
    return (int(matched.group(2)), column)


def sort_key(finding: Finding) -> tuple:
    """Errors first, then warnings and notes; within those by sheet, then row and column."""
    return (SEVERITIES.index(finding.severity) if finding.severity in SEVERITIES else 9, finding.sheet or "",
            cell_position(finding.cell))


def findings_frame(findings: list[Finding]) -> pl.DataFrame:
    return pl.DataFrame([asdict(finding) for finding in findings], schema=FINDING_SCHEMA)

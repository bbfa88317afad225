"""Findings: what a stage found wrong (or worth saying) about a submission, traced to a sheet and cell."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import cache

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


def stopped_before_reading(finding: Finding) -> bool:
    """A finding of the inspect stage (a limit, the content policy) or an unreadable file: the file was not
    read, and nothing may open it again (to annotate it, say)."""
    return finding.rule == "structure.unreadable" or finding.rule.startswith(("file.", "limits."))


# Excel's grid: a reference beyond it is no cell of a sheet
MAX_ROW, MAX_COLUMN = 1_048_576, 16_384
CELL_REFERENCE = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")


def cell_position(cell: str | None) -> tuple[int, int] | None:
    """(column, row), both 1-based, of an A1 reference inside Excel's grid; None for anything else."""
    matched = CELL_REFERENCE.match(cell or "")
    if not matched:
        return None
    column = 0
    for letter in matched.group(1).upper():
        column = column * 26 + ord(letter) - 64
    row = int(matched.group(2))
    if not (1 <= column <= MAX_COLUMN and 1 <= row <= MAX_ROW):
        return None
    return column, row


@cache
def _sheet_ranks() -> dict[str, int]:
    """Sheets in template order, so findings walk the file the way the clerk fills it in."""
    from union_stats import reference  # findings are a leaf module; the template is only needed to order them

    spec = reference.template(reference.CURRENT_TEMPLATE)
    names = [spec.cover_sheet, *(sheet.sheet for sheet in spec.sheets)]
    return {name: position for position, name in enumerate(names)}


def sort_key(finding: Finding) -> tuple:
    """Severity, then sheet (file-level first, then template order), then cell in natural order (D2 < D10)."""
    ranks = _sheet_ranks()
    sheet_key = (-1, "") if not finding.sheet else (ranks.get(finding.sheet, len(ranks)), finding.sheet)
    position = cell_position(finding.cell)
    if finding.cell is None:
        cell_key: tuple = (0, 0, 0, "")
    elif position is None:
        cell_key = (2, 0, 0, finding.cell)
    else:
        cell_key = (1, *position, "")
    severity = SEVERITIES.index(finding.severity) if finding.severity in SEVERITIES else len(SEVERITIES)
    return severity, sheet_key, cell_key


def findings_frame(findings: list[Finding]) -> pl.DataFrame:
    return pl.DataFrame([asdict(finding) for finding in findings], schema=FINDING_SCHEMA)

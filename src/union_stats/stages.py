"""The checking stages every path shares: inspect + parse, validate, then each file's report in Chinese.

A run (`pipeline.ingest`, whoever starts it: the command line, a scheduled close, the portal's job, the bench) and
the self-check (`checking.check_files`: `union-stats validate` and the portal's check of an upload) both call
these three, in this order, so a file gets the same findings, outcome and report however it is checked. A run
adds what only a warehouse has: the earlier periods and the other units' files to check against
(`ValidationContext`), whether the period is closed, the load, and the reports told back to earlier files.

Nothing here imports the warehouse module, Prefect or Great Expectations at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from union_stats import pseudonym
    from union_stats.discover import ReceivedFile
    from union_stats.parse import ParsedBatch
    from union_stats.reference import Unit
    from union_stats.runs import ValidationContext
    from union_stats.validate import ValidatedBatch


def parse_files(
    files: list[ReceivedFile],
    period: str,
    *,
    keys: pseudonym.KeySource | None = None,
    on_parsed: Callable[[ReceivedFile], None] | None = None,
) -> ParsedBatch:
    """Inspect and parse every file into one frame per sheet kind, with lineage and people pseudonymised (with
    `keys`, a run's; else a key of the moment, for a check that stores nothing); a bad file is its own outcome."""
    from union_stats import parse

    return parse.parse_batch(files, period, on_parsed=on_parsed, keys=keys)


def validate_files(
    batch: ParsedBatch,
    units: tuple[Unit, ...],
    *,
    context: ValidationContext | None = None,
    docs_dir: Path | None = None,
    closed: bool = False,
) -> ValidatedBatch:
    """Run the expectation suites over the batch and decide each outcome; every file held in a closed period."""
    from union_stats import validate  # Great Expectations loads here, with the stage that needs it

    validated = validate.validate_batch(batch, units, context, docs_dir=docs_dir)
    return validated.held() if closed else validated


def write_reports(
    batch: ParsedBatch, validated: ValidatedBatch, files: list[ReceivedFile], out_dir: Path
) -> dict[str, list[Path]]:
    """Each file's HTML report and, where there is something to mark, its annotated copy; paths by submission."""
    from union_stats.publish import quality_report

    return quality_report.write_quality_reports(batch, validated.outcomes, validated.findings, files, out_dir)

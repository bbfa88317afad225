"""Outcomes: from a submission's findings to its status, and the findings that only repeat another."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from union_stats.findings import ERROR, INFO, WARNING, Finding
from union_stats.labels import ACCEPTED, HELD
from union_stats.parse import ParsedBatch
from union_stats.rules import rule


@dataclass
class ValidatedBatch:
    findings: list[Finding]
    outcomes: pl.DataFrame  # submission_id, status, errors, warnings, infos
    data_docs: Path | None = None  # the GX Data Docs index page, when results are kept
    # findings for submissions loaded earlier, told by this batch (the same person paid by a unit of this batch):
    # they add to those submissions' findings and never change this batch's outcomes
    told_back: list[Finding] = field(default_factory=list)

    def held(self) -> ValidatedBatch:
        """The same findings, every file held: a closed period keeps what arrives but loads nothing (and so
        tells no earlier file anything)."""
        return ValidatedBatch(self.findings, self.outcomes.with_columns(pl.lit(HELD).alias("status")), self.data_docs)

    def count(self, *statuses: str) -> int:
        return self.outcomes.filter(pl.col("status").is_in(statuses)).height

    def counts(self) -> tuple[int, int]:
        """Accepted (with or without warnings) and rejected."""
        return self.count(*ACCEPTED), self.count("rejected")


def outcomes_of(submissions: pl.DataFrame, findings: list[Finding]) -> pl.DataFrame:
    counts = pl.DataFrame(
        [{"submission_id": finding.submission_id, "severity": finding.severity} for finding in findings],
        schema={"submission_id": pl.String, "severity": pl.String},
    )
    per_submission = counts.group_by("submission_id").agg(
        (pl.col("severity") == ERROR).sum().alias("errors"),
        (pl.col("severity") == WARNING).sum().alias("warnings"),
        (pl.col("severity") == INFO).sum().alias("infos"),
    )
    return (
        submissions.select("submission_id")
        .join(per_submission, on="submission_id", how="left")
        .with_columns(pl.col("errors", "warnings", "infos").fill_null(0).cast(pl.Int32))
        .with_columns(
            pl.when(pl.col("errors") > 0)
            .then(pl.lit("rejected"))
            .when(pl.col("warnings") > 0)
            .then(pl.lit("accepted_with_warnings"))
            .otherwise(pl.lit("accepted"))
            .alias("status")
        )
    )


def check_failed(batch: ParsedBatch, submission_id: str, error: Exception) -> Finding:
    file_name = batch.submissions.filter(pl.col("submission_id") == submission_id)["file_name"].first() or ""
    return rule("structure.check_failed").finding(submission_id, file_name, reason=type(error).__name__)


# a finding that follows from another one says nothing new: every date is outside the period when the cover
# names the wrong period (anywhere in the file), and a cell showing #REF! reads as blank (at that cell)
CONSEQUENCES = {
    "values.date_in_period": ("structure.period_mismatch", "file"),
    "values.required": ("values.error_cell", "cell"),
}


def without_consequences(findings: list[Finding]) -> list[Finding]:
    def scope(finding: Finding, rule: str, extent: str) -> tuple:
        return (finding.submission_id, rule) + ((finding.sheet, finding.cell) if extent == "cell" else ())

    causes = {
        scope(finding, finding.rule, extent)
        for finding in findings
        for cause, extent in CONSEQUENCES.values()
        if finding.rule == cause
    }
    return [
        finding
        for finding in findings
        if finding.rule not in CONSEQUENCES or scope(finding, *CONSEQUENCES[finding.rule]) not in causes
    ]

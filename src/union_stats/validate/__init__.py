"""Validate stage: the expectation suites over a whole parsed batch, and each submission's outcome.

`rule_columns` prepares the frames (derived columns in Polars), `gx_runner` runs the suites of `suites`
(generated into `expectations/*.json`) and turns failures into findings, `outcomes` decides each status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path

import polars as pl

from union_stats import periods, reference
from union_stats.findings import Finding
from union_stats.labels import ACCEPTED
from union_stats.parse import ParsedBatch
from union_stats.paths import EXPECTATIONS_DIR
from union_stats.reference import Unit
from union_stats.rules import rule
from union_stats.runs import ValidationContext
from union_stats.validate.gx_runner import ABSENT, SuiteRunner, findings_from_failures, text
from union_stats.validate.outcomes import ValidatedBatch, check_failed, outcomes_of, without_consequences
from union_stats.validate.rule_columns import (
    cover_frame,
    cross_sheet_frame,
    derived_indicator_values,
    detail_frame,
    history_frame,
    indicator_frame,
    indicator_parts_frame,
    indicator_rows_frame,
)
from union_stats.validate.suites import (
    COVER_SUITE,
    CROSS_SHEET_SUITE,
    HISTORY_SUITE,
    INDICATOR_PARTS_SUITE,
    INDICATOR_ROWS_SUITE,
    read_suites,
)

__all__ = ["ValidatedBatch", "ValidationContext", "derived_indicator_values", "outcomes_of", "validate_batch"]

log = logging.getLogger(__name__)


def validate_batch(
    batch: ParsedBatch,
    units: tuple[Unit, ...],
    context: ValidationContext | None = None,
    expectations_dir: Path = EXPECTATIONS_DIR,
    docs_dir: Path | None = None,
) -> ValidatedBatch:
    """Every finding of the batch (parse findings included) and each submission's outcome.

    The batch is checked as a whole; should that fail, each submission is checked alone, so that whatever in
    one file breaks a check becomes that file's outcome and the others are decided as usual.
    """
    context = context or ValidationContext()
    validator = SuiteRunner(docs_dir) if docs_dir is not None else SuiteRunner.in_memory()
    try:
        findings = _check(batch, units, context, expectations_dir, validator)
    except Exception:
        log.exception("event=batch_validation_failed period=%s: checking each submission alone", batch.period)
        findings = []
        for submission_id in batch.submissions["submission_id"].to_list():
            alone = batch.only(submission_id)
            try:
                findings += _check(alone, units, context, expectations_dir, validator)
            except Exception as error:
                log.exception("event=submission_validation_failed submission_id=%s", submission_id)
                findings += [*alone.findings, check_failed(alone, submission_id, error)]
    findings = without_consequences(findings)
    outcomes = outcomes_of(batch.submissions, findings)
    return ValidatedBatch(
        findings=findings,
        outcomes=outcomes,
        data_docs=validator.finish(),
        told_back=told_back(batch, context, units, outcomes),
    )


def told_back(
    batch: ParsedBatch, context: ValidationContext, units: tuple[Unit, ...], outcomes: pl.DataFrame
) -> list[Finding]:
    """The other side of a same-person warning: a file loaded earlier whose person an accepted file of this
    batch, from another unit, pays the same kind again. That earlier file's unit is told too, naming this file
    and row (the batch's own file gets its warning from the suite); a rejected file tells nobody, as its rows
    are not loaded."""
    accepted = outcomes.filter(pl.col("status").is_in(ACCEPTED))["submission_id"].implode()
    names = {unit.unit_code: unit.name_zh for unit in units}
    told = []
    for sheet in reference.template().details:
        others = context.other_records.get(sheet.kind)
        if not sheet.same_person or others is None or not others.height:
            continue
        keys = ["person_key", *sheet.same_person]
        if "id_letter" not in others.columns:  # rows given without their layout: the finding names the row
            others = others.with_columns(pl.lit(None, pl.String).alias("id_letter"))
        mine = (
            batch.sheets[sheet.kind]
            .filter(pl.col("submission_id").is_in(accepted))
            .drop_nulls("person_key")
            .select(pl.col("unit_code").alias("by_unit"), pl.col("file_name").alias("by_file"),
                    pl.col("source_row").alias("by_row"), *keys)
        )  # fmt: skip
        pairs = others.join(mine, on=keys).filter(pl.col("by_unit") != pl.col("unit_code")).sort("by_file", "by_row")
        places = pairs.group_by("submission_id", "file_name", "source_row", "id_letter", *sheet.same_person).agg(
            pl.format("{}（{} 第{}行）", pl.col("by_unit").replace_strict(names, default=pl.col("by_unit")),
                      "by_file", "by_row").unique(maintain_order=True).str.join("、").alias("elsewhere")
        )  # fmt: skip
        for row in places.sort("submission_id", "source_row").iter_rows(named=True):
            cell = f"{row['id_letter']}{row['source_row']}" if row["id_letter"] else None
            told.append(
                rule("cross_submission.same_person").finding(
                    row["submission_id"],
                    row["file_name"],
                    sheet.sheet,
                    cell,
                    person_key__elsewhere=row["elsewhere"],
                    **{name: row[name] for name in sheet.same_person},
                )  # fmt: skip
            )
    return told


def _check(
    batch: ParsedBatch,
    units: tuple[Unit, ...],
    context: ValidationContext,
    expectations_dir: Path,
    validator: SuiteRunner,
) -> list[Finding]:
    spec = reference.template()
    settings = reference.validation_settings()["history"]
    suites = read_suites(expectations_dir)
    files = dict(batch.submissions.select("submission_id", "file_name").iter_rows())
    # where each column was found, per submission and sheet: clerks may move columns, and two sheets share names
    cell_of = {
        (submission_id, kind, field_name): letter
        for submission_id, kind, field_name, letter in batch.layouts.select(
            "submission_id", "sheet_kind", "field", "column_letter"
        ).iter_rows()
        if letter
    }
    # columns a sheet lacks: structure.header_missing says so once, not once per row
    absent = {
        (submission_id, kind, field_name)
        for submission_id, kind, field_name, letter in batch.layouts.select(
            "submission_id", "sheet_kind", "field", "column_letter"
        ).iter_rows()
        if not letter
    }
    start, end = periods.period_bounds(batch.period)
    parameters = {
        "known_unit_codes": [unit.unit_code for unit in units],
        "run_periods": [batch.period],
        "period_start": datetime.combine(start, datetime.min.time()),
        "period_end": datetime.combine(end, datetime.min.time()),
        "max_change_factor": settings["max_change_factor"],
        "iqr_multiplier": settings["iqr_multiplier"],
    }
    extra = {
        "run_period": batch.period,
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "max_change_factor": text(float(settings["max_change_factor"])),
    }
    indicators = spec.indicators.kind
    # (suite, what makes the frame it checks, the sheet kind its findings point into; None for the cover): each
    # frame is made when its suite runs and let go after, so a large batch holds one prepared frame at a time
    checks: list[tuple[str, Callable[[], pl.DataFrame], str | None]] = [
        (COVER_SUITE, lambda: cover_frame(batch, units), None),
        (indicators, lambda: indicator_frame(batch.sheets[indicators], units), indicators),
        *[
            (
                sheet.kind,
                partial(
                    detail_frame,
                    sheet,
                    batch.sheets[sheet.kind],
                    context.other_records.get(sheet.kind),
                    units,
                    batch.period,
                ),
                sheet.kind,
            )
            for sheet in spec.details
        ],
        (CROSS_SHEET_SUITE, lambda: cross_sheet_frame(batch, units), indicators),
        (INDICATOR_ROWS_SUITE, lambda: indicator_rows_frame(batch, units), indicators),
        (INDICATOR_PARTS_SUITE, lambda: indicator_parts_frame(batch), indicators),
        (HISTORY_SUITE, lambda: history_frame(batch, context), indicators),
    ]
    cover_rows = {item.name: item.row for item in spec.cover_fields}

    def cell_finder(kind: str | None) -> Callable[[str, str | None, int], str | None]:
        def cover_cell(submission_id: str, column: str | None, source_row: int) -> str | None:
            return f"B{cover_rows[column]}" if column in cover_rows else None

        def sheet_cell(submission_id: str, column: str | None, source_row: int) -> str | None:
            if (submission_id, kind, column) in absent:
                return ABSENT
            letter = cell_of.get((submission_id, kind, column or ""))
            return f"{letter}{source_row}" if letter else None

        return cover_cell if kind is None else sheet_cell

    findings = list(batch.findings)
    validator.add_assets(suite_name for suite_name, _, _ in checks)
    for suite_name, make_frame, kind in checks:
        frame = make_frame()
        failures = validator.run(suites[suite_name], frame, parameters)
        sheet_name = spec.cover_sheet if kind is None else spec.sheet_spec(kind).sheet
        findings += findings_from_failures(failures, frame, sheet_name, cell_finder(kind), files, extra)
        del frame, failures  # before the next suite's frame is made
    return findings

"""Validate stage: run the expectation suites over a whole parsed batch and decide each submission's outcome.

Great Expectations validates pandas frames converted from the batch's Polars frames, one run per suite for
all submissions together; every failing value is traced back to its submission, sheet and cell through the
source row ids. Values derived across sheets (detail sheets summed as the catalog says) come from the same
SQL models the warehouse uses, run on the batch in an in-memory DuckDB.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from union_stats import reference
from union_stats.findings import ERROR, INFO, WARNING, Finding
from union_stats.parse import ParsedBatch, unit_code_from_file_name
from union_stats.paths import EXPECTATIONS_DIR
from union_stats.reference import Unit
from union_stats.suites import COVER_SUITE, CROSS_SHEET_SUITE, read_suites

ROW_ID_COLUMNS = ["submission_id", "source_row"]
log = logging.getLogger(__name__)


@dataclass
class ValidatedBatch:
    findings: list[Finding]
    outcomes: pl.DataFrame  # submission_id, status, errors, warnings, infos


class _Placeholders(dict):
    """Message templates name row columns; a name the row lacks stays visible rather than failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _gx_context() -> Any:
    import great_expectations as gx  # slow to import (seconds): only where validation runs
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def _run_suite(context: Any, suite_json: dict, frame: pl.DataFrame, parameters: dict) -> list[tuple[dict, list[dict]]]:
    """Each expectation's meta with the rows (index columns and values) it found unexpected."""
    import great_expectations as gx

    if frame.height == 0:
        return []
    suite = gx.ExpectationSuite(name=suite_json["name"], expectations=suite_json["expectations"])
    source = context.data_sources.add_or_update_pandas(f"batch_{suite_json['name']}")
    asset = source.add_dataframe_asset(name=suite_json["name"])
    definition = asset.add_batch_definition_whole_dataframe("whole_batch")
    batch = definition.get_batch(batch_parameters={"dataframe": frame.to_pandas()})
    result = batch.validate(
        suite,
        expectation_parameters=parameters,
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ROW_ID_COLUMNS},
    )
    failures = []
    for outcome in result.results:
        if outcome.success:
            continue
        exception = (outcome.exception_info or {}).get("exception_message")
        if exception:
            raise RuntimeError(f"expectation {outcome.expectation_config.type} could not run: {exception}")
        failures.append((outcome.expectation_config.meta, outcome.result.get("unexpected_index_list") or []))
    return failures


def _findings_from_failures(
    failures: list[tuple[dict, list[dict]]],
    frame: pl.DataFrame,
    sheet_name: str,
    cell_for: Callable[[str, str | None, int], str | None],
    files: dict[str, str],
    extra: dict[str, str],
    value_column_of: dict[str, str],
) -> list[Finding]:
    rows = {(row["submission_id"], row["source_row"]): row for row in frame.iter_rows(named=True)}
    findings = []
    for meta, unexpected in failures:
        for item in unexpected:
            submission_id, source_row = item["submission_id"], int(item["source_row"])
            row = rows.get((submission_id, source_row), {})
            column = value_column_of.get(meta["rule"]) or next(
                (name for name in item if name not in ROW_ID_COLUMNS), None
            )
            value = row.get(column) if column else None
            cell = cell_for(submission_id, column, source_row)
            context = _Placeholders(
                {key: "" if item_value is None else item_value for key, item_value in row.items()}
                | extra
                | {
                    "sheet": sheet_name,
                    "cell": cell or f"第{source_row}行",
                    "row": source_row,
                    "value": "" if value is None else value,
                    "file_name": files.get(submission_id, ""),
                }
            )
            findings.append(
                Finding(
                    submission_id=submission_id,
                    file_name=files.get(submission_id, ""),
                    severity=meta["severity"],
                    rule=meta["rule"],
                    sheet=sheet_name,
                    cell=cell,
                    value=None if value is None else str(value),
                    message=meta["message_zh"].format_map(context),
                )
            )
    return findings


def _cover_frame(batch: ParsedBatch) -> pl.DataFrame:
    return batch.submissions.filter(pl.col("readable")).select(
        "submission_id",
        pl.lit(1).alias("source_row"),
        "file_name",
        "unit_code",
        pl.col("file_name").map_elements(unit_code_from_file_name, return_dtype=pl.String).alias("file_unit_code"),
        "period",
        "template_version",
    )


def derived_indicator_values(batch: ParsedBatch, units: tuple[Unit, ...]) -> pl.DataFrame:
    """Detail-derived indicator values of every submission, computed by the warehouse's own SQL models."""
    from union_stats import load, transform

    with duckdb.connect(":memory:") as con:
        load.ensure_warehouse(con)
        load.load_reference(con, units)
        for kind, frame in batch.sheets.items():
            con.register("incoming", frame.to_arrow())
            con.execute(f"insert into raw.{kind} by name select * from incoming")
            con.unregister("incoming")
        transform.build(con, targets={"marts.int_detail_indicator_values"})
        return con.sql("select submission_id, indicator_code, value from marts.int_detail_indicator_values").pl()


def _cross_sheet_frame(batch: ParsedBatch, units: tuple[Unit, ...]) -> pl.DataFrame:
    """Indicator rows that a detail sheet also gives, with the value reported and the value derived."""
    spec = reference.template()
    detail_indicators = pl.DataFrame(
        [
            {
                "indicator_code": indicator.indicator_code,
                "indicator_name": indicator.name_zh,
                "detail_sheet": spec.sheet_spec(indicator.detail_sheet).sheet,
            }
            for indicator in reference.indicators()
            if indicator.from_detail
        ]
    )
    parsed = batch.sheets[spec.indicators.kind]
    sheets_present = batch.layouts.select("submission_id", "sheet_kind").unique()
    derived = derived_indicator_values(batch, units)
    reported = parsed.join(detail_indicators, on="indicator_code").with_columns(
        pl.col("value").cast(pl.Decimal(18, 2), strict=False).alias("reported_value")
    )
    return (
        reported.filter(pl.col("reported_value").is_not_null())
        .join(derived, on=["submission_id", "indicator_code"], how="left")
        .with_columns(pl.col("value_right").fill_null(0).cast(pl.Decimal(18, 2)).alias("derived_value"))
        # only where the detail sheet itself was readable: a missing sheet is already an error of its own
        .join(
            sheets_present.join(
                pl.DataFrame({"sheet_kind": [s.kind for s in spec.details], "detail_sheet": [s.sheet for s in spec.details]}),
                on="sheet_kind",
            ).select("submission_id", "detail_sheet"),
            on=["submission_id", "detail_sheet"],
        )
        .select(
            "submission_id", "source_row", "indicator_code", "indicator_name", "detail_sheet", "value",
            pl.col("reported_value").cast(pl.Float64), pl.col("derived_value").cast(pl.Float64),
        )
    )


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


def validate_batch(batch: ParsedBatch, units: tuple[Unit, ...], expectations_dir=EXPECTATIONS_DIR) -> ValidatedBatch:
    """Every finding of the batch (parse findings included) and each submission's outcome."""
    spec = reference.template()
    suites = read_suites(expectations_dir)
    files = dict(batch.submissions.select("submission_id", "file_name").iter_rows())
    cell_of = {
        (submission_id, field): letter
        for submission_id, field, letter in batch.layouts.select("submission_id", "field", "column_letter").iter_rows()
        if letter
    }
    findings = list(batch.findings)
    context = _gx_context()
    parameters = {"known_unit_codes": [unit.unit_code for unit in units], "run_periods": [batch.period]}
    extra = {"run_period": batch.period}

    checks: list[tuple[str, pl.DataFrame, str, dict[str, str]]] = [
        (COVER_SUITE, _cover_frame(batch), spec.cover_sheet, {}),
        *[(sheet.kind, batch.sheets[sheet.kind], sheet.sheet, {}) for sheet in spec.sheets],
        (CROSS_SHEET_SUITE, _cross_sheet_frame(batch, units), spec.indicators.sheet,
         {"cross_sheet.indicator_equals_detail": "value"}),
    ]
    cover_rows = {item.name: item.row for item in spec.cover_fields}

    def cover_cell(submission_id: str, column: str | None, source_row: int) -> str | None:
        return f"B{cover_rows[column]}" if column in cover_rows else None

    def sheet_cell(submission_id: str, column: str | None, source_row: int) -> str | None:
        letter = cell_of.get((submission_id, column or ""))
        return f"{letter}{source_row}" if letter else None

    for suite_name, frame, sheet_name, value_column_of in checks:
        failures = _run_suite(context, suites[suite_name], frame, parameters)
        cell_for = cover_cell if suite_name == COVER_SUITE else sheet_cell
        findings += _findings_from_failures(failures, frame, sheet_name, cell_for, files, extra, value_column_of)
    return ValidatedBatch(findings=findings, outcomes=outcomes_of(batch.submissions, findings))


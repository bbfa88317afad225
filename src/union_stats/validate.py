"""Validate stage: run the expectation suites over a whole parsed batch and decide each submission's outcome.

Great Expectations validates pandas frames converted from the batch's Polars frames, one run per suite for
all submissions together; every failing value is traced back to its submission, sheet and cell through the
source row ids. What a rule needs beyond the cells as typed (a number, a check digit's verdict, the value a
detail sheet gives, last period's value) is computed here as a derived column, `<column>__<what>`; the rule
itself, its severity and its message live in the suite (`expectations/*.json`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from union_stats import credit_code, periods, reference
from union_stats.findings import ERROR, INFO, WARNING, Finding
from union_stats.parse import ParsedBatch, units_named_in
from union_stats.paths import EXPECTATIONS_DIR
from union_stats.reference import SheetSpec, Unit
from union_stats.warehouse import ACCEPTED, HELD, ValidationContext, ensure_warehouse, load_reference
from union_stats.suites import (
    COVER_SUITE,
    COVER_TEXT_FIELDS,
    CROSS_SHEET_SUITE,
    HISTORY_SUITE,
    INDICATOR_PARTS_SUITE,
    INDICATOR_ROWS_SUITE,
    read_suites,
)

log = logging.getLogger(__name__)

ROW_ID_COLUMNS = ["submission_id", "source_row"]
ABSENT = "absent"  # the cell of a column the sheet does not have
NUMERIC_TYPES = ("number", "integer", "money")
REPORTED_BY_ZH = {"all": "各单位", "towns": "各镇街总工会", "district_office": "区总工会本级", "education_union": "区教育工会"}


@dataclass
class ValidatedBatch:
    findings: list[Finding]
    outcomes: pl.DataFrame  # submission_id, status, errors, warnings, infos
    data_docs: Path | None = None  # the GX Data Docs index page, when results are kept

    def held(self) -> ValidatedBatch:
        """The same findings, every file held: a closed period keeps what arrives but loads nothing."""
        return ValidatedBatch(self.findings, self.outcomes.with_columns(pl.lit(HELD).alias("status")), self.data_docs)

    def count(self, *statuses: str) -> int:
        return self.outcomes.filter(pl.col("status").is_in(statuses)).height

    def counts(self) -> tuple[int, int]:
        """Accepted (with or without warnings) and rejected."""
        return self.count(*ACCEPTED), self.count("rejected")


class _Placeholders(dict):
    """Message templates name row columns; a name the row lacks stays visible rather than failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value)


class _Validator:
    """Runs suites with Great Expectations: in memory, or in a file-backed project that keeps every result
    and renders Data Docs for the analysts."""

    def __init__(self, docs_dir: Path | None = None) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx  # slow to import (seconds): only where validation runs
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx = gx
        self.docs_dir = docs_dir
        if docs_dir is None:
            self.context = gx.get_context(mode="ephemeral")
        else:
            self.context = gx.get_context(mode="file", project_root_dir=str(docs_dir))
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)

    def run(self, suite_json: dict, frame: pl.DataFrame, parameters: dict) -> list[tuple[dict, list[dict]]]:
        """Each failed expectation's meta with the rows (index columns and values) it found unexpected."""
        if frame.height == 0:
            return []
        name = suite_json["name"]
        suite = self.gx.ExpectationSuite(name=name, expectations=suite_json["expectations"], meta=suite_json.get("meta"))
        source = self.context.data_sources.add_or_update_pandas("submissions")
        asset = next((asset for asset in source.assets if asset.name == name), None) or source.add_dataframe_asset(name=name)
        definition = next((d for d in asset.batch_definitions if d.name == "whole_batch"), None) or (
            asset.add_batch_definition_whole_dataframe("whole_batch")
        )
        options = {
            "batch_parameters": {"dataframe": frame.to_pandas()},
            "expectation_parameters": parameters,
            "result_format": {"result_format": "COMPLETE", "unexpected_index_column_names": ROW_ID_COLUMNS},
        }
        if self.docs_dir is None:
            result = definition.get_batch(batch_parameters=options.pop("batch_parameters")).validate(suite, **options)
        else:
            suite = self.context.suites.add_or_update(suite)
            validation = self.context.validation_definitions.add_or_update(
                self.gx.ValidationDefinition(data=definition, suite=suite, name=name)
            )
            result = validation.run(**options)
        failures = []
        for outcome in result.results:
            if outcome.success:
                continue
            problem = _raised(outcome.exception_info)
            if problem:
                raise RuntimeError(f"expectation {outcome.expectation_config.type} in suite {name} could not run: {problem}")
            failures.append((outcome.expectation_config.meta, outcome.result.get("unexpected_index_list") or []))
        return failures

    def finish(self) -> Path | None:
        """Render the Data Docs site; its index page, when results are kept."""
        if self.docs_dir is None:
            return None
        self.context.build_data_docs()
        index = next(self.docs_dir.rglob("data_docs/local_site/index.html"), None)
        return index


def _raised(exception_info: Any) -> str | None:
    """The first exception message in a result's exception info (flat or keyed by metric)."""
    if not isinstance(exception_info, dict):
        return None
    if exception_info.get("raised_exception"):
        return exception_info.get("exception_message") or "unknown error"
    for nested in exception_info.values():
        message = _raised(nested)
        if message:
            return message
    return None


def _findings_from_failures(
    failures: list[tuple[dict, list[dict]]],
    frame: pl.DataFrame,
    sheet_name: str,
    cell_for: Callable[[str, str | None, int], str | None],
    files: dict[str, str],
    extra: dict[str, str],
) -> list[Finding]:
    rows = {(row["submission_id"], row["source_row"]): row for row in frame.iter_rows(named=True)}
    findings = []
    for meta, unexpected in failures:
        seen = set()
        for item in unexpected:
            submission_id, source_row = item["submission_id"], int(item["source_row"])
            if (submission_id, source_row) in seen:
                continue
            seen.add((submission_id, source_row))
            row = rows.get((submission_id, source_row), {})
            checked = meta.get("cell_column") or next((name for name in item if name not in ROW_ID_COLUMNS), None)
            column = checked.split("__")[0] if checked else None  # a derived column points at its source cell
            value = row.get(column) if column else None
            cell = cell_for(submission_id, column, source_row)
            if cell == ABSENT:
                continue
            placeholders = _Placeholders(
                {key: _text(item_value) for key, item_value in row.items()}
                | extra
                | {
                    "sheet": sheet_name,
                    "cell": cell or f"第{source_row}行",
                    "row": source_row,
                    "value": _text(value),
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
                    value=None if value is None else _text(value),
                    message=meta["message_zh"].format_map(placeholders),
                )
            )
    return findings


def _cover_frame(batch: ParsedBatch, units: tuple[Unit, ...]) -> pl.DataFrame:
    names = {unit.unit_code: unit.name_zh for unit in units}

    def named_by_file(row: dict) -> str | None:
        # the cover says whose file it is; the file name only must not name another unit instead
        named = units_named_in(row["file_name"], units)
        return row["unit_code"] if not named or row["unit_code"] in named else named[0]

    covers = batch.submissions.filter(pl.col("readable"))
    return covers.select(
        "submission_id",
        pl.lit(1).alias("source_row"),
        "file_name",
        "unit_code",
        pl.struct("file_name", "unit_code").map_elements(named_by_file, return_dtype=pl.String).alias("file_unit_code"),
        "period",
        "template_version",
        *COVER_TEXT_FIELDS,
    ).with_columns(pl.col("file_unit_code").replace_strict(names, default=pl.col("file_unit_code")).alias("file_unit_name"))


def _catalog_frame() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "indicator_code": indicator.indicator_code,
                "indicator_name": indicator.name_zh,
                "unit_zh": indicator.unit_zh,
                "value_type": indicator.value_type,
                "reported_by": indicator.reported_by,
                "reported_by_zh": REPORTED_BY_ZH.get(indicator.reported_by, indicator.reported_by),
            }
            for indicator in reference.indicators()
        ]
    )


def _unit_kinds(units: tuple[Unit, ...]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"unit_code": unit.unit_code, "unit_kind": unit.kind, "unit_name": unit.name_zh} for unit in units],
        schema={"unit_code": pl.String, "unit_kind": pl.String, "unit_name": pl.String},
    )


def _reporting_groups() -> pl.DataFrame:
    """(reported_by, unit_kind): which kinds of unit each `reported_by` group of the catalog stands for."""
    return pl.DataFrame(list(reference.reporting_groups())).rename({"kind": "unit_kind"})


def _indicator_frame(frame: pl.DataFrame, units: tuple[Unit, ...]) -> pl.DataFrame:
    """Indicator rows with the catalog's facts about each, and whether the unit's kind reports it."""
    allowed = _reporting_groups().with_columns(pl.lit(True).alias("allowed"))
    return (
        frame.join(_catalog_frame(), on="indicator_code", how="left")
        .join(_unit_kinds(units), on="unit_code", how="left")
        .join(allowed, on=["reported_by", "unit_kind"], how="left")
        .with_columns(
            # an unknown unit or indicator is a finding of its own: no second one here
            pl.when(pl.col("unit_kind").is_null() | pl.col("reported_by").is_null())
            .then(None)
            .otherwise(pl.col("allowed").fill_null(False))
            .alias("indicator_code__reported_by_unit"),
            pl.col("value").cast(pl.Float64, strict=False).alias("value__n"),
        )
        .with_columns((pl.col("value__n") != pl.col("value__n").floor()).alias("value__fraction"))
        .drop("allowed")
    )


def _detail_frame(
    sheet: SheetSpec, frame: pl.DataFrame, others: pl.DataFrame | None, units: tuple[Unit, ...]
) -> pl.DataFrame:
    """A detail sheet's rows with numbers, dates and check-digit verdicts as derived columns."""
    derived = []
    for column in sheet.columns:
        if column.type in NUMERIC_TYPES:
            derived.append(pl.col(column.name).cast(pl.Float64, strict=False).alias(f"{column.name}__n"))
        elif column.type == "date":
            derived.append(
                pl.col(column.name).str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")).alias(f"{column.name}__date")
            )
        elif column.type == "credit_code":
            derived.append(
                pl.col(column.name).map_elements(credit_code.is_valid, return_dtype=pl.Boolean).alias(f"{column.name}__valid")
            )
    prepared = frame.with_columns(derived)
    names = dict(_unit_kinds(units).select("unit_code", "unit_name").iter_rows())
    for name in sheet.unique_across_units:
        seen = frame.select("unit_code", name)
        if others is not None and others.height:
            seen = pl.concat([seen, others.select("unit_code", name)])
        holders = (
            seen.drop_nulls()
            .unique()
            .group_by(name)
            .agg(pl.col("unit_code").sort().alias("holders"))
        )
        prepared = (
            prepared.join(holders, on=name, how="left")
            .with_columns(
                pl.col("holders").list.len().alias(f"{name}__units"),
                pl.col("holders")
                .list.set_difference(pl.concat_list(pl.col("unit_code")))
                .list.eval(pl.element().replace_strict(names, default=pl.element()))
                .list.join("、")
                .alias(f"{name}__other_units"),
            )
            .drop("holders")
        )
    return prepared


def derived_indicator_values(batch: ParsedBatch, units: tuple[Unit, ...]) -> pl.DataFrame:
    """Detail-derived indicator values of every submission, computed by the warehouse's own SQL models."""
    from union_stats import transform

    with duckdb.connect(":memory:") as con:
        ensure_warehouse(con)
        load_reference(con, units)
        for kind, frame in batch.sheets.items():
            con.register("incoming", frame.to_arrow())
            con.execute(f"insert into raw.{kind} by name select * from incoming")
            con.unregister("incoming")
        transform.build(con, targets={"marts.int_detail_indicator_values"})
        return con.sql("select submission_id, indicator_code, value from marts.int_detail_indicator_values").pl()


def _reported_values(batch: ParsedBatch) -> pl.DataFrame:
    """Indicator rows with a numeric value: submission, row, code, value as typed and as a number."""
    parsed = batch.sheets[reference.template().indicators.kind]
    return (
        parsed.select("submission_id", "unit_code", "source_row", "indicator_code", "value")
        .with_columns(pl.col("value").cast(pl.Float64, strict=False).alias("number"))
        .filter(pl.col("number").is_not_null())
    )


def _cross_sheet_frame(batch: ParsedBatch, units: tuple[Unit, ...]) -> pl.DataFrame:
    """Indicator rows that a detail sheet also gives, with the value reported and the value derived."""
    spec = reference.template()
    detail_indicators = pl.DataFrame(
        [
            {
                "indicator_code": indicator.indicator_code,
                "indicator_name": indicator.name_zh,
                "sheet_kind": indicator.detail_sheet,
                "detail_sheet": spec.sheet_spec(indicator.detail_sheet).sheet,
            }
            for indicator in reference.indicators()
            if indicator.from_detail
        ]
    )
    # only where the detail sheet itself was read: a missing sheet is an error of its own
    sheets_read = batch.layouts.select("submission_id", "sheet_kind").unique()
    derived = derived_indicator_values(batch, units).rename({"value": "derived"})
    return (
        _reported_values(batch)
        .join(detail_indicators, on="indicator_code")
        .join(sheets_read, on=["submission_id", "sheet_kind"])
        .join(derived, on=["submission_id", "indicator_code"], how="left")
        .select(
            "submission_id", "source_row", "indicator_code", "indicator_name", "detail_sheet", "value",
            pl.col("number").alias("reported_value"),
            pl.col("derived").cast(pl.Float64).fill_null(0.0).alias("derived_value"),
        )
    )


def _indicator_rows_frame(batch: ParsedBatch, units: tuple[Unit, ...]) -> pl.DataFrame:
    """Every indicator each submission's unit reports, and whether its indicator sheet has the row."""
    kind = reference.template().indicators.kind
    read = batch.layouts.filter(pl.col("sheet_kind") == kind).select("submission_id").unique()
    submissions = batch.submissions.join(read, on="submission_id").join(_unit_kinds(units), on="unit_code")
    expected = (
        submissions.select("submission_id", "unit_kind")
        .join(_reporting_groups(), on="unit_kind")
        .join(_catalog_frame().select("indicator_code", "indicator_name", "reported_by"), on="reported_by")
    )
    present = batch.sheets[kind].select("submission_id", "indicator_code").unique().with_columns(
        pl.lit(True).alias("row_present")
    )
    return (
        expected.join(present, on=["submission_id", "indicator_code"], how="left")
        .with_columns(pl.col("row_present").fill_null(False), pl.lit(0).alias("source_row"))
        # one row per submission and indicator; the source row is a stand-in, as the row is what is missing
        .with_row_index("missing_index")
        .with_columns((pl.col("source_row") - pl.col("missing_index").cast(pl.Int64) - 1).alias("source_row"))
        .select("submission_id", "source_row", "indicator_code", "indicator_name", "row_present")
    )


def _indicator_parts_frame(batch: ParsedBatch) -> pl.DataFrame:
    """For each part/whole pair of indicators a submission reports, both values, at the part's row."""
    pairs = pl.DataFrame(list(reference.indicator_parts()))
    names = _catalog_frame().select("indicator_code", "indicator_name")
    values = _reported_values(batch)
    return (
        pairs.join(values.rename({"indicator_code": "part"}), on="part")
        .join(
            values.select("submission_id", pl.col("indicator_code").alias("whole"), pl.col("number").alias("whole_value")),
            on=["submission_id", "whole"],
        )
        .join(names.rename({"indicator_code": "part", "indicator_name": "part_name"}), on="part")
        .join(names.rename({"indicator_code": "whole", "indicator_name": "whole_name"}), on="whole")
        .select(
            "submission_id", "source_row", "value", "part_name", "whole_name", "relation_zh",
            pl.col("number").alias("part_value"), "whole_value",
        )
    )


def _history_frame(batch: ParsedBatch, context: ValidationContext) -> pl.DataFrame:
    """Indicator values beside the unit's previous period and its range over earlier periods of the same kind."""
    settings = reference.validation_settings()["history"]
    flags = [indicator.indicator_code for indicator in reference.indicators() if indicator.value_type == "flag"]
    quarterly = periods.is_quarter(batch.period)
    earlier = context.history.filter(
        (pl.col("period") < batch.period) & (pl.col("period").str.contains("Q") == quarterly)
    )
    previous = earlier.filter(pl.col("period") == periods.previous_period(batch.period)).select(
        "unit_code", "indicator_code", pl.col("period").alias("previous_period"), pl.col("value").alias("previous_value")
    )
    spread = earlier.group_by("unit_code", "indicator_code").agg(
        pl.len().alias("history_periods"),
        pl.col("value").quantile(0.25, "linear").alias("history_low"),
        pl.col("value").quantile(0.75, "linear").alias("history_high"),
    )
    current = _reported_values(batch).filter(~pl.col("indicator_code").is_in(flags))
    larger = pl.max_horizontal("number", "previous_value")
    smaller = pl.min_horizontal("number", "previous_value")
    iqr = pl.col("history_high") - pl.col("history_low")
    history = (
        current.join(_catalog_frame().select("indicator_code", "indicator_name"), on="indicator_code", how="left")
        .join(previous, on=["unit_code", "indicator_code"], how="left")
        .join(spread, on=["unit_code", "indicator_code"], how="left")
        .with_columns(
            pl.when((smaller > 0) & (larger >= settings["min_value_for_change"]))
            .then(larger / smaller)
            .otherwise(None)
            .alias("change_factor"),
            pl.when((pl.col("history_periods") >= settings["min_history_periods"]) & (iqr > 0))
            .then(
                pl.when(pl.col("number") > pl.col("history_high"))
                .then((pl.col("number") - pl.col("history_high")) / iqr)
                .when(pl.col("number") < pl.col("history_low"))
                .then((pl.col("history_low") - pl.col("number")) / iqr)
                .otherwise(0.0)
            )
            .otherwise(None)
            .alias("iqr_distance"),
        )
    )
    quarters = _quarters_frame(batch, context).select(
        "submission_id", "source_row", "year", "quarters_total", "annual_total"
    )
    return history.join(quarters, on=["submission_id", "source_row"], how="left")


def _quarters_frame(batch: ParsedBatch, context: ValidationContext) -> pl.DataFrame:
    """For additive indicators: the year's four quarters summed and the annual value, where a unit has both."""
    additive = [
        indicator.indicator_code
        for indicator in reference.indicators()
        if indicator.aggregation == "sum" and indicator.value_type != "flag"
    ]
    year = periods.year_of(batch.period)
    quarters = periods.quarters_of(year)
    current = _reported_values(batch).filter(pl.col("indicator_code").is_in(additive))
    known = context.history.filter(pl.col("period").is_in([*quarters, year]) & (pl.col("period") != batch.period))
    mine = current.select("unit_code", "indicator_code", pl.lit(batch.period).alias("period"), pl.col("number").alias("value"))
    together = pl.concat([known.select(mine.columns), mine], how="vertical_relaxed")
    quarter_totals = (
        together.filter(pl.col("period").is_in(quarters))
        .group_by("unit_code", "indicator_code")
        .agg(pl.col("value").sum().round(2).alias("quarters_total"), pl.len().alias("quarters_in"))
        .filter(pl.col("quarters_in") == 4)
    )
    annual = together.filter(pl.col("period") == year).select(
        "unit_code", "indicator_code", pl.col("value").round(2).alias("annual_total")
    )
    return (
        current.join(_catalog_frame().select("indicator_code", "indicator_name"), on="indicator_code", how="left")
        .join(quarter_totals, on=["unit_code", "indicator_code"], how="left")
        .join(annual, on=["unit_code", "indicator_code"], how="left")
        .with_columns(pl.lit(year).alias("year"))
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
    validator = _Validator(docs_dir)
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
                findings += [*alone.findings, _check_failed(alone, submission_id, error)]
    findings = _without_consequences(findings)
    return ValidatedBatch(findings=findings, outcomes=outcomes_of(batch.submissions, findings), data_docs=validator.finish())


def _check_failed(batch: ParsedBatch, submission_id: str, error: Exception) -> Finding:
    file_name = batch.submissions.filter(pl.col("submission_id") == submission_id)["file_name"].first() or ""
    return Finding(
        submission_id, file_name, ERROR, "structure.check_failed", None, None, None,
        f"本文件的内容无法完成审核（{type(error).__name__}），已退回：请检查是否有异常内容（如超长文字、特殊符号、"
        "合并单元格），用 Excel 或 WPS 按模板重新整理、另存为 .xlsx 后再提交。",
    )


# a finding that follows from another one says nothing new: every date is outside the period when the cover
# names the wrong period (anywhere in the file), and a cell showing #REF! reads as blank (at that cell)
CONSEQUENCES = {"values.date_in_period": ("structure.period_mismatch", "file"), "values.required": ("values.error_cell", "cell")}


def _without_consequences(findings: list[Finding]) -> list[Finding]:
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


def _check(
    batch: ParsedBatch,
    units: tuple[Unit, ...],
    context: ValidationContext,
    expectations_dir: Path,
    validator: _Validator,
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
        "max_change_factor": _text(float(settings["max_change_factor"])),
    }
    indicators = spec.indicators.kind
    # (suite, the frame it checks, the sheet kind its findings point into; None for the cover)
    checks: list[tuple[str, pl.DataFrame, str | None]] = [
        (COVER_SUITE, _cover_frame(batch, units), None),
        (indicators, _indicator_frame(batch.sheets[indicators], units), indicators),
        *[
            (sheet.kind, _detail_frame(sheet, batch.sheets[sheet.kind], context.other_records.get(sheet.kind), units), sheet.kind)
            for sheet in spec.details
        ],
        (CROSS_SHEET_SUITE, _cross_sheet_frame(batch, units), indicators),
        (INDICATOR_ROWS_SUITE, _indicator_rows_frame(batch, units), indicators),
        (INDICATOR_PARTS_SUITE, _indicator_parts_frame(batch), indicators),
        (HISTORY_SUITE, _history_frame(batch, context), indicators),
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
    for suite_name, frame, kind in checks:
        failures = validator.run(suites[suite_name], frame, parameters)
        sheet_name = spec.cover_sheet if kind is None else spec.sheet_spec(kind).sheet
        findings += _findings_from_failures(failures, frame, sheet_name, cell_finder(kind), files, extra)
    return findings

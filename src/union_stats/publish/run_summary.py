"""Publish stage: what a run tells people: each submission's report, the outcomes, completeness and figures."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from union_stats import office_time
from union_stats.findings import ERROR, Finding, sort_key
from union_stats.labels import HELD
from union_stats.parse import ParsedBatch
from union_stats.runs import RunContext, RunSummary
from union_stats.validate import ValidatedBatch
from union_stats.warehouse import FigureRow, connect, has_published_report


def outcomes_markdown(outcomes: list[tuple]) -> str:
    lines = ["| 单位 | 文件 | 结果 | 错误 | 警告 |", "| --- | --- | --- | --- | --- |"]
    lines += [
        f"| {unit} | {file} | {status} | {errors} | {warnings} |" for unit, file, status, errors, warnings in outcomes
    ]
    return "\n".join(lines)


def figures_markdown(figures: list[FigureRow], targets: list[dict] | None = None) -> str:
    """The figures artifact: compared with the published report where the period has one; for any other period
    the values and what they rest on, then the year's targets and the progress towards them."""
    if not has_published_report(figures):
        return unreported_figures_markdown(figures, targets or [])
    matched = sum(bool(figure.matches) for figure in figures)
    incomplete = sum(not figure.complete for figure in figures)
    lines = [f"**{matched} / {len(figures)}** figures match the published report."]
    if incomplete:
        lines.append(
            f"**{incomplete}** figures are incomplete: not every unit of their group has an accepted file (⚠)."
        )
    lines += [
        "",
        "| figure | published | reproduced | matches | units accepted/expected |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {f.figure_id} | {f.published} | {f.reproduced or '—'} | {'✓' if f.matches else '✗'} | "
        f"{f.units_accepted}/{f.units_expected}{'' if f.complete else ' ⚠'} |"
        for f in figures
    ]
    return "\n".join(lines)


def value_text(value) -> str:
    """A value in the base unit as the office reads it: thousands separated, no trailing zeros."""
    return "—" if value is None else f"{value:,.2f}".rstrip("0").rstrip(".")


def unreported_figures_markdown(figures: list[FigureRow], targets: list[dict]) -> str:
    incomplete = sum(not figure.complete for figure in figures)
    lines = [
        f"No work report was published for this period: **{len(figures)}** figures, not compared with any "
        "(reference/published_reports.csv lists the periods that have one)."
    ]
    if incomplete:
        lines.append(
            f"**{incomplete}** figures are incomplete: not every unit of their group has an accepted file (⚠)."
        )
    lines += ["", "| figure | report says (2022 wording) | value (base unit) | units accepted/expected |"]
    lines.append("| --- | --- | --- | --- |")
    lines += [
        f"| {f.figure_id} | {f.quote_zh} | {value_text(f.value)} {f.base_unit} | "
        f"{f.units_accepted}/{f.units_expected}{'' if f.complete else ' ⚠'} |"
        for f in figures
    ]
    if targets:
        lines += ["", targets_markdown(targets)]
    return "\n".join(lines)


def targets_markdown(targets: list[dict]) -> str:
    as_of = targets[0]["period"]
    lines = [
        f"**Targets {targets[0]['year']}** (reference/targets.csv), progress as of {as_of}:",
        "",
        "| 目标 | target | achieved | progress | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {row['quote_zh']} | {value_text(row['target'])} | {value_text(row['achieved'])} | "
        f"{_percent(row['progress_ratio'])} | {'✓' if row['met'] else '—'} |"
        for row in targets
    ]
    return "\n".join(lines)


def _percent(ratio) -> str:
    return "—" if ratio is None else f"{float(ratio):.0%}"


def write_told_back_reports(run: RunContext, told: list[Finding]) -> dict[str, list[Path]]:
    """A new report for each file loaded earlier that this run told something (validate.told_back): its unit
    reads the new warning beside the findings it had, on its archived copy, as after its own run."""
    from union_stats.publish import quality_report

    submission_ids = sorted({finding.submission_id for finding in told})
    if not submission_ids:
        return {}
    with connect(run.warehouse, read_only=True) as con:
        submissions = con.execute(
            "select log.submission_id, log.file_name, log.unit_code, log.unit_name, log.period, log.status, "
            "log.received_at, log.sha256, ledger.archived_path "
            "from ops.submission_log as log left join ops.ledger as ledger on ledger.sha256 = log.sha256 "
            "where log.submission_id in (select unnest(?))",
            [submission_ids],
        ).fetchall()
        findings = [
            Finding(*row)
            for row in con.execute(
                "select submission_id, file_name, severity, rule, sheet, cell, value, message from ops.findings_log "
                "where submission_id in (select unnest(?))",
                [submission_ids],
            ).fetchall()
        ]
        layouts = con.sql(
            "select * from ops.sheet_layouts where submission_id in (select unnest($ids))",
            params={"ids": submission_ids},
        ).pl()
    personal = quality_report.personal_columns(layouts)
    written = {}
    for submission_id, file_name, unit_code, unit_name, period, status, received_at, sha256, archived in submissions:
        report = quality_report.SubmissionReport(
            submission_id=submission_id,
            file_name=file_name,
            unit_code=unit_code or "",
            unit_name=unit_name,
            period=period,
            status=status,
            received_at=received_at,
            sha256=sha256,
            source_path=Path(archived) if archived else None,
            run_id=run.run_id,
            personal_columns=personal.get(submission_id, ()),
        )
        mine = [finding for finding in findings if finding.submission_id == submission_id]
        html, workbook = quality_report.write_reports(report, mine, run.report_dir)
        written[submission_id] = [path for path in (html, workbook) if path is not None]
    return written


def completeness_markdown(rows: list[dict]) -> str:
    submitted = sum(row["status"] != "missing" for row in rows)
    lines = [
        f"**{submitted} / {len(rows)}** units have submitted.",
        "",
        f"| 单位 | 结果 | 收到时间（{office_time.zone_label()}） | 截止日期 | 是否按时 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        timely = "—" if row["on_time"] is None else ("按时" if row["on_time"] else f"逾期{row['days_late']}天")
        received = (
            f"{row['first_received_at'].astimezone(office_time.zone()):%Y-%m-%d %H:%M}"
            if row["first_received_at"]
            else "—"
        )
        lines.append(
            f"| {row['unit_name_zh'] or row['unit_code']} | {row['status']} | {received} | {row['due_on']} | {timely} |"
        )
    return "\n".join(lines)


def rejected_files(
    submissions: pl.DataFrame, outcomes: pl.DataFrame, findings: list[Finding]
) -> tuple[tuple[str, str], ...]:
    """Each rejected file of a run with the first of its errors, as the clerk's report lists them."""
    rejected = outcomes.filter(pl.col("status") == "rejected").join(submissions, on="submission_id")
    first_error: dict[str, Finding] = {}
    for finding in sorted(findings, key=sort_key):
        if finding.severity == ERROR:
            first_error.setdefault(finding.submission_id, finding)
    return tuple(
        (file_name, first_error[submission_id].message if submission_id in first_error else "")
        for submission_id, file_name in sorted(
            rejected.select("submission_id", "file_name").iter_rows(), key=lambda row: row[1]
        )
    )


def summarise(
    run: RunContext, files: int, batch: ParsedBatch, validated: ValidatedBatch, figures: list[FigureRow]
) -> RunSummary:
    """What the command line prints after a run that processed files."""
    accepted, rejected = validated.counts()
    return RunSummary(
        run.run_id,
        run.period,
        files,
        validated.outcomes.height,
        accepted,
        rejected,
        validated.count(HELD),
        figures,
        run.report_dir,
        rejected_files=rejected_files(batch.submissions, validated.outcomes, validated.findings),
    )


def outcome_rows(batch: ParsedBatch, validated: ValidatedBatch) -> list[tuple]:
    """(unit, file, status, errors, warnings) of each processed file, by unit."""
    return (
        validated.outcomes.join(batch.submissions, on="submission_id")
        .select("unit_code", "file_name", "status", "errors", "warnings")
        .sort("unit_code")
        .rows()
    )

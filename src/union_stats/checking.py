"""Self-check for submitters: the rules of a run, applied to files on their own, without the warehouse."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from union_stats import discover, parse, periods, reference, stages, validate
from union_stats.findings import ERROR, Finding, sort_key
from union_stats.rules import rule

CROSS_SUBMISSION = "cross_submission."  # the rules that compare one submission with another
# a period anywhere in a file name: shiqiao_2022(更正).xlsx, 大石街2022Q3季报.xlsx, but not 20221231
PERIOD_IN_NAME = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2}(?:Q[1-4])?)(?![0-9])")


@dataclass
class FileCheck:
    path: Path
    file_name: str
    period: str
    status: str
    findings: list[Finding] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)
    unit_code: str | None = None  # as the cover gives it (None: no cover read)
    submission_id: str = ""


def period_of(path: Path) -> str | None:
    """The period a file is checked against: its period folder, else its cover, else its name (`x_2022.xlsx`)."""
    if periods.is_period(path.parent.name):
        return path.parent.name
    cover = (parse.read_cover(path) or {}).get("period")
    if cover and periods.is_period(cover):
        return cover
    matched = PERIOD_IN_NAME.search(unicodedata.normalize("NFKC", path.stem).upper())
    return matched.group(1) if matched else None


def _rounds(received: list[discover.ReceivedFile]) -> list[list[discover.ReceivedFile]]:
    """The files to check together: each submission (the same bytes) once in a round, keyed by its bytes; the same
    bytes under another name in a later round, for a file's name is checked too (the unit it names); under the same
    name again, answered from the first."""
    rounds: list[dict[str, discover.ReceivedFile]] = []
    for item in received:
        for together in rounds:
            first = together.setdefault(item.submission_id, item)
            if first.file_name == item.file_name:
                break
        else:
            rounds.append({item.submission_id: item})
    return [list(together.values()) for together in rounds]


def check_files(
    paths: list[Path],
    report_dir: Path | None = None,
    *,
    period_dir: Path | None = None,
    independent: bool = False,
) -> list[FileCheck]:
    """Parse and validate each file (files of one period together) and, if asked, write its reports.

    `period_dir` checks the files as if they were in that period folder (its period, and the units it expects),
    wherever they are: the portal checks an upload before it places it there. `independent` checks files that
    happen to be checked together (the portal's uploads of one moment) as if each were checked alone: what one
    says of another (the `cross_submission.*` rules: the same person or record in two units' files) is left out,
    for that is the run's to say, with the warehouse's files beside them."""
    by_period: dict[str | None, list[Path]] = defaultdict(list)
    for path in paths:
        by_period[period_dir.name if period_dir is not None else period_of(path)].append(path)

    results: list[FileCheck] = []
    for period, group in by_period.items():
        received = [discover.receive(path) for path in group]
        if period is None:
            for item in received:
                # a file that cannot be read says so, whatever its name; only a readable one lacks a period
                findings = stages.parse_files([item], "?").findings
                if not any(finding.severity == ERROR and finding.sheet is None for finding in findings):
                    findings = [rule("structure.period_unknown").finding(item.submission_id, item.file_name)]
                results.append(
                    FileCheck(
                        item.path,
                        item.file_name,
                        "?",
                        "rejected",
                        sorted(findings, key=sort_key),
                        submission_id=item.submission_id,
                    )
                )
            continue
        folders = [period_dir] if period_dir is not None else [path.parent for path in group]
        units = tuple({unit.unit_code: unit for folder in folders for unit in reference.units_for(folder)}.values())
        answers: dict[tuple[str, str], FileCheck] = {}
        for together in _rounds(received):
            batch = stages.parse_files(together, period)
            validated = stages.validate_files(batch, units)
            if independent:
                kept = [finding for finding in validated.findings if not finding.rule.startswith(CROSS_SUBMISSION)]
                validated = dataclasses.replace(
                    validated, findings=kept, outcomes=validate.outcomes_of(batch.submissions, kept), told_back=[]
                )
            status = dict(validated.outcomes.select("submission_id", "status").iter_rows())
            unit_of = dict(batch.submissions.select("submission_id", "unit_code").iter_rows())
            written: dict[str, list[Path]] = {}
            if report_dir is not None:
                written = stages.write_reports(batch, validated, together, report_dir)
            for item in together:
                answers[item.submission_id, item.file_name] = FileCheck(
                    item.path,
                    item.file_name,
                    period,
                    status[item.submission_id],
                    sorted((f for f in validated.findings if f.submission_id == item.submission_id), key=sort_key),
                    written.get(item.submission_id, []),
                    unit_of.get(item.submission_id),
                    item.submission_id,
                )
        for item in received:  # the same bytes under the same name again: the same answer
            results.append(dataclasses.replace(answers[item.submission_id, item.file_name], path=item.path))
    return results

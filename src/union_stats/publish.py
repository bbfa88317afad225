"""Publish stage: read the report layer back for people: the district figures and each submission's outcome."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from union_stats.load import connect


@dataclass(frozen=True)
class FigureRow:
    figure_id: str
    quote_zh: str
    value: float | None
    base_unit: str
    published: str
    reproduced: str | None
    comparator: str
    matches: bool


def district_figures(con: duckdb.DuckDBPyConnection, period: str) -> list[FigureRow]:
    rows = con.execute(
        "select figure_id, quote_zh, value, base_unit, published, reproduced, comparator, matches "
        "from report.district_figures where period = ? order by figure_id",
        [period],
    ).fetchall()
    return [FigureRow(*row) for row in rows]


def read_district_figures(warehouse: Path, period: str) -> list[FigureRow]:
    with connect(warehouse, read_only=True) as con:
        return district_figures(con, period)


def submission_outcomes(con: duckdb.DuckDBPyConnection, period: str) -> list[tuple]:
    return con.execute(
        "select unit_code, file_name, status, errors, warnings from ops.submissions "
        "where period = ? and status <> 'superseded' order by unit_code, file_name",
        [period],
    ).fetchall()


def outcomes_markdown(outcomes: list[tuple]) -> str:
    lines = ["| 单位 | 文件 | 结果 | 错误 | 警告 |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {unit} | {file} | {status} | {errors} | {warnings} |" for unit, file, status, errors, warnings in outcomes]
    return "\n".join(lines)


def figures_markdown(figures: list[FigureRow]) -> str:
    matched = sum(figure.matches for figure in figures)
    lines = [
        f"**{matched} / {len(figures)}** figures match the published report.",
        "",
        "| figure | published | reproduced | matches |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {f.figure_id} | {f.published} | {f.reproduced or '—'} | {'✓' if f.matches else '✗'} |" for f in figures
    ]
    return "\n".join(lines)

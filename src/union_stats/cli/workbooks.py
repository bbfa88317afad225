"""The workbooks themselves: `union-stats validate` (the submitters' self-check), `template` (a blank one for a
unit), `sample` (sample submissions) and `suites` (the expectation suites and raw tables, from the template)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from union_stats import labels
from union_stats.cli.common import Failure, Period, app, check_writable, example, stdout
from union_stats.periods import is_quarter

try:  # Typer vendors its own Click (typer._click); its exceptions are not those of the `click` package
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - a Typer that uses Click itself
    from click.exceptions import UsageError

SEVERITY_ZH = {
    code: f"[{colour}]{labels.severities()[code]}[/]" for code, colour in labels.severities("colour").items()
}


@app.command(
    "validate",
    short_help="check workbooks with the same rules as a run, without the warehouse",
    help="Check workbooks with the same rules as a run, without the warehouse; exit 0 when no file has an "
    "error, 1 when any has, 2 for a usage error.",
    epilog=example("union-stats validate data/raw/2022/shiqiao_2022.xlsx --report-dir reports"),
)
def validate_command(
    files: Annotated[
        list[Path], typer.Argument(help="the workbooks (.xlsx) to check", metavar="FILE", show_default=False)
    ],
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report-dir",
            help="write an HTML report and an annotated copy of each file into this "
            "folder  [default: no reports, only the findings printed]",
            show_default=False,
            metavar="DIR",
        ),
    ] = None,
) -> int:
    from union_stats import checking
    from union_stats.publish.quality_report import OUTCOME_ZH

    missing = [path for path in files if not path.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(str(path) for path in missing)}")
    if report_dir is not None and report_dir.exists() and not report_dir.is_dir():
        raise typer.BadParameter(f"{report_dir} is a file, not a folder", param_hint="'--report-dir'")
    if report_dir is not None:
        check_writable(report_dir, folder=report_dir)
    results = checking.check_files(files, report_dir=report_dir)
    any_error = False
    for result in results:
        any_error |= result.status == "rejected"
        stdout().rule(f"{result.file_name}  [{result.period}]  {OUTCOME_ZH[result.status]}")
        for path in result.reports:
            stdout().print(f"报告：{path}", soft_wrap=True)
        if not result.findings:
            stdout().print("未发现问题。")
            continue
        table = Table(show_header=True, header_style="bold")
        table.add_column("严重程度", no_wrap=True)
        table.add_column("位置", no_wrap=True)  # a cell reference split over two lines cannot be found
        table.add_column("填报值", overflow="fold", max_width=20)
        table.add_column("规则", overflow="fold")
        table.add_column("问题及修改方法", overflow="fold")
        for finding in result.findings:
            table.add_row(
                SEVERITY_ZH.get(finding.severity, finding.severity),
                finding.where or "整个文件",
                finding.value or "",
                finding.rule,
                finding.message,
            )
        stdout().print(table)
    return 1 if any_error else 0


def _check_template_version(value: str | None) -> str | None:
    from union_stats import reference

    if value is not None and value not in reference.template_versions():
        raise typer.BadParameter(
            f"unknown template version {value!r}; known: {', '.join(reference.template_versions())}"
        )
    return value


TemplateVersion = Annotated[
    str | None,
    typer.Option(
        "--template-version",
        help="the template version to write, e.g. v1 (reference/templates/; reference/periods.toml says which "
        "periods accept it)  [default: the current version]",
        callback=_check_template_version,
        show_default=False,
        metavar="VERSION",
    ),
]


@app.command(
    "template",
    short_help="write a blank submission template for one unit",
    help="Write a blank submission template for one unit (cover filled in, indicator rows listed, dropdowns).",
    epilog=example("union-stats template --unit shiqiao --period 2023 --out shiqiao_2023.xlsx"),
)
def template_command(
    unit: Annotated[
        str,
        typer.Option(
            "--unit", help="unit code from reference/units.csv, e.g. shiqiao", show_default=False, metavar="CODE"
        ),
    ],
    period: Period,
    out: Annotated[str, typer.Option("--out", help="the .xlsx file to write", show_default=False, metavar="FILE")],
    template_version: TemplateVersion = None,
) -> int:
    from union_stats import reference, template

    units = {known.unit_code: known for known in reference.reference_units()}
    if unit not in units:
        raise typer.BadParameter(f"unknown unit code {unit!r}; known: {', '.join(units)}", param_hint="'--unit'")
    path = Path(out)
    if path.suffix.lower() != ".xlsx":
        raise typer.BadParameter(
            f"{out!r} does not end in .xlsx (the template is an Excel workbook)", param_hint="'--out'"
        )
    if path.is_dir():
        raise Failure(f"cannot write {path}: it is a folder")
    if not path.parent.is_dir():
        raise Failure(f"cannot write {path}: no folder {path.parent}")
    check_writable(path)
    version = template_version or reference.CURRENT_TEMPLATE
    if version not in reference.accepted_versions(period):
        accepted = ", ".join(reference.accepted_versions(period)) or "none"
        raise typer.BadParameter(
            f"{period} does not accept template {version} (accepted: {accepted})",
            param_hint="'--template-version'",
        )
    written = template.write_blank(path, units[unit], period, template_version=version)
    stdout().print(f"wrote {written}")
    return 0


@app.command(
    "sample",
    short_help="write sample submissions (the 18 real units, or N synthetic ones)",
    help="Write sample submissions: the 18 real units whose totals land on the report's figures, or N "
    "synthetic town-like units.",
    epilog=example(
        "union-stats sample --period 2022 --out data/raw/2022",
        "union-stats sample --period 2023 --quarterly --out data/raw",
        "union-stats sample --period 2024Q1 --units 40 --out /tmp/2024Q1",
    ),
)
def sample_command(
    period: Period,
    out: Annotated[
        str,
        typer.Option(
            "--out",
            help="folder to write into (a period folder; with --quarterly, the folder that gets <year>Q1..Q4/)",
            show_default=False,
            metavar="DIR",
        ),
    ],
    units: Annotated[
        int | None,
        typer.Option(
            "--units",
            min=1,
            help="write N synthetic town-like units (and a units.csv) instead of the "
            "18 real ones  [default: the 18 real units]",
            show_default=False,
            metavar="N",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="random seed: the same seed writes the same files", metavar="S")
    ] = 2022,
    quarterly: Annotated[
        bool,
        typer.Option("--quarterly", help="with a year as --period: write its four quarters to <out>/<year>Q1..Q4/"),
    ] = False,
    template_version: TemplateVersion = None,
) -> int:
    from union_stats import reference
    from union_stats.devtools import sample

    if quarterly and is_quarter(period):
        raise typer.BadParameter(
            f"--quarterly writes the four quarters of a year: give a year, not {period}", param_hint="'--period'"
        )
    if quarterly and units is not None:
        raise UsageError("--units and --quarterly do not go together (--quarterly writes the 18 real units)")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise Failure(f"cannot write into {folder}: it is a file, not a folder")
    check_writable(folder, folder=folder)
    version = template_version or reference.CURRENT_TEMPLATE
    if quarterly:
        paths = sample.write_year(period, folder, seed=seed, template_version=version)
    else:
        paths = sample.write_sample(period, folder, units=units, seed=seed, template_version=version)
    stdout().print(f"wrote {len(paths)} workbooks to {out}")
    return 0


@app.command(
    "suites",
    short_help="rewrite expectations/*.json from the template and the catalog",
    help="Rewrite expectations/*.json from the template and the indicator catalog.",
    epilog=example("union-stats suites && git diff expectations/"),
)
def suites_command() -> int:
    from union_stats import analyst_views, warehouse
    from union_stats.validate import suites

    for path in [*suites.write_suites(), *warehouse.write_raw_ddl(), *analyst_views.write_wide_view()]:
        stdout().print(f"wrote {path}")
    return 0

"""The `union-stats` command: run the pipeline, write templates and sample data, check files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from union_stats.paths import RAW_DIR, WAREHOUSE_FILE

console = Console()


def _figures_table(summary) -> Table:
    table = Table(title=f"District figures {summary.period}: {summary.matched} of {len(summary.figures)} match")
    for header, justify in (("figure", "left"), ("report says", "left"), ("published", "right"),
                            ("reproduced", "right"), ("value (base unit)", "right"), ("", "center")):
        table.add_column(header, justify=justify)
    for figure in summary.figures:
        value = "—" if figure.value is None else f"{figure.value:,.2f}".rstrip("0").rstrip(".")
        table.add_row(
            figure.figure_id,
            figure.quote_zh[:28],
            figure.published,
            figure.reproduced or "—",
            f"{value} {figure.base_unit}",
            "[green]✓[/]" if figure.matches else "[red]✗[/]",
        )
    return table


def cmd_run(args: argparse.Namespace) -> int:
    from flows.ingest import ingest_period

    try:
        summary = ingest_period(period=args.period, raw_dir=args.raw_dir, warehouse=args.warehouse)
    except Exception as error:  # the operator gets one line; the flow's log has the rest
        console.print(f"[red]run failed:[/] {error}")
        return 1
    console.print(_figures_table(summary))
    console.print(
        f"period {summary.period}: {summary.files} files, {summary.accepted} accepted, {summary.rejected} rejected; "
        f"[bold]{summary.matched} of {len(summary.figures)} figures match[/]; warehouse {args.warehouse}"
    )
    return 0


def cmd_template(args: argparse.Namespace) -> int:
    from union_stats import reference, template

    units = {unit.unit_code: unit for unit in reference.reference_units()}
    if args.unit not in units:
        console.print(f"[red]unknown unit code {args.unit!r}[/]; known: {', '.join(units)}")
        return 2
    path = template.write_blank(Path(args.out), units[args.unit], args.period)
    console.print(f"wrote {path}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from union_stats import sample

    paths = sample.write_sample(args.period, Path(args.out), units=args.units, seed=args.seed)
    console.print(f"wrote {len(paths)} workbooks to {args.out}")
    return 0


def cmd_suites(args: argparse.Namespace) -> int:
    from union_stats import suites

    for path in suites.write_suites():
        console.print(f"wrote {path}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from flows.schedules import next_runs, serve_deployments

    if args.dry_run:
        for deployment, runs in next_runs().items():
            console.print(f"{deployment}: " + ", ".join(f"{run:%Y-%m-%d %H:%M %z}" for run in runs))
        return 0
    serve_deployments()  # blocks until interrupted; Prefect pauses the schedules on shutdown
    return 0


SEVERITY_ZH = {"error": "[red]错误[/]", "warning": "[yellow]警告[/]", "info": "[blue]提示[/]"}
STATUS_ZH = {"accepted": "通过", "accepted_with_warnings": "通过（有警告，请确认）", "rejected": "退回，请修改后重新提交"}


def cmd_validate(args: argparse.Namespace) -> int:
    from union_stats import checking

    missing = [path for path in args.files if not path.is_file()]
    if missing:
        console.print(f"[red]no such file:[/] {', '.join(str(path) for path in missing)}")
        return 2
    results = checking.check_files(args.files, report_dir=args.report_dir)
    any_error = False
    for result in results:
        any_error |= result.status == "rejected"
        console.rule(f"{result.file_name}  [{result.period}]  {STATUS_ZH[result.status]}")
        if not result.findings:
            console.print("未发现问题。")
            continue
        table = Table(show_header=True, header_style="bold")
        for header in ("严重程度", "位置", "填报值", "规则", "问题及修改方法"):
            table.add_column(header, overflow="fold")
        for finding in result.findings:
            table.add_row(
                SEVERITY_ZH.get(finding.severity, finding.severity),
                finding.where or "整个文件",
                finding.value or "",
                finding.rule,
                finding.message,
            )
        console.print(table)
        for path in result.reports:
            console.print(f"报告：{path}")
    return 1 if any_error else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="union-stats", description="Panyu union statistics warehouse")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="ingest a period's workbooks into the warehouse and print the figures")
    run.add_argument("--period", help="e.g. 2022 or 2022Q3 (default: the latest period folder under --raw-dir)")
    run.add_argument("--raw-dir", type=Path, default=RAW_DIR, help="folder holding one folder per period")
    run.add_argument("--warehouse", type=Path, default=WAREHOUSE_FILE, help="the DuckDB warehouse file")
    run.set_defaults(handler=cmd_run)

    blank = commands.add_parser("template", help="write a blank submission template for one unit")
    blank.add_argument("--unit", required=True, help="unit code, e.g. shiqiao")
    blank.add_argument("--period", required=True)
    blank.add_argument("--out", required=True, help="the .xlsx file to write")
    blank.set_defaults(handler=cmd_template)

    sample = commands.add_parser("sample", help="write sample submissions (the 18 real units, or N synthetic ones)")
    sample.add_argument("--period", required=True)
    sample.add_argument("--out", required=True, help="folder to write into (a period folder)")
    sample.add_argument("--units", type=int, help="write N synthetic town-like units instead of the 18 real ones")
    sample.add_argument("--seed", type=int, default=2022)
    sample.set_defaults(handler=cmd_sample)

    check = commands.add_parser("validate", help="check workbooks with the same rules as a run, without the warehouse")
    check.add_argument("files", nargs="+", type=Path, help="workbooks to check")
    check.add_argument("--report-dir", type=Path, help="write an HTML report and an annotated copy of each file here")
    check.set_defaults(handler=cmd_validate)

    serve = commands.add_parser("serve", help="serve the quarterly and annual close deployments (Asia/Shanghai)")
    serve.add_argument("--dry-run", action="store_true", help="print the next run times and exit")
    serve.set_defaults(handler=cmd_serve)

    suites = commands.add_parser("suites", help="rewrite expectations/*.json from the template and the catalog")
    suites.set_defaults(handler=cmd_suites)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

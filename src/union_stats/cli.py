"""The `union-stats` command: run the pipeline, write templates and sample data, check files."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from union_stats.paths import RAW_DIR, WAREHOUSE_FILE

console = Console()


def _figures_table(period: str, figures: list) -> Table:
    matched = sum(figure.matches for figure in figures)
    incomplete = sum(not figure.complete for figure in figures)
    title = f"District figures {period}: {matched} of {len(figures)} match"
    if incomplete:
        title += f" [yellow]({incomplete} incomplete: not every unit of their group has an accepted file)[/]"
    table = Table(title=title)
    for header, justify in (("figure", "left"), ("report says", "left"), ("published", "right"),
                            ("reproduced", "right"), ("value (base unit)", "right"), ("", "center"),
                            ("units", "right")):
        table.add_column(header, justify=justify)
    for figure in figures:
        value = "—" if figure.value is None else f"{figure.value:,.2f}".rstrip("0").rstrip(".")
        # units with a current accepted file / units of the figure's group expected; yellow ⚠ when some are missing
        units = f"{figure.units_accepted}/{figure.units_expected}"
        table.add_row(
            figure.figure_id,
            figure.quote_zh[:28],
            figure.published,
            figure.reproduced or "—",
            f"{value} {figure.base_unit}",
            "[green]✓[/]" if figure.matches else "[red]✗[/]",
            units if figure.complete else f"[yellow]{units} ⚠[/]",
        )
    return table


def cmd_run(args: argparse.Namespace) -> int:
    from union_stats import discover

    period = args.period or discover.latest_period(args.raw_dir)
    if period is None or not (args.raw_dir / period).is_dir():
        wanted = f"folder {args.raw_dir / period}" if period else f"period folder (like 2022 or 2022Q1) under {args.raw_dir}"
        console.print(f"[red]run failed:[/] no {wanted}", soft_wrap=True)
        return 1
    try:
        from union_stats import warehouse

        unchanged = warehouse.nothing_new(args.raw_dir, args.warehouse, args.period)
        if unchanged is not None:
            period, figures = unchanged
            console.print(_figures_table(period, figures))
            console.print(
                f"period {period}: nothing new since the last run (every file is in the warehouse); "
                f"[bold]{sum(f.matches for f in figures)} of {len(figures)} figures match[/]"
            )
            return 0
        from flows.ingest import ingest_period

        summary = ingest_period(period=args.period, raw_dir=args.raw_dir, warehouse=args.warehouse)
    except Exception as error:  # the operator gets one line; the flow's log has the rest
        console.print(f"[red]run failed:[/] {type(error).__name__}: {error}", soft_wrap=True)
        return 1
    console.print(_figures_table(summary.period, summary.figures))
    console.print(
        f"period {summary.period}: {summary.files} files, {summary.processed} new: {summary.accepted} accepted, "
        f"{summary.rejected} rejected, {summary.held} held; "
        f"[bold]{summary.matched} of {len(summary.figures)} figures match[/]; warehouse {args.warehouse}"
    )
    for file_name, reason in summary.rejected_files:
        console.print(f"[red]rejected[/] {escape(file_name)}: {escape(reason)}", soft_wrap=True)
    if summary.report_dir is not None:
        console.print(f"data-quality reports: {summary.report_dir}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from union_stats import warehouse

    if not args.warehouse.exists():
        console.print(f"[red]no warehouse at {args.warehouse}[/]: run `union-stats run` first")
        return 1
    rows = warehouse.read_completeness(args.warehouse, args.period)
    if not rows:
        console.print(f"[yellow]no submissions or expected units recorded for period {args.period}[/]")
        return 1
    submitted = sum(row["status"] != "missing" for row in rows)
    table = Table(title=f"报送情况 {args.period}: {submitted} / {len(rows)} units submitted, due {rows[0]['due_on']}")
    for header in ("单位代码", "单位", "结果", "文件数", "首次收到", "是否按时", "错误", "警告"):
        table.add_column(header)
    colours = {"missing": "red", "rejected": "red", "held": "yellow", "accepted_with_warnings": "yellow", "accepted": "green"}
    for row in rows:
        timely = "—" if row["on_time"] is None else ("按时" if row["on_time"] else f"[red]逾期{row['days_late']}天[/]")
        received = row["first_received_at"].astimezone().strftime("%Y-%m-%d %H:%M") if row["first_received_at"] else "—"
        table.add_row(
            row["unit_code"], row["unit_name_zh"] or "", f"[{colours.get(row['status'], 'white')}]{row['status']}[/]",
            str(row["files"] or 0), received, timely, str(row["errors"] if row["errors"] is not None else ""),
            str(row["warnings"] if row["warnings"] is not None else ""),
        )
    console.print(table)
    return 0


def cmd_lock(args: argparse.Namespace) -> int:
    from union_stats import warehouse

    closing = args.command == "close"
    changed = warehouse.set_period_lock(args.warehouse, args.period, closed=closing, note=getattr(args, "note", "") or "")
    state = "closed" if closing else "open"
    console.print(f"period {args.period} {'is now' if changed else 'was already'} {state}")
    if not closing and changed:
        console.print("files that arrived while it was closed load on the next `union-stats run`")
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

    if args.quarterly:
        paths = sample.write_year(args.period, Path(args.out), seed=args.seed)
    else:
        paths = sample.write_sample(args.period, Path(args.out), units=args.units, seed=args.seed)
    console.print(f"wrote {len(paths)} workbooks to {args.out}")
    return 0


def cmd_suites(args: argparse.Namespace) -> int:
    from union_stats import warehouse
    from union_stats.validate import suites

    for path in [*suites.write_suites(), *warehouse.write_raw_ddl()]:
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


def cmd_validate(args: argparse.Namespace) -> int:
    from union_stats import checking
    from union_stats.quality_report import OUTCOME_ZH

    missing = [path for path in args.files if not path.is_file()]
    if missing:
        console.print(f"[red]no such file:[/] {', '.join(str(path) for path in missing)}", soft_wrap=True)
        return 2
    results = checking.check_files(args.files, report_dir=args.report_dir)
    any_error = False
    for result in results:
        any_error |= result.status == "rejected"
        console.rule(f"{result.file_name}  [{result.period}]  {OUTCOME_ZH[result.status]}")
        for path in result.reports:
            console.print(f"报告：{path}", soft_wrap=True)
        if not result.findings:
            console.print("未发现问题。")
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
        console.print(table)
    return 1 if any_error else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="union-stats", description="Panyu union statistics warehouse")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="ingest a period's workbooks into the warehouse and print the figures")
    run.add_argument("--period", help="e.g. 2022 or 2022Q3 (default: the latest period folder under --raw-dir)")
    run.add_argument("--raw-dir", type=Path, default=RAW_DIR, help="folder holding one folder per period")
    run.add_argument("--warehouse", type=Path, default=WAREHOUSE_FILE, help="the DuckDB warehouse file")
    run.add_argument("--verbose", action="store_true", help="also print Prefect's log lines (they always go to its API)")
    run.set_defaults(handler=cmd_run)

    status = commands.add_parser("status", help="which units have submitted for a period, on time or late")
    status.add_argument("--period", required=True)
    status.add_argument("--warehouse", type=Path, default=WAREHOUSE_FILE)
    status.set_defaults(handler=cmd_status)

    for name, text in (("close", "close a period the district has approved: later files are kept, not loaded"),
                       ("reopen", "reopen a closed period")):
        lock = commands.add_parser(name, help=text)
        lock.add_argument("--period", required=True)
        lock.add_argument("--warehouse", type=Path, default=WAREHOUSE_FILE)
        if name == "close":
            lock.add_argument("--note", help="why or on whose approval, kept with the lock")
        lock.set_defaults(handler=cmd_lock)

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
    sample.add_argument(
        "--quarterly", action="store_true", help="with a year as --period: write its four quarters to <out>/<year>Q1..Q4/"
    )
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
    # this runs on closed networks: no usage statistics, and no log noise from failing to send them
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    args = build_parser().parse_args(argv)
    if not getattr(args, "verbose", False):
        # the terminal shows the project's own lines; Prefect's log (tracebacks of a failed run included) still
        # reaches its API and UI, and `--verbose` prints it here too
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

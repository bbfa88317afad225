"""What the warehouse gives others: `union-stats publish` (the Parquet copy), `export` (a snapshot as Parquet, CSV
or one workbook), `docs` (the data dictionary) and `report` (the district report page)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import duckdb
import typer

from union_stats.cli.common import (
    Failure,
    Period,
    Warehouse,
    app,
    check_writable,
    choice,
    example,
    existing_warehouse,
    stdout,
    warehouse_failure,
)
from union_stats.paths import WAREHOUSE_FILE


@app.command(
    "publish",
    short_help="publish marts and report as Hive-partitioned Parquet (by period) with a manifest",
    help="Publish every table and view of the marts and report schemas as Parquet, partitioned by period (or year) "
    "with Hive folders, and a manifest.json, into DIR: one copy several machines and BI tools read without the "
    "DuckDB file. DIR is replaced as a whole, in one swap (readers never see half a copy); a failure leaves the "
    "previous copy as it was. Set UNION_STATS_PARQUET_DIR to publish on each `union-stats run`.",
    epilog=example(
        "union-stats publish --parquet /srv/share/union-stats",
        "union-stats publish --parquet out/parquet --warehouse w.duckdb",
    ),
)
def publish_command(
    parquet: Annotated[
        Path,
        typer.Option(
            "--parquet",
            help="the folder to publish into: new, empty, or a copy published before (it is replaced whole); its "
            "parent folder must exist",
            show_default=False,
            metavar="DIR",
        ),
    ],
    warehouse: Warehouse = WAREHOUSE_FILE,
) -> int:
    from union_stats.publish import parquet as copy

    try:
        copy.check_target(parquet)  # before the warehouse: a wrong folder is said first, and costs nothing
        check_writable(parquet)  # the copy is made beside it, then swapped in
        published = copy.publish(existing_warehouse(warehouse), parquet)
    except copy.PublishError as error:
        raise Failure(str(error)) from error
    manifest = published.manifest
    run = manifest["last_run"]
    stdout().print(
        f"published {published.relations} relations of {' and '.join(copy.SCHEMAS)} ({published.rows:,} rows; "
        f"periods {', '.join(manifest['periods']) or 'none'}; last run {run['run_id'] if run else 'none'}) "
        f"to {parquet}"
    )
    stdout().print(f"manifest: {parquet / copy.MANIFEST}")
    return 0


@app.command(
    "docs",
    short_help="write the data dictionary: every relation and column, described, with its type and tests",
    help="Write the data dictionary of the warehouse as one self-contained HTML page (no script, nothing fetched): "
    "each schema, table and view with its description in Chinese and English, its grain and declared tests, and "
    "each column with its DuckDB type and description, from the schema.yml files (the same text the build writes "
    "as comments: `select comment from duckdb_columns()`).",
    epilog=example(
        "union-stats docs",
        "union-stats docs --warehouse w.duckdb --out /srv/share/data_dictionary.html",
    ),
)
def docs_command(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="the HTML file to write  [default: data_dictionary.html beside the warehouse]",
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    warehouse: Warehouse = WAREHOUSE_FILE,
) -> int:
    """The data dictionary: every documented relation and column of the warehouse, with its type, as one page."""
    from union_stats import model_docs
    from union_stats import warehouse as db
    from union_stats.paths import data_dictionary_for

    warehouse = existing_warehouse(warehouse)
    out = out if out is not None else data_dictionary_for(warehouse)
    if out.is_dir():
        raise Failure(f"cannot write the data dictionary to {out}: it is a folder; give a file name (.html)")
    if not out.parent.is_dir():
        raise Failure(f"cannot write the data dictionary to {out}: the folder {out.parent} does not exist")
    check_writable(out)
    try:
        with db.connect(warehouse, read_only=True) as con:
            model_docs.write_dictionary(con, out)
    except model_docs.DocError as error:
        raise Failure(f"the model documentation is wrong: {error}") from error
    except (duckdb.Error, db.WarehouseBusy) as error:
        raise warehouse_failure(warehouse, error) from error
    stdout().print(f"data dictionary: {out}")
    return 0


@app.command(
    "report",
    short_help="write the district report page (offline HTML) with its validation page and workbook",
    help="Write the period's district report as one self-contained HTML page (no CDN, no script: it opens offline): "
    "the 66 figures by section (published vs reproduced where a report was published for the period), the targets "
    "and their progress, a chart of each headline indicator by town, year-on-year change where the warehouse holds "
    "the year before, completeness and timeliness of the submissions and the findings by unit. Beside it: the "
    "validation results page (FILE_validation.html: one row per submission and rule) and a workbook with the "
    "same tables (FILE.xlsx). A year with only its quarters loaded is made from them (sums, a flag's latest "
    "quarter, distinct counts over the year), naming the quarters; with fewer than four it says the year is "
    "incomplete and shows the quarters so far, not a year.",
    epilog=example(
        "union-stats report --period 2022",
        "union-stats report --period 2023Q2 --out report_2023Q2.html --warehouse /shared/w.duckdb",
    ),
)
def report_command(
    period: Period,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="the page to write (.html); the .xlsx and FILE_validation.html go beside it  "
            "[default: reports/PERIOD/district_report.html beside the warehouse]",
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    warehouse: Warehouse = WAREHOUSE_FILE,
) -> int:
    """The page is read from the warehouse read-only: it never waits for, or blocks, a run for longer than a read."""
    from union_stats import warehouse as db
    from union_stats.publish import report_page

    if not warehouse.is_file():
        what = "it is a folder, not a DuckDB file" if warehouse.exists() else "run `union-stats run` first"
        raise Failure(f"no warehouse at {warehouse}: {what}", code=2)
    page = out or report_page.default_out(warehouse, period)
    if page.suffix.lower() != ".html":
        raise Failure(f"--out {page}: the report page is an .html file (its workbook is written beside it)", code=2)
    if out is not None and not page.parent.is_dir():
        raise Failure(f"--out {page}: the folder {page.parent} does not exist", code=2)
    check_writable(page)
    try:
        files = report_page.write_report(warehouse, period, page)
    except report_page.ReportError as error:
        raise Failure(str(error), code=2) from error
    except (duckdb.Error, db.WarehouseBusy) as error:
        raise warehouse_failure(warehouse, error) from error
    stdout().print(f"report page: {files.html}")
    stdout().print(f"validation results: {files.validation}")
    stdout().print(f"workbook: {files.xlsx}")
    return 0


@app.command(
    "export",
    short_help="export every table and view of marts and report as Parquet, CSV or one Excel workbook",
    help="Export every table and view of the marts and report schemas, read-only, into a new or empty folder DIR: "
    "parquet or csv write one file per relation (DIR/<schema>.<name>.parquet|csv), xlsx one workbook "
    "(DIR/union_stats.xlsx) with a sheet per relation and an index sheet naming each sheet's relation (Excel "
    "allows 31 characters in a sheet name). A snapshot for a spreadsheet or a tool; `union-stats publish` keeps a "
    "partitioned Parquet copy current instead.",
    epilog=example(
        "union-stats export --format xlsx --out exports/2023",
        "union-stats export --format parquet --out /tmp/union-stats --warehouse w.duckdb",
    ),
)
def export_command(
    output: Annotated[
        str,
        typer.Option(
            "--format",
            help="parquet, csv (UTF-8, with a header row) or xlsx",
            callback=choice("parquet", "csv", "xlsx"),
            show_default=False,
            metavar="parquet|csv|xlsx",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="the folder to write into: new or empty (its parent folder must exist)",
            show_default=False,
            metavar="DIR",
        ),
    ],
    warehouse: Warehouse = WAREHOUSE_FILE,
) -> int:
    from union_stats.publish import export

    try:
        export.check_target(out)  # before the warehouse: a wrong folder is said first, and costs nothing
        check_writable(out)  # the files are written beside it first, then moved in
        exported = export.export(existing_warehouse(warehouse), out, output)
    except export.ExportError as error:
        raise Failure(str(error)) from error
    rows = sum(item.rows for item in exported)
    where = exported[0].file if output == "xlsx" else out
    stdout().print(
        f"exported {len(exported)} relations of {' and '.join(export.SCHEMAS)} ({rows:,} rows) as {output} to {where}"
    )
    return 0

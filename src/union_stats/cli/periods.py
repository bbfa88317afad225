"""`union-stats close` and `reopen`: freeze a period the district has approved, or open it again."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import duckdb
import typer

from union_stats.cli.common import Period, Warehouse, app, example, existing_warehouse, stdout, warehouse_failure
from union_stats.paths import WAREHOUSE_FILE


def set_period_lock(period: str, warehouse: Path, *, closing: bool, note: str = "") -> int:
    from union_stats import warehouse as db

    warehouse = existing_warehouse(warehouse)
    try:
        changed = db.set_period_lock(warehouse, period, closed=closing, note=note)
    except (duckdb.Error, db.WarehouseBusy) as error:
        raise warehouse_failure(warehouse, error) from error
    state = "closed" if closing else "open"
    stdout().print(f"period {period} {'is now' if changed else 'was already'} {state}")
    if not closing and changed:
        stdout().print("files that arrived while it was closed load on the next `union-stats run`")
    return 0


@app.command(
    "close",
    short_help="close a period the district has approved: later files are kept, not loaded",
    help="Close a period the district has approved: files arriving later are kept and reported, not loaded.",
    epilog=example('union-stats close --period 2022 --note "approved 2023-03-01"'),
)
def close_command(
    period: Period,
    note: Annotated[
        str,
        typer.Option(
            "--note",
            help="why or on whose approval, kept with the lock  [default: no note]",
            show_default=False,
            metavar="TEXT",
        ),
    ] = "",
    warehouse: Warehouse = WAREHOUSE_FILE,
) -> int:
    return set_period_lock(period, warehouse, closing=True, note=note)


@app.command(
    "reopen",
    short_help="reopen a closed period",
    help="Reopen a closed period: files held while it was closed load on the next run.",
    epilog=example("union-stats reopen --period 2022"),
)
def reopen_command(period: Period, warehouse: Warehouse = WAREHOUSE_FILE) -> int:
    return set_period_lock(period, warehouse, closing=False)

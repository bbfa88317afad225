"""`union-stats portal`: serve the submission portal (the app itself is src/union_stats/portal/)."""

from __future__ import annotations

from typing import Annotated

import typer

from union_stats.cli.common import Failure, RawDir, Warehouse, app, example, stdout
from union_stats.paths import RAW_DIR, WAREHOUSE_FILE


@app.command(
    "portal",
    short_help="serve the submission portal: units upload and see their check, the office approves and runs",
    help="Serve the submission portal (in Chinese) over HTTP: a unit's clerk logs in, downloads the blank "
    "template, uploads a workbook and sees its check at once (the same findings as `union-stats validate`), "
    "explains its warnings and sees its history; the office sees every unit's completeness and timeliness, "
    "approves or returns submissions, closes and reopens periods and starts runs. Uploads are archived and "
    "placed in the period's raw folder, where the next run loads them. Accounts: `union-stats users`. Put it "
    "behind an HTTPS proxy for use beyond this machine (UNION_STATS_PORTAL_SECURE=1 marks its cookies Secure).",
    epilog=example(
        "union-stats users add office --office --password-stdin < office-password.txt",
        "union-stats portal --host 0.0.0.0 --port 8000",
    ),
)
def portal_command(
    host: Annotated[str, typer.Option("--host", help="the address to listen on", metavar="ADDRESS")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="the port to listen on", metavar="PORT")] = 8000,
    raw_dir: RawDir = RAW_DIR,
    warehouse: Warehouse = WAREHOUSE_FILE,
) -> int:
    import socket

    if warehouse.is_dir():
        raise Failure(f"no warehouse at {warehouse}: it is a folder, not a DuckDB file")
    if raw_dir.exists() and not raw_dir.is_dir():
        raise typer.BadParameter(f"{raw_dir} is a file, not a folder", param_hint="'--raw-dir'")
    if not 0 < port < 65536:
        raise typer.BadParameter(f"{port} is not a port (1 to 65535)", param_hint="'--port'")
    # a taken port is one line here, not uvicorn's traceback after the suites have warmed
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        raise Failure(f"cannot serve on {host}:{port}: {error.strerror or error}") from None
    from union_stats.portal import accounts
    from union_stats.portal.app import serve

    store = accounts.AccountStore(accounts.portal_db_for(warehouse))
    if not store.accounts():
        stdout().print(
            "[yellow]no portal accounts yet:[/] add one with `union-stats users add NAME --office --password-stdin`"
        )
    raw_dir.mkdir(parents=True, exist_ok=True)
    stdout().print(f"portal on http://{host}:{port}/ (raw folder {raw_dir}, warehouse {warehouse})")
    try:
        serve(raw_dir, warehouse, host, port)
    except RuntimeError as error:
        raise Failure(f"the portal cannot start: {error}") from None
    return 0

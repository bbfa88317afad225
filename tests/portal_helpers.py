"""What the portal's tests share: a portal over a fresh raw folder and warehouse, its accounts, and logging in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from fastapi.routing import RouteContext, iter_route_contexts
from fastapi.testclient import TestClient

from union_stats.portal.accounts import AccountStore, portal_db_for
from union_stats.portal.app import create_app
from union_stats.portal.state import PortalState

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "raw" / "2022"
PASSWORD = "correct-horse-battery"
# name -> (unit code or None for the office)
ACCOUNTS = {"shiqiao.clerk": "shiqiao", "dashi.clerk": "dashi", "office": None}
CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


@dataclass
class Portal:
    root: Path
    raw_dir: Path
    warehouse: Path

    @property
    def store(self) -> AccountStore:
        return AccountStore(portal_db_for(self.warehouse))

    @property
    def state(self) -> PortalState:
        return PortalState(portal_db_for(self.warehouse))

    def app(self, warm: bool = False):
        return create_app(self.raw_dir, self.warehouse, warm=warm)


def app_routes(app) -> list[RouteContext]:
    """Every route of `app`, with those of the routers it includes: since FastAPI 0.137 an included router is one
    entry of `app.routes`, and `iter_route_contexts` lists its routes (each with its `original_route`, the router's
    `APIRoute`, and the path, methods, endpoint and dependencies it has in the app)."""
    return list(iter_route_contexts(app.routes))


def make_portal(root: Path, accounts: dict[str, str | None] = ACCOUNTS) -> Portal:
    """A raw folder with an empty 2022 folder, a warehouse folder, the accounts (one password for all), and 2022 open
    for uploads (as the office opens it on the portal)."""
    raw_dir, warehouse = root / "raw", root / "warehouse" / "union_stats.duckdb"
    (raw_dir / "2022").mkdir(parents=True)
    warehouse.parent.mkdir(parents=True)
    store = AccountStore(portal_db_for(warehouse))
    for name, unit in accounts.items():
        store.add(name, PASSWORD, unit_code=unit, office=unit is None)
    # the shipped sample's period, long past: open for uploads only because the office opened it
    PortalState(portal_db_for(warehouse)).open_period("2022", "office", "")
    return Portal(root, raw_dir, warehouse)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html[:500]
    return found.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log `client` in; returns the session's CSRF token (from the page the login lands on)."""
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text[:500]
    landed = client.get(answer.headers["location"])
    assert landed.status_code == 200, landed.text[:500]
    return csrf_of(landed.text)


def upload(client: TestClient, csrf: str, data: bytes, name: str = "report.xlsx", period: str = "2022"):
    return client.post(
        "/upload",
        data={"period": period, "csrf_token": csrf},
        files={"file": (name, data, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")},
        follow_redirects=False,
    )


def sample_bytes(unit_code: str) -> bytes:
    """The shipped 2022 sample's workbook of a unit (a correct file, accepted)."""
    return (SAMPLE_DIR / f"{unit_code}_2022.xlsx").read_bytes()

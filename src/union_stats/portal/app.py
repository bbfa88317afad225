"""The submission portal: a FastAPI application, in Chinese, for the units and the office.

Routes (roles: anonymous, a unit's account, the office's):

| route                                     | anonymous | unit                    | office |
|-------------------------------------------|-----------|-------------------------|--------|
| GET  /healthz, GET /login, POST /login    | yes       | yes                     | yes    |
| GET  /                                    | → /login  | → /unit                 | → /office |
| POST /logout                              | 401       | yes                     | yes    |
| GET  /unit, GET /template.xlsx, POST /upload | → /login (401 for POST) | yes  | 403    |
| GET  /submissions/{id}[/report.html, /annotated.xlsx], GET /api/submissions/{id} | → /login, 401 | its own unit's; else 404 | yes |
| POST /submissions/{id}/explanations       | 401       | its own unit's; else 404 | 403   |
| POST /submissions/{id}/review             | 401       | 403                     | yes    |
| GET  /office, /office/figures, /office/jobs/{id}, /office/audit, /office/manage; POST /office/jobs, /office/periods, /office/unlock | → /login, 401 | 403 | yes |

Every POST but the login's needs the session's CSRF token (`csrf_token`); the login form's token is bound to a
signed cookie of its own. A session is a random token in a signed, HttpOnly, SameSite=Strict cookie that
expires with the session (8 hours); the store keeps only the token's hash, so logging out or disabling the
account ends it.

Here the application is put together (`create_app`): what its routes share (a `deps.Site`: the state, the intake,
the jobs, the signing key, the templates, the settings) on `app.state.site`, the error pages, the security headers
and one `APIRouter` per area, each a module of its own: `routes_auth.py` (/healthz, /, the login and logout),
`routes_unit.py` (a unit's page, its template, the upload), `routes_submissions.py` (a submission's pages, JSON,
explanations and review) and `routes_office.py` (the office's pages and actions). A route declares the session,
its role and, for a POST, the CSRF-checked form as dependencies (`deps.py`: `SignedInAccount`, `UnitAccount`,
`OfficeAccount`, `CheckedForm`); `tests/test_portal_routes.py` holds every route to that.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response

from union_stats import labels, office_time
from union_stats.portal import routes_auth, routes_office, routes_submissions, routes_unit
from union_stats.portal.accounts import AccountError, portal_db_for
from union_stats.portal.deps import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Denied,
    Site,
    local_time,
    session_key,
    wants_json,
)
from union_stats.portal.intake import Intake
from union_stats.portal.jobs import JobRunner
from union_stats.portal.state import PortalState
from union_stats.portal.words import DECISION_ZH, JOB_ZH
from union_stats.templating import html_environment

# what the tests and the command line import from here, besides `create_app`, `served` and `serve`
__all__ = ["LOGIN_COOKIE", "SESSION_COOKIE", "Denied", "create_app", "serve", "served"]

ROUTERS = (routes_auth.router, routes_unit.router, routes_submissions.router, routes_office.router)

STATUS_ZH = labels.outcomes("page_zh")
# what the warehouse made of a submission, as its unit reads it
LOADED_ZH = labels.outcomes("loaded_zh")
SEVERITY_ZH = labels.severities()
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
    "form-action 'self'",
    "Cache-Control": "no-store",
}


def create_app(raw_dir: Path, warehouse: Path, *, warm: bool = True, secure_cookies: bool = False) -> FastAPI:
    """The portal over the raw folder and the warehouse (its state in portal.sqlite beside the warehouse)."""
    raw_dir, warehouse = Path(raw_dir).resolve(), Path(warehouse).resolve()
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    state = PortalState(portal_db_for(warehouse))
    intake = Intake(state, raw_dir, warehouse)
    pages = html_environment(local_time=local_time)
    pages.globals["time_zone"] = office_time.zone_label()  # every time on the pages is in it, and they say so
    site = Site(
        raw_dir=raw_dir,
        warehouse=warehouse,
        state=state,
        intake=intake,
        runner=JobRunner(state, raw_dir, warehouse),
        key=session_key(warehouse),
        pages=pages,
        words={
            "status_zh": STATUS_ZH,
            "loaded_zh": LOADED_ZH,
            "severity_zh": SEVERITY_ZH,
            "decision_zh": DECISION_ZH,
            "job_zh": JOB_ZH,
        },
        secure_cookies=secure_cookies,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.abandon_jobs()
        if warm:
            await asyncio.to_thread(intake.warm_up)
        intake.start()
        yield
        await asyncio.to_thread(intake.stop)

    app = FastAPI(title="番禺区总工会统计报送平台", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.site = site
    app.state.portal = state
    app.state.intake = intake
    app.state.runner = site.runner
    app.add_exception_handler(Denied, denied)
    app.add_exception_handler(RequestValidationError, not_valid)
    app.add_exception_handler(405, not_allowed)
    app.add_exception_handler(404, not_found)
    app.middleware("http")(headers)
    for router in ROUTERS:
        app.include_router(router)
    return app


# --- the error pages and the headers of every answer -------------------------------------------------------------


def render_message(request: Request, status_code: int, title: str, message: str) -> Response:
    site: Site = request.app.state.site
    return site.render(request, "message.html.j2", status_code=status_code, title=title, message=message)


async def denied(request: Request, error: Denied) -> Response:
    if error.status == 401 and request.method == "GET" and not wants_json(request):
        if not request.url.path.startswith("/api/"):
            return RedirectResponse("/login", status_code=303)
    if wants_json(request) or request.url.path.startswith("/api/"):
        return JSONResponse({"error": error.message}, status_code=error.status)
    return render_message(request, error.status, "无法完成", error.message)


async def not_valid(request: Request, error: RequestValidationError) -> Response:
    # a path or query parameter of the wrong kind (`/office/jobs/abc`): no such page, said in Chinese
    return await not_found(request, error)


async def not_allowed(request: Request, error: Exception) -> Response:
    message = "此页面不接受这种请求，请从平台的页面上操作。"
    if wants_json(request) or request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=405)
    return render_message(request, 405, "无法完成", message)


async def not_found(request: Request, error: Exception) -> Response:
    if wants_json(request) or request.url.path.startswith("/api/"):
        return JSONResponse({"error": "找不到此页面。"}, status_code=404)
    return render_message(request, 404, "找不到", "找不到此页面。")


async def headers(request: Request, call_next):
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@contextmanager
def served(app: FastAPI, *, timeout: float = 300.0) -> Iterator[str]:
    """`app` served by uvicorn on a free port of 127.0.0.1 in a background thread, for the block: its base URL,
    once `/healthz` answers (after the warm-up). For the tests and the benchmark that drive it over HTTP."""
    import socket
    import threading
    import time
    import urllib.request

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="portal-served", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if not thread.is_alive():
                raise RuntimeError("the portal's server stopped before it answered")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the portal did not answer /healthz within {timeout:.0f} s")
            time.sleep(0.1)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def serve(raw_dir: Path, warehouse: Path, host: str, port: int) -> None:
    """Run the portal with uvicorn until interrupted (one process: the checks share its warm suites)."""
    import uvicorn

    try:
        app = create_app(raw_dir, warehouse, secure_cookies=os.environ.get("UNION_STATS_PORTAL_SECURE") == "1")
    except (OSError, AccountError) as error:
        raise RuntimeError(str(error)) from error
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=True, server_header=False)

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
| GET  /office, /office/figures, /office/jobs/{id}, /office/audit; POST /office/jobs | → /login, 401 | 403 | yes |

Every POST but the login's needs the session's CSRF token (`csrf_token`); the login form's token is bound to a
signed cookie of its own. A session is a random token in a signed, HttpOnly, SameSite=Strict cookie that
expires with the session (8 hours); the store keeps only the token's hash, so logging out or disabling the
account ends it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from union_stats import discover, periods, reference
from union_stats.paths import make_secret_file
from union_stats.portal.accounts import Account, AccountError, portal_db_for
from union_stats.portal.intake import Intake, Refused, check_period, max_upload_bytes
from union_stats.portal.jobs import JobRunner
from union_stats.portal.state import JOB_KINDS, PortalState, Session, finding_key
from union_stats.pseudonym import scrub_ids
from union_stats.templating import html_environment

SESSION_COOKIE = "union_stats_session"
LOGIN_COOKIE = "union_stats_login"
KEY_FILE = "portal.key"
KEY_ENV = "UNION_STATS_PORTAL_KEY"
BEIJING = timezone(timedelta(hours=8))
MAX_EXPLANATION = 2000
MAX_COMMENT = 2000

STATUS_ZH = {
    "accepted": "通过",
    "accepted_with_warnings": "通过（有警告）",
    "rejected": "未通过，请修改后重新上传",
    "held": "已收到（已关账，暂不入库）",
    "superseded": "已被替代",
    "missing": "未报送",
}
# what the warehouse made of a submission, as its unit reads it
LOADED_ZH = {
    "accepted": "已入库",
    "accepted_with_warnings": "已入库（有警告）",
    "rejected": "未入库（有错误）",
    "superseded": "已被本单位后来的文件替代",
    "held": "已收到，已关账暂不入库",
}
SEVERITY_ZH = {"error": "错误", "warning": "警告", "info": "提示"}
DECISION_ZH = {"approved": "已审核通过", "returned": "已退回"}
JOB_ZH = {"run": "运行入库", "close": "关账", "reopen": "重新开放"}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
    "form-action 'self'",
    "Cache-Control": "no-store",
}


class Denied(Exception):
    """A request its sender may not make: answered with `status` and a one-line page, never the content."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def session_key(warehouse: Path) -> bytes:
    """The key that signs the portal's cookies: `UNION_STATS_PORTAL_KEY`, else an owner-only key file beside the
    warehouse, made on first use."""
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode()
    path = Path(warehouse).parent / KEY_FILE
    make_secret_file(path)
    return path.read_bytes().strip()


def local_time(text: str | None) -> str:
    if not text:
        return ""
    return datetime.fromisoformat(str(text)).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def create_app(raw_dir: Path, warehouse: Path, *, warm: bool = True, secure_cookies: bool = False) -> FastAPI:
    """The portal over the raw folder and the warehouse (its state in portal.sqlite beside the warehouse)."""
    raw_dir, warehouse = Path(raw_dir).resolve(), Path(warehouse).resolve()
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    state = PortalState(portal_db_for(warehouse))
    intake = Intake(state, raw_dir, warehouse)
    runner = JobRunner(state, raw_dir, warehouse)
    key = session_key(warehouse)
    pages = html_environment(local_time=local_time)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.abandon_jobs()
        if warm:
            await asyncio.to_thread(intake.warm_up)
        intake.start()
        yield
        await asyncio.to_thread(intake.stop)

    app = FastAPI(title="番禺区总工会统计报送平台", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.portal = state
    app.state.intake = intake
    app.state.runner = runner

    # --- signing, sessions, CSRF -------------------------------------------------------------------------------

    def sign(value: str) -> str:
        return f"{value}.{hmac.new(key, value.encode(), hashlib.sha256).hexdigest()}"

    def unsign(signed: str | None) -> str | None:
        if not signed or "." not in signed:
            return None
        value, signature = signed.rsplit(".", 1)
        # as bytes: compare_digest refuses str with non-ASCII characters (a forged cookie would be a 500)
        return value if hmac.compare_digest(sign(value).encode(), signed.encode()) else None

    def remote(request: Request) -> str:
        return request.client.host if request.client else ""

    def current(request: Request) -> tuple[Session, Account] | None:
        token = unsign(request.cookies.get(SESSION_COOKIE))
        return None if token is None else state.session(token)

    def need(request: Request, role: str | None = None) -> tuple[Session, Account]:
        found = current(request)
        if found is None:
            raise Denied(401, "请先登录。")
        if role is not None and found[1].role != role:
            raise Denied(403, "您的账户无权访问此页面。")
        return found

    def check_csrf(session: Session, sent: object) -> None:
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise Denied(403, "页面已过期或请求无效（安全校验未通过），请刷新页面后重试。")

    def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name, value, max_age=max_age, httponly=True, samesite="strict", secure=secure_cookies, path="/"
        )

    def render(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
        found = current(request)
        account = found[1] if found else None
        context.setdefault("csrf_token", found[0].csrf_token if found else "")
        units = {unit.unit_code: unit for unit in reference.reference_units()}
        text = pages.get_template(f"portal/{name}").render(
            account=account,
            unit_name=(units[account.unit_code].name_zh if account and account.unit_code in units else ""),
            unit_names={code: unit.name_zh for code, unit in units.items()},
            status_zh=STATUS_ZH,
            loaded_zh=LOADED_ZH,
            severity_zh=SEVERITY_ZH,
            decision_zh=DECISION_ZH,
            job_zh=JOB_ZH,
            **context,
        )
        return HTMLResponse(text, status_code=status_code)

    @app.exception_handler(Denied)
    async def denied(request: Request, error: Denied) -> Response:
        if error.status == 401 and request.method == "GET" and not wants_json(request):
            if not request.url.path.startswith("/api/"):
                return RedirectResponse("/login", status_code=303)
        if wants_json(request) or request.url.path.startswith("/api/"):
            return JSONResponse({"error": error.message}, status_code=error.status)
        return render(request, "message.html.j2", status_code=error.status, title="无法完成", message=error.message)

    @app.exception_handler(404)
    async def not_found(request: Request, error: Exception) -> Response:
        if wants_json(request) or request.url.path.startswith("/api/"):
            return JSONResponse({"error": "找不到此页面。"}, status_code=404)
        return render(request, "message.html.j2", status_code=404, title="找不到", message="找不到此页面。")

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    # --- periods -------------------------------------------------------------------------------------------

    def period_choices() -> list[str]:
        """The periods to offer: those with a folder under the raw folder, the year and the quarter just ended."""
        today = datetime.now(BEIJING)
        last_quarter = periods.previous_period(f"{today.year}Q{(today.month - 1) // 3 + 1}")
        return sorted(set(discover.list_periods(raw_dir)) | {str(today.year - 1), last_quarter}, reverse=True)

    def chosen_period(text: str | None) -> str:
        if text:
            try:
                return check_period(text)
            except Refused as error:
                raise Denied(400, error.message) from None
        return discover.latest_period(raw_dir) or period_choices()[0]

    def warehouse_outcomes(chosen: set[str]) -> dict[tuple[str, str], str]:
        """What the warehouse made of each submission of the periods, as the last snapshots say."""
        outcomes = {}
        for period in chosen:
            snap = runner.snapshot(period)
            for submission_id, status in (snap[1].get("outcomes", {}) if snap else {}).items():
                outcomes[(period, submission_id)] = status
        return outcomes

    def own_upload(submission_id: str, account: Account):
        upload = state.upload_for(submission_id, account) if len(submission_id) <= 64 else None
        if upload is None:
            raise Denied(404, "找不到这份报送（或不属于您的单位）。")
        return upload

    # --- login -----------------------------------------------------------------------------------------------

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    @app.get("/")
    def home(request: Request) -> Response:
        found = current(request)
        if found is None:
            return RedirectResponse("/login", status_code=303)
        return RedirectResponse("/office" if found[1].role == "office" else "/unit", status_code=303)

    def login_page(request: Request, message: str = "", status_code: int = 200) -> Response:
        nonce = secrets.token_urlsafe(24)
        response = render(request, "login.html.j2", status_code=status_code, csrf_token=nonce, message=message)
        set_cookie(response, LOGIN_COOKIE, sign(nonce), max_age=3600)
        return response

    @app.get("/login")
    def login_form(request: Request) -> Response:
        return login_page(request)

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        nonce = unsign(request.cookies.get(LOGIN_COOKIE))
        sent = form.get("csrf_token")
        if nonce is None or not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
            return login_page(request, "页面已过期，请重新输入用户名和密码。", status_code=403)
        username, password = str(form.get("username") or "").strip(), str(form.get("password") or "")
        account = await asyncio.to_thread(state.verify, username, password, remote=remote(request))
        if account is None:
            return login_page(request, "用户名或密码不正确（多次失败后需等待 15 分钟）。", status_code=401)
        token, _ = state.open_session(account, remote(request))
        response = RedirectResponse("/office" if account.role == "office" else "/unit", status_code=303)
        set_cookie(response, SESSION_COOKIE, sign(token), max_age=int(timedelta(hours=8).total_seconds()))
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        session, _ = need(request)
        form = await request.form(max_files=0, max_fields=10)
        check_csrf(session, form.get("csrf_token"))
        token = unsign(request.cookies.get(SESSION_COOKIE))
        if token:
            state.close_session(token, remote(request))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # --- a unit's pages ----------------------------------------------------------------------------------------

    @app.get("/unit")
    def unit_home(request: Request, period: str | None = None) -> Response:
        _, account = need(request, "unit")
        chosen = chosen_period(period)
        uploads = state.uploads(unit_code=account.unit_code)
        snap = runner.snapshot(chosen)
        return render(
            request,
            "unit.html.j2",
            period=chosen,
            closed=bool(snap and snap[1]["closed"]),
            periods=period_choices(),
            due_on=periods.due_on(chosen),
            uploads=uploads,
            loaded=warehouse_outcomes({item.period for item in uploads}),
            reviews=state.latest_reviews(),
            max_mb=max_upload_bytes() // 1_000_000,
        )

    @app.get("/template.xlsx")
    def template_download(request: Request, period: str | None = None) -> Response:
        _, account = need(request, "unit")
        from union_stats.template import write_blank

        chosen = chosen_period(period)
        units = {unit.unit_code: unit for unit in reference.units_for(raw_dir / chosen)}
        if account.unit_code not in units:
            raise Denied(404, "找不到本单位的模板。")
        with tempfile.TemporaryDirectory() as folder:
            path = write_blank(Path(folder) / "template.xlsx", units[account.unit_code], chosen)
            data = path.read_bytes()
        name = f"{account.unit_code}_{chosen}.xlsx"
        return Response(
            data,
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.post("/upload")
    async def upload(request: Request) -> Response:
        session, account = need(request)
        if account.role != "unit":
            raise Denied(403, "只有基层单位的账户可以上传报表。")
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            # without a length the form parser would spool a body of any size to disk before the limit applies
            raise Denied(411, "上传请求缺少长度信息，请用本页的上传表单重新上传。")
        if int(length) > max_upload_bytes() + 1_000_000:
            raise Denied(413, f"文件超过 {max_upload_bytes() // 1_000_000} MB 的上限，请删除多余内容后重新上传。")
        form = await request.form(max_files=1, max_fields=10)
        check_csrf(session, form.get("csrf_token"))
        sent = form.get("file")
        if not isinstance(sent, UploadFile):
            raise Denied(400, "请选择要上传的报表文件。")
        data = await sent.read(max_upload_bytes() + 1)
        try:
            pending = intake.enqueue(account, str(form.get("period") or ""), sent.filename or "", data, remote(request))
            done = await asyncio.wrap_future(pending)  # waits without holding a thread
        except Refused as error:
            raise Denied(error.status, error.message) from None
        return RedirectResponse(f"/submissions/{done.submission_id}", status_code=303)

    def submission_json(upload) -> dict:
        return {
            "submission_id": upload.submission_id,
            "unit_code": upload.unit_code,
            "period": upload.period,
            "status": upload.status,
            "findings": [
                {name: finding[name] for name in ("severity", "rule", "sheet", "cell", "message")}
                for finding in upload.findings
            ],
        }

    @app.get("/api/submissions/{submission_id}")
    def submission_api(request: Request, submission_id: str) -> Response:
        _, account = need(request)
        return JSONResponse(submission_json(own_upload(submission_id, account)))

    @app.get("/submissions/{submission_id}")
    def submission_page(request: Request, submission_id: str) -> Response:
        _, account = need(request)
        upload = own_upload(submission_id, account)
        if wants_json(request):
            return JSONResponse(submission_json(upload))
        explanations = state.explanations(upload.id)
        findings = [
            {**finding, "key": finding_key(finding), "explanation": explanations.get(finding_key(finding))}
            for finding in upload.findings
        ]
        return render(
            request,
            "submission.html.j2",
            upload=upload,
            findings=findings,
            warnings=sum(finding["severity"] == "warning" for finding in findings),
            reviews=state.reviews(upload.id),
            loaded=warehouse_outcomes({upload.period}).get((upload.period, upload.submission_id)),
            has_report=intake.report_path(upload, "html") is not None,
            has_annotated=intake.report_path(upload, "xlsx") is not None,
            max_explanation=MAX_EXPLANATION,
        )

    @app.get("/submissions/{submission_id}/report.html")
    def submission_report(request: Request, submission_id: str) -> Response:
        _, account = need(request)
        path = intake.report_path(own_upload(submission_id, account), "html")
        if path is None:
            raise Denied(404, "这份报送没有质量报告。")
        return FileResponse(path, media_type="text/html; charset=utf-8")

    @app.get("/submissions/{submission_id}/annotated.xlsx")
    def submission_annotated(request: Request, submission_id: str) -> Response:
        _, account = need(request)
        upload = own_upload(submission_id, account)
        path = intake.report_path(upload, "xlsx")
        if path is None:
            raise Denied(404, "这份报送没有批注版（文件无法读取，或没有发现问题）。")
        stem = Path(upload.stored_name).stem
        return FileResponse(
            path,
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            filename=f"{stem}.annotated.xlsx",
        )

    @app.post("/submissions/{submission_id}/explanations")
    async def explain(request: Request, submission_id: str) -> Response:
        session, account = need(request)
        form = await request.form(max_files=0, max_fields=1000)
        check_csrf(session, form.get("csrf_token"))
        if account.role != "unit":
            raise Denied(403, "说明由报送单位填写。")
        upload = own_upload(submission_id, account)
        texts = {
            # an ID number has no place in free text: kept only masked, as in a remark
            name.removeprefix("explain::"): scrub_ids(str(value).strip()[:MAX_EXPLANATION])
            for name, value in form.multi_items()
            if name.startswith("explain::")
        }
        state.explain(upload, texts, account.username, remote(request))
        return RedirectResponse(f"/submissions/{submission_id}?saved=1", status_code=303)

    @app.post("/submissions/{submission_id}/review")
    async def review(request: Request, submission_id: str) -> Response:
        session, account = need(request, "office")
        form = await request.form(max_files=0, max_fields=10)
        check_csrf(session, form.get("csrf_token"))
        upload = own_upload(submission_id, account)
        decision = str(form.get("decision") or "")
        comment = scrub_ids(str(form.get("comment") or "").strip()[:MAX_COMMENT])
        if decision not in ("approve", "return"):
            raise Denied(400, "请选择“审核通过”或“退回”。")
        if decision == "return" and not comment:
            raise Denied(400, "退回时请写明原因，报送单位会看到。")
        state.review(upload, decision, comment, account.username, remote(request))
        return RedirectResponse(f"/submissions/{submission_id}", status_code=303)

    # --- the office's pages ------------------------------------------------------------------------------------

    @app.get("/office")
    def office(request: Request, period: str | None = None) -> Response:
        _, account = need(request, "office")
        chosen = chosen_period(period)
        uploads = state.uploads(period=chosen)
        reviews = state.latest_reviews()
        snap = runner.snapshot(chosen)
        warehouse_rows = {row["unit_code"]: row for row in (snap[1]["completeness"] if snap else [])}
        due = periods.due_on(chosen)
        units = []
        for unit in reference.expected_units(raw_dir / chosen):
            mine = [item for item in uploads if item.unit_code == unit.unit_code]
            first = min((item.received_at for item in mine), default=None)
            on_time = None if first is None else datetime.fromisoformat(first).astimezone(BEIJING).date() <= due
            units.append(
                {
                    "unit": unit,
                    "latest": mine[0] if mine else None,
                    "count": len(mine),
                    "first": first,
                    "on_time": on_time,
                    "review": reviews.get(mine[0].id) if mine else None,
                    "warehouse": warehouse_rows.get(unit.unit_code),
                }
            )
        return render(
            request,
            "office.html.j2",
            period=chosen,
            periods=period_choices(),
            due_on=due,
            units=units,
            submitted=sum(1 for row in units if row["latest"] is not None),
            uploads=uploads,
            reviews=reviews,
            explained=state.explanation_counts(),
            snapshot=snap,
            job=runner.running(),
            jobs=[job for job in state.jobs(limit=10)],
        )

    @app.post("/office/jobs")
    async def start_job(request: Request) -> Response:
        session, account = need(request, "office")
        form = await request.form(max_files=0, max_fields=10)
        check_csrf(session, form.get("csrf_token"))
        kind = str(form.get("kind") or "")
        if kind not in JOB_KINDS:
            raise Denied(400, "未知的操作。")
        chosen = chosen_period(str(form.get("period") or ""))
        job = runner.start(kind, chosen, account.username, remote(request))
        if job is None:
            raise Denied(409, "已有一项操作正在进行，请等它结束后再试。")
        return RedirectResponse(f"/office/jobs/{job.id}", status_code=303)

    @app.get("/office/jobs/{job_id}")
    def job_page(request: Request, job_id: int) -> Response:
        need(request, "office")
        job = state.job(job_id) if 0 < job_id < 2**63 else None  # beyond SQLite's integers: no such job
        if job is None:
            raise Denied(404, "找不到这项操作。")
        if wants_json(request):
            return JSONResponse(
                {
                    "id": job.id,
                    "kind": job.kind,
                    "period": job.period,
                    "running": job.running,
                    "exit_code": job.exit_code,
                    "output": job.output,
                }
            )
        return render(request, "job.html.j2", job=job)

    @app.get("/office/figures")
    def figures(request: Request, period: str | None = None) -> Response:
        need(request, "office")
        chosen = chosen_period(period)
        snap = runner.snapshot(chosen)
        rows = snap[1]["figures"] if snap else []
        if wants_json(request):
            return JSONResponse({"period": chosen, "taken_at": snap[0] if snap else None, "figures": rows})
        return render(
            request,
            "figures.html.j2",
            period=chosen,
            periods=period_choices(),
            snapshot=snap,
            figures=rows,
            matched=sum(1 for row in rows if row["matches"]),
            compared=sum(1 for row in rows if row["matches"] is not None),
            job=runner.running(),
        )

    @app.get("/office/audit")
    def audit(request: Request) -> Response:
        need(request, "office")
        return render(request, "audit.html.j2", entries=list(reversed(state.audit_log(limit=300))))

    return app


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

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
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from union_stats import discover, labels, periods, reference
from union_stats.parse import units_named_in
from union_stats.paths import make_secret_file
from union_stats.portal.accounts import LOCK_ADDRESS, LOCK_NAME, Account, AccountError, Lock, portal_db_for
from union_stats.portal.intake import (
    LARGE_CELLS,
    Intake,
    Refused,
    check_period,
    just_ended,
    max_upload_bytes,
    period_order,
)
from union_stats.portal.jobs import JobRunner
from union_stats.portal.state import JOB_KINDS, PortalState, Session, Upload, counted, finding_key
from union_stats.portal.words import ACTION_ZH, detail_zh, job_summary_zh
from union_stats.pseudonym import scrub_ids
from union_stats.rules import registry
from union_stats.templating import html_environment

log = logging.getLogger(__name__)

SESSION_COOKIE = "union_stats_session"
LOGIN_COOKIE = "union_stats_login"
KEY_FILE = "portal.key"
KEY_ENV = "UNION_STATS_PORTAL_KEY"
BEIJING = timezone(timedelta(hours=8))
MAX_EXPLANATION = 2000
MAX_COMMENT = 2000

STATUS_ZH = labels.outcomes("portal_zh")
# what the warehouse made of a submission, as its unit reads it
LOADED_ZH = labels.outcomes("loaded_zh")
SEVERITY_ZH = labels.severities()
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


def local_time(text: str | None, seconds: bool = False) -> str:
    if not text:
        return ""
    moment = text if isinstance(text, datetime) else datetime.fromisoformat(str(text))
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def lock_message(lock: Lock) -> str:
    """A locked login, said plainly: what is locked, why, until when, and who can lift it."""
    until = local_time(lock.until.isoformat())[11:]
    day = local_time(lock.until.isoformat())[:10]
    if lock.scope == LOCK_ADDRESS:
        what = "您所在的网络地址 15 分钟内登录失败次数过多，此地址的登录已暂时锁定"
    elif lock.scope == LOCK_NAME:
        what = f"账户“{lock.username}”15 分钟内在多处登录失败次数过多，已暂时锁定"
    else:
        what = f"账户“{lock.username}”在您所在的网络地址连续输错密码 5 次，已暂时锁定"
    return f"{what}，{day} {until}（北京时间）后可再试。急需登录请联系区总工会统计员解锁。"


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
        rules = registry()
        text = pages.get_template(f"portal/{name}").render(
            account=account,
            unit_name=(units[account.unit_code].name_zh if account and account.unit_code in units else ""),
            unit_names={code: unit.name_zh for code, unit in units.items()},
            status_zh=STATUS_ZH,
            loaded_zh=LOADED_ZH,
            severity_zh=SEVERITY_ZH,
            decision_zh=DECISION_ZH,
            job_zh=JOB_ZH,
            rule_title={rule_id: rule.title_zh for rule_id, rule in rules.items()},
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

    @app.exception_handler(RequestValidationError)
    async def not_valid(request: Request, error: RequestValidationError) -> Response:
        # a path or query parameter of the wrong kind (`/office/jobs/abc`): no such page, said in Chinese
        return await not_found(request, error)

    @app.exception_handler(405)
    async def not_allowed(request: Request, error: Exception) -> Response:
        message = "此页面不接受这种请求，请从平台的页面上操作。"
        if wants_json(request) or request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=405)
        return render(request, "message.html.j2", status_code=405, title="无法完成", message=message)

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

    def period_choices(account: Account) -> list[str]:
        """The periods to offer: a unit's, those open for uploads; the office's, those and every period folder."""
        opened = list(intake.open_periods())
        if account.role != "office":
            return opened
        return sorted(set(opened) | set(discover.list_periods(raw_dir)), key=period_order, reverse=True)

    def default_period() -> str:
        """The newest open period that has ended (the one the units report now), else the newest open one."""
        today = datetime.now(BEIJING).date()
        opened = list(intake.open_periods())
        ended = [period for period in opened if periods.period_bounds(period)[1] < today]
        return (ended or opened or [discover.latest_period(raw_dir) or just_ended(today)[0]])[0]

    def chosen_period(text: str | None) -> str:
        if text:
            try:
                return check_period(text)
            except Refused as error:
                raise Denied(400, error.message) from None
        return default_period()

    def warehouse_outcomes(chosen: set[str]) -> dict[tuple[str, str], str]:
        """What the warehouse made of each submission of the periods, as the last snapshots say: by period and the
        warehouse's submission id (`Upload.warehouse_id`)."""
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
        tried = await asyncio.to_thread(state.login, username, password, remote=remote(request))
        account = tried.account
        if account is None:
            if tried.locked is not None and not tried.checked:
                response = login_page(request, lock_message(tried.locked), status_code=429)
                response.headers["Retry-After"] = str(
                    max(1, int((tried.locked.until - datetime.now(UTC)).total_seconds()) + 1)
                )
                return response
            if tried.locked is not None:
                return login_page(request, f"用户名或密码不正确。{lock_message(tried.locked)}", status_code=401)
            return login_page(
                request,
                f"用户名或密码不正确。同一账户在同一网络地址连续输错 5 次将暂时锁定 15 分钟，还可再试 {tried.tries_left} 次。",
                status_code=401,
            )
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
        loaded = warehouse_outcomes({item.period for item in uploads})
        by_period: dict[str, list[Upload]] = {}
        for item in uploads:
            by_period.setdefault(item.period, []).append(item)
        counted_ids = set()
        for period_of, mine in by_period.items():
            outcomes = {wid: status for (p, wid), status in loaded.items() if p == period_of}
            if (kept := counted(mine, outcomes)) is not None:
                counted_ids.add(kept.id)
        return render(
            request,
            "unit.html.j2",
            period=chosen,
            closed=bool(snap and snap[1]["closed"]),
            open_for_uploads=chosen in intake.open_periods(),
            periods=period_choices(account),
            due_on=periods.due_on(chosen),
            uploads=uploads,
            ordinal=ordinals(uploads),
            counted_ids=counted_ids,
            loaded=loaded,
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
            # the door counts the workbook's cells: on a worker thread, not the event loop
            pending = await asyncio.to_thread(
                intake.enqueue, account, str(form.get("period") or ""), sent.filename or "", data, remote(request)
            )
            done = await asyncio.wrap_future(pending)  # waits without holding a thread
        except Refused as error:
            raise Denied(error.status, error.message) from None
        except Exception:
            log.exception("an upload of %s could not be checked", account.username)
            raise Denied(500, "检查这份文件时出错，文件未保存：请稍后重新上传；如仍出错，请联系区总工会。") from None
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

    def counted_of(upload: Upload) -> Upload | None:
        """The upload of `upload`'s unit and period that a run loads (or has loaded)."""
        outcomes = {wid: status for (_, wid), status in warehouse_outcomes({upload.period}).items()}
        return counted(state.uploads(unit_code=upload.unit_code, period=upload.period), outcomes)

    def cannot_approve(upload: Upload) -> str:
        """Why the office may not approve `upload` ("" if it may): approval is of what a run loads."""
        if upload.status == "rejected" or not upload.placed:
            return (
                "这份文件检查未通过（有错误），不会入库，不能审核通过；如需告诉报送单位怎样修改，请写明意见后点“退回”。"
            )
        kept = counted_of(upload)
        if kept is None or kept.id != upload.id:
            later = f"（{local_time(kept.received_at, seconds=True)} 上传）" if kept is not None else ""
            return f"入库的不是这一份，而是本单位的另一份文件{later}：请审核那一份。"
        return ""

    @app.get("/submissions/{submission_id}")
    def submission_page(request: Request, submission_id: str, saved: int | None = None) -> Response:
        _, account = need(request)
        upload = own_upload(submission_id, account)
        if wants_json(request):
            return JSONResponse(submission_json(upload))
        explanations = state.explanations(upload.id)
        findings = [
            {**finding, "key": finding_key(finding), "explanation": explanations.get(finding_key(finding))}
            for finding in upload.findings
        ]
        kept = counted_of(upload)
        return render(
            request,
            "submission.html.j2",
            upload=upload,
            findings=findings,
            warnings=sum(finding["severity"] == "warning" for finding in findings),
            explained=sum(1 for finding in findings if finding["explanation"]),
            saved=saved,
            reviews=state.reviews(upload.id),
            loaded=warehouse_outcomes({upload.period}).get((upload.period, upload.warehouse_id)),
            counted=kept,
            not_approvable=cannot_approve(upload) if account.role == "office" else "",
            has_report=intake.report_path(upload, "html") is not None,
            has_annotated=intake.report_path(upload, "xlsx") is not None,
            large_cells=LARGE_CELLS,
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
        changed = state.explain(upload, texts, account.username, remote(request))
        return RedirectResponse(f"/submissions/{submission_id}?saved={changed}", status_code=303)

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
        if decision == "approve" and (why := cannot_approve(upload)):
            raise Denied(409, why)
        state.review(upload, decision, comment, account.username, remote(request))
        return RedirectResponse(f"/submissions/{submission_id}", status_code=303)

    # --- the office's pages ------------------------------------------------------------------------------------

    def folder_files(period: str, units: tuple, placed_by_portal: set[str]) -> dict[str, list[tuple[str, str]]]:
        """The files in the period's raw folder that did not come through the portal, by the unit their name names
        (`dashi_2022.xlsx`, `大石街2022年报.xlsx`), with when each came (its receipt, else its file's time): what the
        next run will find, before any run has said what they are."""
        period_dir = raw_dir / period
        if not period_dir.is_dir():
            return {}
        try:
            receipts = discover.read_receipts(period_dir)
        except ValueError:  # a broken manifest is the run's to report; the page still shows the files
            receipts = {}
        found: dict[str, list[tuple[str, str]]] = {}
        for path in sorted(period_dir.iterdir()):
            if not discover.is_submission(path) or path.name in placed_by_portal:
                continue
            named = units_named_in(path.name, units)
            if len(named) == 1:
                came = receipts.get(path.name) or datetime.fromtimestamp(path.stat().st_mtime, UTC)
                found.setdefault(named[0], []).append((path.name, came.isoformat()))
        return found

    @app.get("/office")
    def office(request: Request, period: str | None = None) -> Response:
        _, account = need(request, "office")
        chosen = chosen_period(period)
        uploads = state.uploads(period=chosen)
        reviews = state.latest_reviews()
        snap = runner.snapshot(chosen)
        warehouse_rows = {row["unit_code"]: row for row in (snap[1]["completeness"] if snap else [])}
        outcomes = {wid: status for (_, wid), status in warehouse_outcomes({chosen}).items()}
        due = periods.due_on(chosen)
        expected = tuple(reference.expected_units(raw_dir / chosen))
        waiting = folder_files(chosen, expected, {item.stored_name for item in uploads})
        units = []
        for unit in expected:
            mine = [item for item in uploads if item.unit_code == unit.unit_code]
            kept = counted(mine, outcomes)
            files = waiting.get(unit.unit_code, [])
            first = min([item.received_at for item in mine] + [came for _, came in files], default=None)
            on_time = None if first is None else datetime.fromisoformat(first).astimezone(BEIJING).date() <= due
            shown = kept or (mine[0] if mine else None)  # what the office opens and reviews: what a run loads
            units.append(
                {
                    "unit": unit,
                    "latest": mine[0] if mine else None,
                    "counted": kept,
                    "shown": shown,
                    "count": len(mine),
                    "files": files,
                    "first": first,
                    "on_time": on_time,
                    "review": reviews.get(shown.id) if shown else None,
                    "warehouse": warehouse_rows.get(unit.unit_code),
                }
            )
        opened = intake.open_periods()
        return render(
            request,
            "office.html.j2",
            period=chosen,
            periods=period_choices(account),
            opening=opened.get(chosen),
            due_on=due,
            units=units,
            submitted=sum(
                1
                for row in units
                if row["latest"] is not None
                or row["files"]
                or (row["warehouse"] and row["warehouse"]["outcome"] != "missing")
            ),
            through_portal=sum(1 for row in units if row["latest"] is not None),
            uploads=uploads,
            ordinal=ordinals(uploads),
            counted_ids={row["counted"].id for row in units if row["counted"] is not None},
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
        summary = job_summary_zh(job.kind, job.period, job.exit_code, job.output)
        if wants_json(request):
            return JSONResponse(
                {
                    "id": job.id,
                    "kind": job.kind,
                    "period": job.period,
                    "running": job.running,
                    "exit_code": job.exit_code,
                    "output": job.output,
                    "summary_zh": summary,
                }
            )
        return render(request, "job.html.j2", job=job, summary=summary)

    @app.get("/office/figures")
    def figures(request: Request, period: str | None = None) -> Response:
        _, account = need(request, "office")
        chosen = chosen_period(period)
        snap = runner.snapshot(chosen)
        rows = snap[1]["figures"] if snap else []
        if wants_json(request):
            return JSONResponse({"period": chosen, "taken_at": snap[0] if snap else None, "figures": rows})
        return render(
            request,
            "figures.html.j2",
            period=chosen,
            periods=period_choices(account),
            snapshot=snap,
            figures=rows,
            matched=sum(1 for row in rows if row["matches"]),
            compared=sum(1 for row in rows if row["matches"] is not None),
            job=runner.running(),
        )

    @app.get("/office/audit")
    def audit(request: Request) -> Response:
        need(request, "office")
        names = {unit.unit_code: unit.name_zh for unit in reference.reference_units()}
        entries = [
            {
                "entry": entry,
                "action": ACTION_ZH.get(entry.action, entry.action),
                "detail": detail_zh(entry.action, entry.detail, names),
            }
            for entry in reversed(state.audit_log(limit=300))
        ]
        return render(request, "audit.html.j2", entries=entries)

    @app.get("/office/manage")
    def manage(request: Request) -> Response:
        need(request, "office")
        return render(
            request,
            "manage.html.j2",
            openings=list(intake.open_periods().values()),
            accounts=state.accounts(),
            locks=state.locks(),
        )

    @app.post("/office/periods")
    async def open_or_stop(request: Request) -> Response:
        session, account = need(request, "office")
        form = await request.form(max_files=0, max_fields=10)
        check_csrf(session, form.get("csrf_token"))
        if not str(form.get("period") or "").strip():
            raise Denied(400, "请填写统计期（年度如 2026，季度如 2026Q4）。")
        chosen = chosen_period(str(form.get("period")))
        action = str(form.get("action") or "")
        if action == "open":
            state.open_period(chosen, account.username, remote(request))
        elif action == "stop":
            opening = intake.open_periods().get(chosen)
            if opening is not None and opening.source != "office":
                raise Denied(
                    409,
                    f"统计期 {chosen} 是按统计期设置文件开放的（刚结束的统计期，或文件中列出的统计期），"
                    "不能在平台上停止；如需停止，请系统管理员修改该文件（reference/periods.toml）。",
                )
            state.stop_period(chosen, account.username, remote(request))
        else:
            raise Denied(400, "未知的操作。")
        back = str(form.get("back") or "")
        return RedirectResponse("/office/manage" if back == "manage" else f"/office?period={chosen}", status_code=303)

    @app.post("/office/unlock")
    async def unlock(request: Request) -> Response:
        session, account = need(request, "office")
        form = await request.form(max_files=0, max_fields=10)
        check_csrf(session, form.get("csrf_token"))
        username = str(form.get("username") or "")
        try:
            state.unlock(username, actor=account.username, remote=remote(request))
        except AccountError:
            raise Denied(404, "找不到这个账户。") from None
        return RedirectResponse("/office/manage?unlocked=1", status_code=303)

    return app


def ordinals(uploads: list[Upload]) -> dict[int, int]:
    """Each upload's number among its unit's uploads for its period (1 for the first), so that two uploads of the
    same file name on the same day are told apart."""
    numbers: dict[tuple[str, str], int] = {}
    found = {}
    for upload in sorted(uploads, key=lambda item: item.id):
        key = (upload.unit_code, upload.period)
        numbers[key] = numbers.get(key, 0) + 1
        found[upload.id] = numbers[key]
    return found


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

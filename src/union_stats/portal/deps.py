"""What the portal's routers share: the `Site` (the portal's state, intake, jobs, signing key, pages and settings,
kept on `app.state.site` by `app.create_app`), and the dependencies a route declares for them, for the session,
for the role and for the CSRF token.

A route asks for what it needs in its signature, and FastAPI solves it before the route runs (in the order of the
parameters; a dependency both ask for, such as the session, is solved once per request):

    def office(request: Request, site: SiteDep, me: OfficeAccount) -> Response: ...
    async def review(request: Request, site: SiteDep, me: OfficeAccount, form: CheckedForm) -> Response: ...

`SignedInAccount` is the session and its account, else `Denied(401)`; `UnitAccount` and `OfficeAccount` are the
same of that role, else `Denied(403)`; `CheckedForm` is a POST's form once its `csrf_token` is the session's,
else `Denied(403)`. Every POST but the login's declares one (`tests/test_portal_routes.py`).
"""

# No `from __future__ import annotations` here: FastAPI reads these dependencies' annotations (`Annotated[...,
# Depends(...)]`) at import time, and so does `Role`, whose dependency is an instance.
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, NamedTuple

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import FormData

from union_stats import discover, office_time, periods, reference
from union_stats.paths import make_secret_file
from union_stats.portal.accounts import Account
from union_stats.portal.intake import Intake, Refused, check_period, just_ended, period_order
from union_stats.portal.jobs import JobRunner
from union_stats.portal.state import PortalState, Session, Upload
from union_stats.rules import registry

SESSION_COOKIE = "union_stats_session"
LOGIN_COOKIE = "union_stats_login"
KEY_FILE = "portal.key"
KEY_ENV = "UNION_STATS_PORTAL_KEY"
MAX_EXPLANATION = 2000
MAX_COMMENT = 2000
NOT_SIGNED_IN = "请先登录。"
NOT_YOUR_ROLE = "您的账户无权访问此页面。"
CSRF_REFUSED = "页面已过期或请求无效（安全校验未通过），请刷新页面后重试。"


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
    return moment.astimezone(office_time.zone()).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def remote(request: Request) -> str:
    return request.client.host if request.client else ""


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


@dataclass(eq=False)
class Site:
    """What every route of the portal shares: its state (portal.sqlite), the intake of uploads, the jobs, the key
    that signs its cookies, its page templates and the words they show, and its settings."""

    raw_dir: Path
    warehouse: Path
    state: PortalState
    intake: Intake
    runner: JobRunner
    key: bytes
    pages: Environment
    words: dict[str, dict[str, str]]  # the pages' labels (status_zh, loaded_zh, ...), given by app.py
    secure_cookies: bool = False

    # --- signing, sessions, cookies, pages ---------------------------------------------------------------------

    def sign(self, value: str) -> str:
        return f"{value}.{hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()}"

    def unsign(self, signed: str | None) -> str | None:
        if not signed or "." not in signed:
            return None
        value, signature = signed.rsplit(".", 1)
        # as bytes: compare_digest refuses str with non-ASCII characters (a forged cookie would be a 500)
        return value if hmac.compare_digest(self.sign(value).encode(), signed.encode()) else None

    def current(self, request: Request) -> tuple[Session, Account] | None:
        token = self.unsign(request.cookies.get(SESSION_COOKIE))
        return None if token is None else self.state.session(token)

    def set_cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name, value, max_age=max_age, httponly=True, samesite="strict", secure=self.secure_cookies, path="/"
        )

    def render(self, request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
        found = self.current(request)
        account = found[1] if found else None
        context.setdefault("csrf_token", found[0].csrf_token if found else "")
        units = {unit.unit_code: unit for unit in reference.reference_units()}
        rules = registry()
        text = self.pages.get_template(f"portal/{name}").render(
            account=account,
            unit_name=(units[account.unit_code].name_zh if account and account.unit_code in units else ""),
            unit_names={code: unit.name_zh for code, unit in units.items()},
            **self.words,
            rule_title={rule_id: rule.title_zh for rule_id, rule in rules.items()},
            **context,
        )
        return HTMLResponse(text, status_code=status_code)

    # --- periods, outcomes, a submission -----------------------------------------------------------------------

    def period_choices(self, account: Account) -> list[str]:
        """The periods to offer: a unit's, those open for uploads; the office's, those and every period folder."""
        opened = list(self.intake.open_periods())
        if account.role != "office":
            return opened
        return sorted(set(opened) | set(discover.list_periods(self.raw_dir)), key=period_order, reverse=True)

    def default_period(self) -> str:
        """The newest open period that has ended (the one the units report now), else the newest open one."""
        today = datetime.now(office_time.zone()).date()
        opened = list(self.intake.open_periods())
        ended = [period for period in opened if periods.period_bounds(period)[1] < today]
        return (ended or opened or [discover.latest_period(self.raw_dir) or just_ended(today)[0]])[0]

    def chosen_period(self, text: str | None) -> str:
        if text:
            try:
                return check_period(text)
            except Refused as error:
                raise Denied(400, error.message) from None
        return self.default_period()

    def warehouse_outcomes(self, chosen: set[str]) -> dict[tuple[str, str], str]:
        """What the warehouse made of each submission of the periods, as the last snapshots say: by period and the
        warehouse's submission id (`Upload.warehouse_id`)."""
        outcomes = {}
        for period in chosen:
            snap = self.runner.snapshot(period)
            for submission_id, status in (snap[1].get("outcomes", {}) if snap else {}).items():
                outcomes[(period, submission_id)] = status
        return outcomes

    def own_upload(self, submission_id: str, account: Account) -> Upload:
        upload = self.state.upload_for(submission_id, account) if len(submission_id) <= 64 else None
        if upload is None:
            raise Denied(404, "找不到这份报送（或不属于您的单位）。")
        return upload


# --- the dependencies --------------------------------------------------------------------------------------------


def get_site(request: Request) -> Site:
    return request.app.state.site


SiteDep = Annotated[Site, Depends(get_site)]


class SignedIn(NamedTuple):
    session: Session
    account: Account


def visitor(request: Request, site: SiteDep) -> SignedIn | None:
    """The request's session and account, if its cookie is a session's (signed, not ended, its account enabled)."""
    found = site.current(request)
    return None if found is None else SignedIn(*found)


MaybeSignedIn = Annotated[SignedIn | None, Depends(visitor)]


def signed_in(found: MaybeSignedIn) -> SignedIn:
    """The session and account, else 401 (a GET of a page: a redirect to /login; see `app.denied`)."""
    if found is None:
        raise Denied(401, NOT_SIGNED_IN)
    return found


SignedInAccount = Annotated[SignedIn, Depends(signed_in)]


class Role:
    """A dependency: the signed-in account if it has `role` (unit or office), else 403 with `message`."""

    def __init__(self, role: str, message: str = NOT_YOUR_ROLE) -> None:
        self.role = role
        self.message = message

    async def __call__(self, found: SignedInAccount) -> SignedIn:
        if found.account.role != self.role:
            raise Denied(403, self.message)
        return found

    def __repr__(self) -> str:
        return f"Role({self.role!r})"


UnitAccount = Annotated[SignedIn, Depends(Role("unit"))]
OfficeAccount = Annotated[SignedIn, Depends(Role("office"))]


def check_csrf(session: Session, sent: object) -> None:
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise Denied(403, CSRF_REFUSED)


class CsrfForm:
    """A dependency: a POST's form (read within `max_files` and `max_fields`), once its `csrf_token` is the
    session's, else 403. `before` looks at the request before its body is read (an upload's length)."""

    def __init__(
        self, *, max_files: int = 0, max_fields: int = 10, before: Callable[[Request], None] | None = None
    ) -> None:
        self.max_files = max_files
        self.max_fields = max_fields
        self.before = before

    async def __call__(self, request: Request, found: SignedInAccount) -> FormData:
        if self.before is not None:
            self.before(request)
        form = await request.form(max_files=self.max_files, max_fields=self.max_fields)
        check_csrf(found.session, form.get("csrf_token"))
        return form

    def __repr__(self) -> str:
        return f"CsrfForm(max_files={self.max_files}, max_fields={self.max_fields})"


CheckedForm = Annotated[FormData, Depends(CsrfForm())]

_INT = TypeAdapter(int)


def as_int(text: str | None) -> int | None:
    """`text` as FastAPI reads a parameter declared `int` (None stays None); else a `RequestValidationError` (no such
    page). For a parameter a route must read before it asks for the session: a dependency declared first."""
    if text is None:
        return None
    try:
        return _INT.validate_python(text)
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None

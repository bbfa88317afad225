"""The portal's door: `/healthz`, `/` (to the account's home), the login and the logout.

The login is the one POST without the session's CSRF token (there is no session yet): its form's token is bound
to a signed cookie of its own, set with the form.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from union_stats.portal.accounts import LOCK_ADDRESS, LOCK_NAME, Lock
from union_stats.portal.deps import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    CheckedForm,
    MaybeSignedIn,
    SignedInAccount,
    Site,
    SiteDep,
    local_time,
    remote,
)

router = APIRouter()


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


def login_page(site: Site, request: Request, message: str = "", status_code: int = 200) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = site.render(request, "login.html.j2", status_code=status_code, csrf_token=nonce, message=message)
    site.set_cookie(response, LOGIN_COOKIE, site.sign(nonce), max_age=3600)
    return response


@router.get("/healthz", response_class=PlainTextResponse)
def healthz() -> str:
    return "ok"


@router.get("/")
def home(found: MaybeSignedIn) -> Response:
    if found is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/office" if found.account.role == "office" else "/unit", status_code=303)


@router.get("/login")
def login_form(request: Request, site: SiteDep) -> Response:
    return login_page(site, request)


@router.post("/login")
async def login(request: Request, site: SiteDep) -> Response:
    form = await request.form(max_files=0, max_fields=10)
    nonce = site.unsign(request.cookies.get(LOGIN_COOKIE))
    sent = form.get("csrf_token")
    if nonce is None or not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
        return login_page(site, request, "页面已过期，请重新输入用户名和密码。", status_code=403)
    username, password = str(form.get("username") or "").strip(), str(form.get("password") or "")
    tried = await asyncio.to_thread(site.state.login, username, password, remote=remote(request))
    account = tried.account
    if account is None:
        if tried.locked is not None and not tried.checked:
            response = login_page(site, request, lock_message(tried.locked), status_code=429)
            response.headers["Retry-After"] = str(
                max(1, int((tried.locked.until - datetime.now(UTC)).total_seconds()) + 1)
            )
            return response
        if tried.locked is not None:
            return login_page(site, request, f"用户名或密码不正确。{lock_message(tried.locked)}", status_code=401)
        return login_page(
            site,
            request,
            f"用户名或密码不正确。同一账户在同一网络地址连续输错 5 次将暂时锁定 15 分钟，还可再试 {tried.tries_left} 次。",
            status_code=401,
        )
    token, _ = site.state.open_session(account, remote(request))
    response = RedirectResponse("/office" if account.role == "office" else "/unit", status_code=303)
    site.set_cookie(response, SESSION_COOKIE, site.sign(token), max_age=int(timedelta(hours=8).total_seconds()))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request, site: SiteDep, me: SignedInAccount, form: CheckedForm) -> Response:
    token = site.unsign(request.cookies.get(SESSION_COOKIE))
    if token:
        site.state.close_session(token, remote(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response

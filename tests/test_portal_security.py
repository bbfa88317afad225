"""The portal's security (issue 13, point 6): who may reach which route, what a unit cannot reach by guessing,
uploads refused at the door write nothing, passwords and session tokens are kept nowhere in clear, sessions end,
the login rate limit holds over HTTP, and the pages carry their security headers.

One portal (and its uploads) per module for the route × role matrix and the guessing tests; a second one for the
accounts and sessions, so that their failed logins count against nobody else. Every role's client has its own
remote address, so that the login rate limit by address never mixes the roles.

Starting a job: POST /office/jobs is tested for the office with `kind=bogus` (400: authorised, CSRF passed, then
refused for the kind), never a real run (a ~15 s child process); the job page is tested on a job row written
through the state store (started and finished without a child).
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import defects
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from portal_helpers import PASSWORD, Portal, app_routes, csrf_of, login, make_portal, sample_bytes, upload

from union_stats.portal import accounts, routes_unit
from union_stats.portal import intake as portal_intake
from union_stats.portal.accounts import PORTAL_DB
from union_stats.portal.app import LOGIN_COOKIE, SESSION_COOKIE

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROLES = ("anonymous", "unit_a", "unit_b", "office")
USERS = {"unit_a": "shiqiao.clerk", "unit_b": "dashi.clerk", "office": "office"}
ADDRESSES = {"anonymous": "10.0.0.1", "unit_a": "10.0.0.2", "unit_b": "10.0.0.3", "office": "10.0.0.4"}
SQLITE_FILES = {PORTAL_DB, f"{PORTAL_DB}-wal", f"{PORTAL_DB}-shm"}
B_CLIENT_NAME = "dashi_confidential_B_2022.xlsx"
A_CLIENT_NAME = "shiqiao_own_A_2022.xlsx"


# --- the module's portal -----------------------------------------------------------------------------------------


@dataclass
class World:
    portal: Portal
    app: object
    clients: dict[str, TestClient]
    csrf: dict[str, str]
    a_id: str
    b_id: str
    b_upload: object
    job_id: int
    stack: ExitStack = field(repr=False)

    def client(self, role: str) -> TestClient:
        return self.clients[role]

    def fresh_client(self, role: str) -> tuple[TestClient, str]:
        """A second client of `role`, with a session of its own (for a case that ends its session)."""
        client = self.stack.enter_context(TestClient(self.app, client=(ADDRESSES[role], 50001)))
        return client, login(client, USERS[role]) if role != "anonymous" else ""

    @property
    def b_markers(self) -> list[str]:
        """What of B's submission must never reach A: its file names, hash and findings' text."""
        upload = self.b_upload
        return [
            upload.client_name,
            upload.stored_name,
            upload.sha256,
            *(finding["message"] for finding in upload.findings),
        ]


def warning_workbook(unit: str, folder: Path) -> bytes:
    """The unit's sample workbook with one warning (助学 paid to someone born in 1962)."""
    path = defects.copy_sample(unit, folder / unit)
    expected = defects.DEFECTS["study_aid_to_an_adult"].apply(path)
    assert expected.severity == "warning"
    return path.read_bytes()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("portal")
    portal = make_portal(root / "site")
    app = portal.app(warm=False)
    with ExitStack() as stack:
        clients = {role: stack.enter_context(TestClient(app, client=(ADDRESSES[role], 50000))) for role in ROLES}
        csrf = {role: login(clients[role], USERS[role]) for role in ROLES if role != "anonymous"}
        csrf["anonymous"] = ""
        ids = {}
        for role, unit, name in (("unit_a", "shiqiao", A_CLIENT_NAME), ("unit_b", "dashi", B_CLIENT_NAME)):
            data = warning_workbook(unit, root / "work")
            answer = upload(clients[role], csrf[role], data, name=name)
            assert answer.status_code == 303, answer.text[:500]
            ids[role] = answer.headers["location"].rsplit("/", 1)[1]
        state = app.state.portal
        job = state.start_job("close", "2022", "office", "")
        state.finish_job(job.id, 1, "no warehouse")
        b_upload = state.upload_for(ids["unit_b"], state.get("office"))
        assert b_upload.findings and b_upload.status == "accepted_with_warnings"
        yield World(portal, app, clients, csrf, ids["unit_a"], ids["unit_b"], b_upload, job.id, stack)


def a_upload_bytes(world: World) -> bytes:
    """A's uploaded bytes, read back from the archive (uploading them again is the same upload: nothing new)."""
    upload = world.app.state.portal.upload_for(world.a_id, world.app.state.portal.get("office"))
    return next((world.portal.warehouse.parent / "archive").rglob(f"{upload.sha256}.xlsx")).read_bytes()


def b_upload_bytes(world: World) -> bytes:
    return next((world.portal.warehouse.parent / "archive").rglob(f"{world.b_upload.sha256}.xlsx")).read_bytes()


# --- 1. the route × role matrix ----------------------------------------------------------------------------------

Call = Callable[[World, str], object]


def get(path: str, **headers: str) -> Call:
    def call(world: World, role: str):
        return world.client(role).get(
            path.format(a=world.a_id, job=world.job_id), headers=headers, follow_redirects=False
        )

    return call


def post(path: str, data: dict | None = None) -> Call:
    def call(world: World, role: str):
        form = {"csrf_token": world.csrf[role], **(data or {})}
        return world.client(role).post(path.format(a=world.a_id), data=form, follow_redirects=False)

    return call


def post_login(world: World, role: str):
    """A login with a valid login token and an unknown name: 401 for everyone (no session changes hands)."""
    client = world.client(role)
    token = csrf_of(client.get("/login").text)
    form = {"username": "nobody.here", "password": "not-the-password", "csrf_token": token}
    return client.post("/login", data=form, follow_redirects=False)


def post_logout(world: World, role: str):
    """Logging out, on a second session of the role (the shared one must live on)."""
    client, csrf = world.fresh_client(role)
    return client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)


def post_upload(world: World, role: str):
    """The role's own bytes again (the same upload: answered with the first one, nothing new is written)."""
    data = b_upload_bytes(world) if role == "unit_b" else a_upload_bytes(world)
    return upload(world.client(role), world.csrf[role], data, name="again.xlsx")


LOGIN = "→/login"  # a 303 to /login
# (method, path) -> (how to call it, {role: status, or LOGIN})
MATRIX: dict[tuple[str, str], tuple[Call, dict[str, int | str]]] = {
    ("GET", "/healthz"): (get("/healthz"), dict(anonymous=200, unit_a=200, unit_b=200, office=200)),
    ("GET", "/"): (get("/"), dict(anonymous=LOGIN, unit_a=303, unit_b=303, office=303)),
    ("GET", "/login"): (get("/login"), dict(anonymous=200, unit_a=200, unit_b=200, office=200)),
    ("POST", "/login"): (post_login, dict(anonymous=401, unit_a=401, unit_b=401, office=401)),
    ("POST", "/logout"): (post_logout, dict(anonymous=401, unit_a=303, unit_b=303, office=303)),
    ("GET", "/unit"): (get("/unit"), dict(anonymous=LOGIN, unit_a=200, unit_b=200, office=403)),
    ("GET", "/template.xlsx"): (get("/template.xlsx"), dict(anonymous=LOGIN, unit_a=200, unit_b=200, office=403)),
    ("POST", "/upload"): (post_upload, dict(anonymous=401, unit_a=303, unit_b=303, office=403)),
    ("GET", "/api/submissions/{submission_id}"): (
        get("/api/submissions/{a}"),
        dict(anonymous=401, unit_a=200, unit_b=404, office=200),
    ),
    ("GET", "/submissions/{submission_id}"): (
        get("/submissions/{a}"),
        dict(anonymous=LOGIN, unit_a=200, unit_b=404, office=200),
    ),
    ("GET", "/submissions/{submission_id}/report.html"): (
        get("/submissions/{a}/report.html"),
        dict(anonymous=LOGIN, unit_a=200, unit_b=404, office=200),
    ),
    ("GET", "/submissions/{submission_id}/annotated.xlsx"): (
        get("/submissions/{a}/annotated.xlsx"),
        dict(anonymous=LOGIN, unit_a=200, unit_b=404, office=200),
    ),
    ("POST", "/submissions/{submission_id}/explanations"): (
        post("/submissions/{a}/explanations"),
        dict(anonymous=401, unit_a=303, unit_b=404, office=403),
    ),
    ("POST", "/submissions/{submission_id}/review"): (
        post("/submissions/{a}/review", {"decision": "approve"}),
        dict(anonymous=401, unit_a=403, unit_b=403, office=303),
    ),
    ("GET", "/office"): (get("/office"), dict(anonymous=LOGIN, unit_a=403, unit_b=403, office=200)),
    ("POST", "/office/jobs"): (
        post("/office/jobs", {"kind": "bogus", "period": "2022"}),
        dict(anonymous=401, unit_a=403, unit_b=403, office=400),
    ),
    ("GET", "/office/jobs/{job_id}"): (
        get("/office/jobs/{job}"),
        dict(anonymous=LOGIN, unit_a=403, unit_b=403, office=200),
    ),
    ("GET", "/office/figures"): (get("/office/figures"), dict(anonymous=LOGIN, unit_a=403, unit_b=403, office=200)),
    ("GET", "/office/audit"): (get("/office/audit"), dict(anonymous=LOGIN, unit_a=403, unit_b=403, office=200)),
    ("GET", "/office/manage"): (get("/office/manage"), dict(anonymous=LOGIN, unit_a=403, unit_b=403, office=200)),
    ("POST", "/office/periods"): (
        post("/office/periods", {"action": "bogus", "period": "2022"}),
        dict(anonymous=401, unit_a=403, unit_b=403, office=400),
    ),
    ("POST", "/office/unlock"): (
        post("/office/unlock", {"username": "nobody.here"}),
        dict(anonymous=401, unit_a=403, unit_b=403, office=404),
    ),
}
CASES = [pytest.param(route, role, id=f"{route[0]} {route[1]} as {role}") for route in MATRIX for role in ROLES]


def test_every_route_is_in_the_matrix(world: World) -> None:
    routes = set()
    for route in app_routes(world.app):
        assert isinstance(route.original_route, APIRoute), f"a route that is no API route: {route!r}"
        routes |= {(method, route.path) for method in route.methods}
    assert routes - set(MATRIX) == set(), "routes of the app without an entry in the security matrix"
    assert set(MATRIX) - routes == set(), "entries of the matrix for routes the app does not have"
    assert all(set(expected) == set(ROLES) for _, expected in MATRIX.values())


@pytest.mark.parametrize(("route", "role"), CASES)
def test_route_by_role(world: World, route: tuple[str, str], role: str) -> None:
    call, expected = MATRIX[route]
    answer = call(world, role)
    wanted = expected[role]
    if wanted == LOGIN:
        assert (answer.status_code, answer.headers.get("location")) == (303, "/login"), answer.text[:300]
    else:
        assert answer.status_code == wanted, answer.text[:300]
    if route == ("GET", "/") and role != "anonymous":
        assert answer.headers["location"] == ("/office" if role == "office" else "/unit")
    if answer.status_code in (401, 403, 404):
        # a refusal never carries the submission: not its file name, nor its findings
        assert A_CLIENT_NAME not in answer.text
        assert "C256" not in answer.text and "此人发放时约" not in answer.text
    if role == "unit_b":
        assert A_CLIENT_NAME not in answer.text


class _Forms(HTMLParser):
    """Each form of a page, with its hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.forms.append({"action": values.get("action"), "hidden": {}})
        elif tag == "input" and values.get("type") == "hidden" and self.forms:
            self.forms[-1]["hidden"][values.get("name")] = values.get("value")


PAGES = (
    "/login",
    "/unit",
    "/submissions/{a}",
    "/office",
    "/office/jobs/{job}",
    "/office/figures",
    "/office/audit",
    "/office/manage",
)


@pytest.mark.parametrize("role", ROLES)
def test_every_form_carries_the_csrf_token(world: World, role: str) -> None:
    """The contract: every HTML form has a hidden `csrf_token` (the login form's bound to its own cookie)."""
    seen = 0
    for page in PAGES:
        answer = get(page)(world, role)
        if answer.status_code != 200 or not answer.headers["content-type"].startswith("text/html"):
            continue
        forms = _Forms()
        forms.feed(answer.text)
        for form in forms.forms:
            seen += 1
            assert form["hidden"].get("csrf_token"), f"{page} as {role}: the form to {form['action']} has no token"
    assert seen >= (1 if role == "anonymous" else 3)


# --- 2. unit A cannot reach unit B's submission by guessing ------------------------------------------------------

SUBMISSION_URLS = {
    "page": ("GET", "/submissions/{id}", {}),
    "page-json": ("GET", "/submissions/{id}", {"accept": "application/json"}),
    "api": ("GET", "/api/submissions/{id}", {}),
    "report": ("GET", "/submissions/{id}/report.html", {}),
    "annotated": ("GET", "/submissions/{id}/annotated.xlsx", {}),
    "explanations": ("POST", "/submissions/{id}/explanations", {}),
    "review": ("POST", "/submissions/{id}/review", {}),
}
GUESSES: dict[str, Callable[[World], str]] = {
    "b-id": lambda w: w.b_id,
    "prefix": lambda w: w.b_id[:8],
    "one-char-short": lambda w: w.b_id[:-1],
    "uppercase": lambda w: w.b_id.upper(),
    "full-sha256": lambda w: w.b_upload.sha256,
    "stored-name": lambda w: w.b_upload.stored_name,
    "row-id": lambda w: str(w.b_upload.id),
    "traversal": lambda w: f"..%2F..%2Fsubmissions%2F{w.b_id}",
    "dot-segments": lambda w: f"{w.a_id}%2F..%2F{w.b_id}",
    "sql-like": lambda w: f"{w.b_id}' or '1'='1",
    "like-wildcard": lambda w: f"{w.b_id[:4]}%25",
    "nul": lambda w: f"{w.b_id}%00",
    "very-long": lambda w: w.b_id * 1000,
    "long-65": lambda w: (w.b_id * 5)[:65],
}


def explanation_form(world: World) -> dict[str, str]:
    form = {"csrf_token": world.csrf["unit_a"], "decision": "approve", "comment": "x"}
    for finding in world.b_upload.findings:
        form[f"explain::{finding['rule']}|{finding['sheet']}|{finding['cell']}"] = "A was here"
    return form


@pytest.mark.parametrize("guess", list(GUESSES))
@pytest.mark.parametrize("kind", list(SUBMISSION_URLS))
def test_unit_a_cannot_reach_unit_b_by_guessing(world: World, kind: str, guess: str) -> None:
    method, path, headers = SUBMISSION_URLS[kind]
    url = path.format(id=GUESSES[guess](world))
    client = world.client("unit_a")
    if method == "GET":
        answer = client.get(url, headers=headers, follow_redirects=False)
    else:
        answer = client.post(url, data=explanation_form(world), follow_redirects=False)
    expected = {403} if kind == "review" else {404}
    if guess in ("traversal", "dot-segments"):  # the router may turn these away before the handler
        expected = {403, 404, 405}
    assert answer.status_code in expected, (answer.status_code, answer.text[:300])
    body = answer.content.decode("utf-8", "replace")
    for marker in world.b_markers:
        assert marker not in body
    assert "dashi" not in body and "大石" not in body
    state = world.app.state.portal
    assert state.explanations(world.b_upload.id) == {} and state.reviews(world.b_upload.id) == []


def test_b_submission_untouched_by_a(world: World) -> None:
    """After A's guesses: B's upload has no explanation and no review by A; B itself still sees its page."""
    state = world.app.state.portal
    assert state.explanations(world.b_upload.id) == {}
    assert [review.username for review in state.reviews(world.b_upload.id)] == []
    page = world.client("unit_b").get(f"/submissions/{world.b_id}")
    assert page.status_code == 200 and B_CLIENT_NAME in page.text  # the markers are real: B sees them


def test_unit_a_lists_only_its_own_submissions(world: World) -> None:
    page = world.client("unit_a").get("/unit").text
    assert world.a_id in page and A_CLIENT_NAME in page
    for marker in [world.b_id, *world.b_markers]:
        assert marker not in page


@pytest.mark.parametrize("job_id", ["0", "-1", "999999", str(2**63), str(10**30)])
def test_office_job_ids_that_do_not_exist(world: World, job_id: str) -> None:
    """A job id no job has, however large, is a 404 page (never a server error without the security headers)."""
    answer = world.client("office").get(f"/office/jobs/{job_id}", follow_redirects=False)
    assert answer.status_code == 404, answer.text[:300]
    assert answer.headers["x-frame-options"] == "DENY"
    assert world.client("unit_a").get(f"/office/jobs/{job_id}", follow_redirects=False).status_code == 403


FORGED_COOKIES = {
    "non-ascii-value": "\u00e9t\u00e9.abc",
    "non-ascii-signature": "abc.\u00e9",
    "no-signature": "abc",
    "empty-parts": ".",
    "long": "a" * 3000 + "." + "0" * 64,
}


@pytest.mark.parametrize("cookie", list(FORGED_COOKIES))
def test_forged_cookies_are_anonymous(world: World, cookie: str) -> None:
    """A session or login cookie that is not one the portal signed is no session: never a server error."""
    value = FORGED_COOKIES[cookie]
    # a client kept open to the module's end: a client's exit ends the app's lifespan, which shuts its checks down
    client = world.stack.enter_context(TestClient(world.app, client=("10.0.0.8", 50000)))
    session = {"cookie": f"{SESSION_COOKIE}={value}".encode("latin-1")}
    assert client.get("/unit", headers=session, follow_redirects=False).status_code == 303
    assert client.get(f"/api/submissions/{world.a_id}", headers=session).status_code == 401
    answer = client.post("/logout", headers=session, data={"csrf_token": ""}, follow_redirects=False)
    assert answer.status_code == 401
    answer = client.get("/login", headers=session)
    assert answer.status_code == 200 and answer.headers["x-frame-options"] == "DENY"
    token = csrf_of(answer.text)
    forged_login = {"cookie": f"{LOGIN_COOKIE}={value}".encode("latin-1")}
    form = {"username": "shiqiao.clerk", "password": PASSWORD, "csrf_token": token}
    answer = client.post("/login", headers=forged_login, data=form, follow_redirects=False)
    assert answer.status_code == 403 and SESSION_COOKIE not in answer.cookies


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/upload", 405), ("GET", "/office/unlock", 405), ("GET", "/office/jobs/abc", 404)],
)
def test_the_routers_refusals_are_in_chinese(world: World, method: str, path: str, status: int) -> None:
    """A method a route does not take, or a path parameter of the wrong kind: a Chinese page, never the framework's
    English."""
    answer = world.client("office").request(method, path, follow_redirects=False)
    assert answer.status_code == status
    assert "Method Not Allowed" not in answer.text and "detail" not in answer.text
    assert answer.headers["x-frame-options"] == "DENY" and "返回首页" in answer.text


# --- 3. refused uploads write nothing ----------------------------------------------------------------------------


def tree(root: Path) -> dict[str, str]:
    """Every folder and file under the portal's root (the portal's SQLite files aside), with each file's hash."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.name in SQLITE_FILES:
            continue
        found[relative] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def upload_rows(world: World) -> int:
    with sqlite3.connect(world.portal.warehouse.parent / PORTAL_DB) as con:
        return con.execute("select count(*) from uploads").fetchone()[0]


def session_rows(portal: Portal) -> int:
    with sqlite3.connect(portal.warehouse.parent / PORTAL_DB) as con:
        return con.execute("select count(*) from sessions").fetchone()[0]


def multipart(fields: dict[str, str], file_name: bytes | None, data: bytes) -> tuple[bytes, str]:
    """A multipart body written byte for byte (the client's file name exactly as given, unescaped)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    if file_name is not None:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
            + file_name
            + f'"\r\nContent-Type: {XLSX}\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def raw_upload(client: TestClient, fields: dict[str, str], file_name: bytes | None, data: bytes):
    body, content_type = multipart(fields, file_name, data)
    return client.post("/upload", content=body, headers={"content-type": content_type}, follow_redirects=False)


PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
DOCX = b"PK\x03\x04" + b"\x14\x00\x06\x00" + b"word/document.xml" + b"\x00" * 64
BAD_NAMES = {
    "parent": b"../x.xlsx",
    "folder": b"a/b.xlsx",
    "backslash-parent": b"..\\x.xlsx",
    "unc": b"\\\\srv\\x.xlsx",
    "absolute": b"/etc/x.xlsx",
    "nul": b"x\x00.xlsx",
    "newline": b"x\n.xlsx",
    "carriage-return": b"x\r.xlsx",
    "tab": b"x\t.xlsx",
    "hidden": b".x.xlsx",
    "tilde": b"~x.xlsx",
    "too-long": b"x" * 250 + b".xlsx",
    "blank": b"   ",
}


def refusals() -> Iterator:
    """(id, how to send it as unit A, the status expected)."""
    sample = sample_bytes("shiqiao")

    def by_name(name: bytes, data: bytes = sample):
        return lambda world: raw_upload(
            world.client("unit_a"), {"period": "2022", "csrf_token": world.csrf["unit_a"]}, name, data
        )

    for label, name in BAD_NAMES.items():
        yield pytest.param(by_name(name), 400, id=f"name-{label}")
    yield pytest.param(by_name(b"report.xlsx", PDF), 415, id="pdf-named-xlsx")
    yield pytest.param(by_name(b"report.xlsx", "单位,人数\n市桥,12\n".encode()), 415, id="text-named-xlsx")
    yield pytest.param(by_name(b"report.pdf", PDF), 415, id="pdf")
    yield pytest.param(by_name(b"report.docx", DOCX), 415, id="docx-zip")
    yield pytest.param(by_name(b"report.csv", sample), 415, id="workbook-named-csv")
    yield pytest.param(by_name(b"report", sample), 415, id="no-extension")
    yield pytest.param(by_name(b"report.xls", sample), 415, id="xlsx-named-xls")
    yield pytest.param(by_name(b"report.xlsx", b""), 400, id="empty-file")
    yield pytest.param(
        lambda world: raw_upload(
            world.client("unit_a"), {"period": "2022", "csrf_token": world.csrf["unit_a"]}, None, b""
        ),
        400,
        id="no-file",
    )
    yield pytest.param(
        lambda world: upload(world.client("unit_a"), world.csrf["unit_a"], sample, period="1999"), 400, id="period"
    )
    yield pytest.param(
        lambda world: upload(world.client("unit_a"), world.csrf["unit_a"], sample, period="../2022"),
        400,
        id="period-traversal",
    )
    # a period the office has not opened: refused, no folder made (it was everyone's default period once)
    yield pytest.param(
        lambda world: upload(world.client("unit_a"), world.csrf["unit_a"], sample, period="2031"),
        403,
        id="period-not-open",
    )
    yield pytest.param(
        lambda world: upload(world.client("unit_a"), world.csrf["unit_a"], sample, period="2023Q2"),
        403,
        id="period-past-not-open",
    )
    for label, period in (("full-width", "\uff12\uff10\uff12\uff12"), ("arabic-indic", "\u0662\u0660\u0662\u0662")):
        yield pytest.param(
            lambda world, period=period: upload(world.client("unit_a"), world.csrf["unit_a"], sample, period=period),
            400,
            id=f"period-{label}-digits",
        )
    yield pytest.param(
        lambda world: raw_upload(world.client("unit_a"), {"period": "2022"}, b"report.xlsx", sample),
        403,
        id="csrf-missing",
    )
    yield pytest.param(
        lambda world: upload(world.client("unit_a"), "forged-" + world.csrf["unit_a"][7:], sample),
        403,
        id="csrf-forged",
    )
    yield pytest.param(lambda world: upload(world.client("unit_a"), "", sample), 403, id="csrf-empty")
    yield pytest.param(
        lambda world: upload(world.client("unit_a"), world.csrf["unit_b"], sample),
        403,
        id="csrf-of-another-session",
    )
    yield pytest.param(
        lambda world: upload(world.client("office"), world.csrf["office"], sample), 403, id="office-uploads"
    )
    yield pytest.param(lambda world: upload(world.client("anonymous"), "", sample), 401, id="anonymous-uploads")
    yield pytest.param(chunked_upload, 411, id="no-content-length")


def chunked_upload(world: World):
    """A body sent in chunks, without a Content-Length: refused before the form is read (411)."""
    body, content_type = multipart(
        {"period": "2022", "csrf_token": world.csrf["unit_a"]}, b"report.xlsx", sample_bytes("shiqiao")
    )

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    answer = world.client("unit_a").post(
        "/upload", content=chunks(), headers={"content-type": content_type}, follow_redirects=False
    )
    assert "content-length" not in answer.request.headers
    return answer


@pytest.mark.parametrize(("send", "status"), list(refusals()))
def test_refused_upload_writes_nothing(world: World, send, status: int) -> None:
    root = world.portal.root
    before, rows = tree(root), upload_rows(world)
    answer = send(world)
    assert answer.status_code == status, answer.text[:300]
    assert tree(root) == before
    assert upload_rows(world) == rows


def test_door_refuses_path_like_names() -> None:
    """The door itself, for every name above and a drive letter (which never reaches it over HTTP: see below)."""
    for name in [*BAD_NAMES.values(), b"C:\\x.xlsx", b"C:x.xlsx", b"x.xlsx:stream"]:
        with pytest.raises(portal_intake.Refused) as refused:
            portal_intake.check_name(name.decode())
        assert refused.value.status == 400


def test_drive_letter_name_is_kept_as_data_only(world: World) -> None:
    """`C:\\x.xlsx` reaches the portal as `x.xlsx`: the multipart parser (python-multipart) keeps only the last
    part of a Windows path. The upload is an ordinary one, stored under the server's name; the client's name is
    only data, and no file of that name appears anywhere."""
    root = world.portal.root
    before, rows = tree(root), upload_rows(world)
    data = sample_bytes("shiqiao")
    answer = raw_upload(
        world.client("unit_a"), {"period": "2022", "csrf_token": world.csrf["unit_a"]}, b"C:\\x.xlsx", data
    )
    assert answer.status_code == 303, answer.text[:300]
    assert upload_rows(world) == rows + 1
    newest = world.app.state.portal.uploads(unit_code="shiqiao")[0]
    assert newest.client_name == "x.xlsx"
    after = tree(root)
    added = set(after) - set(before)
    assert added and all(Path(path).name != "x.xlsx" and ":" not in path and "\\" not in path for path in added)
    # nothing else, not even for a moment: the staging copy is gone before the answer
    assert all(path.startswith(("raw/2022/", "warehouse/archive/", "warehouse/portal/reports/")) for path in added), (
        added
    )


@pytest.fixture
def small_limit(monkeypatch) -> int:
    limit = 1000
    monkeypatch.setattr(portal_intake, "max_upload_bytes", lambda: limit)
    monkeypatch.setattr(routes_unit, "max_upload_bytes", lambda: limit)
    return limit


def test_upload_over_the_size_limit_writes_nothing(world: World, small_limit: int) -> None:
    root = world.portal.root
    before, rows = tree(root), upload_rows(world)
    client, csrf = world.client("unit_a"), world.csrf["unit_a"]
    sample = sample_bytes("shiqiao")
    assert len(sample) > small_limit
    # the file read (up to the limit and one byte) is over the limit
    answer = upload(client, csrf, sample)
    assert answer.status_code == 413, answer.text[:300]
    # the whole request is over the limit and its margin: refused by its Content-Length, before the form is read
    answer = upload(client, csrf, sample + b"\x00" * 1_100_000)
    assert answer.status_code == 413, answer.text[:300]
    assert tree(root) == before
    assert upload_rows(world) == rows


def test_forged_login_token_logs_nobody_in(world: World) -> None:
    root, portal = world.portal.root, world.portal
    before, sessions = tree(root), session_rows(portal)
    client = world.stack.enter_context(TestClient(world.app, client=("10.0.0.9", 50000)))
    token = csrf_of(client.get("/login").text)
    form = {"username": "shiqiao.clerk", "password": PASSWORD}
    forged = client.post("/login", data={**form, "csrf_token": token[:-2] + "xx"}, follow_redirects=False)
    missing = client.post("/login", data=form, follow_redirects=False)
    client.cookies.delete(LOGIN_COOKIE)
    no_cookie = client.post("/login", data={**form, "csrf_token": token}, follow_redirects=False)
    client.cookies.set(LOGIN_COOKIE, f"{token}.{'0' * 64}")
    bad_signature = client.post("/login", data={**form, "csrf_token": token}, follow_redirects=False)
    for answer in (forged, missing, no_cookie, bad_signature):
        assert answer.status_code == 403, answer.text[:300]
        assert SESSION_COOKIE not in answer.cookies
    assert tree(root) == before
    assert session_rows(portal) == sessions


# --- 4. passwords nowhere; sessions end; the login rate limit ----------------------------------------------------

SECRET = "Quokka-Zebra-4711-unguessable"
WRONG = "Marmot-Ibis-0815-mistyped"


@pytest.fixture(scope="module")
def accounts_portal(tmp_path_factory) -> Iterator[tuple[Portal, object]]:
    portal = make_portal(tmp_path_factory.mktemp("accounts") / "site", accounts={})
    store = portal.store
    store.add("shiqiao.clerk", SECRET, unit_code="shiqiao")
    store.add("dashi.clerk", SECRET, unit_code="dashi")
    store.add("luopu.clerk", SECRET, unit_code="luopu")
    store.add("nancun.clerk", SECRET, unit_code="nancun")
    store.add("office", SECRET, office=True)
    yield portal, portal.app(warm=False)


def cookie_parts(header: str) -> dict[str, str]:
    parts = {}
    for piece in header.split(";"):
        name, _, value = piece.strip().partition("=")
        parts[name.lower()] = value
    return parts


def session_set_cookie(answer) -> str:
    headers = [value for value in answer.headers.get_list("set-cookie") if value.startswith(f"{SESSION_COOKIE}=")]
    assert len(headers) == 1, answer.headers
    return headers[0]


def test_passwords_are_kept_nowhere(accounts_portal, caplog, capsys) -> None:
    portal, app = accounts_portal
    caplog.set_level(logging.DEBUG)
    answers = []
    with TestClient(app, client=("10.1.0.1", 50000)) as client:
        for username, password in (
            ("shiqiao.clerk", WRONG),
            ("nobody.here", SECRET),
            (SECRET, SECRET),  # a password typed in the name field
            ("shiqiao.clerk", SECRET),
            ("office", SECRET),
        ):
            page = client.get("/login")
            answers.append(page)
            form = {"username": username, "password": password, "csrf_token": csrf_of(page.text)}
            answer = client.post("/login", data=form, follow_redirects=False)
            answers.append(answer)
            if answer.status_code == 303:
                answers.append(client.get(answer.headers["location"]))
        answers += [client.get(path) for path in ("/office", "/office/audit", "/unit", "/")]
    assert [answer.status_code for answer in answers[1::2][:3]] == [401, 401, 401]
    folder = portal.warehouse.parent
    stored = b"".join((folder / name).read_bytes() for name in SQLITE_FILES if (folder / name).exists())
    out, err = capsys.readouterr()
    for secret in (SECRET, WRONG):
        assert secret.encode() not in stored
        for answer in answers:
            assert secret.encode() not in answer.content
            assert all(secret not in value for value in answer.headers.values())
        assert secret not in caplog.text and secret not in out and secret not in err
        assert all(secret not in str(record.args) for record in caplog.records)


def test_session_cookie_and_token(accounts_portal) -> None:
    portal, app = accounts_portal
    with TestClient(app, client=("10.1.0.2", 50000)) as client:
        token = csrf_of(client.get("/login").text)
        form = {"username": "dashi.clerk", "password": SECRET, "csrf_token": token}
        answer = client.post("/login", data=form, follow_redirects=False)
        assert answer.status_code == 303
        header = session_set_cookie(answer)
        parts = cookie_parts(header)
        assert "httponly" in parts
        assert parts.get("samesite", "").lower() == "strict"
        assert int(parts["max-age"]) == 8 * 3600
        assert parts.get("path") == "/"
        value = client.cookies.get(SESSION_COOKIE).strip('"')
        session_token = value.rsplit(".", 1)[0]
        assert len(session_token) >= 32
    folder = portal.warehouse.parent
    stored = b"".join((folder / name).read_bytes() for name in SQLITE_FILES if (folder / name).exists())
    assert session_token.encode() not in stored and value.encode() not in stored
    with sqlite3.connect(folder / PORTAL_DB) as con:
        hashes = {row[0] for row in con.execute("select token_hash from sessions")}
    assert hashlib.sha256(session_token.encode()).hexdigest() in hashes


def logged_in(app, username: str, address: str) -> tuple[TestClient, str, str]:
    client = TestClient(app, client=(address, 50000))
    client.__enter__()
    token = csrf_of(client.get("/login").text)
    form = {"username": username, "password": SECRET, "csrf_token": token}
    answer = client.post("/login", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:300]
    landed = client.get(answer.headers["location"])
    return client, csrf_of(landed.text), client.cookies.get(SESSION_COOKIE)


def replay(app, cookie: str) -> list[int]:
    """The statuses of a page and the API answered to a client holding only `cookie`."""
    with TestClient(app, client=("10.1.0.99", 50000)) as other:
        other.cookies.set(SESSION_COOKIE, cookie)
        return [
            other.get("/unit", follow_redirects=False).status_code,
            other.get("/api/submissions/0000000000000000").status_code,
            other.post("/logout", data={}, follow_redirects=False).status_code,
        ]


def test_logout_ends_the_session(accounts_portal) -> None:
    _, app = accounts_portal
    client, csrf, cookie = logged_in(app, "luopu.clerk", "10.1.0.3")
    try:
        assert replay(app, cookie) == [200, 404, 403]  # the cookie works (the logout without its CSRF is refused)
        answer = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/login")
        assert replay(app, cookie) == [303, 401, 401]
    finally:
        client.__exit__(None, None, None)


def test_disabling_an_account_ends_its_sessions(accounts_portal) -> None:
    portal, app = accounts_portal
    first, _, cookie_1 = logged_in(app, "nancun.clerk", "10.1.0.4")
    second, _, cookie_2 = logged_in(app, "nancun.clerk", "10.1.0.5")
    try:
        assert replay(app, cookie_1)[:2] == [200, 404] and replay(app, cookie_2)[:2] == [200, 404]
        portal.store.disable("nancun.clerk")
        assert replay(app, cookie_1) == [303, 401, 401]
        assert replay(app, cookie_2) == [303, 401, 401]
        token = csrf_of(first.get("/login").text)
        form = {"username": "nancun.clerk", "password": SECRET, "csrf_token": token}
        assert first.post("/login", data=form, follow_redirects=False).status_code == 401
    finally:
        first.__exit__(None, None, None)
        second.__exit__(None, None, None)


def attempt(client: TestClient, username: str, password: str):
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}, follow_redirects=False
    )


def test_a_stranger_elsewhere_locks_nobody_out(accounts_portal) -> None:
    """Five wrong passwords for a name from one address lock that name at that address only: the next try there,
    right password or not, is refused unchecked (429) and says until when; the clerk at her own address logs in,
    and another clerk behind the stranger's address too."""
    _, app = accounts_portal
    with TestClient(app, client=("10.2.0.1", 50000)) as stranger:
        for tries_left in (4, 3, 2, 1):
            answer = attempt(stranger, "office", WRONG)
            assert answer.status_code == 401 and f"还可再试 {tries_left} 次" in answer.text
        answer = attempt(stranger, "office", WRONG)
        assert answer.status_code == 401 and "已暂时锁定" in answer.text
        locked = attempt(stranger, "office", SECRET)
        assert locked.status_code == 429 and SESSION_COOKIE not in locked.cookies
        until = (datetime.now(UTC) + timedelta(minutes=15)).astimezone(timezone(timedelta(hours=8)))
        assert "已暂时锁定" in locked.text and "后可再试" in locked.text and "解锁" in locked.text
        assert until.strftime("%H:") in locked.text  # the hour it ends, in Beijing time
        assert 800 <= int(locked.headers["retry-after"]) <= 900
        assert attempt(stranger, "dashi.clerk", SECRET).status_code == 303  # the shared address: another clerk
    with TestClient(app, client=("10.2.0.100", 50000)) as own:
        assert attempt(own, "office", SECRET).status_code == 303


def test_one_address_trying_many_names_is_locked_over_http(accounts_portal) -> None:
    """Failed logins for names that are not accounts, from one address, past the address's limit: the right
    password is refused there; from elsewhere the account is not locked."""
    _, app = accounts_portal
    with TestClient(app, client=("10.3.0.1", 50000)) as client:
        for number in range(accounts.MAX_FAILURES_ADDRESS):
            assert attempt(client, f"guess{number}.clerk", WRONG).status_code == 401
        answer = attempt(client, "shiqiao.clerk", SECRET)
        assert answer.status_code == 429 and "网络地址" in answer.text
    with TestClient(app, client=("10.3.0.2", 50000)) as client:
        assert attempt(client, "shiqiao.clerk", SECRET).status_code == 303


def test_the_office_unlocks_in_the_portal(accounts_portal) -> None:
    portal, app = accounts_portal
    with TestClient(app, client=("10.4.0.1", 50000)) as clerk:
        for _ in range(accounts.MAX_FAILURES):
            attempt(clerk, "luopu.clerk", WRONG)
        assert attempt(clerk, "luopu.clerk", SECRET).status_code == 429
        office, csrf, _ = logged_in(app, "office", "10.4.0.9")
        try:
            page = office.get("/office/manage").text
            row = page.split('data-username="luopu.clerk"', 1)[1].split("</tr>", 1)[0]
            assert "10.4.0.1" in row and "该账户在此地址" in row and "5 次" in row
            answer = office.post("/office/unlock", data={"csrf_token": csrf, "username": "luopu.clerk"})
            assert answer.status_code == 200 and 'data-username="luopu.clerk"' not in answer.text
        finally:
            office.__exit__(None, None, None)
        assert attempt(clerk, "luopu.clerk", SECRET).status_code == 303
    assert ("office", "unlock", "luopu.clerk", "10.4.0.9") in [
        (e.actor, e.action, e.target, e.remote) for e in portal.store.audit_log(limit=50)
    ]


# --- 5. security headers -----------------------------------------------------------------------------------------

HEADER_PAGES = {
    "login": ("anonymous", "/login"),
    "healthz": ("anonymous", "/healthz"),
    "redirect": ("anonymous", "/unit"),
    "not-found": ("unit_a", "/no/such/page"),
    "unit": ("unit_a", "/unit"),
    "submission": ("unit_a", "/submissions/{a}"),
    "report": ("unit_a", "/submissions/{a}/report.html"),
    "api": ("unit_a", "/api/submissions/{a}"),
    "forbidden": ("unit_a", "/office"),
    "office": ("office", "/office"),
    "audit": ("office", "/office/audit"),
}


@pytest.mark.parametrize("page", list(HEADER_PAGES))
def test_security_headers(world: World, page: str) -> None:
    role, path = HEADER_PAGES[page]
    answer = world.client(role).get(path.format(a=world.a_id), follow_redirects=False)
    assert answer.status_code in (200, 303, 403, 404)
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    csp = answer.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp or "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0]
    assert answer.headers["cache-control"] == "no-store"
    assert re.fullmatch(r"same-origin", answer.headers["referrer-policy"])


def test_an_expired_session_is_refused(accounts_portal) -> None:
    """Past its 8 hours the session no longer opens a page, whatever the cookie's own expiry says."""
    _, app = accounts_portal
    state = app.state.portal
    client, _, cookie = logged_in(app, "dashi.clerk", "10.1.0.6")
    try:
        assert replay(app, cookie)[:2] == [200, 404]
        now = state.clock
        state.clock = lambda: now() + timedelta(hours=8, minutes=1)
        try:
            assert replay(app, cookie) == [303, 401, 401]
        finally:
            state.clock = now
        assert replay(app, cookie)[:2] == [200, 404]
    finally:
        client.__exit__(None, None, None)

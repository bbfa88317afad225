"""The portal's shape: every route comes from the `APIRouter` of an area module, and the session, the role and
the CSRF token are dependencies the route declares, not checks each route may or may not remember to make.

The lists are read from the app itself (`app.routes`), so that a new route is held to them as soon as it exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from portal_helpers import app_routes, login, make_portal

from union_stats.portal import deps, routes_auth, routes_office, routes_submissions, routes_unit

AREAS = (routes_auth, routes_unit, routes_submissions, routes_office)
# the routes anyone may use, signed in or not (the module docstring of portal/app.py)
PUBLIC = {("GET", "/healthz"), ("GET", "/"), ("GET", "/login"), ("POST", "/login")}


def role_of(path: str) -> str | None:
    """The role a route is for (None: any signed-in account), as the table of portal/app.py says."""
    if path.startswith("/office") or path.endswith("/review"):
        return "office"
    if path.startswith("/unit") or path in ("/template.xlsx", "/upload") or path.endswith("/explanations"):
        return "unit"
    return None


def dependencies(dependant) -> Iterator[object]:
    """Every dependency of a route (what FastAPI calls), its dependencies' own included."""
    for sub in dependant.dependencies:
        yield sub.call
        yield from dependencies(sub)


def route_keys(route) -> list[tuple[str, str]]:
    return [(method, route.path) for method in sorted(route.methods)]


def unguarded(app: FastAPI, areas=AREAS) -> list[str]:
    """What is wrong with the app's routes: a route that no area's router holds, a route not public that does not
    depend on the session, a unit's or the office's route without the role's dependency, a POST but the login's
    without the CSRF-checked form."""
    area_routes = [route for area in areas for route in area.router.routes]
    wrong = []
    for route in app_routes(app):
        calls = list(dependencies(route.dependant))
        roles = {call.role for call in calls if isinstance(call, deps.Role)}
        for method, path in route_keys(route):
            if not any(route.original_route is mine for mine in area_routes):
                wrong.append(f"{method} {path}: not a route of an area's router")
            if (method, path) in PUBLIC:
                continue
            if deps.signed_in not in calls:
                wrong.append(f"{method} {path}: does not depend on the session (deps.signed_in)")
            if role_of(path) is not None and roles != {role_of(path)}:
                wrong.append(f"{method} {path}: depends on the roles {sorted(roles)}, not {role_of(path)!r}")
            if method == "POST" and not any(isinstance(call, deps.CsrfForm) for call in calls):
                wrong.append(f"{method} {path}: does not depend on the CSRF-checked form (deps.CsrfForm)")
    return wrong


@pytest.fixture(scope="module")
def portal_app(tmp_path_factory):
    return make_portal(tmp_path_factory.mktemp("routes") / "site").app(warm=False)


def test_every_route_is_an_areas_and_declares_its_checks(portal_app: FastAPI) -> None:
    assert unguarded(portal_app) == []
    routes = {key for route in app_routes(portal_app) for key in route_keys(route)}
    assert PUBLIC <= routes
    # each area's router is included once, and the app has no route of its own beside them
    assert len(app_routes(portal_app)) == sum(len(area.router.routes) for area in AREAS)
    assert {route.endpoint.__module__ for route in app_routes(portal_app)} == {area.__name__ for area in AREAS}


def test_the_check_finds_a_route_that_skips_them(tmp_path) -> None:
    """The check above is one that can fail: a route added to the app itself, or an area's route without the
    dependencies, is found."""
    app = make_portal(tmp_path / "site").app(warm=False)

    @app.post("/office/shortcut")
    def shortcut() -> str:
        return "no session, no role, no token"

    assert unguarded(app) == [
        "POST /office/shortcut: not a route of an area's router",
        "POST /office/shortcut: does not depend on the session (deps.signed_in)",
        "POST /office/shortcut: depends on the roles [], not 'office'",
        "POST /office/shortcut: does not depend on the CSRF-checked form (deps.CsrfForm)",
    ]

    # an area of its own, so that the portal's routers stay as they are for the other tests
    extra = SimpleNamespace(router=APIRouter())

    @extra.router.post("/office/quiet")
    def quiet(me: deps.OfficeAccount) -> str:
        return "a role, but no token"

    @extra.router.get("/unit/peek")
    def peek(me: deps.SignedInAccount) -> str:
        return "signed in, but any role"

    app = make_portal(tmp_path / "other").app(warm=False)
    app.include_router(extra.router)
    assert unguarded(app, (*AREAS, extra)) == [
        "POST /office/quiet: does not depend on the CSRF-checked form (deps.CsrfForm)",
        "GET /unit/peek: depends on the roles [], not 'unit'",
    ]


def test_every_post_without_the_sessions_token_is_refused(portal_app: FastAPI) -> None:
    """Every POST route of the app but the login's, for both signed-in roles: without the session's token, or with
    another, 403 and nothing done (the session lives on, the audit trail is as it was). For the role the route is
    for, the refusal is the CSRF check's."""
    posts = [route.path for route in app_routes(portal_app) if "POST" in route.methods and route.path != "/login"]
    assert len(posts) >= 7
    state = portal_app.state.portal
    with (
        TestClient(portal_app, client=("10.2.0.1", 50000)) as unit,
        TestClient(portal_app, client=("10.2.0.2", 50000)) as office,
    ):
        clients = {"unit": unit, "office": office}
        tokens = {"unit": login(unit, "shiqiao.clerk"), "office": login(office, "office")}
        audit = len(state.audit_log(limit=10_000))
        for path in posts:
            url = path.replace("{submission_id}", "0123456789abcdef")
            assert "{" not in url, f"a path parameter the test does not fill: {path}"
            for role, client in clients.items():
                for form in (
                    {},
                    {"csrf_token": "not-the-token"},
                    {"csrf_token": tokens["office" if role == "unit" else "unit"]},
                ):
                    answer = client.post(url, data=form, follow_redirects=False)
                    assert answer.status_code == 403, f"POST {path} as {role} with {form}: {answer.status_code}"
                    if role_of(path) in (None, role):
                        assert deps.CSRF_REFUSED in answer.text, f"POST {path} as {role}: {answer.text[:300]}"
        assert len(state.audit_log(limit=10_000)) == audit
        assert unit.get("/", follow_redirects=False).headers["location"] == "/unit"
        assert office.get("/", follow_redirects=False).headers["location"] == "/office"

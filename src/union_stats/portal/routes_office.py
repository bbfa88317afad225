"""The office's pages: the dashboard of a period (`/office`), the district figures, the jobs (run, close, reopen)
and their pages, the audit trail, and the management of periods open for uploads, locked logins and accounts.

Every route here is the office's alone (`OfficeAccount`: 403 for a unit).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from union_stats import discover, office_time, periods, reference
from union_stats.parse import units_named_in
from union_stats.portal.accounts import AccountError
from union_stats.portal.deps import (
    CheckedForm,
    Denied,
    OfficeAccount,
    SiteDep,
    as_int,
    ordinals,
    remote,
    wants_json,
)
from union_stats.portal.state import JOB_KINDS, counted
from union_stats.portal.words import ACTION_ZH, detail_zh, job_summary_zh

router = APIRouter()


def job_number(job_id: str) -> int:
    """The job's number in the path, read before the role is asked for: a path that is no number is no page (404),
    for anyone, as when it was the route's own `int` parameter."""
    return as_int(job_id)


def folder_files(
    raw_dir: Path, period: str, units: tuple, placed_by_portal: set[str]
) -> dict[str, list[tuple[str, str]]]:
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


@router.get("/office")
def office(request: Request, site: SiteDep, me: OfficeAccount, period: str | None = None) -> Response:
    state, runner = site.state, site.runner
    chosen = site.chosen_period(period)
    uploads = state.uploads(period=chosen)
    reviews = state.latest_reviews()
    snap = runner.snapshot(chosen)
    warehouse_rows = {row["unit_code"]: row for row in (snap[1]["completeness"] if snap else [])}
    outcomes = {wid: status for (_, wid), status in site.warehouse_outcomes({chosen}).items()}
    due = periods.due_on(chosen)
    expected = tuple(reference.expected_units(site.raw_dir / chosen))
    waiting = folder_files(site.raw_dir, chosen, expected, {item.stored_name for item in uploads})
    units = []
    for unit in expected:
        mine = [item for item in uploads if item.unit_code == unit.unit_code]
        kept = counted(mine, outcomes)
        files = waiting.get(unit.unit_code, [])
        first = min([item.received_at for item in mine] + [came for _, came in files], default=None)
        on_time = None if first is None else datetime.fromisoformat(first).astimezone(office_time.zone()).date() <= due
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
    opened = site.intake.open_periods()
    return site.render(
        request,
        "office.html.j2",
        period=chosen,
        periods=site.period_choices(me.account),
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


@router.post("/office/jobs")
async def start_job(request: Request, site: SiteDep, me: OfficeAccount, form: CheckedForm) -> Response:
    kind = str(form.get("kind") or "")
    if kind not in JOB_KINDS:
        raise Denied(400, "未知的操作。")
    chosen = site.chosen_period(str(form.get("period") or ""))
    job = site.runner.start(kind, chosen, me.account.username, remote(request))
    if job is None:
        raise Denied(409, "已有一项操作正在进行，请等它结束后再试。")
    return RedirectResponse(f"/office/jobs/{job.id}", status_code=303)


@router.get("/office/jobs/{job_id}")
def job_page(
    request: Request, job_id: Annotated[int, Depends(job_number)], site: SiteDep, me: OfficeAccount
) -> Response:
    job = site.state.job(job_id) if 0 < job_id < 2**63 else None  # beyond SQLite's integers: no such job
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
    return site.render(request, "job.html.j2", job=job, summary=summary)


@router.get("/office/figures")
def figures(request: Request, site: SiteDep, me: OfficeAccount, period: str | None = None) -> Response:
    chosen = site.chosen_period(period)
    snap = site.runner.snapshot(chosen)
    rows = snap[1]["figures"] if snap else []
    if wants_json(request):
        return JSONResponse({"period": chosen, "taken_at": snap[0] if snap else None, "figures": rows})
    return site.render(
        request,
        "figures.html.j2",
        period=chosen,
        periods=site.period_choices(me.account),
        snapshot=snap,
        figures=rows,
        matched=sum(1 for row in rows if row["matches"]),
        compared=sum(1 for row in rows if row["matches"] is not None),
        job=site.runner.running(),
    )


@router.get("/office/audit")
def audit(request: Request, site: SiteDep, me: OfficeAccount) -> Response:
    names = {unit.unit_code: unit.name_zh for unit in reference.reference_units()}
    entries = [
        {
            "entry": entry,
            "action": ACTION_ZH.get(entry.action, entry.action),
            "detail": detail_zh(entry.action, entry.detail, names),
        }
        for entry in reversed(site.state.audit_log(limit=300))
    ]
    return site.render(request, "audit.html.j2", entries=entries)


@router.get("/office/manage")
def manage(request: Request, site: SiteDep, me: OfficeAccount) -> Response:
    return site.render(
        request,
        "manage.html.j2",
        openings=list(site.intake.open_periods().values()),
        accounts=site.state.accounts(),
        locks=site.state.locks(),
    )


@router.post("/office/periods")
async def open_or_stop(request: Request, site: SiteDep, me: OfficeAccount, form: CheckedForm) -> Response:
    if not str(form.get("period") or "").strip():
        raise Denied(400, "请填写统计期（年度如 2026，季度如 2026Q4）。")
    chosen = site.chosen_period(str(form.get("period")))
    action = str(form.get("action") or "")
    if action == "open":
        site.state.open_period(chosen, me.account.username, remote(request))
    elif action == "stop":
        opening = site.intake.open_periods().get(chosen)
        if opening is not None and opening.source != "office":
            raise Denied(
                409,
                f"统计期 {chosen} 是按统计期设置文件开放的（刚结束的统计期，或文件中列出的统计期），"
                "不能在平台上停止；如需停止，请系统管理员修改该文件（reference/periods.toml）。",
            )
        site.state.stop_period(chosen, me.account.username, remote(request))
    else:
        raise Denied(400, "未知的操作。")
    back = str(form.get("back") or "")
    return RedirectResponse("/office/manage" if back == "manage" else f"/office?period={chosen}", status_code=303)


@router.post("/office/unlock")
async def unlock(request: Request, site: SiteDep, me: OfficeAccount, form: CheckedForm) -> Response:
    username = str(form.get("username") or "")
    try:
        site.state.unlock(username, actor=me.account.username, remote=remote(request))
    except AccountError:
        raise Denied(404, "找不到这个账户。") from None
    return RedirectResponse("/office/manage?unlocked=1", status_code=303)

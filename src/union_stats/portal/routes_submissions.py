"""A submission: its page (its unit's, and the office's), its report and annotated copy, its JSON, the unit's
explanations of its warnings and the office's review.

A unit sees only its own unit's submissions: another's id is a 404, as for an id no submission has
(`Site.own_upload`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from union_stats.portal.deps import (
    MAX_COMMENT,
    MAX_EXPLANATION,
    CheckedForm,
    CsrfForm,
    Denied,
    OfficeAccount,
    Role,
    SignedIn,
    SignedInAccount,
    Site,
    SiteDep,
    as_int,
    local_time,
    remote,
    wants_json,
)
from union_stats.portal.intake import LARGE_CELLS
from union_stats.portal.state import Upload, counted, finding_key
from union_stats.pseudonym import scrub_ids

router = APIRouter()

# explanations: the CSRF token is checked before the role (both are 403), as the form is read first
ExplanationForm = Annotated[FormData, Depends(CsrfForm(max_files=0, max_fields=1000))]
Explainer = Annotated[SignedIn, Depends(Role("unit", "说明由报送单位填写。"))]


def saved_count(saved: str | None = None) -> int | None:
    """The page's `?saved=N` (explanations just saved), read before the session is asked for: a value that is no
    number is no page (404), for anyone, as when it was the route's own `int` parameter."""
    return as_int(saved)


def submission_json(upload: Upload) -> dict:
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


def counted_of(site: Site, upload: Upload) -> Upload | None:
    """The upload of `upload`'s unit and period that a run loads (or has loaded)."""
    outcomes = {wid: status for (_, wid), status in site.warehouse_outcomes({upload.period}).items()}
    return counted(site.state.uploads(unit_code=upload.unit_code, period=upload.period), outcomes)


def cannot_approve(site: Site, upload: Upload) -> str:
    """Why the office may not approve `upload` ("" if it may): approval is of what a run loads."""
    if upload.status == "rejected" or not upload.placed:
        return "这份文件检查未通过（有错误），不会入库，不能审核通过；如需告诉报送单位怎样修改，请写明意见后点“退回”。"
    kept = counted_of(site, upload)
    if kept is None or kept.id != upload.id:
        later = f"（{local_time(kept.received_at, seconds=True)} 上传）" if kept is not None else ""
        return f"入库的不是这一份，而是本单位的另一份文件{later}：请审核那一份。"
    return ""


@router.get("/api/submissions/{submission_id}")
def submission_api(site: SiteDep, me: SignedInAccount, submission_id: str) -> Response:
    return JSONResponse(submission_json(site.own_upload(submission_id, me.account)))


@router.get("/submissions/{submission_id}")
def submission_page(
    request: Request,
    submission_id: str,
    saved: Annotated[int | None, Depends(saved_count)],
    site: SiteDep,
    me: SignedInAccount,
) -> Response:
    state, account = site.state, me.account
    upload = site.own_upload(submission_id, account)
    if wants_json(request):
        return JSONResponse(submission_json(upload))
    explanations = state.explanations(upload.id)
    findings = [
        {**finding, "key": finding_key(finding), "explanation": explanations.get(finding_key(finding))}
        for finding in upload.findings
    ]
    kept = counted_of(site, upload)
    return site.render(
        request,
        "submission.html.j2",
        upload=upload,
        findings=findings,
        warnings=sum(finding["severity"] == "warning" for finding in findings),
        explained=sum(1 for finding in findings if finding["explanation"]),
        saved=saved,
        reviews=state.reviews(upload.id),
        loaded=site.warehouse_outcomes({upload.period}).get((upload.period, upload.warehouse_id)),
        counted=kept,
        not_approvable=cannot_approve(site, upload) if account.role == "office" else "",
        has_report=site.intake.report_path(upload, "html") is not None,
        has_annotated=site.intake.report_path(upload, "xlsx") is not None,
        large_cells=LARGE_CELLS,
        max_explanation=MAX_EXPLANATION,
    )


@router.get("/submissions/{submission_id}/report.html")
def submission_report(site: SiteDep, me: SignedInAccount, submission_id: str) -> Response:
    path = site.intake.report_path(site.own_upload(submission_id, me.account), "html")
    if path is None:
        raise Denied(404, "这份报送没有质量报告。")
    return FileResponse(path, media_type="text/html; charset=utf-8")


@router.get("/submissions/{submission_id}/annotated.xlsx")
def submission_annotated(site: SiteDep, me: SignedInAccount, submission_id: str) -> Response:
    upload = site.own_upload(submission_id, me.account)
    path = site.intake.report_path(upload, "xlsx")
    if path is None:
        raise Denied(404, "这份报送没有批注版（文件无法读取，或没有发现问题）。")
    stem = Path(upload.stored_name).stem
    return FileResponse(
        path,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        filename=f"{stem}.annotated.xlsx",
    )


@router.post("/submissions/{submission_id}/explanations")
async def explain(
    request: Request, site: SiteDep, submission_id: str, form: ExplanationForm, me: Explainer
) -> Response:
    account = me.account
    upload = site.own_upload(submission_id, account)
    texts = {
        # an ID number has no place in free text: kept only masked, as in a remark
        name.removeprefix("explain::"): scrub_ids(str(value).strip()[:MAX_EXPLANATION])
        for name, value in form.multi_items()
        if name.startswith("explain::")
    }
    changed = site.state.explain(upload, texts, account.username, remote(request))
    return RedirectResponse(f"/submissions/{submission_id}?saved={changed}", status_code=303)


@router.post("/submissions/{submission_id}/review")
async def review(request: Request, site: SiteDep, submission_id: str, me: OfficeAccount, form: CheckedForm) -> Response:
    account = me.account
    upload = site.own_upload(submission_id, account)
    decision = str(form.get("decision") or "")
    comment = scrub_ids(str(form.get("comment") or "").strip()[:MAX_COMMENT])
    if decision not in ("approve", "return"):
        raise Denied(400, "请选择“审核通过”或“退回”。")
    if decision == "return" and not comment:
        raise Denied(400, "退回时请写明原因，报送单位会看到。")
    if decision == "approve" and (why := cannot_approve(site, upload)):
        raise Denied(409, why)
    site.state.review(upload, decision, comment, account.username, remote(request))
    return RedirectResponse(f"/submissions/{submission_id}", status_code=303)

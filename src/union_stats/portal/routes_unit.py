"""A unit's pages: its home (`/unit`: the template, the upload form, its submissions), the blank template and the
upload."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from union_stats import periods, reference
from union_stats.portal.deps import (
    CsrfForm,
    Denied,
    Role,
    SignedIn,
    SiteDep,
    UnitAccount,
    ordinals,
    remote,
)
from union_stats.portal.intake import Refused, max_upload_bytes
from union_stats.portal.state import Upload, counted

log = logging.getLogger(__name__)

router = APIRouter()


def stated_length(request: Request) -> None:
    """An upload's request must say its length, within the limit: before its form is read."""
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        # without a length the form parser would spool a body of any size to disk before the limit applies
        raise Denied(411, "上传请求缺少长度信息，请用本页的上传表单重新上传。")
    if int(length) > max_upload_bytes() + 1_000_000:
        raise Denied(413, f"文件超过 {max_upload_bytes() // 1_000_000} MB 的上限，请删除多余内容后重新上传。")


# the uploader's role is asked before the length, and the length before the form is read
Uploader = Annotated[SignedIn, Depends(Role("unit", "只有基层单位的账户可以上传报表。"))]
UploadForm = Annotated[FormData, Depends(CsrfForm(max_files=1, max_fields=10, before=stated_length))]


@router.get("/unit")
def unit_home(request: Request, site: SiteDep, me: UnitAccount, period: str | None = None) -> Response:
    state, account = site.state, me.account
    chosen = site.chosen_period(period)
    uploads = state.uploads(unit_code=account.unit_code)
    snap = site.runner.snapshot(chosen)
    loaded = site.warehouse_outcomes({item.period for item in uploads})
    by_period: dict[str, list[Upload]] = {}
    for item in uploads:
        by_period.setdefault(item.period, []).append(item)
    counted_ids = set()
    for period_of, mine in by_period.items():
        outcomes = {wid: status for (p, wid), status in loaded.items() if p == period_of}
        if (kept := counted(mine, outcomes)) is not None:
            counted_ids.add(kept.id)
    return site.render(
        request,
        "unit.html.j2",
        period=chosen,
        closed=bool(snap and snap[1]["closed"]),
        open_for_uploads=chosen in site.intake.open_periods(),
        periods=site.period_choices(account),
        due_on=periods.due_on(chosen),
        uploads=uploads,
        ordinal=ordinals(uploads),
        counted_ids=counted_ids,
        loaded=loaded,
        reviews=state.latest_reviews(),
        max_mb=max_upload_bytes() // 1_000_000,
    )


@router.get("/template.xlsx")
def template_download(site: SiteDep, me: UnitAccount, period: str | None = None) -> Response:
    from union_stats.template import write_blank

    account = me.account
    chosen = site.chosen_period(period)
    units = {unit.unit_code: unit for unit in reference.units_for(site.raw_dir / chosen)}
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


@router.post("/upload")
async def upload(request: Request, site: SiteDep, me: Uploader, form: UploadForm) -> Response:
    account = me.account
    sent = form.get("file")
    if not isinstance(sent, UploadFile):
        raise Denied(400, "请选择要上传的报表文件。")
    data = await sent.read(max_upload_bytes() + 1)
    try:
        # the door counts the workbook's cells: on a worker thread, not the event loop
        pending = await asyncio.to_thread(
            site.intake.enqueue, account, str(form.get("period") or ""), sent.filename or "", data, remote(request)
        )
        done = await asyncio.wrap_future(pending)  # waits without holding a thread
    except Refused as error:
        raise Denied(error.status, error.message) from None
    except Exception:
        log.exception("an upload of %s could not be checked", account.username)
        raise Denied(500, "检查这份文件时出错，文件未保存：请稍后重新上传；如仍出错，请联系区总工会。") from None
    return RedirectResponse(f"/submissions/{done.submission_id}", status_code=303)

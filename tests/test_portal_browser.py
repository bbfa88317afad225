"""The submission portal in a real browser: a clerk and the office, end to end, as they would use it.

The real portal (uvicorn on a free port, warm checks) over a fresh raw folder holding the shipped 2022 sample
of every unit but 石桥 (市桥街; their receipts say they came on time), whose clerk then submits through the browser.
First a stranger, from the clerk's own address, types the clerk's name with wrong passwords until the name is
locked there: the clerk's right password is refused with the time the lock ends; the office, behind the same
address, logs in all the same and unlocks the clerk. The clerk logs in, downloads the template, uploads the sample
with two mistakes (each listed with its sheet and cell), uploads the corrected file (with one warning) and explains
the warning. The office sees it submitted (and the other units' files waiting for the run), reads the explanation,
cannot approve the file with mistakes, approves the corrected one, starts a run (the command line's
`union-stats run` in a child process) and reads its outcome in Chinese, and sees the district figures.

Playwright drives Debian's `chromium` (no browser is downloaded; never `playwright install`); the test is skipped
only where `chromium` is not installed. Each page visited is photographed (whole page) into
`$UNION_STATS_ARTIFACTS/portal-browser/` (default `artifacts/` in the repository); with
`UNION_STATS_README_SCREENSHOTS=1` two of them are also written to `docs/` for the README.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import openpyxl
import pytest
from defects import (
    BENEFICIARIES,
    COVER,
    INDICATORS,
    beneficiary_row,
    copy_sample,
    set_detail,
    set_indicator,
    with_check_character,
)
from portal_helpers import PASSWORD, SAMPLE_DIR, make_portal

from union_stats import labels
from union_stats.portal.app import served
from union_stats.portal.intake import append_receipt

CHROMIUM = shutil.which("chromium")
REPO = Path(__file__).resolve().parents[1]
UNIT = "shiqiao"
EXPLANATION = "此笔助学金发给在读成人职工（本人在职读研），已核对身份证。"
COMMENT = "已核对，同意入库。"
RUN_TIMEOUT = 240  # seconds: a run is a child process on a two-core machine


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("UNION_STATS_ARTIFACTS", REPO / "artifacts")) / "portal-browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def unit_name() -> str:
    from union_stats import reference

    return reference.reference_unit(UNIT).name_zh


def has_chinese_font() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    listed = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True, check=False)
    return bool(listed.stdout.strip())


@pytest.fixture
def portal_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_api_env: dict[str, str]):
    """The real portal served by uvicorn in a daemon thread; its URL. The other 17 units' samples are in place.
    The office's run (`union-stats run` in a child process) reports to the session's Prefect API instead of starting
    a temporary server (test_prefect_home and test_interrupt are about that server)."""
    monkeypatch.setenv("UNION_STATS_PSEUDONYM_KEY", "7" * 64)  # the run's child process inherits it
    monkeypatch.setenv("PREFECT_API_URL", prefect_api_env["PREFECT_API_URL"])  # the harness's own, unchanged
    monkeypatch.delenv("UNION_STATS_PORTAL_KEY", raising=False)
    portal = make_portal(tmp_path)
    on_time = datetime(2023, 1, 10, 9, 0, tzinfo=UTC)  # before the due date 2023-01-15: the others were on time
    for sample in sorted(SAMPLE_DIR.glob("*_2022.xlsx")):
        if not sample.name.startswith(f"{UNIT}_"):
            shutil.copyfile(sample, portal.raw_dir / "2022" / sample.name)
            append_receipt(portal.raw_dir / "2022", sample.name, on_time)
    assert len(list((portal.raw_dir / "2022").glob("*.xlsx"))) == 17
    with served(portal.app(warm=True), timeout=120) as url:  # the warm-up runs before it answers
        yield url


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium): the portal is not driven")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


class Camera:
    """Photographs each page visited, numbered in the order of the walk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        for old in folder.glob("*.png"):
            old.unlink()
        self.taken: dict[str, Path] = {}
        self.page = None

    def shoot(self, page, name: str) -> Path:
        self.page = page
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken[name] = path
        return path


def new_page(browser, errors: list[str]):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True, locale="zh-CN")
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    # a failed load is reported by its address (the console's own message does not name it); the browser's own
    # request for /favicon.ico (the portal has none) is no page's
    page.on(
        "response",
        lambda answer: (
            errors.append(f"{answer.status} {answer.url}")
            if answer.status >= 400 and not answer.url.endswith("/favicon.ico")
            else None
        ),
    )
    return context, page


def log_in(page, url: str, username: str, camera: Camera, shot: str) -> None:
    page.goto(f"{url}/")
    assert page.url == f"{url}/login"
    camera.shoot(page, shot)
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def mistaken_file(folder: Path) -> tuple[Path, set[str]]:
    """石桥's sample with a non-number and a negative value in the indicator sheet: two errors, their cells."""
    path = copy_sample(UNIT, folder / "mistakes")
    approximate, _ = set_indicator(path, "employment_services", "约100")
    negative, _ = set_indicator(path, "volunteer_sessions", -5)
    return path, {f"D{approximate}", f"D{negative}"}


def warned_file(folder: Path) -> tuple[Path, str]:
    """石桥's sample, correct but for one warning: 助学 (for a child at school) paid to someone born in 1962."""
    path = copy_sample(UNIT, folder / "corrected")
    number = with_check_character("44019919620315123")
    cell = set_detail(path, BENEFICIARIES, "身份证号", beneficiary_row(path, "助学"), number)
    return path, cell


def findings_of(page) -> list[dict[str, str]]:
    rows = page.locator("#findings tbody tr")
    return [
        {
            "severity": rows.nth(index).get_attribute("class") or "",
            "rule": rows.nth(index).get_attribute("data-rule") or "",
            "sheet": rows.nth(index).locator("td").nth(1).inner_text().strip(),
            "cell": rows.nth(index).locator("td.cell").inner_text().strip(),
        }
        for index in range(rows.count())
    ]


def test_clerk_submits_and_office_runs(browser, portal_url: str, tmp_path: Path) -> None:
    camera = Camera(artifacts_dir())
    try:
        walk(browser, portal_url, tmp_path, camera)
    except BaseException:
        if camera.page is not None and not camera.page.is_closed():
            camera.shoot(camera.page, "failed")  # the page the walk stopped on
        raise


def try_login(page, url: str, username: str, password: str) -> str:
    """One login try on the login page; the message it answers with ("" when it let the user in)."""
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    alert = page.locator("p.alert")
    return alert.inner_text() if page.url.startswith(f"{url}/login") and alert.count() else ""


def walk(browser, url: str, tmp_path: Path, camera: Camera) -> None:
    errors: list[str] = []
    refusals: list[str] = []  # the answers a lockout is made of (401, 429): expected, not errors

    # --- a stranger locks the clerk's name at this address; the office unlocks it ----------------------------------
    context, page = new_page(browser, refusals)
    for left in (4, 3, 2, 1):
        assert f"还可再试 {left} 次" in try_login(page, url, f"{UNIT}.clerk", "not-the-password")
    assert "已暂时锁定" in try_login(page, url, f"{UNIT}.clerk", "not-the-password")
    said = try_login(page, url, f"{UNIT}.clerk", PASSWORD)  # the clerk herself, right password: refused unchecked
    assert "已暂时锁定" in said and "后可再试" in said and "解锁" in said
    until = (datetime.now(UTC) + timedelta(minutes=15)).astimezone(timezone(timedelta(hours=8)))
    assert until.strftime("%H:") in said
    camera.shoot(page, "login-locked")
    context.close()
    assert [refusal.split()[0] for refusal in refusals] == ["401"] * 5 + ["429"]

    context, page = new_page(browser, errors)
    log_in(page, url, "office", camera, "office-login-shared-address")  # another name behind the same address
    assert page.url.startswith(f"{url}/office")
    page.click("a[href='/office/manage']")
    page.wait_for_url(f"{url}/office/manage")
    lock = page.locator(f"#locks tr[data-username='{UNIT}.clerk']")
    assert lock.count() == 1 and "5 次" in lock.inner_text()
    camera.shoot(page, "office-locks")
    lock.locator("button.unlock").click()
    page.wait_for_url(f"{url}/office/manage*")
    assert page.locator(f"#locks tr[data-username='{UNIT}.clerk']").count() == 0
    context.close()

    # --- the clerk ---------------------------------------------------------------------------------------------
    context, page = new_page(browser, errors)
    log_in(page, url, f"{UNIT}.clerk", camera, "login")
    assert page.url.startswith(f"{url}/unit")
    assert unit_name() in page.locator("header .who").inner_text()
    page.goto(f"{url}/unit?period=2022")  # the shipped sample's period, which the office opened
    camera.shoot(page, "unit")

    with page.expect_download() as downloading:
        page.click("#template-link")
    download = downloading.value
    assert download.suggested_filename == f"{UNIT}_2022.xlsx"
    template = tmp_path / "template.xlsx"
    download.save_as(template)
    assert template.read_bytes().startswith(b"PK\x03\x04")
    cover = openpyxl.load_workbook(template, read_only=True)[COVER]
    assert UNIT in [row[1] for row in cover.iter_rows(values_only=True) if len(row) > 1]

    broken, broken_cells = mistaken_file(tmp_path)
    page.set_input_files("#file", str(broken))
    page.click("form[action='/upload'] button[type=submit]")
    page.wait_for_url(f"{url}/submissions/*")
    rejected_url = page.url
    assert page.locator("#status").inner_text() == labels.outcome("rejected", "page_zh") == "未通过，请修改后重新上传"
    found = findings_of(page)
    errors_found = {item["cell"] for item in found if item["severity"] == "error" and item["sheet"] == INDICATORS}
    assert broken_cells <= errors_found, found
    assert {item["rule"] for item in found if item["cell"] in broken_cells} == {"values.number"}
    assert page.locator("#save-explanations").count() == 0  # errors are corrected, not explained
    camera.shoot(page, "submission-errors")
    readme_unit = camera.taken["submission-errors"]

    page.click("a[href^='/unit?period=']")
    page.wait_for_url(f"{url}/unit*")
    corrected, warned_cell = warned_file(tmp_path)
    page.set_input_files("#file", str(corrected))
    page.click("form[action='/upload'] button[type=submit]")
    page.wait_for_url(f"{url}/submissions/*")
    assert page.url != rejected_url
    accepted_url = page.url
    assert page.locator("#status").inner_text() == "通过（有警告）"
    found = findings_of(page)
    warnings = [item for item in found if item["severity"] == "warning"]
    assert [item["severity"] for item in found] == ["warning"], found
    assert warnings == [{"severity": "warning", "rule": "person.age", "sheet": BENEFICIARIES, "cell": warned_cell}]
    camera.shoot(page, "submission-warning")

    box = page.locator("#findings tr.warning textarea[name^='explain::']")
    assert box.count() == 1
    box.fill(EXPLANATION)
    page.click("#save-explanations")
    page.wait_for_url(f"{accepted_url}?saved=1")
    assert "说明已保存" in page.locator("#saved").inner_text()
    page.goto(accepted_url)
    assert page.locator("#findings tr.warning textarea[name^='explain::']").input_value() == EXPLANATION
    camera.shoot(page, "submission-explained")

    page.goto(f"{url}/unit?period=2022")
    history = page.locator("#history tbody tr")
    assert history.count() == 2
    assert "第 2 次" in history.nth(0).inner_text() and "第 1 次" in history.nth(1).inner_text()
    camera.shoot(page, "unit-history")
    context.close()

    # --- the office --------------------------------------------------------------------------------------------
    context, page = new_page(browser, errors)
    log_in(page, url, "office", camera, "office-login")
    assert page.url.startswith(f"{url}/office")
    page.goto(f"{url}/office?period=2022")
    row = page.locator(f"#completeness tr[data-unit='{UNIT}']")
    assert row.count() == 1
    cells = row.locator("td")
    assert cells.nth(1).inner_text().strip() == "2"  # two uploads
    assert cells.nth(4).inner_text().strip() == "通过（有警告）"
    assert cells.nth(5).inner_text().strip() == "待审核"
    waiting = page.locator("#completeness tr[data-unit='dashi'] td")  # its file came by the folder: not missing
    assert waiting.nth(4).inner_text().strip() == "已收到文件（未经平台），待运行入库"
    camera.shoot(page, "office")

    # the file with mistakes: no approval (a run will not load it); it can be returned with the reason
    page.goto(rejected_url)
    assert page.locator("#approve").count() == 0
    assert "不能审核通过" in page.locator("#not-approvable").inner_text()
    camera.shoot(page, "office-rejected-not-approvable")
    page.goto(f"{url}/office?period=2022")

    row.locator("a[href^='/submissions/']").click()
    page.wait_for_url(accepted_url)
    assert page.locator("#findings tr.warning .explanation").inner_text().strip() == EXPLANATION
    assert page.locator("textarea[name^='explain::']").count() == 0
    camera.shoot(page, "office-submission")
    page.fill("#comment", COMMENT)
    page.click("#approve")
    page.wait_for_url(accepted_url)
    assert COMMENT in page.locator("#review").inner_text()
    assert "审核通过" in page.locator("#review").inner_text()
    camera.shoot(page, "office-approved")

    page.goto(f"{url}/office?period=2022")
    assert row.locator("td").nth(5).inner_text().strip() == "已审核通过"
    page.click("#start-run")
    page.wait_for_url(f"{url}/office/jobs/*")
    camera.shoot(page, "job-started")
    deadline = time.monotonic() + RUN_TIMEOUT
    while page.locator("#job-state").inner_text() == "进行中":
        assert time.monotonic() < deadline, f"the run did not finish within {RUN_TIMEOUT} s"
        time.sleep(0.5)
        page.reload()
    state = page.locator("#job-state").inner_text()
    summary = page.locator("#job-summary").inner_text()
    camera.shoot(page, "job-finished")
    assert state == "成功", summary
    assert "统计期 2022 运行入库成功" in summary and "66 项与已发布的报告一致" in summary, summary

    page.click("a.button[href='/office/figures?period=2022']")
    page.wait_for_url(f"{url}/office/figures*")
    figures = page.locator("#figures tbody tr")
    assert figures.count() == 66
    checks = [text.strip() for text in figures.locator("td:nth-child(6)").all_inner_texts()]
    assert "一致" in checks
    assert "不一致" not in checks, checks
    camera.shoot(page, "figures")

    page.goto(f"{url}/office?period=2022")
    # in the warehouse after the run: accepted, and late (the upload's time is its arrival, years after 2022)
    assert row.locator("td").nth(6).inner_text().strip().startswith("通过（有警告）（逾期 ")
    other = page.locator("#completeness tr[data-unit='dashi'] td")  # its file came by the folder, on time
    assert other.nth(4).inner_text().strip() == "未经平台（见仓库中的结果）"
    assert other.nth(6).inner_text().strip() == "通过"
    camera.shoot(page, "office-after-run")
    readme_office = camera.taken["office-after-run"]  # the dashboard with the warehouse's results beside the uploads
    page.goto(f"{url}/office/audit")
    assert page.locator("#audit tbody tr").count() > 0
    camera.shoot(page, "audit")
    context.close()

    assert errors == [], errors
    if os.environ.get("UNION_STATS_README_SCREENSHOTS") == "1":
        # without a Chinese font every character is an empty box: never write such pictures into the README
        assert has_chinese_font(), "no Chinese font (apt-get install fonts-noto-cjk): the README's pictures are kept"
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(readme_unit, REPO / "docs" / "portal-unit.png")
        shutil.copyfile(readme_office, REPO / "docs" / "portal-office.png")

"""The district report page (`union-stats report`), opened as the office opens it: in a real browser, offline.

One warehouse for the module, built by the real flow: 2022 from the shipped sample with 石桥's workbook
corrupted (a negative value: rejected, so its figures miss it and its findings are listed), then 2023 and its
first two quarters from `union-stats sample` (so 2023 has a year before it, targets, and quarters towards them). The browser test drives Debian's `chromium`
with Playwright (no browser is downloaded); it is skipped only where `chromium` is not installed.
"""

from __future__ import annotations

import base64
import shutil
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest
from defects import corrupt
from warehouse import query

from union_stats.cli import main
from union_stats.paths import RAW_DIR
from union_stats.publish import report_page
from union_stats.rules import registry

CHROMIUM = shutil.which("chromium")
REJECTED_UNIT = "shiqiao"


@pytest.fixture(scope="module")
def warehouse(prefect_harness, tmp_path_factory) -> Path:
    from flows.ingest import ingest_period

    root = tmp_path_factory.mktemp("report")
    raw = root / "raw"
    shutil.copytree(RAW_DIR / "2022", raw / "2022")
    _, expected = corrupt("value_negative", raw)  # overwrites raw/2022/shiqiao_2022.xlsx
    assert expected.status == "rejected"
    assert main(["sample", "--period", "2023", "--out", str(raw / "2023")]) == 0
    assert main(["sample", "--period", "2023", "--quarterly", "--out", str(raw)]) == 0
    target = root / "wh" / "w.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("UNION_STATS_PSEUDONYM_KEY", "5" * 64)
        for period in ("2022", "2023", "2023Q1", "2023Q2"):
            ingest_period(period=period, raw_dir=raw, warehouse=target)
    return target


@pytest.fixture(scope="module")
def pages(warehouse: Path) -> dict[str, report_page.ReportFiles]:
    """Each period's page, written by the command line as a user would."""
    written = {}
    for period in ("2022", "2023", "2023Q2"):
        out = warehouse.parent / "out" / f"report_{period}.html"
        out.parent.mkdir(exist_ok=True)
        assert main(["report", "--period", period, "--warehouse", str(warehouse), "--out", str(out)]) == 0
        xlsx, validation = report_page.companion_paths(out)
        written[period] = report_page.ReportFiles(html=out, xlsx=xlsx, validation=validation)
    return written


# --- the browser ----------------------------------------------------------------------------------------------

# decoded by a blank page's canvas, independently of the page that was photographed
PIXELS_JS = """async (png) => {
    const image = new Image();
    image.src = 'data:image/png;base64,' + png;
    await image.decode();
    const canvas = document.createElement('canvas');
    canvas.width = image.width; canvas.height = image.height;
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    const colours = new Set();
    let ink = 0;
    for (let i = 0; i < data.length; i += 4) {
        colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        if (data[i] < 200 || data[i + 1] < 200 || data[i + 2] < 200) ink += 1;
    }
    return {colours: colours.size, ink: ink / (data.length / 4)};
}"""


def _open_offline(browser, path: Path):
    """Open `path` and record every request it makes and every console error or uncaught exception."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    seen = {"requests": [], "errors": []}
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on("console", lambda message: seen["errors"].append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.goto(path.as_uri(), wait_until="load")
    return page, seen


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip(
            "Debian's chromium is not installed (apt-get install chromium): the page is not opened in a browser"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def test_report_page_in_chromium(browser, pages, warehouse: Path) -> None:
    path = pages["2022"].html
    page, seen = _open_offline(browser, path)

    assert seen["errors"] == []
    assert seen["requests"] == [path.as_uri()], "the page fetched something besides itself"

    # a chart per headline indicator the catalog has, each an SVG with a bar per town that has accepted data
    headline = report_page.settings()["headline_indicators"]
    charts = page.locator("figure.chart")
    assert charts.count() == len(headline) >= 6
    towns_with_data = {
        code: count
        for code, count in query(
            warehouse,
            "select indicator_code, count(*) from marts.fct_indicator_value join marts.dim_unit using (unit_code) "
            "where period = '2022' and kind = 'town' group by all",
        )
    }
    for index in range(charts.count()):
        chart = charts.nth(index)
        code = chart.get_attribute("data-indicator")
        assert chart.locator("svg").count() == 1
        bars = chart.locator("svg .mark-rect path")
        assert bars.count() == towns_with_data[code] == 15, code  # 16 towns, 石桥 rejected
        box = chart.locator("svg").bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 200
        assert all(bars.nth(bar).bounding_box()["width"] > 0 for bar in range(bars.count()))

    # 66 figure rows, their ✓/✗ as the warehouse decided them
    matches = dict(query(warehouse, "select figure_id, matches from report.district_figures where period = '2022'"))
    rows = page.locator("#figures tbody tr")
    assert rows.count() == 66
    shown = {rows.nth(i).locator("td").first.inner_text(): rows.nth(i).inner_text() for i in range(rows.count())}
    assert set(shown) == set(matches)
    assert not all(matches.values()), "the rejected town's figures cannot all match"
    for figure_id, matched in matches.items():
        assert ("✓" in shown[figure_id]) == matched and ("✗" in shown[figure_id]) == (not matched), figure_id

    # not blank: the screenshot has text, tables and bars in it
    png = page.screenshot(full_page=False)
    blank = browser.new_page()
    pixels = blank.evaluate(PIXELS_JS, base64.b64encode(png).decode())
    assert pixels["colours"] > 50 and pixels["ink"] > 0.01, pixels
    page.goto((path.parent / path.name).as_uri() + "#towns")
    charts_png = page.screenshot(full_page=False)
    assert blank.evaluate(PIXELS_JS, base64.b64encode(charts_png).decode())["ink"] > 0.05  # the blue bars


def test_validation_page_in_chromium(browser, pages, warehouse: Path) -> None:
    path = pages["2022"].validation
    page, seen = _open_offline(browser, path)
    assert seen["errors"] == []
    assert seen["requests"] == [path.as_uri()]
    files = query(warehouse, "select count(*) from ops.submissions where period = '2022'")[0][0]
    rows = page.locator("tbody tr")
    assert rows.count() >= files == 18
    rejected = page.locator("tbody tr", has_text="values.number")
    assert rejected.count() == 1
    assert "退回" in rejected.inner_text() and "错误" in rejected.inner_text()
    # the link back to the report page is the file beside it
    assert page.locator(f'a[href="{pages["2022"].html.name}"]').count() == 1


# --- the files, without a browser ---------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "srcset", "data") and value is not None:
                self.links.append((tag, name, value))


@pytest.mark.parametrize("period", ["2022", "2023", "2023Q2"])
def test_pages_reach_nothing_outside(pages, period: str) -> None:
    files = pages[period]
    for path in (files.html, files.validation):
        text = path.read_text(encoding="utf-8")
        parser = _Links()
        parser.feed(text)
        assert not parser.tags & {"script", "link", "iframe", "img", "object", "embed"}, path.name
        assert "@import" not in text and "url(" not in text
        for tag, name, value in parser.links:
            assert not value.lower().startswith(("http:", "https:", "//", "ftp:")), (tag, name, value)
            if not value.startswith("#"):  # a relative link: one of the three files written together
                assert (path.parent / value).is_file(), (tag, name, value)
    assert {value for _, _, value in _parsed(files.html).links if not value.startswith("#")} == {
        files.validation.name,
        files.xlsx.name,
    }


def _parsed(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _sheet_rows(path: Path, sheet: str) -> list[dict]:
    """A sheet's table as dicts by heading (row 3 holds the headings, rows 1-2 the title and note)."""
    workbook = openpyxl.load_workbook(path, read_only=True)
    rows = list(workbook[sheet].iter_rows(min_row=3, values_only=True))
    headings = rows[0]
    return [dict(zip(headings, row)) for row in rows[1:]]


@pytest.mark.parametrize("period", ["2022", "2023", "2023Q2"])
def test_workbook_holds_the_same_figures(pages, warehouse: Path, period: str) -> None:
    figures = {
        figure_id: (float(value), published, matches)
        for figure_id, value, published, matches in query(
            warehouse,
            "select figure_id, value, published, matches from report.district_figures where period = ?",
            period,
        )
    }
    rows = _sheet_rows(pages[period].xlsx, "指标")
    assert {row["编号"] for row in rows} == set(figures)
    for row in rows:
        value, published, matches = figures[row["编号"]]
        assert row["数值（基本单位）"] == pytest.approx(value), row["编号"]
        if published is not None:
            assert row["报告数"] == published and row["一致"] == ("✓" if matches else "✗")
    # the page's table and the sheet are one table: the same figure ids, in the same order
    page_ids = [cells[0] for cells in _table_cells(pages[period].html, "figures")]
    assert page_ids == [row["编号"] for row in rows]


def _table_cells(path: Path, section_id: str) -> list[list[str]]:
    """The body rows of every table inside the page's section `section_id`, as text cells."""

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.depth, self.inside, self.rows, self.cell = 0, False, [], None

        def handle_starttag(self, tag, attrs) -> None:
            if tag == "section" and dict(attrs).get("id") == section_id:
                self.inside = True
            if self.inside and tag == "tr":
                self.rows.append([])
            if self.inside and tag == "td":
                self.cell = ""

        def handle_endtag(self, tag) -> None:
            if tag == "section":
                self.inside = False
            if self.inside and tag == "td" and self.cell is not None:
                self.rows[-1].append(self.cell.strip())
                self.cell = None

        def handle_data(self, data) -> None:
            if self.cell is not None:
                self.cell += data

    parser = Cells()
    parser.feed(path.read_text(encoding="utf-8"))
    return [row for row in parser.rows if row]


def test_year_on_year_and_targets(pages, warehouse: Path) -> None:
    rows = {row["编号"]: row for row in _sheet_rows(pages["2023"].xlsx, "指标")}
    values = dict(
        query(
            warehouse,
            "select this.figure_id, (this.value - before.value) / before.value from report.district_figures as this "
            "join report.district_figures as before on before.figure_id = this.figure_id and before.period = '2022' "
            "where this.period = '2023' and before.value <> 0",
        )
    )
    assert any(change != 0 for change in values.values()), "2022 lacks 石桥: some figures change in 2023"
    for figure_id, change in values.items():
        assert rows[figure_id]["上年同期（2022）"] is not None
        assert rows[figure_id]["同比"] == pytest.approx(float(change)), figure_id
    # 2022 has no year before it in the warehouse: no such column
    assert "同比" not in _sheet_rows(pages["2022"].xlsx, "指标")[0]

    targets = _sheet_rows(pages["2023"].xlsx, "目标进度")
    progress = query(warehouse, "select quote_zh, achieved, met from report.target_progress where year = '2023'")
    assert len(targets) == len(progress) > 0
    by_quote = {row["目标原文"]: row for row in targets}
    for quote, achieved, met in progress:
        assert by_quote[quote]["已完成"] == pytest.approx(float(achieved))
        assert by_quote[quote]["已达成"] == ("是" if met else "否")


def test_targets_quarter_by_quarter(pages, warehouse: Path) -> None:
    """Each loaded quarter's column is the district total of the quarterly returns summed up to that quarter; a
    quarter's page stops at its own quarter."""
    quarters = dict(
        query(
            warehouse,
            "select indicator_code || '/' || period, sum(value) from marts.fct_indicator_value "
            "where period in ('2023Q1', '2023Q2') group by all",
        )
    )
    names = dict(query(warehouse, "select quote_zh, indicator_code from report.target_progress where year = '2023'"))
    for period in ("2023", "2023Q2"):
        rows = _sheet_rows(pages[period].xlsx, "目标进度")
        assert len(rows) == len(names) > 0
        for row in rows:
            code = names[row["目标原文"]]
            q1, q2 = quarters[f"{code}/2023Q1"], quarters[f"{code}/2023Q2"]
            assert row["截至2023Q1累计（季报）"] == pytest.approx(float(q1))
            assert row["截至2023Q2累计（季报）"] == pytest.approx(float(q1 + q2))
        assert "截至2023Q3累计（季报）" not in rows[0]
    assert any(quarters[f"{code}/2023Q2"] > 0 for code in names.values()), "the sample's quarters move the targets"
    from union_stats.warehouse import connect

    with connect(warehouse, read_only=True) as con:
        first = report_page.gather(con, "2023Q1")
    assert [column.key for column in first.targets.columns if column.key.startswith("to_")] == ["to_2023Q1"]


def test_comparison_only_where_a_report_was_published(pages, warehouse: Path) -> None:
    """The page compares with the published report exactly where the warehouse holds one for the period."""
    for period, files in pages.items():
        published = query(warehouse, "select count(published) from report.district_figures where period = ?", period)[
            0
        ][0]
        headings = _sheet_rows(files.xlsx, "指标")[0]
        assert ("报告数" in headings) == (published > 0), period
        assert ("报告数" in files.html.read_text(encoding="utf-8")) == (published > 0), period


def test_findings_and_validation_rows(pages, warehouse: Path) -> None:
    rules = registry()
    findings = query(
        warehouse,
        "select rule, severity, count(*) from ops.findings where period = '2022' and unit_code = ? group by all",
        REJECTED_UNIT,
    )
    assert findings, "the corrupted workbook has findings"
    name = query(warehouse, "select name_zh from marts.dim_unit where unit_code = ?", REJECTED_UNIT)[0][0]

    by_rule = [row for row in _sheet_rows(pages["2022"].xlsx, "问题-按规则") if row["单位"] == name]
    assert {(row["规则"], row["条数"]) for row in by_rule} == {(rule, count) for rule, _, count in findings}
    by_unit = {row["单位"]: row for row in _sheet_rows(pages["2022"].xlsx, "问题-按单位")}
    assert by_unit[name]["错误"] == sum(count for _, severity, count in findings if severity == "error")

    validation = _sheet_rows(pages["2022"].xlsx, "审核结果")
    files = query(warehouse, "select file_name, status from ops.submissions where period = '2022'")
    assert {row["文件"] for row in validation} == {file_name for file_name, _ in files}
    clean = [row for row in validation if row["规则"] == "—"]
    assert len(clean) == len(files) - 1 and all(row["规则名称"] == "无问题" for row in clean)
    broken = [row for row in validation if row["单位"] == name and row["规则"] != "—"]
    for row in broken:
        assert row["规则名称"] == rules[row["规则"]].title_zh
        assert row["结果"] == "退回" and row["严重程度"] == "错误"
        assert row["位置（前几处）"].startswith("指标!D")

    # the page's table shows the same rows as the workbook's sheet
    page_rows = _table_cells(pages["2022"].validation, "validation")
    assert len(page_rows) == len(validation)


def test_default_place_and_command_line_mistakes(warehouse: Path, tmp_path: Path, capsys) -> None:
    assert main(["report", "--period", "2022", "--warehouse", str(warehouse)]) == 0
    default = warehouse.parent / "reports" / "2022" / "district_report.html"
    assert default.is_file() and default.with_suffix(".xlsx").is_file()
    assert (default.parent / "district_report_validation.html").is_file()
    capsys.readouterr()

    mistakes = [
        ["report", "--period", "2021", "--warehouse", str(warehouse), "--out", str(tmp_path / "a.html")],
        ["report", "--period", "2022", "--warehouse", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "b.html")],
        ["report", "--period", "2022", "--warehouse", str(warehouse), "--out", str(tmp_path / "c.pdf")],
        ["report", "--period", "2022", "--warehouse", str(warehouse), "--out", str(tmp_path / "no" / "d.html")],
        ["report", "--period", "2022Q5", "--warehouse", str(warehouse)],
    ]
    for argv in mistakes:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "periods loaded: 2022, 2023, 2023Q1, 2023Q2" in _first_error(warehouse, tmp_path, capsys)
    assert sorted(path.name for path in tmp_path.iterdir()) == [], "a refused report leaves no file behind"


def _first_error(warehouse: Path, tmp_path: Path, capsys) -> str:
    main(["report", "--period", "2024", "--warehouse", str(warehouse), "--out", str(tmp_path / "x.html")])
    return capsys.readouterr().err


def test_validation_rows_list_the_first_cells_in_reading_order() -> None:
    """A rule broken at many cells lists the first five by row, then column, and says how many in all."""
    import duckdb

    con = duckdb.connect()
    con.execute("create schema ops; create schema marts")
    con.execute("create table marts.dim_unit as select 'dashi' as unit_code, '大石街总工会' as name_zh")
    con.execute(
        "create table ops.submissions as select 's1' as submission_id, 'dashi' as unit_code, '2022' as period, "
        "'dashi_2022.xlsx' as file_name, 'rejected' as status, timestamptz '2023-01-14 05:32:00+00' as received_at"
    )
    cells = ["D12", "D9", "AA5", "Z5", "D10", "B7", "C7"]
    con.execute(
        "create table ops.findings as select 's1' as submission_id, 'dashi' as unit_code, '2022' as period, "
        "'values.number' as rule, 'error' as severity, '指标' as sheet, unnest(?) as cell",
        [cells],
    )
    con.execute("insert into ops.findings values ('s1', 'dashi', '2022', 'structure.unreadable', 'error', null, null)")
    rows = report_page.validation_table(con, "2022").rows
    assert [(row["rule"], row["findings"]) for row in rows] == [("structure.unreadable", 1), ("values.number", 7)]
    assert rows[0]["cells"] == "整个文件" and rows[0]["rule_title"] == registry()["structure.unreadable"].title_zh
    assert rows[1]["cells"] == "指标!Z5、指标!AA5、指标!B7、指标!C7、指标!D9 等7处"
    assert rows[1]["unit_name_zh"] == "大石街总工会" and rows[1]["status"] == "退回"

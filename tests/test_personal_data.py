"""No personal data of beneficiaries outside the archive: not in the warehouse, its folder, Prefect or the console.

The scanner (`pii.py`) is tested first, on small things built here, so that it fails when it is broken: each
kind of leak it must find (an ID in a table, a name in a view, in text, JSON, a workbook, SQLite, raw bytes, in
Prefect's logs and artifacts), what it must not flag (a hex HMAC with an 18-digit run inside, a masked ID or
name, the archive), and that no message it prints holds a whole ID or name. Then a run of the shipped sample
is scanned for the people its beneficiary sheets name, and a run with an ID typed into a remark shows that the
same scan does fail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from pathlib import Path

import duckdb
import pii
import pytest
import xlsxwriter
from defects import editing, header_column, indicator_row
from warehouse import query

from flows.ingest import ingest_period
from union_stats.runs import DATA_DOCS_ENV

PERIOD = "2022"
FAKE_NAME = "诸葛假名"
OTHER_NAME = "欧阳测样"


def check_character(first17: str) -> str:
    """The GB 11643 check character (ISO 7064 MOD 11-2) of the first 17 digits of an ID number."""
    total = sum(int(digit) * (2 ** (17 - position) % 11) for position, digit in enumerate(first17))
    return "10X98765432"[total % 11]


def id_number(region: str = "440199", born: str = "19900101", sequence: int = 123) -> str:
    first17 = f"{region}{born}{sequence:03d}"
    return first17 + check_character(first17)


def numeric_id(region: str = "440199", born: str = "19850615") -> str:
    """An ID whose check character is a digit (one that can sit inside a hex string)."""
    return next(value for sequence in range(1000) if (value := id_number(region, born, sequence))[-1].isdigit())


def x_id(region: str = "440199", born: str = "19900101") -> str:
    """An ID whose check character is X."""
    return next(value for sequence in range(1000) if (value := id_number(region, born, sequence)).endswith("X"))


FAKE_ID = x_id()  # Guangzhou's never-assigned county 99, born 1990-01-01, check character X
OTHER_ID = numeric_id()
THIRD_ID = numeric_id(born="19770302")
FULL_WIDTH_ID = THIRD_ID.translate(str.maketrans("0123456789", "０１２３４５６７８９"))  # typed with a Chinese IME


def assert_masked(leaks: list[str], *secrets: str) -> None:
    """No message holds a whole ID or name (case aside: an ID's X may be printed as x)."""
    text = "\n".join(leaks).upper()
    for secret in secrets:
        assert secret.upper() not in text, f"a message prints {pii.mask(secret, [secret], [secret])} in full"


def leaks_at(leaks: list[str], where: str, what: str = "") -> list[str]:
    return [leak for leak in leaks if leak.startswith(where) and what in leak.split(": ", 1)[1][:12]]


# --- the scanner's parts --------------------------------------------------------------------------------------


def test_the_check_character_is_gb_11643s() -> None:
    assert check_character("11010519491231002") == "X"  # the standard's own example, 11010519491231002X
    # by hand: weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 give 218, 218 mod 11 = 9, the 10th of 10X98765432
    assert check_character("44010619860101401") == "3"
    assert FAKE_ID.endswith("X") and all(pii.ID_RE.fullmatch(value) for value in (FAKE_ID, OTHER_ID, THIRD_ID))


def test_mask_keeps_four_characters_each_end_of_an_id_and_the_first_of_a_name() -> None:
    assert pii.mask_id("44011319900101123X") == "4401**********123X"
    assert pii.mask_name("张三丰") == "张**"
    text = f"{FAKE_NAME}（{FAKE_ID}）与 {OTHER_ID.lower()} 及 {FAKE_ID[:17]}"
    masked = pii.mask(text, [FAKE_NAME], [FAKE_ID])
    assert masked == f"诸***（{pii.mask_id(FAKE_ID)}）与 {pii.mask_id(OTHER_ID)} 及 {pii.mask_id(FAKE_ID[:17])}"
    assert len(masked) == len(text)


def test_the_id_shape_is_not_a_hex_digest_a_masked_id_or_a_longer_number() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    keyed = hmac.new(b"key", FAKE_ID.encode(), hashlib.sha256).hexdigest()
    inside_hex = "f" * 23 + OTHER_ID + "e" * 23  # 64 hex digits with an ID-shaped run of 18 digits inside
    assert len(inside_hex) == 64
    clean = [digest, keyed, inside_hex, "4401**********123X", "张**", "1" + OTHER_ID, OTHER_ID + "7", FAKE_ID[:17]]
    assert pii.scan_text("clean", "\n".join(clean), [FAKE_NAME], []) == []
    found = pii.scan_text("leaks", f"号码:{OTHER_ID}。", [], [])
    assert found == [f"leaks: id (shape) 号码:{pii.mask_id(OTHER_ID)}。"]
    assert len(pii.scan_text("full width", f"身份证{FULL_WIDTH_ID}", [], [])) == 1


def test_a_known_id_is_found_even_where_it_has_no_id_shape() -> None:
    glued = f"REF{FAKE_ID.lower()}A"  # letters either side: not the shape, but the very number of a person
    assert pii.scan_text("shape only", glued) == []
    [leak] = pii.scan_text("known", glued, [], [FAKE_ID])
    assert leak.startswith("known: id (known)")
    assert_masked([leak], FAKE_ID)


def test_personal_data_reads_the_beneficiary_sheets_below_their_header(tmp_path: Path) -> None:
    raw = tmp_path / "raw" / PERIOD
    raw.mkdir(parents=True)
    book = xlsxwriter.Workbook(str(raw / "a_2022.xlsx"))
    book.add_worksheet("封面").write_string(0, 0, FAKE_NAME)  # not a beneficiary sheet: not read
    sheet = book.add_worksheet(" 帮扶对象明细 ")
    sheet.write_string(0, 0, "帮扶对象明细表")  # a title above the header
    header = ["帮扶类型", "姓 名", " 身份证号", "发放日期", "金额（元）", "备注"]
    rows = [
        ["困难帮扶", f" {OTHER_NAME} ", OTHER_ID, "2022-05-01", 500, ""],
        ["助学", "王五", f" {FAKE_ID.lower()[:6]} {FAKE_ID.lower()[6:]}", "2022-06-01", 800, "身份证号有空格"],
        ["助学", "赵六", FULL_WIDTH_ID, "2022-07-01", 300, "全角数字"],
        ["助学", "", "", "", None, "空行"],
        ["助学", "李**", "无", "", None, "已脱敏的姓名，不是身份证号的单元格"],
    ]
    for col, text in enumerate(header):
        sheet.write_string(2, col, text)
    for row, values in enumerate(rows, start=3):
        for col, value in enumerate(values):
            if value not in (None, ""):
                sheet.write(row, col, value)
    book.close()
    other = xlsxwriter.Workbook(str(raw / "b_2022.xlsx"))  # template v1: no beneficiary sheet
    other.add_worksheet("指标").write_string(0, 0, "姓名")
    other.close()

    assert pii.personal_data(tmp_path / "raw") == ({OTHER_NAME, "王五", "赵六"}, {OTHER_ID, FAKE_ID, THIRD_ID})


def _leaky_warehouse(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw; create schema report")
        con.execute("create table raw.beneficiaries (note varchar, amount integer, tags varchar[])")
        con.execute(
            "insert into raw.beneficiaries values (?, 500, ['a']), ('nothing here', 1, [?])",
            [f"身份证 {FAKE_ID} 已核", f"ref {OTHER_ID}"],
        )
        con.execute("create table main.hashed (id_hash varchar, masked varchar, masked_name varchar)")
        con.execute(
            "insert into main.hashed values (?, ?, ?)",
            [hmac.new(b"k", FAKE_ID.encode(), hashlib.sha256).hexdigest(), pii.mask_id(FAKE_ID), "诸***"],
        )
        # the name is in no table: only the view gives it
        con.execute(f"create view report.recipients as select '受助人：{FAKE_NAME}' as who, 1 as n")


def test_the_warehouse_scan_reads_every_table_and_view_of_every_schema(tmp_path: Path) -> None:
    warehouse = tmp_path / "leaky.duckdb"
    _leaky_warehouse(warehouse)

    leaks = pii.scan_warehouse(warehouse, [FAKE_NAME], [FAKE_ID])

    assert leaks_at(leaks, "raw.beneficiaries.note row 1", "id (known)"), leaks
    assert leaks_at(leaks, "raw.beneficiaries.tags row 2", "id (shape)"), leaks  # a list cast to text
    assert leaks_at(leaks, "report.recipients.who row 1", "name"), leaks
    assert not leaks_at(leaks, "main.hashed"), leaks
    assert len(leaks) == 3, leaks
    assert_masked(leaks, FAKE_ID, OTHER_ID, FAKE_NAME)
    # the ID shape alone, without knowing anybody
    assert sorted(leak.split(" row ")[0] for leak in pii.scan_warehouse(warehouse)) == [
        "raw.beneficiaries.note",
        "raw.beneficiaries.tags",
    ]
    assert pii.relations_scanned(warehouse) == 3


def test_a_warehouse_s_bytes_give_its_deleted_rows_not_its_short_values_side_by_side(tmp_path: Path) -> None:
    folder = tmp_path / "wh"
    folder.mkdir()
    path = folder / "w.duckdb"
    counts = ["226", "129", "193", "104", "200", "276"]  # stored with nothing between them: an ID shape
    with duckdb.connect(str(path)) as con:
        con.execute("create table counts (n varchar)")
        con.execute("insert into counts select unnest(?::varchar[])", [counts])
        con.execute("create table notes (note varchar)")
        con.execute("insert into notes select 'row ' || i from range(1000) as t(i)")
        con.execute("insert into notes values (?)", [f"身份证 {OTHER_ID} 已核"])
        con.execute("checkpoint")
        con.execute("delete from notes where note like '身份证%'")  # gone from the table, left in the file
    data = path.read_bytes()
    assert "".join(counts).encode() in data and OTHER_ID.encode() in data  # what the scan is tried on

    leaks = pii.scan_files(folder, [], [OTHER_ID])

    assert [leak.split(":")[0] for leak in leaks] == ["w.duckdb (bytes)"], leaks
    assert leaks_at(leaks, "w.duckdb (bytes)", "id (known)"), leaks
    assert pii.scan_files(folder) == []  # the values one by one have no ID shape


def test_the_file_scan_reads_text_json_workbooks_sqlite_and_bytes_but_not_the_archive(tmp_path: Path) -> None:
    folder = tmp_path / "warehouse"
    (folder / "reports" / "2022").mkdir(parents=True)
    (folder / "reports" / "2022" / "unit.report.html").write_text(f"<p>受助人 {FAKE_NAME}</p>", "utf-8")
    (folder / "gx").mkdir()
    (folder / "gx" / "result.json").write_text(json.dumps({"unexpected": [OTHER_NAME]}), "utf-8")  # \uXXXX
    book = xlsxwriter.Workbook(str(folder / "reports" / "2022" / "unit.annotated.xlsx"))
    book.add_worksheet("帮扶对象明细").write_string(1, 2, FAKE_ID)
    book.close()
    (folder / "run.bin").write_bytes(b"\x00\x01\xfe" * 100 + OTHER_ID.encode() + b"\x00\xff" * 100)
    with sqlite3.connect(folder / "prefect.db") as con:
        con.execute("create table log (id integer, message text)")
        con.execute("insert into log values (1, 'fine'), (2, ?)", [f"处理 {FAKE_NAME}"])
    con.close()
    (folder / "archive" / "ab").mkdir(parents=True)  # the files as received: kept, not scanned
    (folder / "archive" / "ab" / "kept.txt").write_text(f"{FAKE_ID} {FAKE_NAME}", "utf-8")
    (folder / "reports" / "archive").mkdir()  # only the top-level archive is skipped
    (folder / "reports" / "archive" / "old.txt").write_text(f"旧 {FAKE_ID}", "utf-8")
    digest = hashlib.sha256(b"x").hexdigest()
    inside_hex = "f" * 23 + THIRD_ID + "e" * 23  # an ID-shaped run nobody it looks for has, in 64 hex digits
    (folder / "clean.txt").write_text(f"{digest}\n{inside_hex}\n4401**********123X 诸***", "utf-8")

    leaks = pii.scan_files(folder, [FAKE_NAME, OTHER_NAME], [FAKE_ID, OTHER_ID])

    assert leaks_at(leaks, "reports/2022/unit.report.html:", "name"), leaks
    assert leaks_at(leaks, "gx/result.json:", "name"), leaks
    assert leaks_at(leaks, "reports/2022/unit.annotated.xlsx!xl/sharedStrings.xml:", "id (known)"), leaks
    assert leaks_at(leaks, "run.bin:", "id (known)"), leaks
    assert leaks_at(leaks, "prefect.db:log.message row 2:", "name"), leaks
    assert leaks_at(leaks, "prefect.db (bytes):", "name"), leaks
    assert leaks_at(leaks, "reports/archive/old.txt:", "id (known)"), leaks
    assert not leaks_at(leaks, "archive/"), leaks
    assert not leaks_at(leaks, "clean.txt"), leaks
    assert_masked(leaks, FAKE_ID, OTHER_ID, FAKE_NAME, OTHER_NAME)
    # the ID shape alone finds the workbook's and the bytes' IDs too
    shape_only = pii.scan_files(folder)
    assert leaks_at(shape_only, "reports/2022/unit.annotated.xlsx!", "id (shape)"), shape_only
    assert leaks_at(shape_only, "run.bin:", "id (shape)"), shape_only
    # and a named file is a leak by its name
    (folder / "reports" / f"{OTHER_NAME}.txt").write_text("ok", "utf-8")
    assert leaks_at(pii.scan_files(folder, [OTHER_NAME]), "reports/欧***.txt (file name):", "name")


@pytest.mark.usefixtures("prefect_harness")
def test_the_prefect_scan_reads_the_logs_and_artifacts_of_a_run() -> None:
    from prefect import flow, get_run_logger, task
    from prefect.artifacts import create_markdown_artifact

    @task
    def leak_into_an_artifact(value: str) -> None:
        create_markdown_artifact(key="leaky", markdown=f"# 名单\n\n| 身份证号 |\n| --- |\n| {value} |")

    @flow
    def leaky(name: str) -> None:
        get_run_logger().info("event=beneficiary name=%s", name)
        leak_into_an_artifact(FAKE_ID)

    @flow
    def clean() -> None:
        get_run_logger().info("event=nothing_personal")

    leaky_run = leaky(FAKE_NAME, return_state=True).state_details.flow_run_id
    clean_run = clean(return_state=True).state_details.flow_run_id

    leaks = pii.scan_prefect([FAKE_NAME], [FAKE_ID], flow_run_ids=[leaky_run])

    assert leaks_at(leaks, "log prefect.flow_runs", "name"), leaks
    assert leaks_at(leaks, "artifact leaky data", "id (known)"), leaks
    assert leaks_at(leaks, "flow run ", "name") and "parameters" in leaks_at(leaks, "flow run ", "name")[0], leaks
    assert_masked(leaks, FAKE_ID, FAKE_NAME)
    assert pii.scan_prefect([FAKE_NAME], [FAKE_ID], flow_run_ids=[clean_run]) == []
    assert any(where.startswith("log ") for where, _ in pii.prefect_texts([clean_run]))


# --- a run ----------------------------------------------------------------------------------------------------


def _run(raw_dir: Path, warehouse: Path):
    """One run of the ingest flow; its summary and its flow run's id."""
    state = ingest_period(period=PERIOD, raw_dir=raw_dir, warehouse=warehouse, return_state=True)
    return state.result(), state.state_details.flow_run_id


def _shown(leaks: list[str], limit: int = 20) -> str:
    more = f"\n… and {len(leaks) - limit} more" if len(leaks) > limit else ""
    return "\n".join(leaks[:limit]) + more


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_leaves_no_personal_data(
    raw_copy: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the warehouse, every file beside it (the archive aside), the run's Prefect records and its console;
    with GX's results and Data Docs kept (UNION_STATS_DATA_DOCS), which write the most beside the warehouse."""
    monkeypatch.setenv(DATA_DOCS_ENV, "1")
    names, ids = pii.personal_data(raw_copy)
    assert len(ids) >= 100 and len(names) >= 100, (
        f"the shipped sample names {len(names)} beneficiaries with {len(ids)} ID numbers: "
        "it needs the 帮扶对象明细 sheets of template v2 for this test to mean anything"
    )
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    capfd.readouterr()

    summary, flow_run = _run(raw_copy, warehouse)
    out, err = capfd.readouterr()

    folder = warehouse.parent
    assert summary.processed > 0
    assert list(folder.rglob("*.report.html")), "the run wrote no report: the file scan would read nothing"
    assert pii.relations_scanned(warehouse) >= 20
    assert any(path.suffix == ".html" for path in pii.files_scanned(folder / "gx")), "no Data Docs to scan"
    # the archive keeps the files as received, so it does hold them: they are in the input and can be found
    assert pii.scan_files(folder / "archive", names, ids, skip=()), "the archive's copies hold nobody"

    assert (warehouse_leaks := pii.scan_warehouse(warehouse, names, ids)) == [], _shown(warehouse_leaks)
    assert (file_leaks := pii.scan_files(folder, names, ids)) == [], _shown(file_leaks)
    assert any(where.startswith("artifact ") for where, _ in pii.prefect_texts([flow_run])), "no artifacts to scan"
    assert (prefect_leaks := pii.scan_prefect(names, ids, flow_run_ids=[flow_run])) == [], _shown(prefect_leaks)
    assert (console_leaks := pii.scan_text("console", out + err, names, ids)) == [], _shown(console_leaks)


@pytest.mark.usefixtures("prefect_harness")
def test_a_remark_with_an_id_and_a_listed_name_is_stored_masked_and_the_scan_finds_what_is_left(
    loaded_2022: Path,
) -> None:
    """After the sample's run, a clerk corrects her file and writes an ID number, a name from the file's own
    beneficiary list and a name nobody listed into a remark of 指标. The parse stage masks the ID and the listed name
    (and tells the clerk); a name nobody listed cannot be told from other words, is stored, and the scans of the run
    find it: they can fail end to end."""
    raw_copy = loaded_2022 / "raw"
    workbook = raw_copy / PERIOD / "shiqiao_2022.xlsx"
    listed = sorted(pii.personal_data(raw_copy / PERIOD)[0] & _listed_in(workbook))[0]
    with editing(workbook) as book:
        sheet = book["指标"]
        sheet[f"{header_column(sheet, '备注')}{indicator_row(sheet, 'job_fairs')}"] = (
            f"含为{FAKE_NAME}和{listed}（身份证号{FAKE_ID}）单独组织的一场"
        )
    warehouse = loaded_2022 / "wh" / "union_stats.duckdb"

    summary, flow_run = _run(raw_copy, warehouse)

    assert (summary.processed, summary.accepted) == (1, 1)
    assert pii.scan_warehouse(warehouse, [listed], [FAKE_ID]) == []
    assert pii.scan_warehouse(warehouse) == []  # no ID shape anywhere
    leaks = pii.scan_warehouse(warehouse, [FAKE_NAME])
    assert leaks_at(leaks, "raw.indicator_values.remark row ", "name"), _shown(leaks)
    assert_masked(leaks, FAKE_NAME)
    files = pii.scan_files(warehouse.parent, [FAKE_NAME, listed], [FAKE_ID])
    assert leaks_at(files, "union_stats.duckdb:raw.indicator_values.remark row ", "name"), _shown(files)
    assert not [leak for leak in files if "id (" in leak.split(": ", 1)[1][:12]], _shown(files)
    assert not leaks_at(files, "archive/"), _shown(files)
    assert pii.scan_files(warehouse.parent / "archive", [FAKE_NAME], [FAKE_ID], skip=())
    assert_masked(files, FAKE_ID, FAKE_NAME, listed)
    [remark] = query(warehouse, "select remark from raw.indicator_values where remark like '含为%'")
    assert remark[0] == f"含为{FAKE_NAME}和{listed[0]}**（身份证号{FAKE_ID[:4]}**********{FAKE_ID[-4:]}）单独组织的一场"
    assert query(warehouse, "select count(*) from ops.findings where rule = 'personal.in_text'") == [(1,)]


def _listed_in(workbook: Path) -> set[str]:
    import openpyxl

    sheet = openpyxl.load_workbook(workbook, read_only=True)["帮扶对象明细"]
    return {row[1] for row in sheet.iter_rows(min_row=2, values_only=True) if row[1]}

"""Corruptions of the shipped sample workbooks, each with the finding the validation must answer it with.

A defect is a function that edits a private copy of one unit's 2022 workbook (openpyxl, or raw bytes for a
file that is not a workbook at all) and returns the `Expected` finding: rule, severity, where (`指标!D5`, a
sheet name, or None for the whole file) and words its Chinese message must contain. Rows are looked up in
the copy at run time (by indicator code, cover label or header), never assumed.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import openpyxl
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from union_stats import credit_code, reference
from union_stats.findings import ERROR, INFO, WARNING
from union_stats.paths import RAW_DIR

PERIOD = "2022"
COVER, INDICATORS = "封面", "指标"
ENTERPRISES, CASES = "新建工会企业", "劳资纠纷案件"
BENEFICIARIES = "帮扶对象明细"
OUTCOME_OF = {ERROR: "rejected", WARNING: "accepted_with_warnings", INFO: "accepted", None: "accepted"}


@dataclass(frozen=True)
class Expected:
    """The finding a defect must produce (rule None: the file must pass without any finding)."""

    rule: str | None
    severity: str | None
    where: str | None  # "指标!D5", a sheet name, or None for the whole file
    message: tuple[str, ...] = ()  # each must occur in the finding's message
    path: Path | None = None  # the file to check, when the defect renamed or moved the copy

    @property
    def status(self) -> str:
        return OUTCOME_OF[self.severity]


@dataclass(frozen=True)
class Defect:
    name: str
    unit: str  # the shipped workbook it corrupts: data/raw/2022/<unit>_2022.xlsx
    apply: Callable[[Path], Expected]

    @property
    def doc(self) -> str:
        return (self.apply.__doc__ or "").strip()


DEFECTS: dict[str, Defect] = {}


def defect(unit: str) -> Callable[[Callable[[Path], Expected]], Callable[[Path], Expected]]:
    """Register a corruption of `unit`'s workbook under its function name."""

    def register(function: Callable[[Path], Expected]) -> Callable[[Path], Expected]:
        DEFECTS[function.__name__] = Defect(function.__name__, unit, function)
        return function

    return register


def copy_sample(unit: str, folder: Path, period: str = PERIOD) -> Path:
    """A private copy of the shipped workbook of `unit`, inside a period folder (so the period is known)."""
    target = folder / period / f"{unit}_{period}.xlsx"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(RAW_DIR / "2022" / f"{unit}_2022.xlsx", target)
    return target


def corrupt(name: str, folder: Path) -> tuple[Path, Expected]:
    """Copy the defect's workbook into `folder`/2022, corrupt it, and say which file to check and what to expect."""
    chosen = DEFECTS[name]
    path = copy_sample(chosen.unit, folder)
    expected = chosen.apply(path)
    return expected.path or path, expected


# --- looking things up in a copy ----------------------------------------------------------------------------


@contextmanager
def editing(path: Path) -> Iterator[Workbook]:
    workbook = openpyxl.load_workbook(path)
    yield workbook
    workbook.save(path)


def indicator_row(sheet: Worksheet, code: str) -> int:
    """The sheet row of an indicator code in column A of 指标."""
    for (cell,) in sheet.iter_rows(min_col=1, max_col=1):
        if cell.value == code:
            return cell.row
    raise LookupError(f"indicator {code!r} is not in {sheet.title}")


def indicator_value(path: Path, code: str):
    """The 数值 a workbook gives for an indicator."""
    workbook = openpyxl.load_workbook(path, read_only=True)
    return next(row[3].value for row in workbook[INDICATORS].iter_rows(min_row=2) if row[0].value == code)


def cover_row(sheet: Worksheet, label: str) -> int:
    """The sheet row of a cover label in column A of 封面."""
    for (cell,) in sheet.iter_rows(min_col=1, max_col=1):
        if cell.value == label:
            return cell.row
    raise LookupError(f"cover label {label!r} is not in {sheet.title}")


def header_column(sheet: Worksheet, header: str) -> str:
    """The column letter of a header in row 1 of a detail sheet."""
    for cell in sheet[1]:
        if cell.value == header:
            return cell.column_letter
    raise LookupError(f"header {header!r} is not in row 1 of {sheet.title}")


def data_rows(sheet: Worksheet) -> int:
    """Rows below the header with anything in them."""
    return sum(1 for row in sheet.iter_rows(min_row=2, values_only=True) if any(value is not None for value in row))


def indicator_name(code: str) -> str:
    return next(indicator.name_zh for indicator in reference.indicators() if indicator.indicator_code == code)


def number_text(value: float) -> str:
    """A number the way the messages print it (12.0 -> 12)."""
    return str(int(value)) if float(value).is_integer() else str(value)


def set_indicator(path: Path, code: str, value: object) -> tuple[int, object]:
    """Overwrite the 数值 of one indicator (a callable gets the value it had); its row and the value written."""
    with editing(path) as workbook:
        sheet = workbook[INDICATORS]
        row = indicator_row(sheet, code)
        written = value(sheet[f"D{row}"].value) if callable(value) else value
        sheet[f"D{row}"].value = written
    return row, written


def set_detail(path: Path, sheet_name: str, header: str, row: int, value: object) -> str:
    """Overwrite one detail cell, found by its header; its A1 reference."""
    with editing(path) as workbook:
        sheet = workbook[sheet_name]
        cell = f"{header_column(sheet, header)}{row}"
        sheet[cell].value = value
    return cell


def set_cover(path: Path, label: str, value: object) -> int:
    with editing(path) as workbook:
        sheet = workbook[COVER]
        row = cover_row(sheet, label)
        sheet[f"B{row}"].value = value
    return row


# --- structure ------------------------------------------------------------------------------------------------


@defect("shiqiao")
def sheet_missing(path: Path) -> Expected:
    """The 劳资纠纷案件 sheet deleted."""
    with editing(path) as workbook:
        del workbook[CASES]
    return Expected("structure.sheet_missing", ERROR, CASES, (f"缺少工作表“{CASES}”",))


@defect("shiqiao")
def cover_sheet_missing(path: Path) -> Expected:
    """The cover sheet renamed, so the file is not recognisably the template."""
    with editing(path) as workbook:
        workbook[COVER].title = "Sheet1"
    return Expected("structure.sheet_missing", ERROR, COVER, (f"缺少工作表“{COVER}”",))


@defect("shiqiao")
def header_renamed(path: Path) -> Expected:
    """A header of 新建工会企业 renamed by the clerk (统一社会信用代码 -> 信用代码)."""
    with editing(path) as workbook:
        sheet = workbook[ENTERPRISES]
        column = header_column(sheet, "统一社会信用代码")
        sheet[f"{column}1"].value = "信用代码"
    return Expected(
        "structure.header_missing", ERROR, f"{ENTERPRISES}!{column}1", (f"“{ENTERPRISES}”表缺少“统一社会信用代码”列",)
    )


@defect("shiqiao")
def header_spaced_full_width(path: Path) -> Expected:
    """Headers typed with extra spaces, an ideographic space and half-width brackets: still the template."""
    with editing(path) as workbook:
        sheet = workbook[ENTERPRISES]
        column = header_column(sheet, "其中新业态会员数")
        sheet[f"{column}1"].value = "  其中\u3000新业态 会员数 "
        cases = workbook[CASES]
        column = header_column(cases, "诉求金额（元）")
        cases[f"{column}1"].value = " 诉求金额 (元)"
        indicators = workbook[INDICATORS]
        indicators["D1"].value = "数\u3000值"
    return Expected(None, None, None)


@defect("shiqiao")
def header_blank_inserted_column(path: Path) -> Expected:
    """An empty column inserted in the middle of 新建工会企业 (a blank header cell between two headers)."""
    with editing(path) as workbook:
        sheet = workbook[ENTERPRISES]
        column = header_column(sheet, "工会成立日期")
        index = sheet[f"{column}1"].column
        sheet.insert_cols(index)
    return Expected("structure.header_blank", ERROR, f"{ENTERPRISES}!{column}1", (f"表头 {column}1 为空",))


@defect("shiqiao")
def cover_field_missing(path: Path) -> Expected:
    """The cover's 填报人 left blank."""
    row = set_cover(path, "填报人", None)
    return Expected("structure.cover_field_missing", ERROR, f"{COVER}!B{row}", ("封面缺少“填报人”", f"B{row}"))


@defect("shiqiao")
def unit_code_not_file_name(path: Path) -> Expected:
    """shiqiao_2022.xlsx whose cover says another unit (dashi): a template of the wrong unit."""
    row = set_cover(path, "单位代码", "dashi")
    return Expected(
        "structure.unit_mismatch",
        ERROR,
        f"{COVER}!B{row}",
        (f"“{COVER}”表 B{row} 的单位代码“dashi”与文件名“shiqiao_2022.xlsx”不一致",),
    )


@defect("shiqiao")
def unit_unknown(path: Path) -> Expected:
    """A unit code that is not registered, on the cover and in the file name alike."""
    row = set_cover(path, "单位代码", "shiqiao2")
    renamed = path.rename(path.with_name(f"shiqiao2_{PERIOD}.xlsx"))
    return Expected(
        "codes.unit_unknown", ERROR, f"{COVER}!B{row}", (f"B{row} 的单位代码“shiqiao2”不是已登记的填报单位",), renamed
    )


@defect("shiqiao")
def period_mismatch(path: Path) -> Expected:
    """The cover says 2021 while the file was submitted for 2022."""
    row = set_cover(path, "统计期", "2021")
    return Expected(
        "structure.period_mismatch",
        ERROR,
        f"{COVER}!B{row}",
        (f"B{row} 的统计期“2021”与本次收报的统计期“{PERIOD}”不一致",),
    )


@defect("shiqiao")
def period_unknown(path: Path) -> Expected:
    """A readable workbook with a blank cover period, not in a period folder, no period in its name: nothing
    says which period it is for."""
    set_cover(path, "统计期", None)
    inbox = path.parent.parent / "inbox"
    inbox.mkdir()
    moved = path.rename(inbox / "shiqiao.xlsx")
    return Expected("structure.period_unknown", ERROR, None, ("无法确定统计期",), moved)


@defect("shiqiao")
def unreadable_correction_outside_a_period_folder(path: Path) -> Expected:
    """A broken file named as a correction (`shiqiao_2022(更正).xlsx`) outside any period folder: it is told it
    cannot be read, not to fill in its cover."""
    inbox = path.parent.parent / "inbox"
    inbox.mkdir()
    moved = path.rename(inbox / "shiqiao_2022(更正).xlsx")
    moved.write_bytes(moved.read_bytes()[:4000])
    return Expected("structure.unreadable", ERROR, None, ("无法读取该文件",), moved)


@defect("dashi")
def correction_named_after_the_unit(path: Path) -> Expected:
    """`dashi_2022_更正.xlsx`, a natural name for a correction: the cover says dashi, the name does not
    contradict it."""
    return Expected(None, None, None, path=path.rename(path.with_name("dashi_2022_更正.xlsx")))


@defect("dashi")
def file_named_in_chinese(path: Path) -> Expected:
    """`大石街2022年报（终稿）.xlsx`: the unit's Chinese name in the file name is as good as its code."""
    return Expected(None, None, None, path=path.rename(path.with_name("大石街2022年报（终稿）.xlsx")))


@defect("dashi")
def file_named_for_another_unit(path: Path) -> Expected:
    """dashi's workbook named `市桥街2022年报.xlsx`: the name points at another unit."""
    row = cover_row(openpyxl.load_workbook(path, read_only=True)[COVER], "单位代码")
    renamed = path.rename(path.with_name("市桥街2022年报.xlsx"))
    return Expected(
        "structure.unit_mismatch",
        ERROR,
        f"{COVER}!B{row}",
        ("与文件名“市桥街2022年报.xlsx”不一致", "市桥街总工会"),
        renamed,
    )


@defect("shiqiao")
def template_version_unknown(path: Path) -> Expected:
    """A template version that does not exist (v9)."""
    row = set_cover(path, "模板版本", "v9")
    return Expected("structure.template_version", ERROR, f"{COVER}!B{row}", (f"B{row} 的模板版本“v9”无法识别",))


@defect("shiqiao")
def duplicate_indicator(path: Path) -> Expected:
    """An indicator row copied below the last one."""
    with editing(path) as workbook:
        sheet = workbook[INDICATORS]
        source = indicator_row(sheet, "job_fairs")
        target = sheet.max_row + 1
        for column in "ABCDE":
            sheet[f"{column}{target}"].value = sheet[f"{column}{source}"].value
    return Expected(
        "structure.duplicate_indicator", ERROR, f"{INDICATORS}!A{target}", (f"A{target} 的指标“job_fairs”重复出现",)
    )


@defect("shiqiao")
def not_a_workbook(path: Path) -> Expected:
    """Text bytes saved under an .xlsx name."""
    path.write_text("单位代码,数值\nshiqiao,9\n", encoding="utf-8")
    return Expected("file.not_spreadsheet", ERROR, None, ("CSV", ".xlsx"))


@defect("shiqiao")
def zip_not_a_workbook(path: Path) -> Expected:
    """A zip archive (of a text file) named .xlsx."""
    path.unlink()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("报表说明.txt", "请见附件")
    return Expected("file.not_spreadsheet", ERROR, None, ("压缩包",))


@defect("shiqiao")
def empty_file(path: Path) -> Expected:
    """A 0-byte file (an upload that broke off)."""
    path.write_bytes(b"")
    return Expected("file.empty", ERROR, None, ("文件是空的",))


# --- values -------------------------------------------------------------------------------------------------


@defect("shiqiao")
def value_approximate(path: Path) -> Expected:
    """约100 typed as an indicator value."""
    row, _ = set_indicator(path, "employment_services", "约100")
    return Expected("values.number", ERROR, f"{INDICATORS}!D{row}", (f"“{INDICATORS}”表 D{row} 的“约100”不是有效数值",))


@defect("shiqiao")
def value_list(path: Path) -> Expected:
    """'1,2,3' (a list, not a thousands separator) as an indicator value."""
    row, _ = set_indicator(path, "job_fairs", "1,2,3")
    return Expected("values.number", ERROR, f"{INDICATORS}!D{row}", (f"D{row} 的“1,2,3”不是有效数值",))


@defect("shiqiao")
def value_negative(path: Path) -> Expected:
    """A negative indicator value."""
    row, _ = set_indicator(path, "volunteer_sessions", -5)
    return Expected("values.number", ERROR, f"{INDICATORS}!D{row}", (f"D{row} 的“-5”不是有效数值", "非负"))


@defect("shiqiao")
def count_decimal(path: Path) -> Expected:
    """A decimal for a count indicator (招聘会场次 9.5)."""
    row, _ = set_indicator(path, "job_fairs", 9.5)
    return Expected(
        "values.integer",
        ERROR,
        f"{INDICATORS}!D{row}",
        (f"D{row} 的“9.5”不是整数", f"“{indicator_name('job_fairs')}”以场次计"),
    )


@defect("shiqiao")
def detail_count_decimal(path: Path) -> Expected:
    """A decimal number of new members in a 新建工会企业 row."""
    cell = set_detail(path, ENTERPRISES, "新增会员数", 2, 47.5)
    return Expected("values.integer", ERROR, f"{ENTERPRISES}!{cell}", (f"{cell} 的“47.5”不符合要求", "非负整数"))


@defect("qu_jiaoyu")
def money_three_decimals(path: Path) -> Expected:
    """An amount claimed with three decimals in 劳资纠纷案件."""
    cell = set_detail(path, CASES, "诉求金额（元）", 2, 15600.125)
    return Expected("values.money", ERROR, f"{CASES}!{cell}", (f"{cell} 的“15600.125”不符合要求", "最多两位小数"))


@defect("shiqiao")
def indicator_money_three_decimals(path: Path) -> Expected:
    """A money indicator with three decimals."""
    row, _ = set_indicator(path, "hospital_grant_amount", 9748.125)
    return Expected(
        "values.number", ERROR, f"{INDICATORS}!D{row}", (f"D{row} 的“9748.125”不是有效数值", "最多两位小数")
    )


@defect("shiqiao")
def date_text(path: Path) -> Expected:
    """A union founding date typed as words."""
    cell = set_detail(path, ENTERPRISES, "工会成立日期", 2, "今年一月")
    return Expected("values.date", ERROR, f"{ENTERPRISES}!{cell}", (f"{cell} 的“今年一月”不符合要求", "应填写日期"))


@defect("shiqiao")
def date_impossible(path: Path) -> Expected:
    """A date that does not exist (2022/2/30)."""
    cell = set_detail(path, ENTERPRISES, "工会成立日期", 3, "2022/2/30")
    return Expected("values.date", ERROR, f"{ENTERPRISES}!{cell}", (f"{cell} 的“2022/2/30”不符合要求",))


@defect("shiqiao")
def date_outside_period(path: Path) -> Expected:
    """A union founded in the previous year, listed as new this year."""
    cell = set_detail(path, ENTERPRISES, "工会成立日期", 2, datetime(2021, 12, 15))
    return Expected(
        "values.date_in_period",
        ERROR,
        f"{ENTERPRISES}!{cell}",
        (f"{cell} 的日期“2021-12-15”不在统计期 2022（2022-01-01 至 2022-12-31）内",),
    )


@defect("qu_jiaoyu")
def case_date_after_period(path: Path) -> Expected:
    """A dispute case accepted after the period ended."""
    cell = set_detail(path, CASES, "受理日期", 3, datetime(2023, 1, 5))
    return Expected("values.date_in_period", ERROR, f"{CASES}!{cell}", (f"{cell} 的日期“2023-01-05”不在统计期 2022",))


@defect("shiqiao")
def required_blank(path: Path) -> Expected:
    """A 新建工会企业 row without the enterprise's name."""
    cell = set_detail(path, ENTERPRISES, "企业名称", 2, None)
    return Expected("values.required", ERROR, f"{ENTERPRISES}!{cell}", (f"{cell} 为空", "“企业名称”为必填项"))


@defect("qu_jiaoyu")
def choice_invalid(path: Path) -> Expected:
    """A case outcome that is not in the list (已调解)."""
    cell = set_detail(path, CASES, "处理结果", 2, "已调解")
    return Expected(
        "values.choice",
        ERROR,
        f"{CASES}!{cell}",
        (f"{cell} 的“已调解”不是可选值", "调解成功、调解不成功、已结案、处理中"),
    )


@defect("qu_jiaoyu")
def channel_invalid(path: Path) -> Expected:
    """A case channel abbreviated (律师团)."""
    cell = set_detail(path, CASES, "处理渠道", 3, "律师团")
    return Expected(
        "values.choice",
        ERROR,
        f"{CASES}!{cell}",
        (f"{cell} 的“律师团”不是可选值", "律师团代理、三方联调中心调解、工会参与处理"),
    )


@defect("shiqiao")
def flag_invalid(path: Path) -> Expected:
    """A yes/no indicator answered 有 instead of 是/否."""
    row, _ = set_indicator(path, "new_form_federation", "有")
    return Expected("values.flag", ERROR, f"{INDICATORS}!D{row}", (f"D{row} 的“有”无效", "只能填“是”或“否”"))


@defect("shiqiao")
def full_width_digits(path: Path) -> Expected:
    """An indicator value typed in full-width digits: read as the number, said as info."""
    full_width = str.maketrans("0123456789", "０１２３４５６７８９")
    row, typed = set_indicator(path, "job_fairs", lambda before: str(before).translate(full_width))
    read = typed.translate(
        {ord(wide): narrow for narrow, wide in zip("0123456789", "０１２３４５６７８９", strict=True)}
    )
    return Expected("values.normalised", INFO, f"{INDICATORS}!D{row}", (f"已将“{typed}”按“{read}”读取",))


@defect("shiqiao")
def thousands_separator(path: Path) -> Expected:
    """An indicator value typed as text with a thousands separator: read as the number, said as info."""
    row, typed = set_indicator(path, "employment_services", lambda before: f"{before:,}")
    assert "," in typed, "the indicator needs four digits for a thousands separator"
    return Expected(
        "values.normalised", INFO, f"{INDICATORS}!D{row}", (f"已将“{typed}”按“{typed.replace(',', '')}”读取",)
    )


@defect("shiqiao")
def date_slashes(path: Path) -> Expected:
    """A founding date typed as text 2022/3/5: read as the date, said as info."""
    with editing(path) as workbook:
        sheet = workbook[ENTERPRISES]
        column = header_column(sheet, "工会成立日期")
        before: datetime = sheet[f"{column}2"].value
        typed = f"{before.year}/{before.month}/{before.day}"
        sheet[f"{column}2"].value = typed
    return Expected(
        "values.normalised", INFO, f"{ENTERPRISES}!{column}2", (f"已将“{typed}”按“{before.date().isoformat()}”读取",)
    )


@defect("shiqiao")
def credit_codes_blank(path: Path) -> Expected:
    """Two 新建工会企业 rows without a credit code."""
    with editing(path) as workbook:
        sheet = workbook[ENTERPRISES]
        column = header_column(sheet, "统一社会信用代码")
        sheet[f"{column}2"].value = None
        sheet[f"{column}3"].value = None
    return Expected(
        "values.required", ERROR, f"{ENTERPRISES}!{column}3", (f"{column}3 为空", "“统一社会信用代码”为必填项")
    )


@defect("shiqiao")
def indicator_value_blank(path: Path) -> Expected:
    """An indicator's 数值 left blank (the 指标 sheet lists every indicator the unit must report)."""
    row, _ = set_indicator(path, "job_fairs", None)
    return Expected("values.required", ERROR, f"{INDICATORS}!D{row}", (f"D{row} 为空",))


@defect("shiqiao")
def money_indicator_answered_yes(path: Path) -> Expected:
    """A money indicator answered 是 (only yes/no indicators take 是/否)."""
    row, _ = set_indicator(path, "hospital_grant_amount", "是")
    return Expected("values.number", ERROR, f"{INDICATORS}!D{row}", (f"D{row} 的“是”不是有效数值",))


@defect("shiqiao")
def title_row_above_header(path: Path) -> Expected:
    """A title row typed above the 新建工会企业 header, and a founding date outside the period below it."""
    with editing(path) as workbook:
        sheet = workbook[ENTERPRISES]
        sheet.insert_rows(1)
        sheet["A1"].value = "2022年新建工会企业名单"
        column = next(cell.column_letter for cell in sheet[2] if cell.value == "工会成立日期")
        sheet[f"{column}4"].value = datetime(2021, 6, 30)
    return Expected(
        "values.date_in_period", ERROR, f"{ENTERPRISES}!{column}4", (f"{column}4 的日期“2021-06-30”不在统计期 2022",)
    )


# --- codes --------------------------------------------------------------------------------------------------


@defect("shiqiao")
def credit_code_short(path: Path) -> Expected:
    """A credit code with its last character missing (17 characters)."""
    with editing(path) as workbook:
        sheet = workbook[ENTERPRISES]
        cell = f"{header_column(sheet, '统一社会信用代码')}2"
        short = sheet[cell].value[:-1]
        sheet[cell].value = short
    return Expected(
        "codes.credit_code_format",
        ERROR,
        f"{ENTERPRISES}!{cell}",
        (f"{cell} 的“{short}”不符合要求", "应为18位"),
    )


@defect("shiqiao")
def credit_code_check_character(path: Path) -> Expected:
    """A credit code with a wrong check character (one digit misread)."""
    with editing(path) as workbook:
        sheet = workbook[ENTERPRISES]
        cell = f"{header_column(sheet, '统一社会信用代码')}3"
        code = sheet[cell].value
        wrong = code[:-1] + next(character for character in credit_code.CHARSET if character != code[-1])
        assert not credit_code.is_valid(wrong)
        sheet[cell].value = wrong
    return Expected(
        "codes.credit_code_check", ERROR, f"{ENTERPRISES}!{cell}", (f"{cell} 的统一社会信用代码“{wrong}”校验位不正确",)
    )


@defect("shiqiao")
def indicator_code_unknown(path: Path) -> Expected:
    """An indicator code edited by the clerk (job_fairs -> job_fair)."""
    with editing(path) as workbook:
        sheet = workbook[INDICATORS]
        row = indicator_row(sheet, "job_fairs")
        sheet[f"A{row}"].value = "job_fair"
    return Expected(
        "codes.indicator_unknown", ERROR, f"{INDICATORS}!A{row}", (f"A{row} 的指标代码“job_fair”不在指标目录中",)
    )


@defect("shiqiao")
def indicator_not_for_unit(path: Path) -> Expected:
    """A town reporting a district-office indicator (vanguard_members)."""
    with editing(path) as workbook:
        sheet = workbook[INDICATORS]
        row = sheet.max_row + 1
        sheet.append(["vanguard_members", indicator_name("vanguard_members"), "名", 5, None])
    return Expected(
        "codes.indicator_not_for_unit",
        ERROR,
        f"{INDICATORS}!A{row}",
        (f"A{row} 的指标“vanguard_members”不由本单位填报（由区总工会本级填报）",),
    )


@defect("shiqiao")
def credit_code_check_in_moved_column(path: Path) -> Expected:
    """企业名称 and 统一社会信用代码 swapped (columns are found by header, so that is allowed) and a code misread."""
    with editing(path) as workbook:
        sheet = workbook[ENTERPRISES]
        name_column, code_column = header_column(sheet, "企业名称"), header_column(sheet, "统一社会信用代码")
        for row in range(1, sheet.max_row + 1):
            name, code = sheet[f"{name_column}{row}"], sheet[f"{code_column}{row}"]
            name.value, code.value = code.value, name.value
        cell = f"{header_column(sheet, '统一社会信用代码')}3"
        code = sheet[cell].value
        wrong = code[:-1] + next(character for character in credit_code.CHARSET if character != code[-1])
        sheet[cell].value = wrong
    return Expected(
        "codes.credit_code_check", ERROR, f"{ENTERPRISES}!{cell}", (f"{cell} 的统一社会信用代码“{wrong}”校验位不正确",)
    )


# --- within and between sheets --------------------------------------------------------------------------------


@defect("shiqiao")
def new_form_exceeds_new_members(path: Path) -> Expected:
    """新业态会员数 one more than 新增会员数 in the same 新建工会企业 row."""
    with editing(path) as workbook:
        sheet = workbook[ENTERPRISES]
        whole = sheet[f"{header_column(sheet, '新增会员数')}2"].value
        cell = f"{header_column(sheet, '其中新业态会员数')}2"
        sheet[cell].value = whole + 1
    return Expected(
        "cross_field.part_exceeds_whole",
        ERROR,
        f"{ENTERPRISES}!{cell}",
        (f"{cell} 的“其中新业态会员数”{whole + 1} 大于同一行的“新增会员数”{whole}",),
    )


@defect("qu_jiaoyu")
def recovered_exceeds_claimed(path: Path) -> Expected:
    """追回金额 more than 诉求金额 in the same 劳资纠纷案件 row."""
    with editing(path) as workbook:
        sheet = workbook[CASES]
        claimed = sheet[f"{header_column(sheet, '诉求金额（元）')}2"].value
        cell = f"{header_column(sheet, '追回金额（元）')}2"
        sheet[cell].value = claimed + 1
    return Expected(
        "cross_field.part_exceeds_whole",
        ERROR,
        f"{CASES}!{cell}",
        (f"{cell} 的“追回金额（元）”{number_text(claimed + 1)} 大于同一行的“诉求金额（元）”{number_text(claimed)}",),
    )


@defect("qu_benji")
def indicator_part_exceeds_whole(path: Path) -> Expected:
    """More contestants with senior certificates than contestants (a pair of reference/indicator_parts.csv)."""
    with editing(path) as workbook:
        sheet = workbook[INDICATORS]
        whole = sheet[f"D{indicator_row(sheet, 'competition_contestants')}"].value
        row = indicator_row(sheet, "senior_certificates")
        sheet[f"D{row}"].value = whole + 1
    return Expected(
        "cross_field.part_exceeds_whole",
        ERROR,
        f"{INDICATORS}!D{row}",
        (
            f"D{row} 的“{indicator_name('senior_certificates')}”{whole + 1} "
            f"大于“{indicator_name('competition_contestants')}”{whole}",
        ),
    )


@defect("shiqiao")
def indicator_disagrees_with_detail(path: Path) -> Expected:
    """新组建工会企业数 one less than the rows of 新建工会企业."""
    with editing(path) as workbook:
        listed = data_rows(workbook[ENTERPRISES])
        sheet = workbook[INDICATORS]
        row = indicator_row(sheet, "enterprises_unionised")
        assert sheet[f"D{row}"].value == listed, "the shipped file agrees with itself"
        sheet[f"D{row}"].value = listed - 1
    return Expected(
        "cross_sheet.indicator_equals_detail",
        ERROR,
        f"{INDICATORS}!D{row}",
        (f"D{row} 填报的“{indicator_name('enterprises_unionised')}”为 {listed - 1}，但“{ENTERPRISES}”表计得 {listed}",),
    )


@defect("shiqiao")
def duplicate_credit_code(path: Path) -> Expected:
    """The same enterprise listed twice in 新建工会企业 (row 3 repeats row 2's credit code)."""
    with editing(path) as workbook:
        sheet = workbook[ENTERPRISES]
        column = header_column(sheet, "统一社会信用代码")
        code = sheet[f"{column}2"].value
        sheet[f"{column}3"].value = code
    return Expected(
        "structure.duplicate_record",
        ERROR,
        f"{ENTERPRISES}!{column}3",
        (f"{column}3 的“统一社会信用代码”“{code}”在本表出现不止一次",),
    )


@defect("qu_jiaoyu")
def duplicate_case_number(path: Path) -> Expected:
    """Two dispute cases under one case number."""
    with editing(path) as workbook:
        sheet = workbook[CASES]
        column = header_column(sheet, "案件编号")
        case_no = sheet[f"{column}2"].value
        sheet[f"{column}3"].value = case_no
    return Expected(
        "structure.duplicate_record",
        ERROR,
        f"{CASES}!{column}3",
        (f"{column}3 的“案件编号”“{case_no}”在本表出现不止一次",),
    )


# --- across submissions ---------------------------------------------------------------------------------------


def share_credit_code(first: Path, second: Path) -> tuple[str, str]:
    """Give row 2 of `second`'s 新建工会企业 the credit code of row 2 of `first`'s; the code and its cell."""
    with editing(first) as workbook:
        sheet = workbook[ENTERPRISES]
        cell = f"{header_column(sheet, '统一社会信用代码')}2"
        code = sheet[cell].value
    with editing(second) as workbook:
        sheet = workbook[ENTERPRISES]
        assert header_column(sheet, "统一社会信用代码") == cell[0]
        sheet[cell].value = code
    return code, cell


# --- people (the beneficiary sheet of template v2) ---------------------------------------------------------


def with_check_character(body: str) -> str:
    """17 digits completed to an ID number with its valid GB 11643 check character."""
    from stdnum.cn import ric

    return body + ric.calc_check_digit(body + "0")


def beneficiary_row(path: Path, kind: str, nth: int = 0) -> int:
    """The sheet row of the `nth` payment of a kind (帮扶类型) in the beneficiary sheet."""
    workbook = openpyxl.load_workbook(path, read_only=True)
    sheet = workbook[BENEFICIARIES]
    rows = [row[0].row for row in sheet.iter_rows(min_row=2) if row[0].value == kind]
    return rows[nth]


def beneficiary_cell(path: Path, header: str, row: int):
    workbook = openpyxl.load_workbook(path)
    sheet = workbook[BENEFICIARIES]
    return sheet[f"{header_column(sheet, header)}{row}"].value


def masked(number: str) -> str:
    from union_stats.pseudonym import mask_id

    return mask_id(number)


@defect("shiqiao")
def id_check_character_wrong(path: Path) -> Expected:
    """A 身份证号 with one digit mistyped, so its check character no longer fits."""
    row = beneficiary_row(path, "住院关爱")
    number = beneficiary_cell(path, "身份证号", row)
    wrong = number[:10] + str((int(number[10]) + 1) % 10) + number[11:]
    cell = set_detail(path, BENEFICIARIES, "身份证号", row, wrong)
    return Expected(
        "person.id_check_digit", ERROR, f"{BENEFICIARIES}!{cell}", (f"“{masked(wrong)}”最后一位校验码不对",)
    )


@defect("shiqiao")
def id_malformed(path: Path) -> Expected:
    """A 身份证号 of 17 characters (one left out)."""
    row = beneficiary_row(path, "两保计划")
    number = beneficiary_cell(path, "身份证号", row)[:-1]
    cell = set_detail(path, BENEFICIARIES, "身份证号", row, number)
    return Expected("person.id_format", ERROR, f"{BENEFICIARIES}!{cell}", (f"“{masked(number)}”不是18位身份证号",))


@defect("dashi")
def id_birth_date_impossible(path: Path) -> Expected:
    """A 身份证号 whose birth date is 30 February, with a check character that fits."""
    number = with_check_character("44019919800230123")
    cell = set_detail(path, BENEFICIARIES, "身份证号", beneficiary_row(path, "新春慰问"), number)
    return Expected("person.id_birth_date", ERROR, f"{BENEFICIARIES}!{cell}", ("不是真实日期，或晚于统计期末",))


@defect("dashi")
def id_born_after_the_period(path: Path) -> Expected:
    """A 身份证号 of someone born in 2023, in a 2022 file."""
    number = with_check_character("44019920230105123")
    cell = set_detail(path, BENEFICIARIES, "身份证号", beneficiary_row(path, "住院关爱"), number)
    return Expected("person.id_birth_date", ERROR, f"{BENEFICIARIES}!{cell}", ("晚于统计期末 2022-12-31",))


@defect("shiqiao")
def study_aid_to_an_adult(path: Path) -> Expected:
    """助学 (for a worker's child at school) paid to someone born in 1962: a parent's number, most likely."""
    number = with_check_character("44019919620315123")
    cell = set_detail(path, BENEFICIARIES, "身份证号", beneficiary_row(path, "助学"), number)
    return Expected("person.age", WARNING, f"{BENEFICIARIES}!{cell}", ("此人发放时约 60 岁", "在 3 至 30 岁之间"))


@defect("shiqiao")
def beneficiary_name_missing(path: Path) -> Expected:
    """A beneficiary row without the person's 姓名."""
    cell = set_detail(path, BENEFICIARIES, "姓名", beneficiary_row(path, "住院关爱", 1), None)
    return Expected("values.required", ERROR, f"{BENEFICIARIES}!{cell}", ("“姓名”",))


@defect("shiqiao")
def beneficiary_amount_zero(path: Path) -> Expected:
    """A New Year visit paid 0 yuan (a kind without an amount indicator, so nothing else disagrees)."""
    cell = set_detail(path, BENEFICIARIES, "金额（元）", beneficiary_row(path, "新春慰问"), 0)
    return Expected("values.positive", ERROR, f"{BENEFICIARIES}!{cell}", ("须大于 0",))


@defect("shiqiao")
def beneficiary_amount_three_decimals(path: Path) -> Expected:
    """A New Year visit of 500.125 yuan."""
    cell = set_detail(path, BENEFICIARIES, "金额（元）", beneficiary_row(path, "新春慰问"), 500.125)
    return Expected("values.money", ERROR, f"{BENEFICIARIES}!{cell}", ("“500.125”不符合要求",))


@defect("shiqiao")
def same_person_twice_in_file(path: Path) -> Expected:
    """The second 住院关爱 row repeats the first one's person (the same 身份证号)."""
    first, second = beneficiary_row(path, "住院关爱", 0), beneficiary_row(path, "住院关爱", 1)
    number = beneficiary_cell(path, "身份证号", first)
    cell = set_detail(path, BENEFICIARIES, "身份证号", second, number)
    return Expected(
        "person.duplicate_in_file", ERROR, f"{BENEFICIARIES}!{cell}", (f"与第 {first} 行是同一人", "（住院关爱）")
    )


@defect("shiqiao")
def id_number_in_a_remark(path: Path) -> Expected:
    """A clerk's remark quoting someone's 身份证号: stored masked, and the clerk told so."""
    number = with_check_character("44019919750704567")
    cell = set_detail(path, BENEFICIARIES, "备注", beneficiary_row(path, "两保计划"), f"代领人{number}")
    return Expected("personal.in_text", INFO, f"{BENEFICIARIES}!{cell}", (f"已遮盖后保存（代领人{masked(number)}）",))


# --- labels beside values, and office habits that must pass (issue 19) ----------------------------------------


def rewrite_sheet_xml(path: Path, sheet_name: str, edit: Callable[[bytes], bytes]) -> None:
    """Edit one worksheet's XML in place, as another program would have written it (openpyxl, which made the
    copy, writes the sheets in order as xl/worksheets/sheet<N>.xml and its strings inline)."""
    position = openpyxl.load_workbook(path, read_only=True).sheetnames.index(sheet_name) + 1
    part = f"xl/worksheets/sheet{position}.xml"
    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in entries:
            target.writestr(info, edit(data) if info.filename == part else data)


def cache_result(path: Path, sheet_name: str, cell: str, value: str) -> None:
    """Give a formula cell the result Excel cached for it (`16500098.379999993`: the double a SUM of amounts
    with cents lands on, which Excel shows as 16500098.38)."""

    def edit(xml: bytes) -> bytes:
        opening = f'<c r="{cell}"'.encode()
        start = xml.index(opening)
        end = xml.index(b"</c>", start)
        cached = xml[start:end].replace(b"<v />", b"").replace(b"<v></v>", b"") + f"<v>{value}</v>".encode()
        return xml[:start] + cached + xml[end:]

    rewrite_sheet_xml(path, sheet_name, edit)


def lawyer_panel_rows(path: Path) -> tuple[str, str, list[int]]:
    """The columns of 处理渠道 and 诉求金额 and the rows of the district office's 律师团代理 cases."""
    sheet = openpyxl.load_workbook(path)[CASES]
    channel = header_column(sheet, "处理渠道")
    rows = [cell.row for cell in sheet[channel][1:] if cell.value == "律师团代理"]
    return channel, header_column(sheet, "诉求金额（元）"), rows


@defect("shiqiao")
def indicator_rows_sorted_without_codes(path: Path) -> Expected:
    """Two indicator rows sorted by name with the code column left out of the selection: each value now sits
    beside another indicator's code."""
    with editing(path) as workbook:
        sheet = workbook[INDICATORS]
        first, second = indicator_row(sheet, "job_fairs"), indicator_row(sheet, "employment_services")
        for column in "BCDE":
            sheet[f"{column}{first}"].value, sheet[f"{column}{second}"].value = (
                sheet[f"{column}{second}"].value,
                sheet[f"{column}{first}"].value,
            )
    return Expected(
        "structure.indicator_label_mismatch",
        ERROR,
        f"{INDICATORS}!B{first}",
        ("与同一行的指标代码 job_fairs 不符", f"应为“{indicator_name('job_fairs')}”", "排序"),
    )


@defect("qu_benji")
def indicator_unit_changed_to_wan(path: Path) -> Expected:
    """The refunded dues stated as 532.9 with the unit of measure changed to 万元 (the catalog's unit is 元)."""
    with editing(path) as workbook:
        sheet = workbook[INDICATORS]
        row = indicator_row(sheet, "dues_refund_amount")
        sheet[f"C{row}"].value = "万元"
        sheet[f"D{row}"].value = 532.9
    return Expected(
        "structure.indicator_label_mismatch", ERROR, f"{INDICATORS}!C{row}", ("计量单位“万元”", "计量单位“元”不符")
    )


@defect("shiqiao")
def detail_header_twice_one_hidden(path: Path) -> Expected:
    """A second 新增会员数 column, hidden, with other numbers: which one is the data is never guessed."""
    with editing(path) as workbook:
        sheet = workbook[ENTERPRISES]
        column = header_column(sheet, "新增会员数")
        sheet["F1"].value = "新增会员数"
        for row in range(2, sheet.max_row + 1):
            sheet[f"F{row}"].value = 1
        sheet.column_dimensions["F"].hidden = True
    return Expected(
        "structure.header_duplicate", ERROR, f"{ENTERPRISES}!{column}1", (f"{column}1 和 F1", "隐藏", "删除多余的一列")
    )


@defect("shiqiao")
def cover_names_another_unit(path: Path) -> Expected:
    """The cover keeps shiqiao's code under 大石街总工会's name (a template passed on between towns)."""
    row = set_cover(path, "单位名称", "大石街总工会")
    return Expected(
        "structure.unit_name_mismatch", ERROR, f"{COVER}!B{row}", ("“大石街总工会”", "“shiqiao”（市桥街总工会）")
    )


@defect("shiqiao")
def cover_name_written_in_full(path: Path) -> Expected:
    """The unit's name as letterheads write it, 番禺区市桥街道总工会: the same unit, accepted."""
    set_cover(path, "单位名称", "番禺区市桥街道总工会")
    return Expected(None, None, None)


@defect("shiqiao")
def cover_period_written_with_nian(path: Path) -> Expected:
    """The cover's period written 2022年 (as offices write a year): the period 2022, accepted."""
    set_cover(path, "统计期", "2022年")
    return Expected(None, None, None)


@defect("shiqiao")
def id_number_spaced_in_a_remark(path: Path) -> Expected:
    """A remark with a 身份证号 typed in groups, 440199 19750704 567X: masked however it is spaced."""
    number = with_check_character("44019919750704567")
    spaced = f"{number[:6]} {number[6:14]} {number[14:]}"
    cell = set_detail(path, BENEFICIARIES, "备注", beneficiary_row(path, "两保计划"), f"代领人 {spaced} 已核")
    return Expected("personal.in_text", INFO, f"{BENEFICIARIES}!{cell}", (f"（代领人 {masked(number)} 已核）",))


@defect("shiqiao")
def id_number_dashed_in_full_width_in_a_remark(path: Path) -> Expected:
    """A remark with a 身份证号 in full-width digits, dashed in fours: masked all the same."""
    number = with_check_character("44019919750704567")
    dashed = "-".join(number[start : start + 4] for start in range(0, 18, 4))
    full_width = dashed.translate({code: code + 0xFEE0 for code in range(0x30, 0x3A)})
    cell = set_detail(path, BENEFICIARIES, "备注", beneficiary_row(path, "两保计划"), f"证号{full_width}")
    return Expected("personal.in_text", INFO, f"{BENEFICIARIES}!{cell}", (f"（证号{masked(number)}）",))


@defect("shiqiao")
def date_with_a_time_of_day(path: Path) -> Expected:
    """A 工会成立日期 entered with the time of the meeting (2022-01-06 14:30): the date, accepted silently."""
    set_detail(path, ENTERPRISES, "工会成立日期", 2, datetime(2022, 1, 6, 14, 30))
    return Expected(None, None, None)


@defect("shiqiao")
def empty_extra_sheets(path: Path) -> Expected:
    """Two empty sheets a clerk's program adds (Sheet1, Sheet2), one of them hidden: harmless, accepted."""
    with editing(path) as workbook:
        workbook.create_sheet("Sheet1")
        workbook.create_sheet("Sheet2").sheet_state = "hidden"
    return Expected(None, None, None)


@defect("qu_benji")
def indicator_summed_with_binary_noise(path: Path) -> Expected:
    """The 律师团代理 claimed total is a =SUMIFS over the cases, one of them with cents: Excel caches the double
    16500098.379999993 and shows 16500098.38, which is what the cases add up to. Accepted."""
    channel, amount, rows = lawyer_panel_rows(path)
    with editing(path) as workbook:
        cases = workbook[CASES]
        cases[f"{amount}{rows[0]}"].value = cases[f"{amount}{rows[0]}"].value + 98.38
        sheet = workbook[INDICATORS]
        row = indicator_row(sheet, "lawyer_panel_claimed")
        sheet[f"D{row}"].value = f'=SUMIFS({CASES}!{amount}:{amount},{CASES}!{channel}:{channel},"律师团代理")'
    cache_result(path, INDICATORS, f"D{row}", "16500098.379999993")
    return Expected(None, None, None)


@defect("shiqiao")
def control_character_in_a_name(path: Path) -> Expected:
    """An enterprise name pasted from another system with a BEL character inside (Excel stores it _x0007_)."""
    set_detail(path, ENTERPRISES, "企业名称", 2, "番禺样例天工CONTROL照明有限公司（虚构）")
    rewrite_sheet_xml(path, ENTERPRISES, lambda xml: xml.replace(b"CONTROL", b"_x0007_"))
    return Expected(
        "values.control_character",
        ERROR,
        f"{ENTERPRISES}!A2",
        ("看不见的控制字符（U+0007）", "番禺样例天工照明有限公司"),
    )


@defect("qu_benji")
def indicator_value_shown_in_wan(path: Path) -> Expected:
    """The refunded dues kept in yuan (5329000) but formatted `0.00"万元"`: the sheet shows 5329000.00万元, a
    reader of the sheet takes it for 万元."""
    with editing(path) as workbook:
        sheet = workbook[INDICATORS]
        row = indicator_row(sheet, "dues_refund_amount")
        sheet[f"D{row}"].number_format = '0.00"万元"'
    return Expected(
        "values.number_format_unit", ERROR, f"{INDICATORS}!D{row}", ('0.00"万元"', "显示“万元”", "应按“元”填写")
    )


@defect("qu_benji")
def detail_amount_scaled_by_thousands(path: Path) -> Expected:
    """A claimed amount formatted `#,##0.0,"千元"`: Excel shows it divided by a thousand."""
    _, amount, rows = lawyer_panel_rows(path)
    with editing(path) as workbook:
        workbook[CASES][f"{amount}{rows[0]}"].number_format = '#,##0.0,"千元"'
    return Expected("values.number_format_unit", ERROR, f"{CASES}!{amount}{rows[0]}", ("缩放", "应按“元”填写"))


@defect("qu_benji")
def amount_formatted_in_yuan_passes(path: Path) -> Expected:
    """Amounts formatted as accountants do (`#,##0.00"元"`, `¥#,##0.00`): the unit they show is the column's."""
    _, amount, rows = lawyer_panel_rows(path)
    with editing(path) as workbook:
        workbook[CASES][f"{amount}{rows[0]}"].number_format = '#,##0.00"元"'
        workbook[CASES][f"{amount}{rows[1]}"].number_format = '"¥"#,##0.00'
        sheet = workbook[INDICATORS]
        sheet[f"D{indicator_row(sheet, 'dues_refund_amount')}"].number_format = '#,##0.00"元"'
        sheet[f"D{indicator_row(sheet, 'job_fairs')}"].number_format = '0"场次"'
    return Expected(None, None, None)


@defect("shiqiao")
def id_number_typed_into_a_number_cell(path: Path) -> Expected:
    """A 身份证号 typed into a number cell (Excel keeps 15 digits: 440199197507045670 becomes
    440199197507045000), whatever its check character now says."""
    row = next(
        beneficiary_row(path, "两保计划", nth)
        for nth in range(20)
        if str(beneficiary_cell(path, "身份证号", beneficiary_row(path, "两保计划", nth))).isdigit()
    )  # a number ending in X cannot be typed as a number
    cell = set_detail(path, BENEFICIARIES, "身份证号", row, int(beneficiary_cell(path, "身份证号", row)))
    return Expected("person.id_number_cell", ERROR, f"{BENEFICIARIES}!{cell}", ("以数字格式保存", "15位", "文本"))

"""Expectation suites: the validation rules, written from the template and the catalog to `expectations/*.json`.

Each expectation carries its rule in `meta`: a rule id, a severity (error blocks the submission, warning asks
the unit to confirm) and a Chinese message template for the clerk. The JSON files are generated so that a
change of template or catalog changes the rules with it, and committed so that rules are reviewed like code
(a test fails when the committed files and the generator disagree).
"""

from __future__ import annotations

import json
from pathlib import Path

from union_stats import reference
from union_stats.findings import ERROR, WARNING
from union_stats.paths import EXPECTATIONS_DIR
from union_stats.reference import Column, SheetSpec

COVER_SUITE = "cover"
COVER_TEXT_FIELDS = ("unit_name", "contact_name")  # free text on the cover (a phone number may start with +)
CROSS_SHEET_SUITE = "cross_sheet"

# the text a column of each type must match, with what to tell the clerk when it does not
VALUE_PATTERNS = {
    "integer": (r"^\d+$", "values.integer", "应填写非负整数（如 12），不要带小数、单位、“约”“余”等文字"),
    "number": (r"^\d+(?:\.\d{1,2})?$", "values.number", "应填写非负数字，最多两位小数（如 12 或 3.5），不要带单位或文字"),
    "money": (r"^\d+(?:\.\d{1,2})?$", "values.money", "应填写以“元”为单位的金额，最多两位小数（如 5329000 或 1234.50），不要填万元"),
    "date": (r"^\d{4}-\d{2}-\d{2}$", "values.date", "应填写日期（如 2022-03-15），请设置为日期格式"),
    "credit_code": (
        r"^[0-9A-HJ-NPQRTUWXY]{18}$",
        "codes.credit_code_format",
        "应为18位统一社会信用代码（数字或大写字母，不含 I、O、Z、S、V），请按营业执照核对",
    ),
}


# the largest value each numeric type can be stored as (DuckDB integer; decimal(18, 2) yuan): a larger one is a
# finding, never a silent NULL in the warehouse
STORAGE_MAX = {"integer": 2_147_483_647, "number": 9_999_999_999_999_999.99, "money": 9_999_999_999_999_999.99}
# text that Excel or WPS would run as a formula when the cell is edited or the file is exported to CSV
FORMULA_START = r"^[=+\-@]"

INDICATOR_PARTS_SUITE = "indicator_parts"
INDICATOR_ROWS_SUITE = "indicator_rows"
HISTORY_SUITE = "history"


def _expectation(kind: str, kwargs: dict, rule: str, severity: str, message_zh: str, cell_column: str = "") -> dict:
    meta = {"rule": rule, "severity": severity, "message_zh": message_zh}
    if cell_column:
        meta["cell_column"] = cell_column  # the cell a finding points at, when not the first column checked
    return {"type": kind, "kwargs": kwargs, "meta": meta}


def _too_large(column: str, maximum: float, header: str) -> dict:
    return _expectation(
        "expect_column_values_to_be_between",
        {"column": column, "max_value": maximum},
        "values.too_large",
        ERROR,
        f"“{{sheet}}”表 {{cell}} 的“{{value}}”太大，超出“{header}”能保存的范围（最大 {maximum:,.0f}）："
        "请核对数值（金额以元为单位），是否多打了数字。",
        cell_column=column.split("__")[0],
    )


def _formula_text(column: str, header: str) -> dict:
    return _expectation(
        "expect_column_values_to_not_match_regex",
        {"column": column, "regex": FORMULA_START},
        "values.formula_text",
        ERROR,
        f"“{{sheet}}”表 {{cell}} 的“{{value}}”以 =、+、-、@ 开头，会被 Excel 当作公式执行：“{header}”请直接填写文字，"
        "去掉开头的符号。",
    )


def _column_expectations(column: Column) -> list[dict]:
    expectations = []
    if column.required:
        expectations.append(
            _expectation(
                "expect_column_values_to_not_be_null",
                {"column": column.name},
                "values.required",
                ERROR,
                f"“{{sheet}}”表 {{cell}} 为空：“{column.header}”为必填项，请填写。",
            )
        )
    if column.type in VALUE_PATTERNS:
        pattern, rule, advice = VALUE_PATTERNS[column.type]
        expectations.append(
            _expectation(
                "expect_column_values_to_match_regex",
                {"column": column.name, "regex": pattern},
                rule,
                ERROR,
                f"“{{sheet}}”表 {{cell}} 的“{{value}}”不符合要求：“{column.header}”{advice}。",
            )
        )
    if column.type in STORAGE_MAX:
        expectations.append(_too_large(f"{column.name}__n", STORAGE_MAX[column.type], column.header))
    if column.type == "text" and not column.free_text:
        expectations.append(_formula_text(column.name, column.header))
    if column.type == "date":
        expectations.append(
            _expectation(
                "expect_column_values_to_be_between",
                {
                    "column": f"{column.name}__date",
                    "min_value": {"$PARAMETER": "period_start"},
                    "max_value": {"$PARAMETER": "period_end"},
                },
                "values.date_in_period",
                ERROR,
                f"“{{sheet}}”表 {{cell}} 的日期“{{value}}”不在统计期 {{run_period}}（{{period_start}} 至 {{period_end}}）内："
                f"请核对“{column.header}”，只填报本统计期内发生的事项。",
            )
        )
    if column.type == "credit_code":
        expectations.append(
            _expectation(
                "expect_column_values_to_be_in_set",
                {"column": f"{column.name}__valid", "value_set": [True]},
                "codes.credit_code_check",
                ERROR,
                "“{sheet}”表 {cell} 的统一社会信用代码“{value}”校验位不正确（GB 32100-2015）："
                "很可能抄错了某一位，请对照营业执照逐位核对。",
            )
        )
    if column.type == "choice":
        choices = "、".join(column.choices)
        expectations.append(
            _expectation(
                "expect_column_values_to_be_in_set",
                {"column": column.name, "value_set": list(column.choices)},
                "values.choice",
                ERROR,
                f"“{{sheet}}”表 {{cell}} 的“{{value}}”不是可选值：“{column.header}”只能填 {choices} 之一，请从下拉列表选择。",
            )
        )
    return expectations


def _detail_suite(sheet: SheetSpec) -> list[dict]:
    expectations = [expectation for column in sheet.columns for expectation in _column_expectations(column)]
    for name in sheet.unique_in_file:
        header = sheet.column(name).header
        expectations.append(
            _expectation(
                "expect_compound_columns_to_be_unique",
                # a blank key is values.required's finding, not a duplicate of other blanks
                {"column_list": ["submission_id", name], "ignore_row_if": "any_value_is_missing"},
                "structure.duplicate_record",
                ERROR,
                f"“{{sheet}}”表 {{cell}} 的“{header}”“{{value}}”在本表出现不止一次：同一记录只填一行，请删除重复行或更正。",
            )
        )
    for name in sheet.unique_across_units:
        header = sheet.column(name).header
        expectations.append(
            _expectation(
                "expect_column_values_to_be_between",
                {"column": f"{name}__units", "max_value": 1},
                "cross_submission.duplicate_record",
                WARNING,
                f"“{{sheet}}”表 {{cell}} 的“{header}”“{{value}}”在本期也由其他单位（{{{name}__other_units}}）填报："
                "同一企业只能由一个单位统计，请与对方核实后保留一处，或在备注中说明。",
            )
        )
    for part, whole in sheet.parts:
        part_header, whole_header = sheet.column(part).header, sheet.column(whole).header
        expectations.append(
            _expectation(
                "expect_column_pair_values_a_to_be_greater_than_b",
                {
                    "column_A": f"{whole}__n",
                    "column_B": f"{part}__n",
                    "or_equal": True,
                    "ignore_row_if": "either_value_is_missing",
                },
                "cross_field.part_exceeds_whole",
                ERROR,
                f"“{{sheet}}”表 {{cell}} 的“{part_header}”{{{part}}} 大于同一行的“{whole_header}”{{{whole}}}："
                "部分不能超过总数，请核对两处数字。",
                cell_column=part,
            )
        )
    return expectations


def _indicator_suite(sheet: SheetSpec) -> list[dict]:
    codes = sorted(indicator.indicator_code for indicator in reference.indicators())
    code_header = sheet.column("indicator_code").header
    value_header = sheet.column("value").header
    return [
        _expectation(
            "expect_column_values_to_be_in_set",
            {"column": "indicator_code", "value_set": codes},
            "codes.indicator_unknown",
            ERROR,
            f"“{{sheet}}”表 {{cell}} 的指标代码“{{value}}”不在指标目录中：请勿修改“{code_header}”列，使用模板预填的代码。",
        ),
        _expectation(
            "expect_column_values_to_be_in_set",
            {"column": "indicator_code__reported_by_unit", "value_set": [True]},
            "codes.indicator_not_for_unit",
            ERROR,
            "“{sheet}”表 {cell} 的指标“{value}”不由本单位填报（由{reported_by_zh}填报）："
            "请删除该行，使用区总工会下发的本单位模板。",
        ),
        _expectation(
            "expect_compound_columns_to_be_unique",
            {"column_list": ["submission_id", "indicator_code"], "ignore_row_if": "any_value_is_missing"},
            "structure.duplicate_indicator",
            ERROR,
            "“{sheet}”表 {cell} 的指标“{value}”重复出现：每个指标只填一行，请删除多余的行。",
        ),
        _expectation(
            "expect_column_values_to_not_be_null",
            {"column": "value"},
            "values.required",
            ERROR,
            f"“{{sheet}}”表 {{cell}} 为空：请填写“{{indicator_name}}”的{value_header}；本期没有发生的填 0。",
        ),
        _expectation(
            "expect_column_values_to_match_regex",
            {
                "column": "value",
                "regex": r"^\d+(?:\.\d{1,2})?$",
                "row_condition": 'value_type!="flag"',
                "condition_parser": "pandas",
            },
            "values.number",
            ERROR,
            f"“{{sheet}}”表 {{cell}} 的“{{value}}”不是有效数值：“{value_header}”应填写非负数字（金额以元为单位，最多两位小数），"
            "不要带单位或“约”“余”等文字。",
        ),
        _too_large("value__n", STORAGE_MAX["money"], value_header),
        _expectation(
            # a count with a fractional part; text that is no number at all is values.number's finding
            "expect_column_values_to_be_in_set",
            {
                "column": "value__fraction",
                "value_set": [False],
                "row_condition": 'value_type=="count"',
                "condition_parser": "pandas",
            },
            "values.integer",
            ERROR,
            "“{sheet}”表 {cell} 的“{value}”不是整数：“{indicator_name}”以{unit_zh}计，应填写整数。",
        ),
        _expectation(
            "expect_column_values_to_be_in_set",
            {"column": "value", "value_set": ["是", "否"], "row_condition": 'value_type=="flag"', "condition_parser": "pandas"},
            "values.flag",
            ERROR,
            "“{sheet}”表 {cell} 的“{value}”无效：“{indicator_name}”只能填“是”或“否”。",
        ),
    ]


def _cover_suite() -> list[dict]:
    return [
        _expectation(
            "expect_column_values_to_be_in_set",
            {"column": "unit_code", "value_set": {"$PARAMETER": "known_unit_codes"}},
            "codes.unit_unknown",
            ERROR,
            "“{sheet}”表 {cell} 的单位代码“{value}”不是已登记的填报单位：请使用区总工会下发的本单位模板。",
        ),
        _expectation(
            "expect_column_pair_values_to_be_equal",
            {"column_A": "unit_code", "column_B": "file_unit_code"},
            "structure.unit_mismatch",
            ERROR,
            "“{sheet}”表 {cell} 的单位代码“{value}”与文件名“{file_name}”不一致：文件名指的是“{file_unit_name}”。"
            "请核对是否用了其他单位的模板；如文件没错，请把文件名改为本单位名称或代码（如“单位代码_统计期.xlsx”）。",
        ),
        _expectation(
            "expect_column_values_to_be_in_set",
            {"column": "period", "value_set": {"$PARAMETER": "run_periods"}},
            "structure.period_mismatch",
            ERROR,
            "“{sheet}”表 {cell} 的统计期“{value}”与本次收报的统计期“{run_period}”不一致：请填写正确的统计期，或提交到对应统计期。",
        ),
        _expectation(
            "expect_column_values_to_be_in_set",
            {"column": "template_version", "value_set": list(reference.template_versions())},
            "structure.template_version",
            ERROR,
            "“{sheet}”表 {cell} 的模板版本“{value}”无法识别：请下载最新模板重新填报。",
        ),
        *(
            _formula_text(item.name, item.label)
            for item in reference.template().cover_fields
            if item.name in COVER_TEXT_FIELDS
        ),
    ]


def _cross_sheet_suite() -> list[dict]:
    return [
        _expectation(
            "expect_column_pair_values_to_be_equal",
            {"column_A": "reported_value", "column_B": "derived_value"},
            "cross_sheet.indicator_equals_detail",
            ERROR,
            "“{sheet}”表 {cell} 填报的“{indicator_name}”为 {value}，但“{detail_sheet}”表计得 {derived_value}："
            "明细表是该指标的来源，两处应一致，请核对明细或更正指标值。",
            cell_column="value",
        ),
    ]


def _indicator_rows_suite() -> list[dict]:
    return [
        _expectation(
            "expect_column_values_to_be_in_set",
            {"column": "row_present", "value_set": [True]},
            "structure.indicator_row_missing",
            ERROR,
            "“{sheet}”表缺少指标“{indicator_name}”（代码 {indicator_code}）这一行：本单位须填报该指标，"
            "请按模板恢复这一行并填写数值，本期没有发生的填 0。",
        ),
    ]


def _indicator_parts_suite() -> list[dict]:
    return [
        _expectation(
            "expect_column_pair_values_a_to_be_greater_than_b",
            {"column_A": "whole_value", "column_B": "part_value", "or_equal": True, "ignore_row_if": "either_value_is_missing"},
            "cross_field.part_exceeds_whole",
            ERROR,
            "“{sheet}”表 {cell} 的“{part_name}”{part_value} 大于“{whole_name}”{whole_value}（{relation_zh}）：请核对两项数字。",
            cell_column="value",
        ),
    ]


def _history_suite() -> list[dict]:
    return [
        _expectation(
            "expect_column_values_to_be_between",
            {"column": "change_factor", "max_value": {"$PARAMETER": "max_change_factor"}},
            "history.change",
            WARNING,
            "“{sheet}”表 {cell} 的“{indicator_name}”为 {value}，上期（{previous_period}）为 {previous_value}，"
            "变化超过 {max_change_factor} 倍：如数据无误，请在该行“备注”中说明原因。",
            cell_column="value",
        ),
        _expectation(
            "expect_column_values_to_be_between",
            {"column": "iqr_distance", "max_value": {"$PARAMETER": "iqr_multiplier"}},
            "history.outlier",
            WARNING,
            "“{sheet}”表 {cell} 的“{indicator_name}”为 {value}，明显超出本单位以往 {history_periods} 期的正常范围"
            "（{history_low} 至 {history_high}）：如数据无误，请在该行“备注”中说明原因。",
            cell_column="value",
        ),
        _expectation(
            "expect_column_pair_values_to_be_equal",
            {"column_A": "quarters_total", "column_B": "annual_total", "ignore_row_if": "either_value_is_missing"},
            "history.quarters_sum",
            WARNING,
            "“{sheet}”表 {cell} 的“{indicator_name}”：{year}年四个季度合计 {quarters_total}，与年度报表的 {annual_total} 不一致："
            "请核对季度或年度数据，如确有原因请在该行“备注”中说明。",
            cell_column="value",
        ),
    ]


def build_suites() -> dict[str, dict]:
    """Every suite, by name, as GX 1.x suite JSON."""
    spec = reference.template()
    suites = {
        COVER_SUITE: (spec.cover_sheet, _cover_suite()),
        spec.indicators.kind: (spec.indicators.sheet, _indicator_suite(spec.indicators)),
        CROSS_SHEET_SUITE: (spec.indicators.sheet, _cross_sheet_suite()),
        INDICATOR_ROWS_SUITE: (spec.indicators.sheet, _indicator_rows_suite()),
        INDICATOR_PARTS_SUITE: (spec.indicators.sheet, _indicator_parts_suite()),
        HISTORY_SUITE: (spec.indicators.sheet, _history_suite()),
    }
    suites |= {sheet.kind: (sheet.sheet, _detail_suite(sheet)) for sheet in spec.details}
    return {
        name: {
            "name": name,
            "expectations": expectations,
            "meta": {"sheet": sheet_name, "template_version": spec.version},
        }
        for name, (sheet_name, expectations) in suites.items()
    }


def suite_text(suite: dict) -> str:
    return json.dumps(suite, ensure_ascii=False, indent=2) + "\n"


def write_suites(directory: Path = EXPECTATIONS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, suite in build_suites().items():
        path = directory / f"{name}.json"
        path.write_text(suite_text(suite), encoding="utf-8")
        written.append(path)
    return written


def read_suites(directory: Path = EXPECTATIONS_DIR) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.json"))}

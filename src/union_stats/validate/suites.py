"""Expectation suites: the validation rules, written from the template and the catalog to `expectations/*.json`.

Each expectation carries its rule in `meta`: a rule id, its severity (error blocks the submission, warning asks
the unit to confirm) and its Chinese message template for the clerk, all from the rule registry
(`reference/rules.toml`) with the column's own words filled in. The JSON files are generated so that a
change of template or catalog changes the rules with it, and committed so that rules are reviewed like code
(a test fails when the committed files and the generator disagree).
"""

from __future__ import annotations

import json
from pathlib import Path

from union_stats import pseudonym, reference
from union_stats.paths import EXPECTATIONS_DIR
from union_stats.reference import Column, SheetSpec
from union_stats.rules import rule

COVER_SUITE = "cover"
COVER_TEXT_FIELDS = ("unit_name", "contact_name")  # free text on the cover (a phone number may start with +)
CROSS_SHEET_SUITE = "cross_sheet"

# the text a column of each type must match, and the rule it breaks when it does not
VALUE_PATTERNS = {
    "integer": (r"^\d+$", "values.integer"),
    "number": (r"^\d+(?:\.\d{1,2})?$", "values.number"),
    "money": (r"^\d+(?:\.\d{1,2})?$", "values.money"),
    "date": (r"^\d{4}-\d{2}-\d{2}$", "values.date"),
    "credit_code": (r"^[0-9A-HJ-NPQRTUWXY]{18}$", "codes.credit_code_format"),
}


# the largest value each numeric type can be stored as (DuckDB integer; decimal(18, 2) yuan): a larger one is a
# finding, never a silent NULL in the warehouse
STORAGE_MAX = {"integer": 2_147_483_647, "number": 9_999_999_999_999_999.99, "money": 9_999_999_999_999_999.99}
# text that Excel or WPS would run as a formula when the cell is edited or the file is exported to CSV
FORMULA_START = r"^[=+\-@]"

INDICATOR_PARTS_SUITE = "indicator_parts"
INDICATOR_ROWS_SUITE = "indicator_rows"
HISTORY_SUITE = "history"


def _expectation(
    kind: str, kwargs: dict, rule_id: str, variant: str | None = None, cell_column: str = "", **fields: object
) -> dict:
    """An expectation whose meta is its registry rule, the message worded for this column (`fields`)."""
    registered = rule(rule_id)
    meta = {"rule": rule_id, "severity": registered.severity, "message_zh": registered.message(variant, **fields)}
    if cell_column:
        meta["cell_column"] = cell_column  # the cell a finding points at, when not the first column checked
    return {"type": kind, "kwargs": kwargs, "meta": meta}


def _too_large(column: str, maximum: float, header: str) -> dict:
    return _expectation(
        "expect_column_values_to_be_between",
        {"column": column, "max_value": maximum},
        "values.too_large",
        cell_column=column.split("__")[0],
        header=header,
        maximum=f"{maximum:,.0f}",
    )


def _formula_text(column: str, header: str) -> dict:
    return _expectation(
        "expect_column_values_to_not_match_regex",
        {"column": column, "regex": FORMULA_START},
        "values.formula_text",
        header=header,
    )


def _column_expectations(column: Column) -> list[dict]:
    expectations = []
    if column.required:
        expectations.append(
            _expectation(
                "expect_column_values_to_not_be_null",
                {"column": column.name},
                "values.required",
                header=column.header,
            )
        )
    if column.type in VALUE_PATTERNS:
        pattern, rule_id = VALUE_PATTERNS[column.type]
        expectations.append(
            _expectation(
                "expect_column_values_to_match_regex",
                {"column": column.name, "regex": pattern},
                rule_id,
                header=column.header,
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
                header=column.header,
            )
        )
    if column.type == "credit_code":
        expectations.append(
            _expectation(
                "expect_column_values_to_be_in_set",
                {"column": f"{column.name}__valid", "value_set": [True]},
                "codes.credit_code_check",
            )
        )
    if column.positive:
        expectations.append(
            _expectation(
                "expect_column_values_to_be_between",
                {"column": f"{column.name}__n", "min_value": 0, "strict_min": True},
                "values.positive",
                header=column.header,
            )
        )
    if column.personal == "id_number":
        expectations += _id_number_expectations(column)
    if column.type == "choice":
        expectations.append(
            _expectation(
                "expect_column_values_to_be_in_set",
                {"column": column.name, "value_set": list(column.choices)},
                "values.choice",
                header=column.header,
                choices="、".join(column.choices),
            )
        )
    return expectations


# the ID number's own checks, made where the number is still in clear (the parse stage, pseudonym.py): each
# verdict of `id_check` is one rule
ID_VERDICTS = (
    (pseudonym.ID_FORMAT, "person.id_format"),
    (pseudonym.ID_CHECK_DIGIT, "person.id_check_digit"),
    (pseudonym.ID_BIRTH_DATE, "person.id_birth_date"),
    (pseudonym.ID_FUTURE, "person.id_birth_date"),
    (pseudonym.ID_NUMBER_CELL, "person.id_number_cell"),
)


def _id_number_expectations(column: Column) -> list[dict]:
    by_rule: dict[str, list[str]] = {}
    for verdict, rule_id in ID_VERDICTS:
        by_rule.setdefault(rule_id, []).append(verdict)
    expectations = [
        _expectation(
            "expect_column_values_to_not_be_in_set",
            {"column": "id_check", "value_set": verdicts},
            rule_id,
            header=column.header,
            cell_column=column.name,
        )
        for rule_id, verdicts in by_rule.items()
    ]
    expectations.append(
        _expectation(
            "expect_column_values_to_be_in_set",
            {"column": "age__plausible", "value_set": [True]},
            "person.age",
            cell_column=column.name,
        )
    )
    return expectations


def _same_person_expectations(sheet: SheetSpec) -> list[dict]:
    id_column = sheet.id_column.name if sheet.id_column else ""
    payment = "、".join(sheet.column(name).header for name in sheet.same_person)
    return [
        _expectation(
            "expect_column_values_to_be_null",
            {"column": "person_key__first_row"},
            "person.duplicate_in_file",
            payment=payment,
            cell_column=id_column,
        ),
        _expectation(
            "expect_column_values_to_be_between",
            {"column": "person_key__units", "max_value": 1},
            "cross_submission.same_person",
            payment=payment,
            cell_column=id_column,
        ),
    ]


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
                header=header,
            )
        )
    for name in sheet.unique_across_units:
        header = sheet.column(name).header
        expectations.append(
            _expectation(
                "expect_column_values_to_be_between",
                {"column": f"{name}__units", "max_value": 1},
                "cross_submission.duplicate_record",
                header=header,
                other_units=f"{{{name}__other_units}}",  # a run-time column
            )
        )
    if sheet.same_person:
        expectations += _same_person_expectations(sheet)
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
                part_header=part_header,
                whole_header=whole_header,
                part=f"{{{part}}}",  # the run-time cell values
                whole=f"{{{whole}}}",
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
            header=code_header,
        ),
        _expectation(
            "expect_column_values_to_be_in_set",
            {"column": "indicator_code__reported_by_unit", "value_set": [True]},
            "codes.indicator_not_for_unit",
        ),
        _expectation(
            "expect_compound_columns_to_be_unique",
            {"column_list": ["submission_id", "indicator_code"], "ignore_row_if": "any_value_is_missing"},
            "structure.duplicate_indicator",
        ),
        _expectation(
            "expect_column_values_to_be_in_set",
            {"column": "indicator_name__agrees", "value_set": [True]},
            "structure.indicator_label_mismatch",
            cell_column="indicator_name",
        ),
        _expectation(
            "expect_column_values_to_be_in_set",
            {"column": "unit_of_measure__agrees", "value_set": [True]},
            "structure.indicator_label_mismatch",
            variant="unit",
            cell_column="unit_of_measure",
        ),
        _expectation(
            "expect_column_values_to_not_be_null",
            {"column": "value"},
            "values.required",
            variant="indicator",
            header=value_header,
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
            variant="indicator",
            header=value_header,
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
            variant="indicator",
        ),
        _expectation(
            "expect_column_values_to_be_in_set",
            {
                "column": "value",
                "value_set": ["是", "否"],
                "row_condition": 'value_type=="flag"',
                "condition_parser": "pandas",
            },
            "values.flag",
        ),
    ]


def _cover_suite() -> list[dict]:
    return [
        _expectation(
            "expect_column_values_to_be_in_set",
            {"column": "unit_code", "value_set": {"$PARAMETER": "known_unit_codes"}},
            "codes.unit_unknown",
        ),
        _expectation(
            "expect_column_pair_values_to_be_equal",
            {"column_A": "unit_code", "column_B": "file_unit_code"},
            "structure.unit_mismatch",
        ),
        _expectation(
            "expect_column_values_to_be_in_set",
            {"column": "unit_name__agrees", "value_set": [True]},
            "structure.unit_name_mismatch",
            cell_column="unit_name",
        ),
        _expectation(
            "expect_column_values_to_be_in_set",
            {"column": "period", "value_set": {"$PARAMETER": "run_periods"}},
            "structure.period_mismatch",
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
            cell_column="value",
        ),
    ]


def _indicator_rows_suite() -> list[dict]:
    return [
        _expectation(
            "expect_column_values_to_be_in_set",
            {"column": "row_present", "value_set": [True]},
            "structure.indicator_row_missing",
        ),
    ]


def _indicator_parts_suite() -> list[dict]:
    return [
        _expectation(
            "expect_column_pair_values_a_to_be_greater_than_b",
            {
                "column_A": "whole_value",
                "column_B": "part_value",
                "or_equal": True,
                "ignore_row_if": "either_value_is_missing",
            },
            "cross_field.part_exceeds_whole",
            variant="indicator",
            cell_column="value",
        ),
    ]


def _history_suite() -> list[dict]:
    return [
        _expectation(
            "expect_column_values_to_be_between",
            {"column": "change_factor", "max_value": {"$PARAMETER": "max_change_factor"}},
            "history.change",
            cell_column="value",
        ),
        _expectation(
            "expect_column_values_to_be_between",
            {"column": "iqr_distance", "max_value": {"$PARAMETER": "iqr_multiplier"}},
            "history.outlier",
            cell_column="value",
        ),
        _expectation(
            "expect_column_pair_values_to_be_equal",
            {"column_A": "quarters_total", "column_B": "annual_total", "ignore_row_if": "either_value_is_missing"},
            "history.quarters_sum",
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

"""Reference data: org units, the indicator catalog, the report's figures and the template versions.

Everything here is read from the versioned files under `reference/`; nothing about units, indicators or
figures is restated in code.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from union_stats.paths import EXTRA_UNITS_FILE, REFERENCE_DIR, TEMPLATES_DIR
from union_stats.periods import period_bounds

# what every parsed row carries to say where it came from (the raw tables' first columns)
LINEAGE_COLUMNS = ("submission_id", "unit_code", "period", "file_name", "sheet_name", "source_row")


@dataclass(frozen=True)
class Unit:
    unit_code: str
    name_zh: str
    name_en: str
    kind: str
    size_weight: float

    @property
    def names(self) -> tuple[str, ...]:
        """How a clerk may name the unit in a file name: the code, the Chinese name and its shorter forms
        (市桥街总工会, 市桥街, 市桥), longest first; a form of one character says too little to count."""
        forms = [self.name_zh]
        for suffix in ("本级", "总工会", "工会", "街道", "街", "镇"):
            shorter = forms[-1].removesuffix(suffix)
            if shorter != forms[-1] and len(shorter) >= 2:
                forms.append(shorter)
        return (self.unit_code, *dict.fromkeys(form for form in forms if form))


@dataclass(frozen=True)
class Indicator:
    indicator_code: str
    name_zh: str
    name_en: str
    unit_zh: str
    base_unit: str
    value_type: str  # count | money | quantity | flag
    reported_by: str  # all | towns | district_office | education_union
    aggregation: str  # sum | count_yes | count_distinct
    detail_sheet: str  # blank when the indicator sheet is the source
    measure: str  # count | sum | count_distinct, over detail_sheet rows
    measure_field: str
    # a distinct count's values are told apart within this field's values: a content (module) is one of its topic
    distinct_within: str
    detail_filter: str  # "field=value;field=value"
    figure_id: str

    @property
    def from_detail(self) -> bool:
        return bool(self.detail_sheet)

    def reported_by_kind(self, kind: str) -> bool:
        return kind in reporting_kinds(self.reported_by)

    @property
    def filters(self) -> list[tuple[str, str]]:
        pairs = [part.split("=", 1) for part in self.detail_filter.split(";") if part]
        return [(name.strip(), value.strip()) for name, value in pairs]


@dataclass(frozen=True)
class Figure:
    figure_id: str
    section: str
    quote_zh: str
    metric_en: str
    unit_zh: str
    published: str
    comparator: str
    base_value: str
    base_unit: str
    reported_by: str


# what the parse stage keeps of a person's ID number (pseudonym.py): the keyed hash, the number's verdict, and
# the birth year and sex it encodes
PERSON_COLUMNS = ("person_key", "id_check", "birth_year", "sex")


@dataclass(frozen=True)
class Column:
    name: str
    header: str
    type: str  # text | number | integer | money | date | credit_code | choice
    required: bool
    letter: str
    choices: tuple[str, ...] = ()
    free_text: bool = False  # a remark: anything goes, kept as text (even what looks like a formula)
    personal: str = ""  # "name" or "id_number": personal data, never kept in clear (see pseudonym.py)
    positive: bool = False  # a number that must be more than zero


@dataclass(frozen=True)
class SheetSpec:
    kind: str
    sheet: str
    columns: tuple[Column, ...]
    description_zh: str = ""
    unique_in_file: tuple[str, ...] = ()
    unique_across_units: tuple[str, ...] = ()
    parts: tuple[tuple[str, str], ...] = ()  # (part, whole): the part may never exceed the whole
    # with the person (the keyed ID number), what makes one payment: once per file, and a warning across units
    same_person: tuple[str, ...] = ()

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)

    @property
    def id_column(self) -> Column | None:
        """The column holding a person's ID number, if the sheet lists people."""
        return next((column for column in self.columns if column.personal == "id_number"), None)

    @property
    def parsed_columns(self) -> tuple[str, ...]:
        """The columns of the sheet's parsed frame: the template's, then what is kept of each person."""
        return tuple(column.name for column in self.columns) + (PERSON_COLUMNS if self.id_column else ())

    @property
    def stored_columns(self) -> tuple[str, ...]:
        """The columns of the sheet's raw table: the parsed ones without the personal data (even masked)."""
        personal = {column.name for column in self.columns if column.personal}
        return tuple(name for name in self.parsed_columns if name not in personal)


def raw_columns(sheet: SheetSpec) -> list[str]:
    """The columns of a sheet's raw table: lineage, then what the parse stage keeps of the sheet (personal data,
    even masked, is never stored: only what `pseudonym` derives from it)."""
    return [*LINEAGE_COLUMNS, *sheet.stored_columns]


@dataclass(frozen=True)
class CoverField:
    name: str
    label: str
    required: bool
    row: int  # 1-based sheet row of the field; its value sits in column B
    personal: str | None = None  # "name": a person's name, kept only masked (张**) from the parse stage on


@dataclass(frozen=True)
class Template:
    version: str
    title_zh: str
    cover_sheet: str
    cover_fields: tuple[CoverField, ...]
    indicators: SheetSpec
    details: tuple[SheetSpec, ...] = field(default_factory=tuple)

    @property
    def sheets(self) -> tuple[SheetSpec, ...]:
        return (self.indicators, *self.details)

    def sheet_spec(self, kind: str) -> SheetSpec:
        return next(spec for spec in self.sheets if spec.kind == kind)

    def has_sheet(self, kind: str) -> bool:
        return any(spec.kind == kind for spec in self.sheets)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def column_letter(index: int) -> str:
    """0-based column index to an Excel column letter (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _unit(row: dict[str, str]) -> Unit:
    return Unit(
        unit_code=row["unit_code"].strip(),
        name_zh=row["name_zh"].strip(),
        name_en=row["name_en"].strip(),
        kind=row["kind"].strip(),
        size_weight=float(row.get("size_weight") or 1),
    )


@cache
def reference_units() -> tuple[Unit, ...]:
    """The 18 real reporting units of Panyu."""
    return tuple(_unit(row) for row in _read_csv(REFERENCE_DIR / "units.csv"))


def reference_unit(unit_code: str) -> Unit:
    """One of the 18 by its code; KeyError for a code that is none of them."""
    for unit in reference_units():
        if unit.unit_code == unit_code:
            return unit
    raise KeyError(f"no reference unit {unit_code!r}")


def units_for(period_dir: Path | None = None) -> tuple[Unit, ...]:
    """The reference units plus any extra (synthetic) units listed in the period folder's units file."""
    units = {unit.unit_code: unit for unit in reference_units()}
    if period_dir is not None and (period_dir / EXTRA_UNITS_FILE).is_file():
        for row in _read_csv(period_dir / EXTRA_UNITS_FILE):
            unit = _unit(row)
            units.setdefault(unit.unit_code, unit)
    return tuple(units.values())


@cache
def reporting_groups() -> tuple[dict[str, str], ...]:
    """Which unit kinds each `reported_by` group of the catalog and the figures spec stands for."""
    return tuple(_read_csv(REFERENCE_DIR / "reporting_groups.csv"))


def reporting_kinds(reported_by: str) -> frozenset[str]:
    return frozenset(row["kind"] for row in reporting_groups() if row["reported_by"] == reported_by)


def expected_units(period_dir: Path) -> tuple[Unit, ...]:
    """Who must submit for a period: the units of the period's own units file if it has one, else the 18."""
    if (period_dir / EXTRA_UNITS_FILE).is_file():
        return tuple(_unit(row) for row in _read_csv(period_dir / EXTRA_UNITS_FILE))
    return reference_units()


@cache
def indicators() -> tuple[Indicator, ...]:
    return tuple(Indicator(**row) for row in _read_csv(REFERENCE_DIR / "indicators.csv"))


@cache
def figures() -> tuple[Figure, ...]:
    return tuple(Figure(**row) for row in _read_csv(REFERENCE_DIR / "figures.csv"))


def _sheet_spec(raw: dict) -> SheetSpec:
    columns = tuple(
        Column(
            name=column["name"],
            header=column["header"],
            type=column["type"],
            required=bool(column.get("required", False)),
            letter=column_letter(position),
            choices=tuple(column.get("choices", ())),
            free_text=bool(column.get("free_text", False)),
            personal=column.get("personal", ""),
            positive=bool(column.get("positive", False)),
        )
        for position, column in enumerate(raw["columns"])
    )
    return SheetSpec(
        kind=raw["kind"],
        sheet=raw["sheet"],
        columns=columns,
        description_zh=raw.get("description_zh", ""),
        unique_in_file=tuple(raw.get("unique_in_file", ())),
        unique_across_units=tuple(raw.get("unique_across_units", ())),
        parts=tuple((item["part"], item["whole"]) for item in raw.get("parts", ())),
        same_person=tuple(raw.get("same_person", ())),
    )


def _template_raw(version: str) -> dict:
    """A version's TOML; one that `extends` another is that version with its own keys over it and its detail
    sheets after the other's."""
    raw = tomllib.loads((TEMPLATES_DIR / f"{version}.toml").read_text(encoding="utf-8"))
    if "extends" not in raw:
        return raw
    base = _template_raw(raw.pop("extends"))
    return (
        base
        | {key: value for key, value in raw.items() if key != "details"}
        | {"details": [*base.get("details", []), *raw.get("details", [])]}
    )


@cache
def template(version: str | None = None) -> Template:
    """A template version (default: the current one, whose sheets include every version's: the batch's frames)."""
    raw = _template_raw(version or CURRENT_TEMPLATE)
    cover_fields = tuple(
        CoverField(
            name=item["name"],
            label=item["label"],
            required=bool(item.get("required")),
            row=position + 2,
            personal=item.get("personal"),
        )
        for position, item in enumerate(raw["cover"]["fields"])
    )
    return Template(
        version=raw["version"],
        title_zh=raw["title_zh"],
        cover_sheet=raw["cover"]["sheet"],
        cover_fields=cover_fields,
        indicators=_sheet_spec(raw["indicators"]),
        details=tuple(_sheet_spec(item) for item in raw.get("details", [])),
    )


@cache
def indicator_parts() -> tuple[dict[str, str], ...]:
    """Pairs of indicators where one is part of the other (a part may never exceed its whole)."""
    return tuple(_read_csv(REFERENCE_DIR / "indicator_parts.csv"))


TARGET_COLUMNS = ("year", "indicator_code", "target", "comparator", "quote_zh")
TARGET_COMPARATORS = ("ge", "gt", "eq", "le", "lt")


@cache
def targets() -> tuple[dict[str, str], ...]:
    """The district's stated targets: year, indicator_code, target, comparator (ge, gt, eq, le, lt), quote_zh.

    Each row is one sentence of a work report ("培育不少于2家集体协商典型" is 2023, collective_bargaining_models,
    2, ge); the indicator must be in the catalog, so the progress view can count towards it.
    """
    rows = tuple(_read_csv(REFERENCE_DIR / "targets.csv"))
    known = {indicator.indicator_code for indicator in indicators()}
    for row in rows:
        if row["indicator_code"] not in known or row["comparator"] not in TARGET_COMPARATORS:
            raise ValueError(f"targets.csv：未知的指标或比较方式：{row}")
    return rows


PUBLISHED_REPORT_COLUMNS = ("period", "title_zh", "title_en")


@cache
def published_reports() -> tuple[dict[str, str], ...]:
    """The periods a work report was published for (period, title_zh, title_en): figures.csv holds that report's
    numbers, so only these periods are compared with them; any other period's figures stand alone.

    A period listed twice, or one that is no period, is a mistake in the reference data, said at once.
    """
    from union_stats.periods import is_period

    rows = tuple(_read_csv(REFERENCE_DIR / "published_reports.csv"))
    seen: set[str] = set()
    for row in rows:
        period = row["period"].strip()
        if not is_period(period) or period in seen:
            raise ValueError(f"published_reports.csv：统计期有误或重复：{row}")
        seen.add(period)
    return rows


@cache
def validation_settings() -> dict:
    """Thresholds of the judgement-call rules (history), from `reference/validation.toml`."""
    return tomllib.loads((REFERENCE_DIR / "validation.toml").read_text(encoding="utf-8"))


def template_versions() -> tuple[str, ...]:
    return tuple(sorted((path.stem for path in TEMPLATES_DIR.glob("v*.toml")), key=lambda name: int(name[1:])))


# the version `union-stats template` and the sample write; every older version's sheets are among its sheets
CURRENT_TEMPLATE = "v2"


@cache
def _template_periods() -> dict[str, dict[str, str]]:
    return tomllib.loads((REFERENCE_DIR / "periods.toml").read_text(encoding="utf-8"))["templates"]


def accepted_versions(period: str) -> tuple[str, ...]:
    """The template versions a period's files may use (`reference/periods.toml`), oldest first."""
    start, end = period_bounds(period)
    accepted = []
    for version, span in _template_periods().items():
        if period_bounds(span["first"])[0] <= start and ("last" not in span or end <= period_bounds(span["last"])[1]):
            accepted.append(version)
    return tuple(sorted(accepted, key=lambda name: int(name[1:])))


@dataclass(frozen=True)
class BeneficiaryType:
    beneficiary_type: str
    name_en: str
    min_age: int
    max_age: int
    description_zh: str


@cache
def beneficiary_types() -> tuple[BeneficiaryType, ...]:
    """The kinds of welfare payment of the beneficiary sheet, with the ages a beneficiary of each may have."""
    return tuple(
        BeneficiaryType(
            row["beneficiary_type"], row["name_en"], int(row["min_age"]), int(row["max_age"]), row["description_zh"]
        )
        for row in _read_csv(REFERENCE_DIR / "beneficiary_types.csv")
    )

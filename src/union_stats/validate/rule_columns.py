"""Rule columns: what a rule needs beyond the cells as typed, computed over whole Polars frames.

Each function takes the batch's frames and returns the frame a suite checks, with derived columns named
`<column>__<what>` (a number, a check digit's verdict, the value a detail sheet gives, last period's value);
the rule itself, its severity and its message live in the suite.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import duckdb
import polars as pl

from union_stats import credit_code, labels, periods, reference
from union_stats.parse import ParsedBatch, label_key, units_named_in
from union_stats.ref_tables import load_reference
from union_stats.reference import SheetSpec, Unit
from union_stats.runs import ValidationContext
from union_stats.validate.suites import COVER_TEXT_FIELDS

NUMERIC_TYPES = ("number", "integer", "money")
REPORTED_BY_ZH = labels.reporting_scopes()


def cover_frame(batch: ParsedBatch, units: tuple[Unit, ...]) -> pl.DataFrame:
    names = {unit.unit_code: unit.name_zh for unit in units}

    def named_by_file(row: dict) -> str | None:
        # the cover says whose file it is; the file name only must not name another unit instead
        named = units_named_in(row["file_name"], units)
        return row["unit_code"] if not named or row["unit_code"] in named else named[0]

    def names_the_unit(row: dict) -> bool | None:
        # the cover's name must name its code's unit and no other (市桥街道总工会 is 市桥街总工会; 大石街总工会 is not)
        if row["unit_code"] not in names or not row["unit_name"]:
            return None  # an unknown code or a missing name is a finding of its own
        return units_named_in(row["unit_name"], units) == [row["unit_code"]]

    covers = batch.submissions.filter(pl.col("readable"))
    return covers.select(
        "submission_id",
        pl.lit(1).alias("source_row"),
        "file_name",
        "unit_code",
        pl.struct("file_name", "unit_code").map_elements(named_by_file, return_dtype=pl.String).alias("file_unit_code"),
        "period",
        "template_version",
        *COVER_TEXT_FIELDS,
    ).with_columns(
        pl.col("file_unit_code").replace_strict(names, default=pl.col("file_unit_code")).alias("file_unit_name"),
        pl.struct("unit_code", "unit_name").map_elements(names_the_unit, return_dtype=pl.Boolean)
        .alias("unit_name__agrees"),
        pl.col("unit_code").replace_strict(names, default=None, return_dtype=pl.String)
        .alias("unit_name__registered"),
    )  # fmt: skip


def catalog_frame() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "indicator_code": indicator.indicator_code,
                "indicator_name": indicator.name_zh,
                "unit_zh": indicator.unit_zh,
                "value_type": indicator.value_type,
                "reported_by": indicator.reported_by,
                "reported_by_zh": REPORTED_BY_ZH.get(indicator.reported_by, indicator.reported_by),
            }
            for indicator in reference.indicators()
        ]
    )


def unit_kinds(units: tuple[Unit, ...]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"unit_code": unit.unit_code, "unit_kind": unit.kind, "unit_name": unit.name_zh} for unit in units],
        schema={"unit_code": pl.String, "unit_kind": pl.String, "unit_name": pl.String},
    )


def reporting_groups() -> pl.DataFrame:
    """(reported_by, unit_kind): which kinds of unit each `reported_by` group of the catalog stands for."""
    return pl.DataFrame(list(reference.reporting_groups())).rename({"kind": "unit_kind"})


def indicator_frame(frame: pl.DataFrame, units: tuple[Unit, ...]) -> pl.DataFrame:
    """Indicator rows with the catalog's facts about each, and whether the unit's kind reports it."""
    allowed = reporting_groups().with_columns(pl.lit(True).alias("allowed"))
    catalog = catalog_frame().rename({"indicator_name": "indicator_name__expected"})
    return (
        frame.join(catalog, on="indicator_code", how="left")
        .join(unit_kinds(units), on="unit_code", how="left")
        .join(allowed, on=["reported_by", "unit_kind"], how="left")
        .with_columns(
            # an unknown unit or indicator is a finding of its own: no second one here
            pl.when(pl.col("unit_kind").is_null() | pl.col("reported_by").is_null())
            .then(None)
            .otherwise(pl.col("allowed").fill_null(False))
            .alias("indicator_code__reported_by_unit"),
            pl.col("value").cast(pl.Float64, strict=False).alias("value__n"),
            # the name and unit of measure beside a value must be its code's: a row sorted without its code column,
            # or a unit changed to 万元, would put the value under another indicator or scale
            _labels_agree(frame, "indicator_name", "indicator_name__expected").alias("indicator_name__agrees"),
            _labels_agree(frame, "unit_of_measure", "unit_zh").alias("unit_of_measure__agrees"),
        )
        .with_columns((pl.col("value__n") != pl.col("value__n").floor()).alias("value__fraction"))
        .drop("allowed")
    )


def _labels_agree(frame: pl.DataFrame, typed: str, expected: str) -> pl.Expr:
    """Whether a row's label reads as the catalog's (`parse.label_key`); null where the row leaves the label blank
    or its code is unknown (a finding of its own)."""
    if typed not in frame.columns:
        return pl.lit(None, pl.Boolean)
    key = pl.col(typed).map_elements(label_key, return_dtype=pl.String, skip_nulls=True)
    return (
        pl.when(pl.col(typed).is_null() | pl.col(expected).is_null())
        .then(None)
        .otherwise(key == pl.col(expected).map_elements(label_key, return_dtype=pl.String, skip_nulls=True))
    )


def detail_frame(
    sheet: SheetSpec, frame: pl.DataFrame, others: pl.DataFrame | None, units: tuple[Unit, ...], period: str
) -> pl.DataFrame:
    """A detail sheet's rows with numbers, dates and check-digit verdicts as derived columns; on a sheet of
    people, their ages and where else the same person was paid."""
    derived = []
    for column in sheet.columns:
        if column.type in NUMERIC_TYPES:
            derived.append(pl.col(column.name).cast(pl.Float64, strict=False).alias(f"{column.name}__n"))
        elif column.type == "date":
            derived.append(
                pl.col(column.name)
                .str.to_date("%Y-%m-%d", strict=False)
                .cast(pl.Datetime("us"))
                .alias(f"{column.name}__date")
            )
        elif column.type == "credit_code":
            derived.append(
                pl.col(column.name)
                .map_elements(credit_code.is_valid, return_dtype=pl.Boolean)
                .alias(f"{column.name}__valid")
            )
    prepared = frame.with_columns(derived)
    names = dict(unit_kinds(units).select("unit_code", "unit_name").iter_rows())
    for name in sheet.unique_across_units:
        seen = frame.select("unit_code", name)
        if others is not None and others.height:
            seen = pl.concat([seen, others.select("unit_code", name)])
        holders = seen.drop_nulls().unique().group_by(name).agg(pl.col("unit_code").sort().alias("holders"))
        prepared = (
            prepared.join(holders, on=name, how="left")
            .with_columns(
                pl.col("holders").list.len().alias(f"{name}__units"),
                pl.col("holders")
                .list.set_difference(pl.concat_list(pl.col("unit_code")))
                .list.eval(pl.element().replace_strict(names, default=pl.element()))
                .list.join("、")
                .alias(f"{name}__other_units"),
            )
            .drop("holders")
        )
    if sheet.id_column is not None:
        prepared = _ages(sheet, prepared, period)
    if sheet.same_person:
        prepared = _same_person(sheet, prepared, others, names)
    return prepared


def _ages(sheet: SheetSpec, prepared: pl.DataFrame, period: str) -> pl.DataFrame:
    """Each person's age in years when paid (by birth year: the ID number's birth date is not kept), beside the
    ages the payment's type allows (`reference/beneficiary_types.csv`)."""
    dated = next((column.name for column in sheet.columns if column.type == "date"), None)
    paid = pl.col(f"{dated}__date").dt.year() if dated else None
    year_end = periods.period_bounds(period)[1].year
    paid_year = paid.fill_null(year_end) if paid is not None else pl.lit(year_end)
    types = pl.DataFrame(
        [
            {sheet.same_person[0]: kind.beneficiary_type, "age__low": kind.min_age, "age__high": kind.max_age}
            for kind in reference.beneficiary_types()
        ],
        schema={sheet.same_person[0]: pl.String, "age__low": pl.Int64, "age__high": pl.Int64},
    )
    return (
        prepared.with_columns((paid_year - pl.col("birth_year").cast(pl.Int64, strict=False)).alias("age__years"))
        .join(types, on=sheet.same_person[0], how="left")
        .with_columns(pl.col("age__years").is_between(pl.col("age__low"), pl.col("age__high")).alias("age__plausible"))
    )


def _same_person(
    sheet: SheetSpec, prepared: pl.DataFrame, others: pl.DataFrame | None, names: dict[str, str]
) -> pl.DataFrame:
    """For each row, the file's earlier row of the same person and payment (`person_key__first_row`), and the
    other units' rows of them this period (`person_key__units`, `person_key__elsewhere`): "大石街总工会
    （dashi_2022.xlsx 第12行）", never the person."""
    keys = ["person_key", *sheet.same_person]
    first = pl.col("source_row").min().over(["submission_id", *keys])
    prepared = prepared.with_columns(
        pl.when(pl.col("person_key").is_not_null() & (pl.col("source_row") != first))
        .then(first)
        .otherwise(None)
        .alias("person_key__first_row")
    )
    place = ["unit_code", "file_name", "source_row", *keys]
    seen = prepared.select(place)
    if others is not None and others.height:
        seen = pl.concat([seen, others.select(place)], how="vertical_relaxed")
    places = (
        seen.drop_nulls("person_key")
        .with_columns(
            pl.format(
                "{}（{} 第{}行）",
                pl.col("unit_code").replace_strict(names, default=pl.col("unit_code")),
                "file_name",
                "source_row",
            ).alias("place")
        )
        .select(pl.col("unit_code").alias("other_unit"), "place", *keys)
    )
    elsewhere = (
        prepared.select("submission_id", "source_row", "unit_code", *keys)
        .drop_nulls("person_key")
        .join(places, on=keys)
        .filter(pl.col("other_unit") != pl.col("unit_code"))
        .group_by("submission_id", "source_row")
        .agg(
            (pl.col("other_unit").n_unique() + 1).alias("person_key__units"),
            pl.col("place").unique().sort().str.join("、").alias("person_key__elsewhere"),
        )
    )
    return prepared.join(elsewhere, on=["submission_id", "source_row"], how="left").with_columns(
        pl.col("person_key__units").fill_null(1)
    )


DERIVED_PART_SUBMISSIONS = 1000  # submissions whose derived values are computed at once


_DERIVING = threading.Lock()  # one batch at a time through the in-memory database below


@lru_cache(maxsize=4)
def _deriving_database(units: tuple[Unit, ...]) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse with the reference data of `units` and the detail models as views (asked once, they
    need nothing of their upstream stored), made once per process and units: a self-check of one file in the
    portal asks for it every time (a tenth of a second to make)."""
    from union_stats import transform

    con = duckdb.connect(":memory:")
    transform.ensure_schemas(con)
    load_reference(con, units)
    transform.build(con, targets={"marts.int_detail_indicator_values"}, as_views=True)
    return con


def derived_indicator_values(batch: ParsedBatch, units: tuple[Unit, ...]) -> pl.DataFrame:
    """Detail-derived indicator values of every submission, computed by the warehouse's own SQL models.

    Submissions are independent here, so a large batch goes through in parts of `DERIVED_PART_SUBMISSIONS`: the
    generic detail-rows model joins every detail field with the catalog's conditions, and DuckDB's memory for
    that grows with the rows asked at once (a gigabyte for 10,000 workbooks in one go)."""
    from union_stats import transform

    targets = {"marts.int_detail_indicator_values"}
    read = transform.raw_tables_read(targets)
    # the detail sheets; not the indicator sheet, the largest of a batch
    sheets = {kind: frame for kind, frame in batch.sheets.items() if f"raw.{kind}" in read}
    # each submission's part, and each sheet split by part once (not filtered again for every part)
    part_of = batch.submissions.select(
        "submission_id", (pl.int_range(pl.len()) // DERIVED_PART_SUBMISSIONS).alias("part")
    )
    split = {
        kind: frame.join(part_of, on="submission_id", how="left").partition_by("part", as_dict=True)
        for kind, frame in sheets.items()
    }
    parts = []
    with _DERIVING, _deriving_database(units).cursor() as con:
        for part in range(max(-(-batch.submissions.height // DERIVED_PART_SUBMISSIONS), 1)):
            for kind, frame in sheets.items():
                rows = split[kind].get((part,), frame.clear())
                con.execute(f"delete from raw.{kind}")
                con.register(
                    "incoming", rows.select(reference.raw_columns(reference.template().sheet_spec(kind))).to_arrow()
                )
                con.execute(f"insert into raw.{kind} by name select * from incoming")
                con.unregister("incoming")
            parts.append(
                con.sql("select submission_id, indicator_code, value from marts.int_detail_indicator_values").pl()
            )
        for kind in sheets:  # nothing of this batch kept in the process
            con.execute(f"delete from raw.{kind}")
    return pl.concat(parts, how="vertical_relaxed")


def reported_values(batch: ParsedBatch) -> pl.DataFrame:
    """Indicator rows with a numeric value: submission, row, code, value as typed and as a number."""
    parsed = batch.sheets[reference.template().indicators.kind]
    return (
        parsed.select("submission_id", "unit_code", "source_row", "indicator_code", "value")
        .with_columns(pl.col("value").cast(pl.Float64, strict=False).alias("number"))
        .filter(pl.col("number").is_not_null())
    )


def cross_sheet_frame(batch: ParsedBatch, units: tuple[Unit, ...]) -> pl.DataFrame:
    """Indicator rows that a detail sheet also gives, with the value reported and the value derived."""
    spec = reference.template()
    detail_indicators = pl.DataFrame(
        [
            {
                "indicator_code": indicator.indicator_code,
                "indicator_name": indicator.name_zh,
                "sheet_kind": indicator.detail_sheet,
                "detail_sheet": spec.sheet_spec(indicator.detail_sheet).sheet,
            }
            for indicator in reference.indicators()
            if indicator.from_detail
        ]
    )
    # only where the detail sheet itself was read: a missing sheet is an error of its own
    sheets_read = batch.layouts.select("submission_id", "sheet_kind").unique()
    derived = derived_indicator_values(batch, units).rename({"value": "derived"})
    return (
        reported_values(batch)
        .join(detail_indicators, on="indicator_code")
        .join(sheets_read, on=["submission_id", "sheet_kind"])
        .join(derived, on=["submission_id", "indicator_code"], how="left")
        .select(
            "submission_id",
            "source_row",
            "indicator_code",
            "indicator_name",
            "detail_sheet",
            "value",
            pl.col("number").alias("reported_value"),
            pl.col("derived").cast(pl.Float64).fill_null(0.0).alias("derived_value"),
        )
    )


def indicator_rows_frame(batch: ParsedBatch, units: tuple[Unit, ...]) -> pl.DataFrame:
    """Every indicator each submission's unit reports, and whether its indicator sheet has the row."""
    kind = reference.template().indicators.kind
    read = batch.layouts.filter(pl.col("sheet_kind") == kind).select("submission_id").unique()
    submissions = batch.submissions.join(read, on="submission_id").join(unit_kinds(units), on="unit_code")
    expected = (
        submissions.select("submission_id", "unit_kind")
        .join(reporting_groups(), on="unit_kind")
        .join(catalog_frame().select("indicator_code", "indicator_name", "reported_by"), on="reported_by")
    )
    present = (
        batch.sheets[kind]
        .select("submission_id", "indicator_code")
        .unique()
        .with_columns(pl.lit(True).alias("row_present"))
    )
    return (
        expected.join(present, on=["submission_id", "indicator_code"], how="left")
        .with_columns(pl.col("row_present").fill_null(False), pl.lit(0).alias("source_row"))
        # one row per submission and indicator; the source row is a stand-in, as the row is what is missing
        .with_row_index("missing_index")
        .with_columns((pl.col("source_row") - pl.col("missing_index").cast(pl.Int64) - 1).alias("source_row"))
        .select("submission_id", "source_row", "indicator_code", "indicator_name", "row_present")
    )


def indicator_parts_frame(batch: ParsedBatch) -> pl.DataFrame:
    """For each part/whole pair of indicators a submission reports, both values, at the part's row."""
    pairs = pl.DataFrame(list(reference.indicator_parts()))
    names = catalog_frame().select("indicator_code", "indicator_name")
    values = reported_values(batch)
    return (
        pairs.join(values.rename({"indicator_code": "part"}), on="part")
        .join(
            values.select(
                "submission_id", pl.col("indicator_code").alias("whole"), pl.col("number").alias("whole_value")
            ),
            on=["submission_id", "whole"],
        )
        .join(names.rename({"indicator_code": "part", "indicator_name": "part_name"}), on="part")
        .join(names.rename({"indicator_code": "whole", "indicator_name": "whole_name"}), on="whole")
        .select(
            "submission_id",
            "source_row",
            "value",
            "part_name",
            "whole_name",
            "relation_zh",
            pl.col("number").alias("part_value"),
            "whole_value",
        )
    )


def history_frame(batch: ParsedBatch, context: ValidationContext) -> pl.DataFrame:
    """Indicator values beside the unit's previous period and its range over earlier periods of the same kind."""
    settings = reference.validation_settings()["history"]
    flags = [indicator.indicator_code for indicator in reference.indicators() if indicator.value_type == "flag"]
    quarterly = periods.is_quarter(batch.period)
    earlier = context.history.filter(
        (pl.col("period") < batch.period) & (pl.col("period").str.contains("Q") == quarterly)
    )
    previous = earlier.filter(pl.col("period") == periods.previous_period(batch.period)).select(
        "unit_code",
        "indicator_code",
        pl.col("period").alias("previous_period"),
        pl.col("value").alias("previous_value"),
    )
    spread = earlier.group_by("unit_code", "indicator_code").agg(
        pl.len().alias("history_periods"),
        pl.col("value").quantile(0.25, "linear").alias("history_low"),
        pl.col("value").quantile(0.75, "linear").alias("history_high"),
    )
    current = reported_values(batch).filter(~pl.col("indicator_code").is_in(flags))
    larger = pl.max_horizontal("number", "previous_value")
    smaller = pl.min_horizontal("number", "previous_value")
    iqr = pl.col("history_high") - pl.col("history_low")
    history = (
        current.join(catalog_frame().select("indicator_code", "indicator_name"), on="indicator_code", how="left")
        .join(previous, on=["unit_code", "indicator_code"], how="left")
        .join(spread, on=["unit_code", "indicator_code"], how="left")
        .with_columns(
            pl.when((smaller > 0) & (larger >= settings["min_value_for_change"]))
            .then(larger / smaller)
            .otherwise(None)
            .alias("change_factor"),
            pl.when((pl.col("history_periods") >= settings["min_history_periods"]) & (iqr > 0))
            .then(
                pl.when(pl.col("number") > pl.col("history_high"))
                .then((pl.col("number") - pl.col("history_high")) / iqr)
                .when(pl.col("number") < pl.col("history_low"))
                .then((pl.col("history_low") - pl.col("number")) / iqr)
                .otherwise(0.0)
            )
            .otherwise(None)
            .alias("iqr_distance"),
        )
    )
    quarters = quarters_frame(batch, context).select(
        "submission_id", "source_row", "year", "quarters_total", "annual_total"
    )
    return history.join(quarters, on=["submission_id", "source_row"], how="left")


def quarters_frame(batch: ParsedBatch, context: ValidationContext) -> pl.DataFrame:
    """For additive indicators: the year's four quarters summed and the annual value, where a unit has both."""
    additive = [
        indicator.indicator_code
        for indicator in reference.indicators()
        if indicator.aggregation == "sum" and indicator.value_type != "flag"
    ]
    year = periods.year_of(batch.period)
    quarters = periods.quarters_of(year)
    current = reported_values(batch).filter(pl.col("indicator_code").is_in(additive))
    known = context.history.filter(pl.col("period").is_in([*quarters, year]) & (pl.col("period") != batch.period))
    mine = current.select(
        "unit_code", "indicator_code", pl.lit(batch.period).alias("period"), pl.col("number").alias("value")
    )
    together = pl.concat([known.select(mine.columns), mine], how="vertical_relaxed")
    quarter_totals = (
        together.filter(pl.col("period").is_in(quarters))
        .group_by("unit_code", "indicator_code")
        .agg(pl.col("value").sum().round(2).alias("quarters_total"), pl.len().alias("quarters_in"))
        .filter(pl.col("quarters_in") == 4)
    )
    annual = together.filter(pl.col("period") == year).select(
        "unit_code", "indicator_code", pl.col("value").round(2).alias("annual_total")
    )
    return (
        current.join(catalog_frame().select("indicator_code", "indicator_name"), on="indicator_code", how="left")
        .join(quarter_totals, on=["unit_code", "indicator_code"], how="left")
        .join(annual, on=["unit_code", "indicator_code"], how="left")
        .with_columns(pl.lit(year).alias("year"))
    )

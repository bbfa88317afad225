"""The reference data as tables: the `ref` schema a run loads into the warehouse, and that the validate stage
loads into its own in-memory database to derive values with the warehouse's SQL models.

Everything comes from `reference/` (units, catalog, figures, reporting groups, deadlines, template versions,
beneficiary types, targets, published reports, and the labels of `labels.toml`); nothing here opens the
warehouse file (`warehouse.py` does).
"""

from __future__ import annotations

import dataclasses
import tomllib
from typing import TYPE_CHECKING

import duckdb

from union_stats import labels, reference
from union_stats.paths import REFERENCE_DIR
from union_stats.reference import Unit, template

if TYPE_CHECKING:
    import polars as pl

# labels.toml's groups as ref tables: the code's column, then every field of the group
LABEL_TABLES = {
    "outcomes": "ref.outcomes",
    "severities": "ref.severities",
    "unit_kinds": "ref.unit_kinds",
    "reporting_scopes": "ref.reporting_scopes",
}
LABEL_KEYS = {"outcomes": "status", "severities": "severity", "unit_kinds": "kind", "reporting_scopes": "reported_by"}


def _label_table(group: str) -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame([{LABEL_KEYS[group]: code} | fields for code, fields in labels.entries(group).items()])


def register(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> None:
    """A frame as the relation `incoming`, for one insert or replace."""
    con.register("incoming", frame.to_arrow())


def _replace_table(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    register(con, frame)
    con.execute(f"create or replace table {name} as select * from incoming")
    con.unregister("incoming")


def _blank_as_null(frame: pl.DataFrame) -> pl.DataFrame:
    import polars as pl

    return frame.with_columns(pl.col(pl.String).replace("", None))


def _deadline_rules() -> pl.DataFrame:
    import polars as pl

    settings = tomllib.loads((REFERENCE_DIR / "periods.toml").read_text(encoding="utf-8"))
    return pl.DataFrame([{"period_kind": kind, "days_after_end": days} for kind, days in settings["deadlines"].items()])


def load_reference(con: duckdb.DuckDBPyConnection, units: tuple[Unit, ...]) -> None:
    """The catalog, figures and rules are replaced whole; units accumulate (a period may bring its own)."""
    import polars as pl

    reference_codes = {unit.unit_code for unit in reference.reference_units()}
    incoming = pl.DataFrame(
        [
            dataclasses.asdict(unit)
            | {"origin": "reference" if unit.unit_code in reference_codes else "period_units_file"}
            for unit in units
        ],
        schema={
            field.name: pl.Float64 if field.name == "size_weight" else pl.String for field in dataclasses.fields(Unit)
        }
        | {"origin": pl.String},
    )
    tables = {
        row[0]
        for row in con.execute("select table_name from information_schema.tables where table_schema = 'ref'").fetchall()
    }
    if "units" in tables:
        known = con.sql("select * from ref.units").pl()
        incoming = pl.concat(
            [known.filter(~pl.col("unit_code").is_in(incoming["unit_code"].implode())), incoming],
            how="vertical_relaxed",
        )
    _replace_table(con, "ref.units", incoming.sort("unit_code"))
    _replace_table(
        con, "ref.indicators", _blank_as_null(pl.DataFrame([dataclasses.asdict(i) for i in reference.indicators()]))
    )
    _replace_table(con, "ref.figures", pl.DataFrame([dataclasses.asdict(f) for f in reference.figures()]))
    _replace_table(con, "ref.reporting_groups", pl.DataFrame(reference.reporting_groups()))
    _replace_table(con, "ref.deadline_rules", _deadline_rules())
    _replace_table(con, "ref.template_sheets", _template_sheets())
    _replace_table(
        con, "ref.beneficiary_types", pl.DataFrame([dataclasses.asdict(t) for t in reference.beneficiary_types()])
    )
    _replace_table(
        con,
        "ref.targets",
        pl.DataFrame(list(reference.targets()), schema=dict.fromkeys(reference.TARGET_COLUMNS, pl.String)),
    )
    for group, table in LABEL_TABLES.items():
        _replace_table(con, table, _label_table(group))
    _replace_table(
        con,
        "ref.published_reports",
        pl.DataFrame(
            list(reference.published_reports()), schema=dict.fromkeys(reference.PUBLISHED_REPORT_COLUMNS, pl.String)
        ),
    )


def _template_sheets() -> pl.DataFrame:
    """Which sheets each template version has: a detail-derived indicator takes its value from its detail sheet
    in a file whose version has that sheet, and from the indicator sheet in one whose version does not."""
    import polars as pl

    return pl.DataFrame(
        [
            {"template_version": version, "sheet_kind": sheet.kind, "sheet_name": sheet.sheet}
            for version in reference.template_versions()
            for sheet in template(version).sheets
        ]
    )

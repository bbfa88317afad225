"""The SQL models: ordering, the committed suites, and the report's comparators and wording."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from union_stats import ref_tables, transform, warehouse
from union_stats.paths import EXPECTATIONS_DIR, SQL_DIR
from union_stats.validate import suites


def test_models_build_in_dependency_order_on_an_empty_warehouse(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        warehouse.ensure_warehouse(con)
        ref_tables.load_reference(con, ())
        built = transform.build(con)
        assert built.index("marts.int_indicator_detail_rows") < built.index("report.district_figures")
        assert built.index("report_number_text") < built.index("figure_number")
        assert con.execute("select count(*) from report.district_figures").fetchall() == [(0,)]
        # the detail rows' model holds (materialises) no copy of every filled detail cell with its lineage, 17 million
        # rows at 10,000 workbooks, more than DuckDB's 512 MB within a first load: only the narrow cells read
        model = next(m for m in transform.load_models() if m.identifier == "marts.int_indicator_detail_rows")
        held = set(re.findall(r"CTE Name: (\w+)", con.execute(f"explain {model.sql}").fetchall()[0][1]))
        assert "fields" in held and "detail_fields" not in held, held


def test_every_sql_file_holds_one_statement() -> None:
    for path in SQL_DIR.glob("*/*.sql"):
        statements = [part for part in duckdb.extract_statements(path.read_text(encoding="utf-8"))]
        assert len(statements) == 1, path


def test_committed_suites_are_what_the_template_and_catalog_give() -> None:
    """expectations/*.json is generated (`union-stats suites`) and reviewed like code: it must not drift."""
    committed = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in EXPECTATIONS_DIR.glob("*.json")}
    assert committed == suites.build_suites()


@pytest.fixture(scope="module")
def macros() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    for model in transform.ordered(transform.load_models()):
        if model.folder == "macros":
            con.execute(model.statement())
    return con


@pytest.mark.parametrize(
    ("comparator", "value", "unit", "published", "reproduced", "matches"),
    [
        ("round_0.1", 5329000, "万元", "532.9", "532.9万元", True),
        ("round_0.1", 5328500, "万元", "532.9", "532.9万元", True),  # half-up, as the report rounds
        ("round_0.1", 5328499, "万元", "532.9", "532.8万元", False),
        ("round_0.01", 484500, "万元", "48.45", "48.45万元", True),
        ("round_1", 50000, "万元", "5", "5万元", True),
        ("gt", 4126, "小时", "4000", "超过4000小时", True),
        ("gt", 4000, "小时", "4000", "超过3000小时", False),
        ("plus", 3126, "名", "3000", "3000多名", True),
        ("plus", 4000, "名", "3000", "4000多名", False),
        ("plus", 34, "家", "30", "30多家", True),
        ("approx_5pct", 6400, "人次", "6400", "约6400人次", True),
        ("approx_5pct", 6750, "人次", "6400", "约6750人次", False),
        ("approx_1pct", 16500000, "万元", "1650", "约1650万元", True),
        ("eq", 267, "家", "267", "267家", True),
        ("eq", 268, "家", "267", "268家", False),
    ],
)
def test_comparators_and_wording(macros, comparator, value, unit, published, reproduced, matches) -> None:
    [(wording, matched)] = macros.execute(
        """
        select
            report_wording($comparator, figure_number($comparator, report_unit_value($value, $unit), $decimals), $unit),
            figure_matches($comparator, report_unit_value($value, $unit), cast($published as decimal(38, 6)))
        """,
        {
            "comparator": comparator,
            "value": Decimal(value),
            "unit": unit,
            "published": published,
            "decimals": len(published.split(".")[1]) if "." in published else 0,
        },
    ).fetchall()
    assert (wording, matched) == (reproduced, matches)


def test_committed_raw_tables_are_what_the_template_gives() -> None:
    for name, text in warehouse.raw_table_ddl().items():
        assert (SQL_DIR / "ddl" / name).read_text(encoding="utf-8") == text, f"run `union-stats suites`: {name} drifted"
    assert {path.name for path in (SQL_DIR / "ddl").glob("raw.*.sql")} == set(warehouse.raw_table_ddl())


def test_each_folder_holds_one_kind_of_statement() -> None:
    """Tables the pipeline writes are created in ddl/, macros in macros/; every other file is a select."""
    for model in transform.load_models():
        first = transform._body(model.sql).lower()
        if model.folder == "ddl":
            assert first.startswith("create table if not exists " + model.name), model.name
        elif model.folder == "macros":
            assert first.startswith("create or replace macro"), model.name
        else:
            assert first.startswith(("with", "select")), model.relation
        if model.name.startswith("int_"):
            assert model.folder == "intermediate", model.name


def test_every_rule_a_suite_uses_is_in_the_registry_with_its_severity() -> None:
    from union_stats.rules import registry

    for suite in suites.build_suites().values():
        for expectation in suite["expectations"]:
            meta = expectation["meta"]
            assert meta["rule"] in registry(), meta["rule"]
            assert registry()[meta["rule"]].severity == meta["severity"]


def test_every_rule_the_code_names_is_registered() -> None:
    """A rule id written anywhere in the package (parse, inspect, self-check) has its registry entry."""
    import re

    import union_stats
    from union_stats.rules import registry

    package = Path(union_stats.__file__).parent
    named = set()
    for path in package.rglob("*.py"):
        named |= set(
            re.findall(r'"((?:structure|values|codes|file|limits|cross_\w+|history)\.[a-z_]+)"', path.read_text())
        )
    named = {name for name in named if not name.endswith("_")} - {"limits.toml"}  # a prefix, a file name
    assert named - set(registry()) == set()
    assert len(named) >= 40

"""Model documentation as data: every relation and column of a real run's warehouse carries its comment, every
declared test ran, and a violated test fails the build and leaves the warehouse as it was."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.warehouse import query
from union_stats import model_docs, transform, warehouse
from union_stats.paths import REFERENCE_DIR, SQL_DIR

LAYERS = ("staging", "intermediate", "marts", "report", "ops", "ddl")

RELATIONS_SQL = """
    select schema_name || '.' || table_name as relation, comment from duckdb_tables() where not internal
    union all
    select schema_name || '.' || view_name, comment from duckdb_views() where not internal
    order by relation
"""


@pytest.fixture(scope="module")
def built(sample_2022_copy: Path) -> Path:
    """A warehouse after a real flow run on the shipped 2022 sample (one run for the whole test session, which
    checks it accepted all 18 files; a copy for this module)."""
    return sample_2022_copy / "wh" / "union_stats.duckdb"


def _snapshot(path: Path) -> dict:
    """Everything a failed build must leave as it was: the rows of every relation, and every comment."""
    with duckdb.connect(str(path), read_only=True) as con:
        relations = [row[0] for row in con.execute(RELATIONS_SQL).fetchall()]
        snapshot = {
            relation: sorted(map(repr, con.execute(f"select * from {relation}").fetchall())) for relation in relations
        }
        snapshot["comments"] = con.execute(
            "select schema_name, table_name, column_name, comment from duckdb_columns() where not internal order by all"
        ).fetchall()
        snapshot["relation comments"] = con.execute(RELATIONS_SQL).fetchall()
    return snapshot


# --- the files ---


def test_each_layer_has_its_schema_yml_and_every_file_parses() -> None:
    files = model_docs.doc_files()
    assert {path.parent.name for path in files} == {*LAYERS, REFERENCE_DIR.name}
    for path in [*files, SQL_DIR / model_docs.SHARED_COLUMNS_FILE]:
        assert yaml.safe_load(path.read_text(encoding="utf-8")), path
    docs = model_docs.load_docs()
    for doc in docs:
        assert doc.description and doc.description_en and doc.columns, doc.name
        # the office reads the Chinese: it must be Chinese, not English twice
        assert any("\u4e00" <= char <= "\u9fff" for char in doc.description), doc.name
        assert all(column.description and column.description_en for column in doc.columns), doc.name


def test_every_sql_model_is_documented_in_the_schema_yml_of_its_folder() -> None:
    documented = {doc.name: doc.source for doc in model_docs.load_docs()}
    for model in transform.load_models():
        if model.folder == "macros":
            continue
        assert model.relation in documented, f"{model.relation} ({model.folder}/{model.name}.sql) is not documented"
        assert documented[model.relation] == SQL_DIR / model.folder / model_docs.DOC_FILE, model.relation
    assert all(
        source == REFERENCE_DIR / model_docs.DOC_FILE for name, source in documented.items() if name[:4] == "ref."
    )


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ({"name": "marts.x", "description_en": "x", "grain": [], "columns": []}, "`description` is missing"),
        ({"name": "x", "description": "甲", "description_en": "x", "grain": []}, "schema.relation"),
        (
            {
                "name": "marts.x",
                "description": "甲",
                "description_en": "x",
                "grain": ["b"],
                "columns": [{"name": "a", "description": "甲", "description_en": "a"}],
            },
            "`grain` must list columns",
        ),
        (
            {
                "name": "marts.x",
                "description": "甲",
                "description_en": "x",
                "grain": [],
                "columns": [{"name": "a", "description": "甲", "description_en": "a", "tests": ["positive"]}],
            },
            "unknown test 'positive'",
        ),
        (
            {
                "name": "marts.x",
                "description": "甲",
                "description_en": "x",
                "grain": [],
                "columns": [
                    {"name": "a", "description": "甲", "description_en": "a", "tests": [{"relationships": {}}]}
                ],
            },
            "relationships needs",
        ),
        (
            {"name": "marts.x", "description": "甲", "description_en": "x", "grain": [], "columns": [{"name": "zz"}]},
            "marts.x.zz: `description` is missing",
        ),
    ],
)
def test_a_schema_yml_that_does_not_say_what_it_must_is_refused(tmp_path: Path, entry: dict, complaint: str) -> None:
    (tmp_path / "marts").mkdir()
    (tmp_path / "marts" / "schema.yml").write_text(yaml.safe_dump({"models": [entry]}), encoding="utf-8")
    with pytest.raises(model_docs.DocError, match=re.escape(complaint)):
        model_docs.load_docs(tmp_path, reference_dir=tmp_path / "none")


def test_comments_are_sql_literals_whatever_they_say() -> None:
    text = '它\'s "quoted"; drop table t; -- \\n'
    doc = model_docs.ModelDoc(
        name="marts.t",
        description=text,
        description_en="o'clock",
        grain=("a",),
        columns=(model_docs.ColumnDoc("a", text, "it's"),),
        tests=(),
        source=Path("schema.yml"),
    )
    with duckdb.connect(":memory:") as con:
        con.execute("create schema marts; create table marts.t (a integer)")
        assert model_docs.apply_comments(con, [doc]) == 2
        assert con.execute("select comment from duckdb_tables() where table_name = 't'").fetchone()[0] == doc.comment()
        assert (
            con.execute("select comment from duckdb_columns() where table_name = 't'").fetchone()[0] == f"{text}｜it's"
        )
        assert con.execute("select count(*) from marts.t").fetchone() == (0,)


# --- a real run's warehouse ---


def test_every_table_view_and_column_of_every_schema_has_a_comment(built: Path) -> None:
    relations = query(built, RELATIONS_SQL)
    assert len(relations) >= 43
    assert {relation.split(".")[0] for relation, _ in relations} == set(transform.SCHEMAS)
    assert [relation for relation, comment in relations if not (comment or "").strip()] == []
    columns = query(
        built,
        "select schema_name || '.' || table_name || '.' || column_name, comment from duckdb_columns() where not internal",
    )
    assert len(columns) >= 400
    assert [column for column, comment in columns if not (comment or "").strip()] == []
    # the comment is the documentation, in both languages, and a relation's states its grain
    (comment,) = query(
        built, "select comment from duckdb_tables() where schema_name = 'marts' and table_name = 'fct_indicator_value'"
    )[0]
    assert (
        comment.startswith("每个报告期、单位、指标一个值") and "grain: period × unit_code × indicator_code" in comment
    )


def test_documentation_and_warehouse_name_the_same_relations_and_columns(built: Path) -> None:
    """No relation or column without documentation, and no documentation of what is not there."""
    docs = {doc.name: [column.name for column in doc.columns] for doc in model_docs.load_docs()}
    with duckdb.connect(str(built), read_only=True) as con:
        present = {relation: [name for name, _, _ in listed] for relation, listed in model_docs.columns(con).items()}
    assert sorted(set(present) - set(docs)) == [], "relations without documentation"
    assert sorted(set(docs) - set(present)) == [], "documentation of relations that do not exist"
    # the columns as the relation has them, in its order (the dictionary reads like the table)
    assert {relation: docs[relation] for relation in present} == present


def test_every_declared_test_ran_in_the_run_and_held(built: Path) -> None:
    declared = model_docs.declared_tests(model_docs.load_docs())
    (run_id,) = query(built, "select run_id from ops.runs where status = 'succeeded'")[0]
    ran = query(built, "select test_name, failing_rows from ops.model_tests where run_id = ?", run_id)
    assert len(ran) == len(declared) >= 150
    assert sorted(name for name, _ in ran) == sorted(test.name for test in declared)
    assert {failing for _, failing in ran} == {0}
    kinds = {kind for (kind,) in query(built, "select distinct test_kind from ops.model_tests")}
    assert kinds == {"unique", "not_null", "accepted_values", "relationships", "expression_is_true"}
    # the headline grain is among them
    assert "marts.fct_indicator_value: unique(period, unit_code, indicator_code)" in {name for name, _ in ran}


def test_a_duplicate_grain_row_fails_the_build_and_changes_nothing(built: Path, tmp_path: Path) -> None:
    copy = tmp_path / "w.duckdb"
    shutil.copy(built, copy)
    before = _snapshot(copy)
    with duckdb.connect(str(copy)) as con:
        with pytest.raises(model_docs.ModelTestFailed) as failed:
            with warehouse.transaction(con):
                # the same row of a submission's indicator sheet twice: as if a load had gone wrong
                con.execute("insert into raw.indicator_values select * from raw.indicator_values limit 1")
                transform.build(con, period="2022", run_id="duplicate-row")
    failures = {result.test.name: result.failing_rows for result in failed.value.failures}
    assert failures["raw.indicator_values: unique(submission_id, source_row)"] == 2
    assert failures["marts.fct_indicator_value: unique(period, unit_code, indicator_code)"] == 2
    assert "raw.indicator_values: unique(submission_id, source_row): 2 rows" in str(failed.value)
    assert _snapshot(copy) == before


def test_a_failing_accepted_values_declared_in_the_yaml_fails_the_build(built: Path, tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    marts = sql_dir / "marts" / "schema.yml"
    content = yaml.safe_load(marts.read_text(encoding="utf-8"))
    (dim_unit,) = [model for model in content["models"] if model["name"] == "marts.dim_unit"]
    (kind,) = [column for column in dim_unit["columns"] if column["name"] == "kind"]
    kind["tests"] = [{"accepted_values": {"values": ["town"]}}]  # as if the office and the education union were not
    marts.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    copy = tmp_path / "w.duckdb"
    shutil.copy(built, copy)
    before = _snapshot(copy)
    (not_towns,) = query(copy, "select count(*) from marts.dim_unit where kind <> 'town'")[0]
    with duckdb.connect(str(copy)) as con:
        with pytest.raises(model_docs.ModelTestFailed) as failed:
            with warehouse.transaction(con):
                transform.build(con, sql_dir=sql_dir, period="2022", run_id="strict-kinds")
    assert [(result.test.name, result.failing_rows) for result in failed.value.failures] == [
        ("marts.dim_unit: accepted_values(kind in town)", not_towns)
    ]
    assert not_towns == 2
    assert _snapshot(copy) == before


def test_a_partial_build_keeps_the_comments_of_what_it_replaces(built: Path, tmp_path: Path) -> None:
    copy = tmp_path / "w.duckdb"
    shutil.copy(built, copy)
    assert warehouse.set_period_lock(copy, "2022", closed=True)  # rebuilds marts.dim_period, a table
    assert query(copy, "select count(*) from duckdb_columns() where table_name = 'dim_period' and comment is null") == [
        (0,)
    ]
    assert query(copy, "select count(*) from marts.dim_period where is_closed") == [(1,)]


def test_the_data_dictionary_lists_every_relation_and_column_with_its_type(built: Path, tmp_path: Path) -> None:
    from union_stats.cli import main

    out = tmp_path / "dictionary.html"
    assert main(["docs", "--warehouse", str(built), "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    for doc in model_docs.load_docs():
        assert f'id="{doc.name}"' in page
        assert doc.description in page
    assert (
        page.count("<tr>") - page.count("<thead><tr>")
        == query(built, "select count(*) from duckdb_columns() where not internal")[0][0]
    )
    assert "DECIMAL(38,2)" in page and "粒度 grain" in page
    # self-contained: nothing to fetch, nothing to run
    assert "<script" not in page and "http://" not in page and "https://" not in page
    # by default beside the warehouse, where the report page links to it
    assert main(["docs", "--warehouse", str(built)]) == 0
    assert (built.parent / "data_dictionary.html").is_file()


def test_docs_says_in_one_line_when_there_is_no_warehouse(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from union_stats.cli import main

    assert main(["docs", "--warehouse", str(tmp_path / "none.duckdb")]) == 1
    assert main(["docs", "--warehouse", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "no" / "x.html")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: no warehouse at") for line in lines)
    assert not (tmp_path / "none.duckdb").exists()

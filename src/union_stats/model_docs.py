"""Model documentation as data: the `schema.yml` beside each SQL layer (dbt's shape) says what every relation and
column of the warehouse means, in Chinese for the office and in English beside, what identifies a row (its
grain), and which tests its rows must pass.

The build turns it into DuckDB comments (`COMMENT ON`, read back with `duckdb_columns()`) and runs the tests
inside the run's transaction: a violation fails the run and the warehouse stays as it was. `union-stats docs`
renders it, with each column's type from the warehouse, as one self-contained HTML page.

Files: `sql/<layer>/schema.yml` for the models of each layer and for the pipeline's own tables (`sql/ddl/`),
`reference/schema.yml` for the reference tables `ref.*` (loaded from the files beside it), and `sql/columns.yml`
for the columns that mean the same in every relation they appear in (lineage: `submission_id`, `source_row`,
...): a model lists such a column by name only and takes its description from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import duckdb
import yaml

from union_stats.paths import REFERENCE_DIR, SQL_DIR

SHARED_COLUMNS_FILE = "columns.yml"
DOC_FILE = "schema.yml"
# libyaml's parser where PyYAML was built with it: the docs are read on every build
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
COLUMN_TESTS = ("not_null", "unique", "accepted_values", "relationships")
MODEL_TESTS = ("unique", "expression_is_true")


class DocError(ValueError):
    """A schema.yml that does not say what it must (a model without a description, an unknown test...)."""


class ModelTestFailed(RuntimeError):
    """Declared model tests whose rows fail: the build stops, and the run's transaction rolls back."""

    def __init__(self, failures: list[TestResult]) -> None:
        self.failures = failures
        listed = "; ".join(f"{result.test.name}: {result.failing_rows} rows" for result in failures)
        super().__init__(f"{len(failures)} model test(s) failed: {listed}")


@dataclass(frozen=True)
class ModelTest:
    """One declared test of one relation, and the query that counts the rows failing it."""

    relation: str
    kind: str  # unique, not_null, accepted_values, relationships, expression_is_true
    columns: tuple[str, ...] = ()
    values: tuple[str, ...] = ()  # accepted_values
    to: str | None = None  # relationships: the relation and column the values must be found in
    to_field: str | None = None
    expression: str | None = None  # expression_is_true: a condition every row meets

    @property
    def name(self) -> str:
        target = ", ".join(self.columns)
        if self.kind == "relationships":
            return f"{self.relation}: relationships({target} → {self.to}.{self.to_field})"
        if self.kind == "accepted_values":
            return f"{self.relation}: accepted_values({target} in {', '.join(self.values)})"
        if self.kind == "expression_is_true":
            return f"{self.relation}: expression_is_true({self.expression})"
        return f"{self.relation}: {self.kind}({target})"

    def query(self, relation: str | None = None) -> tuple[str, list]:
        """A query returning one number, the rows that fail the test (for `unique`: the rows sharing a key);
        `relation` reads the rows from elsewhere (a view's rows kept once for all its tests)."""
        relation = relation or quote_relation(self.relation)
        columns = ", ".join(quote(column) for column in self.columns)
        if self.kind == "unique":
            return (
                f"select coalesce(sum(rows_with_key), 0) from (select count(*) as rows_with_key from {relation} "
                f"group by {columns} having count(*) > 1)",
                [],
            )
        if self.kind == "not_null":
            return f"select count(*) from {relation} where {columns} is null", []
        if self.kind == "accepted_values":
            return (
                f"select count(*) from {relation} where {columns} is not null "
                f"and cast({columns} as varchar) not in (select unnest(?::varchar[]))",
                [list(self.values)],
            )
        if self.kind == "relationships":
            return (
                f"select count(*) from {relation} as child where child.{columns} is not null and not exists "
                f"(select 1 from {quote_relation(self.to)} as parent where parent.{quote(self.to_field)} = "
                f"child.{columns})",
                [],
            )
        return f"select count(*) from {relation} where not coalesce(({self.expression}), false)", []


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    description: str
    description_en: str
    tests: tuple[ModelTest, ...] = ()


@dataclass(frozen=True)
class ModelDoc:
    name: str  # the relation, schema.name
    description: str
    description_en: str
    grain: tuple[str, ...]  # the columns that identify a row; empty for a log whose rows have no key
    columns: tuple[ColumnDoc, ...]
    tests: tuple[ModelTest, ...]
    source: Path

    @property
    def all_tests(self) -> list[ModelTest]:
        """The grain's uniqueness first, then the model's own tests, then its columns' tests."""
        grain = [ModelTest(self.name, "unique", self.grain)] if self.grain else []
        return [*grain, *self.tests, *(test for column in self.columns for test in column.tests)]

    def comment(self) -> str:
        grain = " × ".join(self.grain) if self.grain else "无（日志，行无主键） none (a log)"
        return f"{self.description}｜{self.description_en}｜粒度 grain: {grain}"


@dataclass(frozen=True)
class TestResult:
    test: ModelTest
    failing_rows: int

    @property
    def passed(self) -> bool:
        return self.failing_rows == 0


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def quote_relation(relation: str) -> str:
    schema, name = relation.split(".", 1)
    return f"{quote(schema)}.{quote(name)}"


def literal(text: str) -> str:
    """A SQL string literal (COMMENT ON takes no parameters): quotes doubled, nothing else is special."""
    return "'" + text.replace("'", "''") + "'"


# --- reading the files ---


def doc_files(sql_dir: Path = SQL_DIR, reference_dir: Path = REFERENCE_DIR) -> list[Path]:
    return [*sorted(sql_dir.glob(f"*/{DOC_FILE}")), *sorted(reference_dir.glob(DOC_FILE))]


def _text(entry: dict, key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DocError(f"{where}: `{key}` is missing or empty")
    return " ".join(value.split())


def _column_test(relation: str, column: str, spec: object, where: str) -> ModelTest:
    if isinstance(spec, str):
        kind, options = spec, {}
    elif isinstance(spec, dict) and len(spec) == 1:
        kind, options = next(iter(spec.items()))
        options = options or {}
    else:
        raise DocError(f"{where}: a test is a name or a one-key mapping, not {spec!r}")
    if kind not in COLUMN_TESTS:
        raise DocError(f"{where}: unknown test {kind!r} (known: {', '.join(COLUMN_TESTS)})")
    if kind == "accepted_values":
        values = options.get("values")
        if not isinstance(values, list) or not values:
            raise DocError(f"{where}: accepted_values needs `values: [...]`")
        return ModelTest(relation, kind, (column,), values=tuple(str(value) for value in values))
    if kind == "relationships":
        if not options.get("to") or not options.get("field") or "." not in str(options["to"]):
            raise DocError(f"{where}: relationships needs `to: schema.relation` and `field: column`")
        return ModelTest(relation, kind, (column,), to=str(options["to"]), to_field=str(options["field"]))
    return ModelTest(relation, kind, (column,))


def _model_test(relation: str, spec: object, where: str) -> ModelTest:
    if not (isinstance(spec, dict) and len(spec) == 1):
        raise DocError(f"{where}: a model test is a one-key mapping, not {spec!r}")
    kind, options = next(iter(spec.items()))
    if kind == "unique" and isinstance(options, list) and options:
        return ModelTest(relation, "unique", tuple(str(column) for column in options))
    if kind == "expression_is_true" and isinstance(options, dict) and options.get("expression"):
        return ModelTest(relation, kind, expression=str(options["expression"]))
    raise DocError(f"{where}: model tests are `unique: [columns]` or `expression_is_true: {{expression: ...}}`")


def _shared_columns(text: str | None) -> dict[str, dict]:
    if text is None:
        return {}
    content = yaml.load(text, Loader=_LOADER) or {}
    return {entry["name"]: entry for entry in content.get("columns", [])}


def load_docs(sql_dir: Path = SQL_DIR, reference_dir: Path = REFERENCE_DIR) -> list[ModelDoc]:
    """Every documented relation, checked for shape: each has both descriptions, a grain of its own columns, and
    each column a description (its own, or the shared one of sql/columns.yml). The files are read every time and
    parsed once per process for the same contents (0.17 s of YAML at each build: the portal builds at every job)."""
    shared = sql_dir / SHARED_COLUMNS_FILE
    files = tuple((path, path.read_text(encoding="utf-8")) for path in doc_files(sql_dir, reference_dir))
    return list(_parsed_docs(shared.read_text(encoding="utf-8") if shared.is_file() else None, files))


@lru_cache(maxsize=4)
def _parsed_docs(shared_text: str | None, files: tuple[tuple[Path, str], ...]) -> tuple[ModelDoc, ...]:
    shared = _shared_columns(shared_text)
    docs: dict[str, ModelDoc] = {}
    for path, text in files:
        content = yaml.load(text, Loader=_LOADER) or {}
        for entry in content.get("models", []):
            relation = entry.get("name", "")
            where = f"{path}: {relation or 'a model without a name'}"
            if relation.count(".") != 1:
                raise DocError(f"{where}: `name` must be schema.relation")
            if relation in docs:
                raise DocError(f"{where}: documented twice (also in {docs[relation].source})")
            columns = []
            for column_entry in entry.get("columns") or []:
                name = column_entry.get("name") if isinstance(column_entry, dict) else None
                if not name:
                    raise DocError(f"{where}: a column without a name")
                merged = {**shared.get(name, {}), **{k: v for k, v in column_entry.items() if k != "tests"}}
                column_where = f"{where}.{name}"
                columns.append(
                    ColumnDoc(
                        name=name,
                        description=_text(merged, "description", column_where),
                        description_en=_text(merged, "description_en", column_where),
                        tests=tuple(
                            _column_test(relation, name, spec, column_where) for spec in column_entry.get("tests") or []
                        ),
                    )
                )
            names = [column.name for column in columns]
            if len(set(names)) != len(names):
                raise DocError(f"{where}: a column is listed twice")
            grain = entry.get("grain")
            if not isinstance(grain, list) or any(column not in names for column in grain):
                raise DocError(f"{where}: `grain` must list columns of the model ([] for a log without a key)")
            docs[relation] = ModelDoc(
                name=relation,
                description=_text(entry, "description", where),
                description_en=_text(entry, "description_en", where),
                grain=tuple(grain),
                columns=tuple(columns),
                tests=tuple(_model_test(relation, spec, where) for spec in entry.get("tests") or []),
                source=path,
            )
    return tuple(docs.values())


def declared_tests(docs: list[ModelDoc]) -> list[ModelTest]:
    return [test for doc in docs for test in doc.all_tests]


# --- the warehouse ---


def relations(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every relation of the warehouse's schemas (DuckDB's internal ones aside): schema.name -> table or view."""
    rows = con.execute(
        "select schema_name || '.' || table_name, 'table' from duckdb_tables() where not internal "
        "and database_name = current_database() "
        "union all select schema_name || '.' || view_name, 'view' from duckdb_views() where not internal "
        "and database_name = current_database()"
    ).fetchall()
    return dict(rows)


def columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str, str | None]]]:
    """Each relation's columns in order: (name, DuckDB type, comment)."""
    found: dict[str, list[tuple[str, str, str | None]]] = {}
    for relation, name, data_type, comment in con.execute(
        "select schema_name || '.' || table_name, column_name, data_type, comment from duckdb_columns() "
        "where not internal and database_name = current_database() order by schema_name, table_name, column_index"
    ).fetchall():
        found.setdefault(relation, []).append((name, data_type, comment))
    return found


def apply_comments(con: duckdb.DuckDBPyConnection, docs: list[ModelDoc], only: set[str] | None = None) -> int:
    """COMMENT ON every documented relation that exists (or those of `only`) and on its documented columns that
    exist; returns the number of statements. What is present but undocumented stays uncommented: the test suite,
    not a run, insists on complete documentation."""
    present = relations(con)
    present_columns = {relation: {name for name, _, _ in listed} for relation, listed in columns(con).items()}
    statements = 0
    for doc in docs:
        if doc.name not in present or (only is not None and doc.name not in only):
            continue
        target = quote_relation(doc.name)
        con.execute(f"comment on {present[doc.name]} {target} is {literal(doc.comment())}")
        statements += 1
        for column in doc.columns:
            if column.name in present_columns.get(doc.name, ()):
                text = f"{column.description}｜{column.description_en}"
                con.execute(f"comment on column {target}.{quote(column.name)} is {literal(text)}")
                statements += 1
    return statements


def run_tests(con: duckdb.DuckDBPyConnection, docs: list[ModelDoc]) -> list[TestResult]:
    """Run every declared test (one query each); raises ModelTestFailed, naming each failure, if any fails."""
    present = relations(con)
    missing = sorted({doc.name for doc in docs} - set(present))
    if missing:
        raise DocError(f"documented relations missing from the warehouse: {', '.join(missing)}")
    results = []
    for doc in docs:
        tests = doc.all_tests
        if not tests:
            continue
        rows = None
        if present[doc.name] == "view" and len(tests) > 1:
            # a view is computed again by every query: its rows are kept once, in a temporary table, for its tests
            rows = quote(f"model_test_rows__{doc.name.replace('.', '__')}")
            con.execute(f"create or replace temporary table {rows} as select * from {quote_relation(doc.name)}")
        try:
            for test in tests:
                sql, parameters = test.query(rows)
                try:
                    (failing,) = con.execute(sql, parameters).fetchone()
                except duckdb.Error as error:
                    raise DocError(f"model test {test.name} cannot run: {error}") from error
                results.append(TestResult(test, int(failing)))
        finally:
            if rows is not None:
                con.execute(f"drop table if exists {rows}")
    failures = [result for result in results if not result.passed]
    if failures:
        raise ModelTestFailed(failures)
    return results


def record_tests(con: duckdb.DuckDBPyConnection, results: list[TestResult], run_id: str | None) -> None:
    """Which tests a build ran, kept in ops.model_tests in the build's own transaction (one statement: DuckDB's
    executemany runs one per row)."""
    if not results:
        return
    tested_at = datetime.now(UTC)
    values = [
        value
        for result in results
        for value in (run_id, tested_at, result.test.relation, result.test.kind, result.test.name, result.failing_rows)
    ]
    placeholders = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(results))
    con.execute(f"insert into ops.model_tests values {placeholders}", values)


def document_and_test(
    con: duckdb.DuckDBPyConnection,
    sql_dir: Path = SQL_DIR,
    run_id: str | None = None,
    reference_dir: Path = REFERENCE_DIR,
) -> list[TestResult]:
    """After a whole build: comment every relation and column, run and record every declared test."""
    docs = load_docs(sql_dir, reference_dir)
    apply_comments(con, docs)
    results = run_tests(con, docs)
    record_tests(con, results, run_id)
    return results


# --- the data dictionary page ---


@dataclass
class DictionaryColumn:
    name: str
    data_type: str
    description: str
    description_en: str
    tests: list[str] = field(default_factory=list)


@dataclass
class DictionaryRelation:
    name: str
    kind: str
    description: str
    description_en: str
    grain: tuple[str, ...]
    tests: list[str]
    source: str
    columns: list[DictionaryColumn]


SCHEMA_TITLES = {
    "ref": ("参考数据", "reference data: catalog, units, figures, targets"),
    "raw": ("原始数据", "raw rows as submitted (text), accepted files only"),
    "ops": ("运行记录", "the pipeline's own records: files, outcomes, findings, runs"),
    "staging": ("暂存层", "typed, renamed submitted rows"),
    "marts": ("数据集市", "dimensions and facts for analysis"),
    "report": ("报告层", "the work report's figures, completeness, targets"),
}


def dictionary(con: duckdb.DuckDBPyConnection, docs: list[ModelDoc]) -> dict[str, list[DictionaryRelation]]:
    """The documented relations present in the warehouse, by schema, with their columns' types."""
    present = relations(con)
    typed = columns(con)
    by_schema: dict[str, list[DictionaryRelation]] = {}
    root = SQL_DIR.parent
    for doc in sorted(docs, key=lambda item: item.name):
        if doc.name not in present:
            continue
        types = {name: data_type for name, data_type, _ in typed.get(doc.name, [])}
        tests_by_column: dict[str, list[str]] = {}
        for test in doc.all_tests:
            if len(test.columns) == 1:  # a column's own test; a grain of several columns is shown with the model
                tests_by_column.setdefault(test.columns[0], []).append(test.name.split(": ", 1)[1])
        try:
            source = str(doc.source.relative_to(root))
        except ValueError:
            source = str(doc.source)
        by_schema.setdefault(doc.name.split(".")[0], []).append(
            DictionaryRelation(
                name=doc.name,
                kind=present[doc.name],
                description=doc.description,
                description_en=doc.description_en,
                grain=doc.grain,
                tests=[test.name.split(": ", 1)[1] for test in doc.all_tests],
                source=source,
                columns=[
                    DictionaryColumn(
                        name=column.name,
                        data_type=types.get(column.name, "?"),
                        description=column.description,
                        description_en=column.description_en,
                        tests=tests_by_column.get(column.name, []),
                    )
                    for column in doc.columns
                ],
            )
        )
    order = list(SCHEMA_TITLES)
    return dict(sorted(by_schema.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)))


def render_dictionary(con: duckdb.DuckDBPyConnection, docs: list[ModelDoc] | None = None) -> str:
    """The data dictionary as one HTML page with its styles inlined (it opens offline, from a file share)."""
    from union_stats.templating import html_environment

    docs = load_docs() if docs is None else docs
    schemas = dictionary(con, docs)
    environment = html_environment()
    last_run = con.execute(
        "select run_id, period, finished_at from ops.runs where status = 'succeeded' order by finished_at desc limit 1"
    ).fetchone()
    return environment.get_template("data_dictionary.html.j2").render(
        schemas=schemas,
        titles=SCHEMA_TITLES,
        relations=sum(len(listed) for listed in schemas.values()),
        columns=sum(len(relation.columns) for listed in schemas.values() for relation in listed),
        last_run=last_run,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def write_dictionary(con: duckdb.DuckDBPyConnection, out: Path) -> Path:
    """Render the data dictionary of the warehouse `con` reads into `out`, written whole or not at all. (The
    caller opens the warehouse: this module sits below warehouse.py, which builds through transform.py.)"""
    page = render_dictionary(con)
    partial = out.with_name(f".{out.name}.partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(out)
    return out

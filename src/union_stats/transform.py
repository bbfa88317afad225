"""Transform stage: build the warehouse's SQL models from `sql/`, one statement per file, in dependency order.

`sql/ddl/<schema>.<table>.sql` creates a table the pipeline writes into (ops, raw: made once, never replaced);
`sql/macros/` holds macros; every other file holds a `select` and becomes a relation of its folder's schema
(`intermediate/` models live in `marts`), a view or a table by its folder.

A table model whose file says `-- incremental by period` (or `by year`: the year of a period, `2022` for
`2022Q3`) holds rows that depend on their own period only. A run then replaces just its period's rows
(delete, then insert the model's rows of that period: dbt's delete+insert strategy), as long as nothing else
changed since the last build: `ops.build_state` keeps a fingerprint of every model's SQL and of the reference
data, and any difference (a changed model, a renamed unit) rebuilds every model whole.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from graphlib import TopologicalSorter
from pathlib import Path

import duckdb

from union_stats.paths import SQL_DIR

# how each folder's select statements are kept: views stay cheap and current, marts are queried often
MATERIALIZATION = {"ops": "view", "staging": "view", "intermediate": "table", "marts": "table", "report": "view"}
SCHEMA_OF_FOLDER = {"intermediate": "marts"}  # dbt's layout: intermediate models sit beside the marts they feed
STATEMENT_FOLDERS = ("ddl", "macros")  # run as written, not wrapped as a relation
SCHEMAS = ("ref", "raw", "ops", "staging", "marts", "report")
INCREMENTAL = re.compile(r"^--\s*incremental by (period|year)\b", re.MULTILINE)


@dataclass(frozen=True)
class Model:
    folder: str
    name: str
    sql: str

    @property
    def relation(self) -> str:
        if self.folder == "ddl":
            return self.name  # the file is named for its table: ops.runs.sql
        return f"{SCHEMA_OF_FOLDER.get(self.folder, self.folder)}.{self.name}"

    @property
    def is_statement(self) -> bool:
        """Runs as written (create macro / create table) rather than being wrapped as a relation."""
        return self.folder in STATEMENT_FOLDERS

    @property
    def identifier(self) -> str:
        # macros are called by bare name, relations by schema.name
        return self.name if self.folder == "macros" else self.relation

    @property
    def incremental_key(self) -> str | None:
        """`period` or `year` for a table model that may be rebuilt one period at a time."""
        matched = INCREMENTAL.search(self.sql)
        return matched.group(1) if matched and MATERIALIZATION.get(self.folder) == "table" else None

    def statement(self, as_view: bool = False) -> str:
        if self.is_statement:
            return self.sql
        kind = "view" if as_view else MATERIALIZATION[self.folder]
        return f"create or replace {kind} {self.relation} as\n{self.sql}"


def _body(sql: str) -> str:
    """The statement without its leading comment lines."""
    lines = [line for line in sql.strip().splitlines() if not line.strip().startswith("--")]
    return "\n".join(lines).strip()


def load_models(sql_dir: Path = SQL_DIR) -> list[Model]:
    return [
        Model(folder=path.parent.name, name=path.stem, sql=path.read_text(encoding="utf-8").strip().rstrip(";"))
        for path in sorted(sql_dir.glob("*/*.sql"))
        if path.parent.name in (*STATEMENT_FOLDERS, *MATERIALIZATION)
    ]


def _references(model: Model, others: list[Model]) -> set[str]:
    text = _body(model.sql)
    found = set()
    for other in others:
        if other is model:
            continue
        pattern = (
            rf"\b{re.escape(other.identifier)}\s*\("
            if other.folder == "macros"
            else rf"\b{re.escape(other.relation)}\b"
        )
        if re.search(pattern, text):
            found.add(other.identifier)
    return found


@lru_cache(maxsize=8)
def _graph(models: tuple[Model, ...]) -> dict[str, frozenset[str]]:
    """What each model reads (a search of every model's text for every other's name: worth keeping, since a
    self-check asks for it on every file)."""
    return {model.identifier: frozenset(_references(model, list(models))) for model in models}


def ordered(models: list[Model], targets: set[str] | None = None) -> list[Model]:
    """Models in dependency order; with targets, only those and what they read."""
    by_identifier = {model.identifier: model for model in models}
    graph = dict(_graph(tuple(models)))
    if targets is not None:
        wanted, stack = set(), list(targets)
        while stack:
            identifier = stack.pop()
            if identifier not in wanted:
                wanted.add(identifier)
                stack.extend(graph[identifier])
        graph = {identifier: graph[identifier] for identifier in wanted}
    return [by_identifier[identifier] for identifier in TopologicalSorter(graph).static_order()]


def raw_tables_read(targets: set[str], sql_dir: Path = SQL_DIR) -> set[str]:
    """The raw tables (`raw.<kind>`) that the targets read, directly or through their upstream."""
    return {model.name for model in ordered(load_models(sql_dir), targets) if model.name.startswith("raw.")}


def ensure_schemas(con: duckdb.DuckDBPyConnection, sql_dir: Path = SQL_DIR) -> None:
    """Schemas and the operational tables that loads write into (idempotent)."""
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    for model in ordered(load_models(sql_dir)):
        if model.folder == "ddl":
            con.execute(model.statement())


def fingerprint(con: duckdb.DuckDBPyConnection, models: list[Model]) -> str:
    """What the models' rows rest on besides the loaded data: their SQL and the reference tables' content."""
    digest = hashlib.sha256()
    for model in models:
        digest.update(f"{model.folder}/{model.name}\n{model.sql}\n".encode())
    tables = con.execute(
        "select table_name from information_schema.tables where table_schema = 'ref' order by table_name"
    ).fetchall()
    for (table,) in tables:
        (content,) = con.execute(
            f"select md5(coalesce(string_agg(cast(row_text as varchar), chr(10) order by row_text), '')) "
            f"from (select cast(t as varchar) as row_text from ref.{table} as t)"
        ).fetchone()
        digest.update(f"ref.{table}:{content}\n".encode())
    return digest.hexdigest()


def _exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    schema, name = relation.split(".", 1)
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
        ).fetchone()[0]
    )


def _partition_value(key: str, period: str) -> str:
    return period[:4] if key == "year" else period


def build(
    con: duckdb.DuckDBPyConnection,
    targets: set[str] | None = None,
    sql_dir: Path = SQL_DIR,
    period: str | None = None,
    as_views: bool = False,
    run_id: str | None = None,
) -> list[str]:
    """Create or replace every model (or the targets and their upstream); returns what was built, in order.

    With `period`, the incremental models replace only that period's rows, when the last build rested on the
    same SQL and reference data (else everything is rebuilt whole, and the new fingerprint is kept). With
    `as_views`, every model is a view (a query asked once does not need its upstream stored).

    A whole build then comments every relation and column from the schema.yml files and runs their declared
    tests, recorded in ops.model_tests under `run_id` (model_docs.py): a failing test raises, so the caller's
    transaction rolls back. A partial build re-comments what it replaced (a replaced relation loses its comments)."""
    models = load_models(sql_dir)
    now = fingerprint(con, models) if period is not None and targets is None else None
    last = None
    if now is not None and _exists(con, "ops.build_state"):
        row = con.execute("select fingerprint from ops.build_state order by built_at desc limit 1").fetchone()
        last = row[0] if row else None
    built = []
    for model in ordered(models, targets):
        if model.folder == "ddl":
            continue  # the pipeline's own tables are made once by ensure_schemas, never replaced
        try:
            key = model.incremental_key
            if now is not None and now == last and key and _exists(con, model.relation):
                value = _partition_value(key, period)
                con.execute(f"delete from {model.relation} where {key} = ?", [value])
                con.execute(
                    f"insert into {model.relation} by name select * from (\n{model.sql}\n) as model where {key} = ?",
                    [value],
                )
            else:
                con.execute(model.statement(as_view=as_views))
        except duckdb.Error as error:
            raise RuntimeError(f"building {model.identifier} failed: {error}") from error
        built.append(model.identifier)
    if now is not None and now != last:
        con.execute("delete from ops.build_state")
        con.execute("insert into ops.build_state values (?, now())", [now])
    if not as_views:
        _document(con, sql_dir, built, whole=targets is None, run_id=run_id)
    return built


def _document(con: duckdb.DuckDBPyConnection, sql_dir: Path, built: list[str], whole: bool, run_id: str | None) -> None:
    """Comments and declared tests after a build (model_docs.py); a build of views for one question needs neither.
    The docs and tests change no row, so they are no part of the fingerprint that allows incremental builds."""
    from union_stats import model_docs

    if whole:
        model_docs.document_and_test(con, sql_dir, run_id=run_id)
    elif built:
        model_docs.apply_comments(con, model_docs.load_docs(sql_dir), only=set(built))

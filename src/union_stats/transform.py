"""Transform stage: build the warehouse's SQL models from `sql/`, one statement per file, in dependency order.

`sql/ddl/<schema>.<table>.sql` creates a table the pipeline writes into (ops, raw: made once, never replaced);
`sql/macros/` holds macros; every other file holds a `select` and becomes a relation of its folder's schema
(`intermediate/` models live in `marts`), a view or a table by its folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path

import duckdb

from union_stats.paths import SQL_DIR

# how each folder's select statements are kept: views stay cheap and current, marts are queried often
MATERIALIZATION = {"ops": "view", "staging": "view", "intermediate": "table", "marts": "table", "report": "view"}
SCHEMA_OF_FOLDER = {"intermediate": "marts"}  # dbt's layout: intermediate models sit beside the marts they feed
STATEMENT_FOLDERS = ("ddl", "macros")  # run as written, not wrapped as a relation
SCHEMAS = ("ref", "raw", "ops", "staging", "marts", "report")


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

    def statement(self) -> str:
        if self.is_statement:
            return self.sql
        kind = MATERIALIZATION[self.folder]
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


def ordered(models: list[Model], targets: set[str] | None = None) -> list[Model]:
    """Models in dependency order; with targets, only those and what they read."""
    by_identifier = {model.identifier: model for model in models}
    graph = {model.identifier: _references(model, models) for model in models}
    if targets is not None:
        wanted, stack = set(), list(targets)
        while stack:
            identifier = stack.pop()
            if identifier not in wanted:
                wanted.add(identifier)
                stack.extend(graph[identifier])
        graph = {identifier: graph[identifier] for identifier in wanted}
    return [by_identifier[identifier] for identifier in TopologicalSorter(graph).static_order()]


def ensure_schemas(con: duckdb.DuckDBPyConnection, sql_dir: Path = SQL_DIR) -> None:
    """Schemas and the operational tables that loads write into (idempotent)."""
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    for model in ordered(load_models(sql_dir)):
        if model.folder == "ddl":
            con.execute(model.statement())


def build(con: duckdb.DuckDBPyConnection, targets: set[str] | None = None, sql_dir: Path = SQL_DIR) -> list[str]:
    """Create or replace every model (or the targets and their upstream); returns what was built, in order."""
    built = []
    for model in ordered(load_models(sql_dir), targets):
        if model.folder == "ddl":
            continue  # the pipeline's own tables are made once by ensure_schemas, never replaced
        try:
            con.execute(model.statement())
        except duckdb.Error as error:
            raise RuntimeError(f"building {model.identifier} failed: {error}") from error
        built.append(model.identifier)
    return built

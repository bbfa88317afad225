"""The analyst layers (`marts`, `report`) as Hive-partitioned Parquet, with a manifest: one copy that several
machines and BI tools read without opening the DuckDB file.

Layout of a published folder `DIR` (every relation is a folder, read with one glob, see the manifest's `glob`):

    DIR/manifest.json                                   what is there (see `publish`)
    DIR/<schema>/<relation>/period=<P>/data_0.parquet   a relation with a `period` column, one folder per period
    DIR/<schema>/<relation>/year=<Y>/data_0.parquet     one with a `year` column and no `period`
    DIR/<schema>/<relation>/data_0.parquet              one with neither (the dimensions)

The partition column is in the folder names only, not in the files (what Hive, Spark, DuckDB and Polars expect);
readers get it back typed from the folder name, so they should say it is text (`hive_types={'period':
'VARCHAR'}`, Polars `hive_schema={'period': pl.String}`): a copy holding only `2022` is read as an integer
otherwise. An empty partitioned relation has one file without rows in `<key>=__HIVE_DEFAULT_PARTITION__/` (the
Hive name of a NULL key), so its glob still finds a file and its columns.

A publish is all or nothing for readers: everything is written into a temporary sibling folder
(`.<DIR name>.publishing-*`), which is then swapped with `DIR` in one rename (`renameat2(RENAME_EXCHANGE)` on
Linux; elsewhere two renames, between which `DIR` is briefly absent, never half written). A failure before the
swap removes the temporary folder and leaves the previous copy as it was.

This stage knows nothing of Prefect or the command line; it reads the warehouse through `warehouse.connect`
(read-only), in one transaction, so every relation comes from the same state of the warehouse.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from union_stats import warehouse as db

FORMAT = "union-stats-parquet"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SCHEMAS = ("marts", "report")
PARTITION_KEYS = ("period", "year")  # a relation is partitioned by the first of these it has
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
DATA_FILE = "data_0.parquet"
STAGING_INFIX = ".publishing-"


class PublishError(RuntimeError):
    """The copy could not be published: a one-line reason; the previous copy (if any) is as it was."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str | None


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str
    kind: str  # table or view
    columns: tuple[Column, ...]
    description: str | None

    @property
    def qualified(self) -> str:
        return f"{_quote(self.schema)}.{_quote(self.name)}"

    @property
    def partition_by(self) -> str | None:
        names = {column.name for column in self.columns}
        return next((key for key in PARTITION_KEYS if key in names), None)

    @property
    def path(self) -> str:
        return f"{self.schema}/{self.name}"

    @property
    def glob(self) -> str:
        return f"{self.path}/*/*.parquet" if self.partition_by else f"{self.path}/*.parquet"


@dataclass(frozen=True)
class Published:
    target: Path
    manifest: dict

    @property
    def relations(self) -> int:
        return len(self.manifest["relations"])

    @property
    def rows(self) -> int:
        return sum(entry["row_count"] for entry in self.manifest["relations"])


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _kept(target: Path) -> str:
    return "the previous copy is unchanged" if read_manifest(target) is not None else f"nothing written to {target}"


# ---------------------------------------------------------------------------------------------------------------
# the target folder


def read_manifest(target: Path) -> dict | None:
    """The manifest of a copy published here, or None when `target` holds none (or not one of ours)."""
    try:
        manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("format") == FORMAT else None


def check_target(target: Path) -> None:
    """Refuse, before any work, a folder this cannot (or must not) replace: a file, a folder in a folder that is
    not there or not writable, or a folder with other things in it than a copy published before."""
    if target.exists() and not target.is_dir():
        raise PublishError(f"cannot publish to {target}: it is a file, not a folder")
    parent = target.absolute().parent
    if not parent.is_dir():
        raise PublishError(f"cannot publish to {target}: no folder {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PublishError(f"cannot publish to {target}: the folder {parent} is not writable")
    if target.is_dir() and any(target.iterdir()) and read_manifest(target) is None:
        raise PublishError(
            f"cannot publish to {target}: the folder holds other files and no {MANIFEST} of an earlier copy "
            "(give an empty or new folder: a publish replaces the whole folder)"
        )


# ---------------------------------------------------------------------------------------------------------------
# the warehouse side


def relations(con: duckdb.DuckDBPyConnection) -> list[Relation]:
    """Every table and view of the analyst schemas, with its columns (DuckDB types) and catalog comments."""
    schemas = list(SCHEMAS)
    listed = con.execute(
        "select table_schema, table_name, table_type from information_schema.tables "
        "where table_catalog = current_database() and table_schema in (select unnest($1)) order by all",
        [schemas],
    ).fetchall()
    comments = dict(
        ((schema, name), comment)
        for schema, name, comment in con.execute(
            "select schema_name, table_name, comment from duckdb_tables() where database_name = current_database() "
            "union all select schema_name, view_name, comment from duckdb_views() "
            "where database_name = current_database()"
        ).fetchall()
    )
    columns: dict[tuple[str, str], list[Column]] = {}
    for schema, name, column, data_type, comment in con.execute(
        "select schema_name, table_name, column_name, data_type, comment from duckdb_columns() "
        "where database_name = current_database() and schema_name in (select unnest($1)) "
        "order by schema_name, table_name, column_index",
        [schemas],
    ).fetchall():
        columns.setdefault((schema, name), []).append(Column(column, data_type, comment or None))
    found = []
    for schema, name, table_type in listed:
        if not columns.get((schema, name)):
            raise PublishError(f"{schema}.{name} has no columns in the warehouse's catalog")
        found.append(
            Relation(
                schema=schema,
                name=name,
                kind="view" if table_type == "VIEW" else "table",
                columns=tuple(columns[schema, name]),
                description=comments.get((schema, name)) or None,
            )
        )
    return found


def _last_run(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The latest run that changed the warehouse (a failed run rolls back; a no-op run changes nothing)."""
    has_runs = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'ops' and table_name = 'runs'"
    ).fetchall()[0][0]
    if not has_runs:
        return None
    rows = con.execute(
        "select run_id, period, status, started_at, finished_at from ops.runs where status = 'succeeded' "
        "order by finished_at desc nulls last, started_at desc limit 1"
    ).fetchall()
    if not rows:
        return None
    run_id, period, status, started_at, finished_at = rows[0]
    return {
        "run_id": run_id,
        "period": period,
        "status": status,
        "started_at": started_at.isoformat() if started_at else None,
        "finished_at": finished_at.isoformat() if finished_at else None,
    }


def last_run_id(warehouse: Path) -> str | None:
    with db.connect(warehouse, read_only=True) as con:
        run = _last_run(con)
    return run["run_id"] if run else None


def is_current(target: Path, warehouse: Path) -> bool:
    """Whether `target` holds a copy of `warehouse` as of its latest successful run."""
    manifest = read_manifest(target)
    if manifest is None or manifest.get("warehouse") != str(warehouse.resolve()):
        return False
    published = (manifest.get("last_run") or {}).get("run_id")
    return published is not None and published == last_run_id(warehouse)


# ---------------------------------------------------------------------------------------------------------------
# writing


def _copy_relation(con: duckdb.DuckDBPyConnection, relation: Relation, staging: Path) -> dict:
    """Write one relation under `staging` and read back what was written: its manifest entry."""
    folder = staging / relation.schema / relation.name
    key = relation.partition_by
    if key is None:
        folder.mkdir(parents=True)
        # the paths (under the folder the user named) are parameters; only catalog identifiers are in the text
        written = con.execute(
            f"copy (select * from {relation.qualified}) to ? (format parquet)", [str(folder / DATA_FILE)]
        ).fetchall()[0][0]
        partitions = None
        read_back = con.execute("select count(*) from read_parquet(?)", [str(folder / "*.parquet")]).fetchall()
        row_count = read_back[0][0]
    else:
        folder.parent.mkdir(parents=True, exist_ok=True)
        # a fresh folder: nothing to overwrite (OVERWRITE / OVERWRITE_OR_IGNORE are not needed, and a stale
        # partition of an earlier copy cannot survive: the whole copy is replaced)
        written = con.execute(
            f"copy (select * from {relation.qualified}) to ? (format parquet, partition_by ({_quote(key)}))",
            [str(folder)],
        ).fetchall()[0][0]
        if written == 0:  # no partition folder at all: one file without rows keeps the glob and the columns
            (folder / f"{key}={HIVE_NULL}").mkdir(parents=True, exist_ok=True)
            con.execute(
                f"copy (select * exclude ({_quote(key)}) from {relation.qualified} limit 0) to ? (format parquet)",
                [str(folder / f"{key}={HIVE_NULL}" / DATA_FILE)],
            )
        partitions = dict(
            con.execute(
                f"select {_quote(key)}, count(*) from read_parquet(?, hive_partitioning = true, "
                f"hive_types = {{'{key}': 'VARCHAR'}}) group by all order by all",
                [str(folder / "*" / "*.parquet")],
            ).fetchall()
        )
        row_count = sum(partitions.values())
    if row_count != written:
        raise PublishError(f"{relation.schema}.{relation.name}: wrote {written} rows but read back {row_count}")
    return {
        "schema": relation.schema,
        "name": relation.name,
        "kind": relation.kind,
        "path": relation.path,
        "glob": relation.glob,
        "partition_by": key,
        "partitions": partitions,
        "row_count": row_count,
        "description": relation.description,
        "columns": [
            {"name": column.name, "type": column.type, "description": column.description} for column in relation.columns
        ],
    }


def _periods(con: duckdb.DuckDBPyConnection, entries: list[dict]) -> list[str]:
    """The periods the copy covers: those of marts.dim_period, else every period partition written."""
    if any(entry["schema"] == "marts" and entry["name"] == "dim_period" for entry in entries):
        return [row[0] for row in con.execute("select distinct period from marts.dim_period order by 1").fetchall()]
    found = {value for entry in entries if entry["partition_by"] == "period" for value in entry["partitions"]}
    return sorted(value for value in found if value is not None)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two folders in one atomic rename (Linux `renameat2` with RENAME_EXCHANGE); False where the system
    or the file system cannot, and the caller falls back to two renames."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def _swap(staging: Path, target: Path) -> None:
    """Put the finished copy in `staging` at `target`; the previous copy is removed afterwards."""
    if not target.exists():
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)  # it holds the previous copy now
        return
    previous = target.with_name(f".{target.name}.previous-{uuid.uuid4().hex[:8]}")
    os.rename(target, previous)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(previous, target)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def publish(warehouse: Path, target: Path) -> Published:
    """Publish every relation of `marts` and `report` of `warehouse` to the folder `target`, replacing the
    copy there as a whole; raises PublishError (one line) and leaves `target` as it was on any failure.

    The manifest (`target/manifest.json`) says: the format and its version, when, from which warehouse, the
    latest successful run (`ops.runs`) and the periods the copy covers, and per relation its schema, name,
    kind, folder and glob (relative to `target`), partition key and rows per partition, row count, columns
    with their DuckDB types, and the catalog's descriptions (DuckDB comments; null while there are none).
    """
    check_target(target)
    if not warehouse.is_file():
        raise PublishError(f"no warehouse at {warehouse}: run `union-stats run` first")
    staging: Path | None = None
    reading = f"cannot read the warehouse {warehouse}"
    try:
        with db.connect(warehouse, read_only=True) as con:
            con.execute("begin transaction")  # one state of the warehouse for every relation
            found = relations(con)
            if not found:
                raise PublishError(
                    f"the warehouse {warehouse} has no {' or '.join(SCHEMAS)} relations: run `union-stats run` first"
                )
            last_run = _last_run(con)
            reading = f"publishing {warehouse} to {target} failed ({_kept(target)})"
            # a plain mkdir (not mkdtemp's 0700): the copy is for other users and machines, as the umask says
            staging = target.absolute().parent / f".{target.name}{STAGING_INFIX}{uuid.uuid4().hex[:12]}"
            staging.mkdir()
            entries = [_copy_relation(con, relation, staging) for relation in found]
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "warehouse": str(warehouse.resolve()),
                "last_run": last_run,
                "periods": _periods(con, entries),
                "hive_types": dict.fromkeys(PARTITION_KEYS, "VARCHAR"),
                "relations": entries,
            }
            con.execute("commit")
        (staging / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        _swap(staging, target)
        staging = None
    except PublishError:
        raise
    except (duckdb.Error, db.WarehouseBusy) as error:
        raise PublishError(f"{reading}: {db.first_line(error)}") from error
    except OSError as error:
        raise PublishError(
            f"publishing to {target} failed ({_kept(target)}): {type(error).__name__}: {db.first_line(error)}"
        ) from error
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return Published(target, manifest)

"""Test support: read a warehouse file the way an analyst would, read-only."""

from __future__ import annotations

from pathlib import Path

import duckdb


def query(warehouse: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()

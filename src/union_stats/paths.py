"""Where things live: every folder the project reads or writes, resolved from the repository root."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_DIR = ROOT / "reference"
TEMPLATES_DIR = REFERENCE_DIR / "templates"
SQL_DIR = ROOT / "sql"
EXPECTATIONS_DIR = ROOT / "expectations"
RAW_DIR = ROOT / "data" / "raw"
WAREHOUSE_FILE = ROOT / "data" / "warehouse" / "union_stats.duckdb"
REPORTS_DIR = ROOT / "data" / "reports"

# a period folder may hold a units file beside the workbooks (synthetic units written by the generator)
EXTRA_UNITS_FILE = "units.csv"

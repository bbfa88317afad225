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

# a period folder may hold a units file beside the workbooks (synthetic units written by the generator)
EXTRA_UNITS_FILE = "units.csv"


def archive_dir_for(warehouse: Path) -> Path:
    """Received files are archived by content hash beside the warehouse they were loaded into."""
    return warehouse.parent / "archive"


def reports_dir_for(warehouse: Path) -> Path:
    """Data-quality reports of each run, beside the warehouse (data/warehouse/reports/<period>/<run>/)."""
    return warehouse.parent / "reports"


def data_docs_dir_for(warehouse: Path) -> Path:
    """The Great Expectations project that keeps every run's validation results and renders Data Docs."""
    return warehouse.parent / "gx"

"""Where things live: every folder the project reads or writes.

What the code reads at run time (`sql/`, `reference/`, `expectations/`, the HTML report templates) is found by
one function, `resource_dir`: from a checkout of the repository (`uv run`, an editable install) it is the
top-level folder of that checkout, the place to edit them; from an installed wheel it is the copy the wheel
carries inside the package (`union_stats/_data/<folder>`, mapped there by `pyproject.toml`), found through
`importlib.resources`.

Data default to `data/raw/` and `data/warehouse/union_stats.duckdb` under the checkout, or, installed, under the
current working directory (`ROOT`).
"""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _checkout_root() -> Path | None:
    """The repository root when this module runs from its checkout (src/union_stats/ beside pyproject.toml)."""
    root = _PACKAGE_DIR.parents[1]
    if _PACKAGE_DIR.parent.name == "src" and (root / "pyproject.toml").is_file() and (root / "sql").is_dir():
        return root
    return None


CHECKOUT = _checkout_root()


def resource_dir(name: str) -> Path:
    """The folder `name` (`sql`, `reference`, `expectations`) the code reads: the checkout's, else the wheel's copy."""
    if CHECKOUT is not None:
        return CHECKOUT / name
    packaged = resources.files("union_stats") / "_data" / name
    # pip and uv install wheels unpacked, so this is a real folder; say so clearly if it ever is not
    if not isinstance(packaged, Path) or not packaged.is_dir():
        raise FileNotFoundError(
            f"union_stats: the packaged folder {name!r} is missing ({packaged}); reinstall the wheel"
        )
    return packaged


# checkout root when running from the repository, otherwise the current working directory: the base of data/
ROOT = CHECKOUT if CHECKOUT is not None else Path.cwd()
REFERENCE_DIR = resource_dir("reference")
TEMPLATES_DIR = REFERENCE_DIR / "templates"  # the submission template versions (v1.toml, ...)
SQL_DIR = resource_dir("sql")
EXPECTATIONS_DIR = resource_dir("expectations")
REPORT_TEMPLATES_DIR = Path(str(resources.files("union_stats") / "templates"))  # Jinja2 templates of the reports
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


def data_dictionary_for(warehouse: Path) -> Path:
    """The data dictionary page (`union-stats docs`) of a warehouse, beside it, where the report page links to it."""
    return warehouse.parent / "data_dictionary.html"


PREFECT_STARTUP_TIMEOUT_SECONDS = 120


def prefect_home_for(warehouse: Path) -> Path:
    """Prefect's state (its sqlite database, results, memo store) for runs against `warehouse`, beside it."""
    return warehouse.parent / "prefect"


def prefect_profile_settings() -> dict:
    """The settings of the user's active Prefect profile (read as Prefect would, without importing it)."""
    path = Path(os.environ.get("PREFECT_PROFILES_PATH", "~/.prefect/profiles.toml")).expanduser()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    settings = profiles.get("profiles", {}).get(active, {})
    return settings if isinstance(settings, dict) else {}


def use_prefect_home(warehouse: Path) -> None:
    """Keep Prefect's state for runs against `warehouse` in its own home beside it (`<warehouse dir>/prefect/`).

    Prefect's default home `~/.prefect` holds one sqlite database for every process on the machine, so two
    runs at once (against two warehouses) fail with `database is locked` (or a migration race on a new one).
    This sets `PREFECT_HOME`, and with it the temporary API server's database `${PREFECT_HOME}/prefect.db`, its
    results and memo store; and, unless already set, a longer wait for that server's first start
    (`PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`, 120 s). It does nothing when the user chose otherwise:
    `PREFECT_API_URL` (a running Prefect server) or `PREFECT_HOME`, in the environment or in the active Prefect
    profile. The user's profiles file (`~/.prefect/profiles.toml`) stays the one Prefect reads.

    Call it before `prefect` is imported: Prefect reads its settings at import.
    """
    keys = ("PREFECT_API_URL", "PREFECT_HOME")
    if any(os.environ.get(key) for key in keys):
        return
    profile = prefect_profile_settings()
    if any(profile.get(key) for key in keys):
        return
    profiles = Path("~/.prefect/profiles.toml").expanduser()
    if "PREFECT_PROFILES_PATH" not in os.environ and profiles.is_file():
        # the profiles file lives in the home by default: keep reading the user's, not an empty new one
        os.environ["PREFECT_PROFILES_PATH"] = str(profiles)
    home = prefect_home_for(Path(warehouse).expanduser().resolve())
    home.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(home)
    # a new home's first temporary server creates and migrates its database, which on a busy two-core machine
    # (two runs starting at once) takes longer than Prefect's default 20 s wait for the server
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(PREFECT_STARTUP_TIMEOUT_SECONDS))


def make_secret_file(path: Path) -> bool:
    """A new key file of 32 random bytes (hex) at `path`, readable by its owner only (mode 600); False, and the
    file untouched, if it exists already (made meanwhile by another process, say)."""
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return True

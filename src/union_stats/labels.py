"""The words and flags shown beside the project's codes, from their one home, `reference/labels.toml`.

Outcomes (a submission's status), severities, unit kinds and reporting scopes: the command line, the pages, the
reports and the portal take their words here, and the warehouse loads the same file as ref tables
(`ref_tables.py`) for the SQL models. `ACCEPTED` (the outcomes counted) and `HELD` are the codes Python code
compares with.
"""

from __future__ import annotations

import tomllib
from functools import cache

from union_stats.paths import REFERENCE_DIR

LABELS_FILE = "labels.toml"
GROUPS = ("outcomes", "severities", "unit_kinds", "reporting_scopes")


@cache
def _labels() -> dict[str, dict[str, dict[str, object]]]:
    settings = tomllib.loads((REFERENCE_DIR / LABELS_FILE).read_text(encoding="utf-8"))
    unknown = set(settings) - set(GROUPS)
    if unknown:
        raise ValueError(f"{LABELS_FILE}: unknown groups {', '.join(sorted(unknown))} (known: {', '.join(GROUPS)})")
    return settings


def entries(group: str) -> dict[str, dict[str, object]]:
    """Each code of `group` with its fields, in the file's order."""
    return _labels()[group]


def words(group: str, form: str = "zh") -> dict[str, str]:
    """code → its `form` wording (zh, en, report_zh, portal_zh, audit_zh, loaded_zh, short_zh, colour, fill)."""
    return {code: str(fields[form]) for code, fields in entries(group).items() if form in fields}


def outcome(status: str, form: str = "zh") -> str:
    """An outcome's wording; an unknown status as it is."""
    return words("outcomes", form).get(status, status)


def outcomes(form: str = "zh") -> dict[str, str]:
    return words("outcomes", form)


def severities(form: str = "zh") -> dict[str, str]:
    return words("severities", form)


def unit_kinds(form: str = "zh") -> dict[str, str]:
    return words("unit_kinds", form)


def reporting_scopes(form: str = "zh") -> dict[str, str]:
    return words("reporting_scopes", form)


ACCEPTED: tuple[str, ...] = tuple(code for code, fields in entries("outcomes").items() if fields["counted"])
HELD = "held"
RECEIVED: tuple[str, ...] = tuple(code for code, fields in entries("outcomes").items() if fields["received"])

"""The one Jinja2 environment of the project's HTML pages (quality reports, the district report, the data
dictionary): templates from `union_stats/templates/`, every value escaped (`select_autoescape` would skip a
`.html.j2` name), and an undefined name an error rather than an empty string."""

from __future__ import annotations

from collections.abc import Callable

import jinja2

from union_stats.paths import REPORT_TEMPLATES_DIR


def html_environment(**filters: Callable) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(REPORT_TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(filters)
    return environment

"""The rule registry (`reference/rules.toml`): each rule's severity, title, messages in Chinese and English, fix.

The suites, the parse and self-check stages and the reports read rules from here, so a rule is worded in one
place. A message is a template: fields given where a finding is made fill it; a field nobody gives stays
visible as `{name}`, which is how a suite keeps its run-time placeholders ({sheet}, {cell}, {value}).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache

from union_stats.findings import SEVERITIES, Finding
from union_stats.paths import REFERENCE_DIR

RULES_FILE = REFERENCE_DIR / "rules.toml"


class _Placeholders(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, **fields: object) -> str:
    """`template` with the fields given; any other placeholder kept as it is."""
    return template.format_map(_Placeholders({name: str(value) for name, value in fields.items()}))


@dataclass(frozen=True)
class Rule:
    rule_id: str
    severity: str
    title_zh: str
    title_en: str
    fix_zh: str
    zh: str = ""
    en: str = ""
    variants: dict[str, dict[str, str]] = field(default_factory=dict)

    def message(self, variant: str | None = None, **fields: object) -> str:
        """The Chinese message (of a variant), filled with `fields`."""
        return fill(self.variants[variant]["zh"] if variant else self.zh, **fields)

    def message_en(self, variant: str | None = None, **fields: object) -> str:
        return fill(self.variants[variant]["en"] if variant else self.en, **fields)

    def finding(
        self,
        submission_id: str,
        file_name: str,
        sheet: str | None = None,
        cell: str | None = None,
        value: str | None = None,
        variant: str | None = None,
        **fields: object,
    ) -> Finding:
        """A finding of this rule, its message filled from the sheet, cell, value and the rule's own fields."""
        message = self.message(variant, sheet=sheet or "", cell=cell or "", value=value or "", **fields)
        return Finding(submission_id, file_name, self.severity, self.rule_id, sheet, cell, value, message)


@cache
def registry() -> dict[str, Rule]:
    raw = tomllib.loads(RULES_FILE.read_text(encoding="utf-8"))["rules"]
    rules = {rule_id: Rule(rule_id=rule_id, **entry) for rule_id, entry in raw.items()}
    for rule in rules.values():
        if rule.severity not in SEVERITIES:
            raise ValueError(f"rule {rule.rule_id}: unknown severity {rule.severity!r}")
    return rules


def rule(rule_id: str) -> Rule:
    """A rule by id; a rule missing from the registry is a programming error."""
    return registry()[rule_id]

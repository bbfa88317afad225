"""Periods: a year ('2022') or a quarter ('2022Q3'), their days, and how they follow one another."""

from __future__ import annotations

import calendar
import re
import tomllib
from datetime import date, timedelta

PERIOD_PATTERN = re.compile(r"^(\d{4})(?:Q([1-4]))?$", re.ASCII)  # ASCII: \d would take ２０２２ too
FIRST_YEAR, LAST_YEAR = 2000, 2100  # the years a period typed by a person may name


class PeriodError(ValueError):
    """Text that is not a period: a plain mistake of whoever typed it, not a bug."""


def _parts(period: str) -> tuple[int, int | None]:
    match = PERIOD_PATTERN.fullmatch(period.strip()) if isinstance(period, str) else None
    if match is None:
        raise PeriodError(f"统计期应写作年度“2022”或季度“2022Q3”，收到：{period!r}")
    return int(match.group(1)), int(match.group(2)) if match.group(2) else None


# how a cover's 统计期 is written in offices: 2022年, 2022年度, 2022 年第三季度, 2022年3季度, 2022-Q3, 2022 q3
WRITTEN_PERIOD = re.compile(
    r"^(\d{4})\s*(?:年度?)?\s*(?:(?:第\s*)?([1-4一二三四])\s*季度?|[-_ ]?Q\s*([1-4]))?$", re.ASCII | re.IGNORECASE
)
CHINESE_QUARTERS = {"一": "1", "二": "2", "三": "3", "四": "4"}


def as_written(text: str) -> str:
    """A period as an office writes it, in the form `2022` or `2022Q3`; text that names no period unchanged."""
    matched = WRITTEN_PERIOD.fullmatch(text.strip())
    if matched is None:
        return text
    year, quarter_zh, quarter = matched.groups()
    quarter = quarter or CHINESE_QUARTERS.get(quarter_zh or "", quarter_zh)
    return f"{year}Q{quarter}" if quarter else year


def is_period(text: str) -> bool:
    return isinstance(text, str) and PERIOD_PATTERN.fullmatch(text.strip()) is not None


def is_quarter(period: str) -> bool:
    return _parts(period)[1] is not None


def period_bounds(period: str) -> tuple[date, date]:
    """First and last day of a period: '2022' is the calendar year, '2022Q3' the third quarter."""
    year, quarter = _parts(period)
    if quarter is None:
        return date(year, 1, 1), date(year, 12, 31)
    last_month = 3 * quarter
    return date(year, last_month - 2, 1), date(year, last_month, calendar.monthrange(year, last_month)[1])


def previous_period(period: str) -> str:
    """The period before: 2021 for 2022, 2022Q2 for 2022Q3, 2021Q4 for 2022Q1."""
    year, quarter = _parts(period)
    if quarter is None:
        return str(year - 1)
    return f"{year - 1}Q4" if quarter == 1 else f"{year}Q{quarter - 1}"


def quarters_of(year: str) -> list[str]:
    return [f"{year}Q{quarter}" for quarter in range(1, 5)]


def year_of(period: str) -> str:
    return str(_parts(period)[0])


def due_on(period: str) -> date:
    """The day a period's files are due (reference/periods.toml: days after the period's last day)."""
    from union_stats.paths import REFERENCE_DIR

    deadlines = tomllib.loads((REFERENCE_DIR / "periods.toml").read_text(encoding="utf-8"))["deadlines"]
    return period_bounds(period)[1] + timedelta(days=deadlines["quarter" if is_quarter(period) else "year"])

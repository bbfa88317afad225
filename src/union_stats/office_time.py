"""The time zone every time is shown and exported in: the office's, Asia/Shanghai (Beijing time, UTC+8 all year),
unless `UNION_STATS_TIMEZONE` names another IANA zone. The warehouse keeps instants (TIMESTAMP WITH TIME ZONE);
every DuckDB connection renders them in this zone, and a time printed for people says which zone it is in."""

from __future__ import annotations

import os
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

TIMEZONE_ENV = "UNION_STATS_TIMEZONE"
DEFAULT_TIMEZONE = "Asia/Shanghai"


@cache
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{TIMEZONE_ENV}={name!r} is not a time zone (e.g. {DEFAULT_TIMEZONE})") from None


def zone_name() -> str:
    """The IANA name of the office's zone (checked: an unknown name is a ValueError saying so)."""
    name = os.environ.get(TIMEZONE_ENV, "").strip() or DEFAULT_TIMEZONE
    _zone(name)
    return name


def zone() -> ZoneInfo:
    return _zone(zone_name())


def zone_label(lang: str = "zh") -> str:
    """How a heading names the zone: 北京时间 (Beijing time) for Asia/Shanghai, else its IANA name."""
    if zone_name() == DEFAULT_TIMEZONE:
        return "北京时间" if lang == "zh" else "Beijing time"
    return zone_name()


def shown(moment: datetime, lang: str = "zh") -> str:
    """A moment for people, in the office's zone, saying so: `2023-01-13 14:04（北京时间）`."""
    local = moment.astimezone(zone()) if moment.tzinfo is not None else moment
    return (
        f"{local:%Y-%m-%d %H:%M}（{zone_label(lang)}）"
        if lang == "zh"
        else f"{local:%Y-%m-%d %H:%M} ({zone_label(lang)})"
    )

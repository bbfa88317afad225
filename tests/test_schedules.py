"""The close schedules: when they fire (Beijing time), which period each run loads, and prefect.yaml agreeing."""

from __future__ import annotations

import inspect
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from flows.schedules import CLOSE_SCHEDULES, TIMEZONE, deployments, next_runs, period_due, scheduled_ingest
from union_stats.paths import ROOT

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _beijing(year: int, month: int, day: int, hour: int = 2) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


def test_next_runs_quarterly_on_the_15th_after_each_quarter_annual_on_20_january() -> None:
    runs = next_runs(n=4, after=datetime.fromisoformat("2026-11-25T10:00+08:00"))

    assert runs["quarterly-close"] == [
        _beijing(2027, 1, 15),
        _beijing(2027, 4, 15),
        _beijing(2027, 7, 15),
        _beijing(2027, 10, 15),
    ]
    assert runs["annual-close"][:2] == [_beijing(2027, 1, 20), _beijing(2028, 1, 20)]
    for dates in runs.values():
        assert all(date.utcoffset().total_seconds() == 8 * 3600 for date in dates)


def test_next_runs_are_strictly_after_and_the_same_instant_in_any_zone() -> None:
    in_utc = datetime(2027, 1, 14, 18, tzinfo=ZoneInfo("UTC"))  # 2027-01-15 02:00 in Beijing

    assert next_runs(n=1, after=in_utc)["quarterly-close"] == [_beijing(2027, 4, 15)]
    assert next_runs(n=1, after=in_utc.replace(hour=17))["quarterly-close"] == [_beijing(2027, 1, 15)]


@pytest.mark.parametrize(
    ("kind", "at", "period"),
    [
        ("quarter", _beijing(2027, 1, 15), "2026Q4"),
        ("quarter", _beijing(2027, 4, 15), "2027Q1"),
        ("quarter", _beijing(2027, 7, 15), "2027Q2"),
        ("quarter", _beijing(2027, 10, 15), "2027Q3"),
        ("year", _beijing(2027, 1, 20), "2026"),
        # a manual run mid-quarter loads the last quarter that has ended
        ("quarter", _beijing(2027, 3, 1, 15), "2026Q4"),
        # 01:00 on 1 April in Beijing is still 31 March in UTC: the Beijing calendar decides
        ("quarter", _beijing(2027, 4, 1, 1).astimezone(ZoneInfo("UTC")), "2027Q1"),
        ("year", datetime(2027, 12, 31, 23, 30), "2026"),
    ],
)
def test_period_due(kind: str, at: datetime, period: str) -> None:
    assert period_due(kind, at) == period


def test_period_due_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="quarter"):
        period_due("month", _beijing(2027, 1, 15))


def test_deployments_run_the_scheduled_ingest_flow_on_beijing_time_crons() -> None:
    built = {deployment.name: deployment for deployment in deployments()}

    assert set(built) == {"quarterly-close", "annual-close"}
    expected = {
        "quarterly-close": ("0 2 15 1,4,7,10 *", {"kind": "quarter"}),
        "annual-close": ("0 2 20 1 *", {"kind": "year"}),
    }
    for name, (cron, parameters) in expected.items():
        deployment = built[name]
        assert deployment.flow_name == scheduled_ingest.name == "scheduled-ingest"
        assert deployment.parameters == parameters
        [schedule] = deployment.schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == (cron, "Asia/Shanghai")
        assert schedule.active


def test_scheduled_ingest_takes_only_quarter_or_year() -> None:
    schema = scheduled_ingest.parameters.model_dump()
    assert schema["properties"]["kind"]["enum"] == ["quarter", "year"]
    assert schema["required"] == ["kind"]


def test_prefect_yaml_states_the_same_deployments_as_flows_schedules() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    flow_file = Path(inspect.getsourcefile(scheduled_ingest.fn)).relative_to(ROOT).as_posix()
    entrypoint = f"{flow_file}:{scheduled_ingest.fn.__name__}"

    stated = {
        deployment["name"]: (
            deployment["entrypoint"],
            deployment["parameters"],
            [(schedule["cron"], schedule["timezone"]) for schedule in deployment["schedules"]],
            deployment["description"],
        )
        for deployment in config["deployments"]
    }
    assert stated == {
        close.deployment: (entrypoint, {"kind": close.kind}, [(close.cron, TIMEZONE)], close.description)
        for close in CLOSE_SCHEDULES
    }

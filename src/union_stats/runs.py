"""A run's context (which period, which folders and warehouse, which units, when it started) and its summary.

The stages take the context instead of long parameter lists; a run, however it was started, ends with the summary
(`pipeline.run_period`). Neither knows anything of Prefect.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from union_stats import discover, reference
from union_stats.paths import archive_dir_for, data_docs_dir_for, reports_dir_for
from union_stats.reference import Unit

if TYPE_CHECKING:
    import polars as pl

DATA_DOCS_ENV = "UNION_STATS_DATA_DOCS"
_YES, _NO = frozenset({"1", "true", "yes", "on"}), frozenset({"", "0", "false", "no", "off"})


def data_docs_setting() -> bool:
    """Whether `UNION_STATS_DATA_DOCS` asks runs to keep their GX validation results in a file project beside the
    warehouse and render GX Data Docs there (off by default: half of a run's validation time, for pages the office
    does not read; see the README). Another value than yes/no (1/0, true/false, on/off) is a ValueError."""
    value = os.environ.get(DATA_DOCS_ENV, "").strip().lower()
    if value not in _YES | _NO:
        raise ValueError(f"{DATA_DOCS_ENV}={value!r}: say 1 (keep GX results and Data Docs) or 0 (do not)")
    return value in _YES


@dataclass
class ValidationContext:
    """What the warehouse already knows that a batch is checked against (empty for a file checked alone)."""

    # accepted indicator values of earlier periods: unit_code, period, indicator_code, value
    history: pl.DataFrame = field(default_factory=lambda: _empty_history())
    # per detail sheet kind: rows of the period's current submissions that are not in this batch
    other_records: dict[str, pl.DataFrame] = field(default_factory=dict)


def _empty_history() -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(
        schema={"unit_code": pl.String, "period": pl.String, "indicator_code": pl.String, "value": pl.Float64}
    )


@dataclass(frozen=True)
class RunContext:
    run_id: str
    period: str
    raw_dir: Path
    warehouse: Path
    started_at: datetime
    units: tuple[Unit, ...] = field(default=())  # every unit known for the period (reference and its own units file)
    expected_units: tuple[str, ...] = field(default=())  # the codes of the units that must submit
    data_docs: bool = False  # keep GX results and render Data Docs (UNION_STATS_DATA_DOCS)

    @classmethod
    def start(cls, period: str | None, raw_dir: Path, warehouse: Path) -> RunContext:
        """A new run of `period` (default: the latest period folder); a missing folder is a one-line error."""
        raw_dir, warehouse = Path(raw_dir), Path(warehouse)
        period = period or discover.latest_period(raw_dir)
        if period is None:
            raise FileNotFoundError(f"no period folder (like 2022 or 2022Q1) under {raw_dir}")
        if not (raw_dir / period).is_dir():
            raise FileNotFoundError(f"no folder for period {period}: {raw_dir / period}")
        started_at = datetime.now(UTC)
        return cls(
            run_id=f"{started_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
            period=period,
            raw_dir=raw_dir,
            warehouse=warehouse,
            started_at=started_at,
            units=reference.units_for(raw_dir / period),
            expected_units=tuple(unit.unit_code for unit in reference.expected_units(raw_dir / period)),
            data_docs=data_docs_setting(),
        )

    @property
    def period_dir(self) -> Path:
        return self.raw_dir / self.period

    @property
    def archive_dir(self) -> Path:
        return archive_dir_for(self.warehouse)

    @property
    def data_docs_dir(self) -> Path | None:
        """The GX project of the warehouse, when this run keeps its results there; else None (checked in memory)."""
        return data_docs_dir_for(self.warehouse) if self.data_docs else None

    @property
    def report_dir(self) -> Path:
        return reports_dir_for(self.warehouse) / self.period / self.run_id


class RunInterrupted(BaseException):
    """Ctrl-C during a run: it stops where it is, an unfinished load rolls back, and it is not recorded (a
    BaseException, like KeyboardInterrupt: nothing that handles errors takes it for one)."""

    stopping = False  # a Ctrl-C reached this process's guarded run (cli/interrupt.py): the run is ending

    @staticmethod
    def behind(error: BaseException) -> bool:
        """Whether `error` was raised while handling a Ctrl-C: a library that catches everything may answer it
        with an error of its own (Prefect's task engine, interrupted while it sets up a task run, raises
        `ValueError: Task run is not set`; pydantic, interrupted while it serialises Prefect's settings, raises a
        PydanticSerializationError that names the stop but does not chain it), which is still the operator's
        stop, not a failed run. Once a Ctrl-C has reached the run, every error ending it is the stop."""
        if RunInterrupted.stopping:
            return True
        seen: set[int] = set()
        current: BaseException | None = error
        while current is not None and id(current) not in seen:
            if isinstance(current, RunInterrupted):
                return True
            seen.add(id(current))
            current = current.__cause__ or current.__context__
        return False


@dataclass(frozen=True)
class RunSummary:
    """What a run did, as the command line prints it and the scheduled flow returns it."""

    run_id: str
    period: str
    files: int  # files in the period folder
    processed: int  # of which new (or held and now loadable), so parsed and recorded by this run
    accepted: int
    rejected: int
    held: int
    figures: list  # warehouse.FigureRow of the period, as the warehouse holds them after the run
    report_dir: Path | None = None
    rejected_files: tuple[tuple[str, str], ...] = ()  # (file name, the first error's message) of each rejected file

    @property
    def matched(self) -> int:
        """Figures that match the published report; 0 for a period without one (see `compared`)."""
        return sum(bool(figure.matches) for figure in self.figures)

    @property
    def compared(self) -> bool:
        """Whether the period has a published report its figures were compared with."""
        return any(figure.published is not None for figure in self.figures)

"""Great Expectations runner: a suite over a frame, its failures traced to submission, sheet and cell as findings.

GX validates pandas frames converted from Polars (it has no Polars support), one run per suite for all
submissions of a batch; `unexpected_index_column_names` with `result_format="COMPLETE"` gives every failing row.
"""

from __future__ import annotations

import operator
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from union_stats.findings import Finding
from union_stats.rules import fill

ROW_ID_COLUMNS = ["submission_id", "source_row"]
ABSENT = "absent"  # the cell of a column the sheet does not have
# rows GX validates at a time: pandas and GX hold several copies of what they check, so a province's batch is
# checked in parts (whole submissions each: every rule is about a row or a submission, never across them)
PART_ROWS = 100_000
INDEX = "expectation_index"  # added to each expectation's meta: where it stands in its suite
DATA_SOURCE, WHOLE_BATCH = "submissions", "whole_batch"  # the pandas data source, each suite's asset's definition


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value)


def preload() -> None:
    """Import Great Expectations now (seconds): a run does it while its Prefect server starts, so the two
    overlap instead of following one another."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations  # noqa: F401


RUNNER_USES = 100
_THREAD = threading.local()  # each thread's in-memory runner (a GX context is not shared between threads)
_BUILT = threading.local()  # each thread's configurations built during its current validation (see below)


def _configuration_built_once(build: Callable[[Any], Any]) -> property:
    """`Expectation.configuration`, built once per expectation object within `_configurations_built_once`.

    GX 1.x builds the configuration again (a pydantic `dict()` and a new ExpectationConfiguration) each time it is
    read, and reads it for each domain and success key of each expectation, about 20 times for each in a
    validation: a third of a warm check of one file (0.33 s to 0.22 s; the same findings). Within a validation of
    ours, on this thread, it is built once for each object and built again when any of the object's fields was
    set since (each field value is kept and compared by identity, so none can be freed and its address reused);
    the object is kept too, so its id is not reused. Outside, and on any other thread, it is GX's own."""

    def configuration(self: Any) -> Any:
        built = getattr(_BUILT, "table", None)
        if built is None:
            return build(self)
        fields = tuple(self.__dict__.values())
        kept = built.get(id(self))  # the object is kept with its entry: no other can have its id meanwhile
        if kept is None or len(kept[1]) != len(fields) or any(map(operator.is_not, kept[1], fields)):
            kept = built[id(self)] = (self, fields, build(self))
        return kept[2]

    configuration.built_once = True  # type: ignore[attr-defined]
    return property(configuration)


def _build_configurations_once() -> None:
    """Install `_configuration_built_once` on GX's Expectation (once per process; a GX whose `configuration` is no
    longer a property is left as it is)."""
    from great_expectations.expectations.expectation import Expectation

    current = Expectation.__dict__.get("configuration")
    if isinstance(current, property) and not getattr(current.fget, "built_once", False):
        Expectation.configuration = _configuration_built_once(current.fget)


@contextmanager
def _configurations_built_once() -> Iterator[None]:
    """Within: each expectation's configuration built once on this thread (see `_configuration_built_once`)."""
    _BUILT.table = {}
    try:
        yield
    finally:
        _BUILT.table = None


class SuiteRunner:
    """Runs suites with Great Expectations: in memory, or in a file-backed project that keeps every result
    and renders Data Docs for the analysts."""

    def __init__(self, docs_dir: Path | None = None) -> None:
        preload()
        import great_expectations as gx  # slow to import (seconds): only where validation runs
        from great_expectations.data_context.types.base import ProgressBarsConfig

        _build_configurations_once()
        self.gx = gx
        self.docs_dir = docs_dir
        if docs_dir is None:
            self.context = gx.get_context(mode="ephemeral")
        else:
            self.context = gx.get_context(mode="file", project_root_dir=str(docs_dir))
            _without_template_variables(Path(self.context.root_directory))
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        self._source = None
        self._definitions: dict[str, Any] = {}
        self._kept_before = set(self.context.validation_results_store.list_keys()) if docs_dir is not None else set()

    @classmethod
    def in_memory(cls) -> SuiteRunner:
        """This thread's in-memory runner, made once: a check of one file (the portal's, `validate`'s) then
        pays for neither a new ephemeral context nor its data source and assets (a fifth of a warm check). It is
        made again after `RUNNER_USES` batches, so that whatever GX keeps of each batch in a long-lived process (the
        portal's) stays bounded."""
        runner, uses = getattr(_THREAD, "runner", None), getattr(_THREAD, "uses", 0)
        if runner is None or uses >= RUNNER_USES:
            runner, uses = cls(), 0
        _THREAD.runner, _THREAD.uses = runner, uses + 1
        return runner

    def add_assets(self, names: Iterable[str]) -> None:
        """The data source with a whole-dataframe asset for each of these suites, made in one change: a file
        project rewrites its great_expectations.yml on every change of a data source, and keeps no dataframe asset
        there, so making them one by one rewrote it 23 times in every run (0.6 s of a run of 18 files). A runner
        that has its data source already adds any other asset when a suite first asks for it."""
        if self._source is not None:
            return
        assets = [
            {"name": name, "type": "dataframe", "batch_definitions": [{"name": WHOLE_BATCH, "partitioner": None}]}
            for name in dict.fromkeys(names)
        ]
        # add_or_update (not get): a data source read back from a file project is not bound to it
        self._source = self.context.data_sources.add_or_update_pandas(name=DATA_SOURCE, assets=assets)
        for asset in self._source.assets:  # get_asset binds the asset to its data source (made from a spec, it is not)
            self._definitions[asset.name] = self._source.get_asset(asset.name).get_batch_definition(WHOLE_BATCH)

    def _batch_definition(self, name: str) -> Any:
        """The whole-dataframe batch definition of a suite's asset, made once per runner."""
        if name not in self._definitions:
            if self._source is None:
                self.add_assets([name])
            else:
                known = name in self._source.get_asset_names()
                asset = self._source.get_asset(name) if known else self._source.add_dataframe_asset(name=name)
                definition = next((d for d in asset.batch_definitions if d.name == WHOLE_BATCH), None)
                self._definitions[name] = definition or asset.add_batch_definition_whole_dataframe(WHOLE_BATCH)
        return self._definitions[name]

    def run(self, suite_json: dict, frame: pl.DataFrame, parameters: dict) -> list[tuple[dict, list[dict]]]:
        """Each failed expectation's meta with the rows (index columns and values) it found unexpected."""
        if frame.height == 0:
            return []
        name = suite_json["name"]
        # GX returns results in an order of its own: each expectation carries its index in the suite
        suite_json = suite_json | {
            "expectations": [
                expectation | {"meta": expectation.get("meta", {}) | {INDEX: index}}
                for index, expectation in enumerate(suite_json["expectations"])
            ]
        }
        suite = self.gx.ExpectationSuite(
            name=name, expectations=suite_json["expectations"], meta=suite_json.get("meta")
        )
        definition = self._batch_definition(name)
        merged: dict[int, tuple[dict, list[dict]]] = {}
        for part in _parts(frame, PART_ROWS):
            with _configurations_built_once():
                failures = list(self._failures(definition, suite_json, suite, part, parameters))
            for position, meta, unexpected in failures:
                merged.setdefault(position, (meta, []))[1].extend(unexpected)
        return [merged[position] for position in sorted(merged)]

    def _failures(self, definition, suite_json: dict, suite, frame: pl.DataFrame, parameters: dict):
        """Each failed expectation's position in the suite, meta and unexpected rows, asking GX for no more than
        that: every expectation is checked for success alone (kept with counts where Data Docs are kept), and only
        those that failed are asked again for every unexpected row (half the time of asking all of them)."""
        name = suite_json["name"]
        dataframe = frame.to_pandas()
        first = {"expectation_parameters": parameters, "result_format": {"result_format": "BOOLEAN_ONLY"}}
        if self.docs_dir is None:
            result = definition.get_batch(batch_parameters={"dataframe": dataframe}).validate(suite, **first)
        else:
            # saves the suite too (GX 1.24 does it "to avoid freshness issues"): saving it first as well doubled that
            validation = self.context.validation_definitions.add_or_update(
                self.gx.ValidationDefinition(data=definition, suite=suite, name=name)
            )
            first["result_format"] = {"result_format": "SUMMARY", "unexpected_index_column_names": ROW_ID_COLUMNS}
            result = validation.run(batch_parameters={"dataframe": dataframe}, **first)
        failed = []
        for outcome in result.results:
            if outcome.success:
                continue
            _ran(outcome, name)
            failed.append(outcome.expectation_config.meta[INDEX])
        if not failed:
            return
        again = self.gx.ExpectationSuite(
            name=f"{name}__failed", expectations=[suite_json["expectations"][position] for position in failed]
        )
        complete = {"result_format": "COMPLETE", "unexpected_index_column_names": ROW_ID_COLUMNS}
        detail = definition.get_batch(batch_parameters={"dataframe": dataframe}).validate(
            again, expectation_parameters=parameters, result_format=complete
        )
        if len(detail.results) != len(failed):
            raise RuntimeError(f"suite {name}: {len(detail.results)} results for {len(failed)} failed expectations")
        for outcome in detail.results:
            _ran(outcome, name)
            meta = outcome.expectation_config.meta
            yield meta[INDEX], meta, outcome.result.get("unexpected_index_list") or []

    def finish(self) -> Path | None:
        """Render the Data Docs site; its index page, when results are kept."""
        if self.docs_dir is None:
            return None
        # only this runner's results are rendered (and the index): rendering every result ever kept made each
        # run slower than the one before
        new = set(self.context.validation_results_store.list_keys()) - self._kept_before
        if new:  # GX takes an empty list for "everything"
            self.context.build_data_docs(resource_identifiers=sorted(new, key=str))
        index = next(self.docs_dir.rglob("data_docs/local_site/index.html"), None)
        return index


def _without_template_variables(gx_dir: Path) -> None:
    """Remove a file project's `uncommitted/config_variables.yml` while it is GX's template (comments and the
    analytics instance id, analytics being off). GX reads that file again, through YAML, at each of the ~150
    settings it looks up in a run (0.1 s of a validation of 18 files); without it, a lookup reads the environment.
    A file someone filled with variables of their own stays."""
    variables = gx_dir / "uncommitted" / "config_variables.yml"
    try:
        lines = variables.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    if all(not line.strip() or line.lstrip().startswith("#") or line.startswith("instance_id:") for line in lines):
        variables.unlink(missing_ok=True)


def _parts(frame: pl.DataFrame, rows: int) -> list[pl.DataFrame]:
    """The frame's rows submission by submission (in order of first appearance, each submission's rows in frame
    order), in parts of about `rows` rows that never split a submission: the same order however many parts."""
    sizes = frame.group_by("submission_id", maintain_order=True).len().with_row_index("rank")
    part_of = sizes.with_columns(((pl.col("len").cum_sum() - pl.col("len")) // rows).alias("part"))
    grouped = frame.join(
        part_of.select("submission_id", "rank", "part"), on="submission_id", how="left", maintain_order="left"
    ).sort("rank", maintain_order=True)
    return [chunk.drop("rank", "part") for chunk in grouped.partition_by("part", maintain_order=True)]


def _ran(outcome: Any, suite: str) -> None:
    """An expectation that raised instead of judging the rows stops the check (the batch is then checked file by
    file, and a file whose check cannot run is rejected)."""
    problem = _raised(outcome.exception_info)
    if problem:
        raise RuntimeError(f"expectation {outcome.expectation_config.type} in suite {suite} could not run: {problem}")


def _raised(exception_info: Any) -> str | None:
    """The first exception message in a result's exception info (flat or keyed by metric)."""
    if not isinstance(exception_info, dict):
        return None
    if exception_info.get("raised_exception"):
        return exception_info.get("exception_message") or "unknown error"
    for nested in exception_info.values():
        message = _raised(nested)
        if message:
            return message
    return None


def findings_from_failures(
    failures: list[tuple[dict, list[dict]]],
    frame: pl.DataFrame,
    sheet_name: str,
    cell_for: Callable[[str, str | None, int], str | None],
    files: dict[str, str],
    extra: dict[str, str],
) -> list[Finding]:
    if not failures:
        return []
    # only the rows some expectation found unexpected are looked at (a batch of 10,000 files has millions)
    failing = pl.DataFrame(
        [(item["submission_id"], int(item["source_row"])) for _, unexpected in failures for item in unexpected],
        schema={"submission_id": frame.schema["submission_id"], "source_row": frame.schema["source_row"]},
        orient="row",
    ).unique()
    rows = {
        (row["submission_id"], row["source_row"]): row
        for row in frame.join(failing, on=["submission_id", "source_row"], how="semi").iter_rows(named=True)
    }
    findings = []
    for meta, unexpected in failures:
        seen = set()
        for item in unexpected:
            submission_id, source_row = item["submission_id"], int(item["source_row"])
            if (submission_id, source_row) in seen:
                continue
            seen.add((submission_id, source_row))
            row = rows.get((submission_id, source_row), {})
            checked = meta.get("cell_column") or next((name for name in item if name not in ROW_ID_COLUMNS), None)
            column = checked.split("__")[0] if checked else None  # a derived column points at its source cell
            value = row.get(column) if column else None
            cell = cell_for(submission_id, column, source_row)
            if cell == ABSENT:
                continue
            # message templates name row columns; a name the row lacks stays visible rather than failing
            placeholders = (
                {key: text(item_value) for key, item_value in row.items()}
                | extra
                | {
                    "sheet": sheet_name,
                    "cell": cell or f"第{source_row}行",
                    "row": source_row,
                    "value": text(value),
                    "file_name": files.get(submission_id, ""),
                }
            )
            findings.append(
                Finding(
                    submission_id=submission_id,
                    file_name=files.get(submission_id, ""),
                    severity=meta["severity"],
                    rule=meta["rule"],
                    sheet=sheet_name,
                    cell=cell,
                    value=None if value is None else text(value),
                    message=fill(meta["message_zh"], **placeholders),
                )
            )
    return findings

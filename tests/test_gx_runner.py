"""The Great Expectations runner: the same findings however a batch is cut into parts, rows traced through GX's
own order of results, and Data Docs that render only a run's own results."""

from __future__ import annotations

from pathlib import Path

import pytest
from defects import corrupt

from union_stats import discover, parse, reference, validate
from union_stats.paths import RAW_DIR
from union_stats.validate import gx_runner, rule_columns

DEFECTS = ("count_decimal", "value_negative", "credit_code_check_character", "duplicate_indicator", "header_renamed")


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> parse.ParsedBatch:
    """The shipped 18 and a handful of defective copies, parsed once."""
    folder = tmp_path_factory.mktemp("defects")
    paths = sorted((RAW_DIR / "2022").glob("*.xlsx"))
    for index, name in enumerate(DEFECTS):
        path, _ = corrupt(name, folder / str(index))
        paths.append(path)
    files = list({item.submission_id: item for item in map(discover.receive, paths)}.values())
    return parse.parse_batch(files, "2022")


def _findings(batch: parse.ParsedBatch) -> list[str]:
    validated = validate.validate_batch(batch, reference.units_for(RAW_DIR / "2022"))
    return sorted(map(repr, validated.findings))


def test_a_batch_checked_in_small_parts_gives_the_same_findings(
    batch: parse.ParsedBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _findings(batch)
    assert {"values.integer", "codes.credit_code_check", "structure.duplicate_indicator"} <= {
        line.split("rule='")[1].split("'")[0] for line in whole
    }
    # parts of a few submissions, never splitting one (the shipped 18 alone: the indicators in 3 parts, the cases
    # in 2, the beneficiaries in 15), and a submission larger than a part (one has 1,263 case rows) kept whole
    monkeypatch.setattr(gx_runner, "PART_ROWS", 200)
    monkeypatch.setattr(rule_columns, "DERIVED_PART_SUBMISSIONS", 3)
    assert _findings(batch) == whole


def test_parts_keep_each_submission_whole_and_every_row_once(batch: parse.ParsedBatch) -> None:
    frame = batch.sheets["indicator_values"]
    parts = gx_runner._parts(frame, 100)
    assert len(parts) > 1
    assert sum(part.height for part in parts) == frame.height
    owners = [set(part["submission_id"]) for part in parts]
    assert all(not (first & second) for index, first in enumerate(owners) for second in owners[index + 1 :])


def test_data_docs_render_only_a_run_s_own_results(batch: parse.ParsedBatch, tmp_path: Path) -> None:
    units = reference.units_for(RAW_DIR / "2022")
    found = validate.validate_batch(batch, units).findings  # in memory, as a run without UNION_STATS_DATA_DOCS
    most = max(set(batch.submissions["submission_id"]), key=lambda sid: sum(f.submission_id == sid for f in found))
    one = batch.only(most)
    first = validate.validate_batch(one, units, docs_dir=tmp_path)
    assert first.data_docs is not None and first.data_docs.is_file()
    # kept in a file project or not, a file's findings are the same
    assert sorted(map(repr, first.findings)) == sorted(repr(f) for f in found if f.submission_id == most) != []
    site = first.data_docs.parent
    pages = {path: path.stat().st_mtime_ns for path in (site / "validations").rglob("*.html")}
    assert pages

    validate.validate_batch(one, units, docs_dir=tmp_path)

    after = {path: path.stat().st_mtime_ns for path in (site / "validations").rglob("*.html")}
    assert len(after) == 2 * len(pages)  # the second run's pages are added beside the first's
    assert all(after[path] == mtime for path, mtime in pages.items())  # and the first's are not rendered again
    assert not list(tmp_path.rglob("config_variables.yml"))  # GX's template, re-read at each settings lookup


def test_a_config_variables_file_is_removed_only_while_it_is_gx_s_template(tmp_path: Path) -> None:
    variables = tmp_path / "uncommitted" / "config_variables.yml"
    variables.parent.mkdir()
    variables.write_text("# This config file supports variable substitution.\n\ninstance_id: 1b2c\n", encoding="utf-8")
    gx_runner._without_template_variables(tmp_path)
    assert not variables.exists()

    variables.write_text("# ours\ninstance_id: 1b2c\nwarehouse_password: s3cret\n", encoding="utf-8")
    gx_runner._without_template_variables(tmp_path)
    assert variables.read_text(encoding="utf-8").endswith("s3cret\n")
    gx_runner._without_template_variables(tmp_path / "elsewhere")  # no file: nothing to do


def test_an_expectation_that_cannot_run_on_one_file_rejects_that_file_only(
    batch: parse.ParsedBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GX reports an expectation that raised as a result with exception info: the batch is then checked file by
    file, the file it cannot check is rejected (structure.check_failed) and the others are decided as usual (six
    shipped files and two defective ones: each file checked alone costs what the whole batch does)."""
    shipped = [discover.receive(path).submission_id for path in sorted((RAW_DIR / "2022").glob("*.xlsx"))]
    defective = [submission for submission in batch.submissions["submission_id"] if submission not in shipped]
    batch = batch.only(*shipped[:6], *defective[:2])
    broken = shipped[3]
    real = gx_runner.SuiteRunner.run

    def run(self, suite_json: dict, frame, parameters: dict):
        if suite_json["name"] == "indicator_values" and broken in frame["submission_id"].to_list():
            # a regex the engine cannot compile: the expectation raises inside GX instead of judging rows
            suite_json = suite_json | {
                "expectations": [
                    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "value", "regex": "("}}
                    | {"meta": suite_json["expectations"][0]["meta"]}
                ]
            }
        return real(self, suite_json, frame, parameters)

    monkeypatch.setattr(gx_runner.SuiteRunner, "run", run)
    validated = validate.validate_batch(batch, reference.units_for(RAW_DIR / "2022"))
    status = dict(validated.outcomes.select("submission_id", "status").iter_rows())
    assert len(status) == 8 and status[broken] == "rejected"
    assert [f.rule for f in validated.findings if f.submission_id == broken][-1] == "structure.check_failed"
    assert [status[submission] for submission in shipped[:6] if submission != broken] == ["accepted"] * 5
    alone = validate.validate_batch(batch.only(*defective[:2]), reference.units_for(RAW_DIR / "2022"))
    assert [status[submission] for submission in defective[:2]] == alone.outcomes["status"].to_list()


def test_a_thread_keeps_its_in_memory_runner_for_a_while_and_then_makes_a_new_one(monkeypatch) -> None:
    """A check of one file (the portal's, `validate`'s) reuses its thread's GX context rather than making one per
    check, and makes it again every RUNNER_USES batches; another thread has its own (a context is not shared)."""
    import threading

    monkeypatch.setattr(gx_runner, "RUNNER_USES", 3)
    monkeypatch.setattr(gx_runner, "_THREAD", threading.local())
    made = [gx_runner.SuiteRunner.in_memory() for _ in range(4)]
    assert made[0] is made[1] is made[2]
    assert made[3] is not made[0]
    other: list[gx_runner.SuiteRunner] = []
    thread = threading.Thread(target=lambda: other.append(gx_runner.SuiteRunner.in_memory()))
    thread.start()
    thread.join()
    assert other[0] is not made[3]


def test_a_suite_the_runner_was_not_made_for_gets_its_asset_when_it_first_runs() -> None:
    """The in-memory runner lives on (the portal's, `validate`'s): a later batch may bring a suite its first batch
    did not have. That suite's asset is made when it first runs, with the findings it would have had up front, and
    used again after."""
    import polars as pl

    frame = pl.DataFrame({"submission_id": ["a", "a", "b"], "source_row": [2, 3, 2], "x": [1, -1, 5]})
    suite = {
        "name": "late_suite",
        "expectations": [
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "min_value": 0}, "meta": {}}
        ],
    }
    late, up_front = gx_runner.SuiteRunner(), gx_runner.SuiteRunner()
    late.add_assets(["an_earlier_suite"])
    up_front.add_assets(["an_earlier_suite", "late_suite"])

    found = late.run(suite, frame, {})

    assert found == up_front.run(suite, frame, {})
    [(meta, unexpected)] = found
    assert meta[gx_runner.INDEX] == 0
    assert [(row["submission_id"], row["source_row"]) for row in unexpected] == [("a", 3)]
    assert late.run(suite, frame, {}) == found  # from the definition made the first time
    assert sorted(late._source.get_asset_names()) == ["an_earlier_suite", "late_suite"]


def test_within_a_validation_a_configuration_is_built_once_and_again_after_a_field_is_set() -> None:
    """The runner's shortcut around GX reading an expectation's configuration ~20 times in a validation: one
    build per object within a validation of ours, a new one once a field changed, and GX's own outside."""
    gx_runner.SuiteRunner.in_memory()  # installs it
    import great_expectations as gx

    expectation = gx.expectations.ExpectColumnValuesToNotBeNull(column="a", meta={"rule": "r"})
    assert expectation.configuration is not expectation.configuration  # GX's own: built at every read
    with gx_runner._configurations_built_once():
        first = expectation.configuration
        assert expectation.configuration is first
        expectation.column = "b"
        assert expectation.configuration.kwargs["column"] == "b"
        assert expectation.configuration is expectation.configuration
    assert expectation.configuration is not expectation.configuration
    assert expectation.configuration.kwargs["column"] == "b"

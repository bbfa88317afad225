"""Shared fixtures: one Prefect test harness per session, and the shipped sample data; and the order in which
`pytest -n auto` hands the tests to its workers."""

from __future__ import annotations

import fcntl
import gc
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from union_stats import GC_THRESHOLDS
from union_stats.paths import RAW_DIR

# the garbage collector's thresholds the command sets for itself (union_stats.GC_THRESHOLDS), in each worker too, before the
# test modules are imported: a tenth of a worker's time went to collections that found next to nothing
gc.set_threshold(*GC_THRESHOLDS)

# scrypt's cost for the accounts the tests make: a sixteenth of the portal's (SCRYPT_N 2**14, 16 MiB and ~60 ms a
# hash), so that some 200 logins and new accounts take one second instead of twelve. The same code runs; a stored
# hash carries its own cost, so logins check it at the cost it was made with. A test that checks the portal's own
# cost asks for `portal_password_cost`; portals started in a process of their own use the portal's cost.
TEST_SCRYPT_N = 2**10


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[int]:
    """Yields the portal's own SCRYPT_N while the tests' accounts are hashed at TEST_SCRYPT_N."""
    from union_stats.portal import accounts

    portal_cost = accounts.SCRYPT_N
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accounts, "SCRYPT_N", TEST_SCRYPT_N)
        yield portal_cost


@pytest.fixture
def portal_password_cost(cheap_password_hashes: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """The portal's own scrypt cost, for this test's hashes."""
    from union_stats.portal import accounts

    monkeypatch.setattr(accounts, "SCRYPT_N", cheap_password_hashes)
    return cheap_password_hashes


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect API for the whole session (starting one takes seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    from flows.start import without_heartbeats

    # a busy machine (CI, or a test run beside other work) can take longer than Prefect's 30 s to start it; a
    # temporary server, like a command's own: its flow runs send no heartbeats (flows/start.py)
    with prefect_test_harness(server_startup_timeout=180), without_heartbeats(temporary_server=True):
        yield


@pytest.fixture
def raw_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped raw folder's 2022 submissions, safe to corrupt."""
    target = tmp_path / "raw"
    shutil.copytree(RAW_DIR / "2022", target / "2022")
    return target


@pytest.fixture(scope="session")
def built_2022(prefect_harness, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One flow run of the shipped 2022 sample for the whole test run, shared by every worker of `pytest -n`:
    a folder holding `raw/2022` (the files it read) and `wh/` (the warehouse `union_stats.duckdb` and what the run
    wrote beside it). Built by the first worker to ask, under a lock; never written to afterwards: take
    `sample_2022_copy` for a folder of your own."""
    from flows.ingest import ingest_period

    shared = tmp_path_factory.getbasetemp()
    if shared.name.startswith("popen-gw"):  # a worker of pytest -n: its base is inside the run's shared one
        shared = shared.parent
    root = shared / "built-2022"
    with open(shared / "built-2022.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = root / "summary.json"
        if not done.is_file():
            if root.exists():
                shutil.rmtree(root)  # a build that did not finish
            shutil.copytree(RAW_DIR / "2022", root / "raw" / "2022")
            summary = ingest_period(period="2022", raw_dir=root / "raw", warehouse=root / "wh" / "union_stats.duckdb")
            assert (summary.accepted, summary.rejected, summary.matched) == (18, 0, 66)
            done.write_text(json.dumps({"accepted": summary.accepted, "rejected": summary.rejected}))
    return root


@pytest.fixture(scope="module")
def sample_2022_copy(built_2022: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A module's own copy of `built_2022` (the raw files and the warehouse folder): the warehouse is
    `wh/union_stats.duckdb`, the files it read `raw/2022`."""
    target = tmp_path_factory.mktemp("sample-2022") / "copy"
    shutil.copytree(built_2022, target)
    return target


@pytest.fixture
def loaded_2022(built_2022: Path, tmp_path: Path) -> Path:
    """A test's own copy of `built_2022`, for a test whose story starts after the 2022 sample was loaded (a rerun,
    a resubmission, a close): `raw/2022` and the warehouse `wh/union_stats.duckdb`, as one run left them."""
    target = tmp_path / "loaded-2022"
    shutil.copytree(built_2022, target)
    return target


@pytest.fixture
def prefect_api_env(prefect_harness, tmp_path: Path) -> dict[str, str]:
    """The environment for a `union-stats run` in a fresh process that reports to this session's Prefect API
    instead of starting a temporary server of its own (for tests about something else than that server)."""
    from prefect.settings import PREFECT_API_URL

    home = tmp_path / "prefect-home"
    home.mkdir(exist_ok=True)
    return os.environ | {"PREFECT_API_URL": str(PREFECT_API_URL.value()), "PREFECT_HOME": str(home)}


@pytest.fixture
def migrated_prefect_home(prefect_harness, tmp_path: Path) -> Path:
    """A Prefect home whose database Prefect has made already, for a `union-stats run` in a fresh process that
    starts its own temporary server but whose subject is not a first run (Ctrl-C, Dask): a copy of the session
    server's database, through SQLite's backup. On a new home the server first spends about 5 s making it."""
    import sqlite3
    from contextlib import closing

    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    database = PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split(":///", 1)[1]  # sqlite+aiosqlite:///path
    home = tmp_path / "prefect-home-migrated"
    home.mkdir()
    with (
        closing(sqlite3.connect(database)) as source,
        closing(sqlite3.connect(home / "prefect.db")) as copy,
    ):
        source.backup(copy)
    return home


@pytest.fixture(scope="session")
def shipped_2022() -> list[Path]:
    files = sorted((RAW_DIR / "2022").glob("*.xlsx"))
    assert len(files) == 18, "the 18 sample workbooks of 2022 are shipped in data/raw/2022"
    return files


# Modules whose tests share an expensive module- or session-scoped fixture (a flow run, a LibreOffice or Chromium
# session, a parsed batch): under `pytest -n` (the scheduler below) each goes to one worker as a whole, so the
# fixture is built once instead of once on each worker its tests happen to land on. (Not by xdist_group marks and
# `--dist loadgroup`: xdist 3.8 renames the node id for those, which pytest 9 no longer reads, so they do nothing.)
GROUPED_MODULES = frozenset(
    {
        "test_dask",
        "test_explain",
        "test_export",
        "test_figures_completeness",
        "test_gx_runner",
        "test_hostile",
        "test_inspect",
        "test_interrupt",
        "test_model_docs",
        "test_no_report_period",
        "test_other_programs",
        "test_parquet",
        "test_portal_load",
        "test_portal_security",
        "test_provenance",
        "test_quarterly",
        "test_report_page",
        "test_sql_examples",
        "test_sql_injection",
        "test_sql_readonly",
        "test_status_answers",
        "test_transform",
        "test_validation_rules",
    }
)

# Seconds a test (by module and function, parameters left out) took on two workers, setup included (measured
# 2026-12-04 with --durations): only the ones over about 4 s. Everything else counts as 0.5 s. Only the order
# depends on these figures: the work that takes longest is handed out first, so that no long test starts last and
# leaves the other worker idle.
SLOW_TESTS = {
    "test_bench::test_bench_measures_three_units_and_writes_json": 57,
    "test_portal_browser::test_clerk_submits_and_office_runs": 27,
    "test_wheel::test_wheel_installed_outside_the_checkout_runs_and_validates": 22,
    "test_prefect_home::test_two_runs_against_two_warehouses_at_once_both_succeed": 13,
    "test_dask::test_union_stats_run_on_a_dask_cluster_gives_the_default_runner_s_figures_and_findings": 19,
    "test_interrupt::test_ctrl_c_ends_the_run_within_2_s_with_130_and_one_line": 18,
    "test_year_from_quarters::test_a_year_from_its_quarters": 17,
    "test_report_page::test_report_page_in_chromium": 15,
    "test_hostile::test_a_run_over_samples_and_corpus_reproduces_the_report_and_rejects_each_hostile_file": 15,
    "test_properties::test_any_batch_of_workbooks_ends_in_an_outcome": 14,
    "test_run_progress::test_a_first_run_names_each_step_from_its_first_second": 13,
    "test_validation_rules::test_defect_is_found_at_its_cell_with_a_clear_message": 10,
    "test_crash_safety::test_a_run_killed_while_it_writes_leaves_a_warehouse_the_next_run_completes": 10,
    "test_personal_data::test_a_run_leaves_no_personal_data": 9,
    "test_other_programs::test_a_label_defect_keeps_its_finding_in_another_programs_file": 9,
    "test_no_report_period::test_district_figures_keep_values_without_a_report": 9,
    "test_portal_load::test_18_units_upload_5_files_each_at_once": 8,
    "test_quarterly::test_every_quarter_loads_clean": 8,
    "test_hostile::test_the_largest_file_the_limits_let_through_needs_under_1_gb": 8,
    "test_hostile::test_each_file_is_rejected_with_its_own_rule": 7,
    "test_validate_cli::test_corrupted_file_fails_and_names_the_cell": 7,
    "test_crash_safety::test_two_runs_started_at_once_leave_one_sound_warehouse": 7,
    "test_sql_examples::test_year_on_year_change_against_2022": 6,
    "test_portal::test_a_large_workbook_holds_nobody": 6,
    "test_gx_runner::test_a_batch_checked_in_small_parts_gives_the_same_findings": 6,
    "test_provenance::test_the_manifest_is_honoured": 5,
    "test_run_paths::test_a_scheduled_close_and_a_command_line_run_leave_the_same_warehouse": 5,
    "test_personal_data::test_a_remark_with_an_id_and_a_listed_name_is_stored_masked_and_the_scan_finds_what_is_left": 5,
    "test_export::test_xlsx_has_a_sheet_per_relation_and_an_index": 5,
    "test_portal::test_an_upload_and_a_placed_file_give_the_same_findings_and_rows": 5,
    "test_parquet::test_run_with_the_setting_publishes_after_the_run": 4,
    "test_explain::test_every_figure_adds_up_to_its_value": 4,
    "test_portal_security::test_every_route_is_in_the_matrix": 4,
}


def _module(item: pytest.Item) -> str:
    return item.path.stem


def _function(item: pytest.Item) -> str:
    return f"{_module(item)}::{getattr(item, 'originalname', None) or item.name.partition('[')[0]}"


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """xdist's scope scheduler, a scope being a whole module for GROUPED_MODULES and a single test otherwise, handed
    out in collection order (the longest work first, see below) instead of by number of tests."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if Path(path).stem in GROUPED_MODULES else nodeid

    config.option.loadscopereorder = False
    return ModuleGroups(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest work first: each grouped module (by the sum of its tests) and each other test (by its own time; a
    parametrised test's time shared among its cases), the order within a module kept. The same order on every
    worker (xdist requires it); only the order changes, never which tests run."""
    cases: dict[str, int] = {}
    for item in items:
        cases[_function(item)] = cases.get(_function(item), 0) + 1
    scope_cost: dict[str, float] = {}
    scope_first: dict[str, int] = {}
    scopes = []
    for index, item in enumerate(items):
        function = _function(item)
        cost = SLOW_TESTS[function] / cases[function] if function in SLOW_TESTS else 0.5
        if _module(item) in GROUPED_MODULES:
            scope = _module(item)
        else:
            scope = item.nodeid
        scope_cost[scope] = scope_cost.get(scope, 0.0) + cost
        scope_first.setdefault(scope, index)
        scopes.append(scope)
    order = sorted(range(len(items)), key=lambda i: (-scope_cost[scopes[i]], scope_first[scopes[i]], i))
    items[:] = [items[i] for i in order]


def pytest_terminal_summary(terminalreporter) -> None:
    """The benchmark lines tests record (`record_property("benchmark", line)`), printed after the run: a test's
    own output is not shown by the workers of `pytest -n auto`, its report's properties are."""
    lines = [
        value
        for report in terminalreporter.stats.get("passed", [])
        for name, value in getattr(report, "user_properties", ())
        if name == "benchmark"
    ]
    if lines:
        terminalreporter.section("benchmarks")
        for line in lines:
            terminalreporter.write_line(line)

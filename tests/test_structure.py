"""The package's shape: no import cycle, and one module opens the warehouse file."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import union_stats

PACKAGE = Path(union_stats.__file__).parent
FLOWS = PACKAGE.parent.parent / "flows"


def _modules() -> dict[str, Path]:
    found = {}
    for root, prefix in ((PACKAGE, "union_stats"), (FLOWS, "flows")):
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join((prefix, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Every project module `path` imports, at module level or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets.add(base)
            targets |= {f"{base}.{alias.name}" for alias in node.names}
    return {target for target in targets if target in known and target != name}


def test_no_import_cycle() -> None:
    modules = _modules()
    graph = {name: _imports(path, name, set(modules)) for name, path in modules.items()}
    # a package's __init__ importing its own submodules is how a package exposes them, not a cycle
    for name in graph:
        graph[name] = {target for target in graph[name] if not (name.startswith(target + ".") and "." in name)}
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None


def test_only_the_warehouse_module_opens_the_warehouse() -> None:
    opening = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "connect"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "duckdb"
            ):
                in_memory = node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == ":memory:"
                if not in_memory:
                    opening.append(name)
    assert opening == ["union_stats.warehouse"]


def test_the_readme_layout_names_every_module() -> None:
    """README's Layout matches the tree: every module of the package, of its command line and of flows/, and every
    package, is named there (a new module gets its line)."""
    readme = (PACKAGE.parent.parent / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout") :]
    layout = layout[: layout.index("```", layout.index("```") + 3)]
    modules = [*PACKAGE.glob("*.py"), *(PACKAGE / "cli").glob("*.py"), *(PACKAGE / "publish").glob("*.py")]
    modules += FLOWS.glob("*.py")
    unnamed = [
        path.name
        for path in modules
        if path.name not in ("__init__.py", "__main__.py", *()) and path.name not in layout
    ]
    unnamed += [
        f"{path.name}/"
        for path in PACKAGE.iterdir()
        if path.is_dir() and not path.name.startswith(("_", ".")) and f"{path.name}/" not in layout
    ]
    assert unnamed == []


def _reach(start: set[str]) -> set[str]:
    """The project modules `start` imports, directly or through others (at module level or in a function)."""
    modules = _modules()
    graph = {name: _imports(path, name, set(modules)) for name, path in modules.items()}
    seen, todo = set(), list(start)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += graph.get(name, set())
    return seen


def test_the_validate_stage_does_not_reach_the_warehouse_module() -> None:
    """The self-check (`validate`, the portal's check) and the validate stage need no warehouse: what a batch is
    checked against comes in a `runs.ValidationContext`, the reference tables from `ref_tables`."""
    stage = {name for name in _modules() if name.startswith("union_stats.validate")} | {"union_stats.checking"}
    reached = _reach(stage)
    assert "union_stats.validate.rule_columns" in reached  # the walk follows imports
    assert "union_stats.warehouse" not in reached


# a dictionary with these keys is a table of words for the codes of labels.toml's groups
LABEL_KEY_SETS = {
    "outcomes": {"accepted", "rejected"},
    "severities": {"error", "warning", "info"},
    "unit_kinds": {"town", "district_office"},
    "reporting_scopes": {"all", "towns"},
}


def test_each_label_and_the_accepted_statuses_have_one_home() -> None:
    """Outcome, severity, unit-kind and reporting-scope words, and which outcomes count, are said in
    reference/labels.toml only: no module writes a dictionary of them or a list of the accepted statuses, and no
    SQL statement spells the accepted statuses out (it asks ref.outcomes)."""
    said_again = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            strings = None
            if isinstance(node, ast.Dict):
                strings = {key.value for key in node.keys if isinstance(key, ast.Constant)}
            elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                strings = {item.value for item in node.elts if isinstance(item, ast.Constant)}
                if {"accepted", "accepted_with_warnings"} <= strings:
                    said_again.append(f"{name}:{node.lineno} lists the accepted statuses")
                continue
            if strings is None:
                continue
            for group, keys in LABEL_KEY_SETS.items():
                if keys <= strings:
                    said_again.append(f"{name}:{node.lineno} words the {group}")
    sql = PACKAGE.parent.parent / "sql"
    for path in sql.rglob("*.sql"):
        text = "\n".join(line.split("--")[0] for line in path.read_text(encoding="utf-8").splitlines())
        if "'accepted_with_warnings'" in text or "'accepted'" in text:
            said_again.append(f"{path.relative_to(sql)} spells the accepted statuses out")
    assert said_again == []


def test_the_labels_file_has_every_code_the_project_uses() -> None:
    from union_stats import labels, reference

    assert labels.ACCEPTED == ("accepted", "accepted_with_warnings")
    assert set(labels.outcomes()) == {"accepted", "accepted_with_warnings", "rejected", "held", "superseded", "missing"}
    assert set(labels.severities()) == {"error", "warning", "info"}
    assert {unit.kind for unit in reference.reference_units()} == set(labels.unit_kinds())
    assert {indicator.reported_by for indicator in reference.indicators()} <= set(labels.reporting_scopes())
    assert {row["reported_by"] for row in reference.reporting_groups()} == set(labels.reporting_scopes())
    for form in ("en", "zh", "report_zh", "portal_zh", "page_zh", "audit_zh", "loaded_zh", "colour", "fill"):
        assert set(labels.outcomes(form)) == set(labels.outcomes()), form


def test_the_bench_and_the_sample_generator_stand_apart_from_the_run_time_code() -> None:
    """devtools/ (bench, sample) is imported by its two commands only; a run, the portal or a check never loads it."""
    importing = sorted(
        name
        for name, path in _modules().items()
        if not name.startswith("union_stats.devtools")
        and any(target.startswith("union_stats.devtools") for target in _imports(path, name, set(_modules())))
    )
    assert importing == ["union_stats.cli.serve", "union_stats.cli.workbooks"]


def _calls(path: Path) -> set[str]:
    """The `module.function` calls a file makes (`stages.parse_files`, `parse.parse_batch`)."""
    return {
        f"{node.func.value.id}.{node.func.attr}"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
    }


def test_a_run_and_the_self_check_share_the_checking_stages() -> None:
    """The self-check (validate, the portal's check) and a run parse, validate and report through the same
    `stages` functions; neither calls the parse or validate module's batch functions itself."""
    shared = {"stages.parse_files", "stages.validate_files", "stages.write_reports"}
    own = {"parse.parse_batch", "validate.validate_batch", "quality_report.write_quality_reports"}
    modules = _modules()
    for name in ("union_stats.pipeline", "union_stats.checking"):
        calls = _calls(modules[name])
        assert shared <= calls, name
        assert not (own & calls), name
    callers = sorted(name for name, path in modules.items() if own & _calls(path))
    assert callers == ["union_stats.stages"]

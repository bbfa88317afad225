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

"""The package's shape: imports point one way (no cycles between modules), nothing imports the
CLI, and the runtime never imports torch when it is imported.

The import graph is read from the source with :mod:`ast`: every ``import`` counts, also those
inside functions (a lazy import still ties two modules together), except under
``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rtstyle", "export")
TORCH_SIDE = "rtstyle.training"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (n for child in node.orelse for n in _imports(ast.Module(body=[child], type_ignores=[])))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The project's modules one import statement of ``module`` names."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from the module's package, up level - 1
            package = module.split(".") if is_package else module.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, *([base] if base else [])])
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
    found = set()
    for name in names:
        while name and name not in known:  # `import a.b.c` of a module in a package we know
            name = name.rpartition(".")[0]
        if name:
            found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """module → the project modules it imports (anywhere in its body)."""
    modules = _modules()
    known = set(modules)
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        graph[name] = {t for node in _imports(tree) for t in _targets(node, name, is_package, known)} - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_reads_every_kind_of_import() -> None:
    graph = import_graph()
    assert "rtstyle.training" in graph["rtstyle.cli"]  # lazy, inside a function
    assert "rtstyle.batch.plan" in graph["rtstyle.batch.cluster"]  # from a package's module, over several lines
    assert "rtstyle.training.recipes" in graph["export.zoo"]


def test_imports_for_type_checkers_only_do_not_count() -> None:
    tree = ast.parse("if TYPE_CHECKING:\n    import a\nelse:\n    import b\ndef f():\n    import c\n")
    assert [alias.name for node in _imports(tree) for alias in node.names] == ["b", "c"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" ↔ ".join(c) for c in found)


def test_only_the_entry_point_imports_the_cli() -> None:
    importers = sorted(m for m, targets in import_graph().items() if "rtstyle.cli" in targets)
    assert importers == ["rtstyle.__main__"]


def test_imports_point_from_the_torch_side_and_the_tools_to_the_runtime_never_back() -> None:
    graph = import_graph()
    for module, targets in graph.items():
        if module.startswith("rtstyle") and not module.startswith(TORCH_SIDE + "."):
            torch_side = sorted(t for t in targets if t.startswith(TORCH_SIDE + "."))
            assert not torch_side, f"{module} imports {torch_side}: the runtime goes through {TORCH_SIDE} alone"
        if module.startswith("rtstyle"):
            assert not any(t.startswith("export") for t in targets), f"{module} imports the maintainers' export/"
        if module.startswith(TORCH_SIDE):
            assert not any(t.startswith(("rtstyle.serve", "rtstyle.batch")) for t in targets), module


def _runtime_modules() -> list[str]:
    return sorted(m for m in _modules() if m.startswith("rtstyle") and not m.startswith(TORCH_SIDE + ".")
                  and m != "rtstyle.__main__")  # that one runs the command line


@pytest.mark.parametrize("extras", [False, True], ids=["core", "with-extras"])
def test_the_runtime_never_imports_torch_when_imported(extras: bool) -> None:
    """Every runtime module (the torch side's front door included), imported in a fresh interpreter."""
    optional = ("rtstyle.serve", "rtstyle.batch.cluster", "rtstyle.batch.embedded", "rtstyle.webcam")
    modules = [m for m in _runtime_modules() if extras or not m.startswith(optional)]
    if extras:
        for name in ("fastapi", "aiortc"):
            pytest.importorskip(name)
    script = ("import importlib, sys\n"
              f"for name in {modules!r}:\n"
              "    try:\n"
              "        importlib.import_module(name)\n"
              "    except ModuleNotFoundError as exc:\n"
              "        if exc.name.split('.')[0] in ('torch', 'rtstyle', 'export'):\n"
              "            raise\n"
              "    if 'torch' in sys.modules:\n"
              "        sys.exit(f'{name} imported torch')\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr or done.stdout

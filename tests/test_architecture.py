"""The shape of the package, checked: layers point down, no import cycles, every room named.

docs/ARCHITECTURE.md describes these layers; this test is what keeps the description true.
Imports are read with ``ast`` (nothing is imported), including imports inside functions:
a lazy import is still a dependency, it only moves the cost.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "modelreg"

#: Top layer first. A module may import its own layer or any layer below it, never above.
#: Within a layer, packages may import each other only without a cycle (checked below).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli", "__main__"),
    ("commands",),
    ("checks", "scaffold"),
    ("render",),
    ("gitops",),
    ("onnx", "git", "storage"),
    ("registry", "schemas", "fastschema", "yamlload", "reporters"),
    ("treefs", "hashing", "fileio", "rules", "findings", "errors", "config", "types", "escape"),
)

#: What may live at the top of src/modelreg: the entry, errors, findings and their output,
#: loading and schema validation, the storage layer, small shared utilities.
TOP_LEVEL_MODULES = frozenset(
    {"__init__", "__main__", "cli", "errors", "findings", "reporters", "rules"}
    | {"registry", "schemas", "fastschema", "yamlload", "storage"}
    | {"treefs", "hashing", "fileio", "config", "types", "escape"}
)

#: Known upward imports, each with the reason it is still there. Empty is the goal.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _unit(module: str) -> str:
    """The layer unit of a module: its subpackage, or the top-level module itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(unit: str) -> int:
    for depth, units in enumerate(LAYERS):
        if unit in units:
            return depth
    raise AssertionError(f"src/modelreg/{unit} is in no layer of {__file__}::LAYERS")


def _resolve(name: str) -> str | None:
    """``name`` if it is a modelreg module or package, else its parent (``from m import f``)."""
    base = SRC.parent / Path(*name.split("."))
    if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
        return name
    parent = name.rpartition(".")[0]
    return parent if parent.startswith("modelreg") else None


def _imports(tree: ast.AST, *, runtime_only: bool) -> Iterator[str]:
    """Every modelreg module ``tree`` imports; ``runtime_only``: module level, not under
    ``if TYPE_CHECKING`` and not inside functions (what runs when the module is imported)."""
    nodes: list[ast.AST] = [tree]
    while nodes:
        node = nodes.pop()
        for child in ast.iter_child_nodes(node):
            if runtime_only and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if (
                runtime_only
                and isinstance(child, ast.If)
                and "TYPE_CHECKING" in ast.unparse(child.test)
            ):
                nodes.extend(child.orelse)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("modelreg"):
                        yield alias.name
            elif (
                isinstance(child, ast.ImportFrom)
                and child.level == 0
                and (child.module or "").startswith("modelreg")
            ):
                for alias in child.names:
                    found = _resolve(f"{child.module}.{alias.name}")
                    if found:
                        yield found
            nodes.append(child)


def _graph(*, runtime_only: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        name = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = {t for t in _imports(tree, runtime_only=runtime_only) if t != name}
    return graph


def test_every_import_points_down_or_sideways() -> None:
    upward = []
    for source, targets in _graph(runtime_only=False).items():
        for target in sorted(targets):
            if target == "modelreg":  # the package itself: __version__
                continue
            a, b = _unit(source), _unit(target)
            if a != b and _layer(b) < _layer(a) and (a, b) not in ALLOWED_UPWARD:
                upward.append(f"{source} imports {target} ({a} is below {b})")
    assert not upward, "\n".join(upward)


def test_no_package_cycle() -> None:
    """Packages of the same layer may use each other one way only."""
    edges: dict[str, set[str]] = {}
    for source, targets in _graph(runtime_only=False).items():
        for target in targets:
            a, b = _unit(source), _unit(target)
            if a != b and target != "modelreg":
                edges.setdefault(a, set()).add(b)
    cycles = sorted(
        f"{a} <-> {b}" for a in edges for b in edges[a] if a < b and a in edges.get(b, set())
    )
    assert not cycles, cycles


def test_no_module_import_cycle() -> None:
    """No two modules import each other when imported (a cycle that works by import order)."""
    graph = _graph(runtime_only=True)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            # A package's __init__ importing its own submodules is not a cycle of design.
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not cycles, cycles


def test_top_level_holds_only_shared_modules() -> None:
    found = {p.stem for p in SRC.glob("*.py")}
    assert found <= TOP_LEVEL_MODULES, sorted(found - TOP_LEVEL_MODULES)


@pytest.mark.parametrize("package", sorted(p.parent.name for p in SRC.glob("*/__init__.py")))
def test_every_package_states_its_role(package: str) -> None:
    doc = ast.get_docstring(ast.parse((SRC / package / "__init__.py").read_text(encoding="utf-8")))
    assert doc and len(doc.split()) >= 8, f"src/modelreg/{package}/__init__.py: no docstring"
    _layer(package)  # and it has a place in the layers


def test_every_module_has_a_docstring() -> None:
    missing = [
        str(p.relative_to(ROOT))
        for p in sorted(SRC.rglob("*.py"))
        if not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))
        and p.name != "__main__.py"
    ]
    assert not missing, missing


@functools.cache
def _gen_docs() -> ModuleType:
    name = "modelreg_gen_docs_arch"
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "gen_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_readme_layout_names_every_top_level_directory() -> None:
    """A new top-level directory fails here until scripts/gen_docs.py's LAYOUT describes it."""
    tracked = (
        subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    directories = {f.split("/", 1)[0] + "/" for f in tracked if "/" in f}
    layout = _gen_docs().LAYOUT
    described = {path.split("/", 1)[0] + "/" for path, _what in layout}
    assert directories - described == set(), sorted(directories - described)
    assert described - directories == set(), sorted(described - directories)


def test_layout_lists_every_package_in_layer_order() -> None:
    packages = _gen_docs().PACKAGES
    assert set(packages) == {p.parent.name for p in SRC.glob("*/__init__.py")}
    assert list(packages) == sorted(packages, key=_layer)


def test_readme_layout_block_is_current() -> None:
    gen = _gen_docs()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert gen.blocks(ROOT) == {"README.md": readme}, "run python scripts/gen_docs.py"

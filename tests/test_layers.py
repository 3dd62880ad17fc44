"""The package layering: every module imports only its own layer or lower ones, the peers `spaces` and `proxies`
never import each other, and no two packages import each other (directly or round a loop).

Imports are read with `ast`, so those inside functions count too; an `if TYPE_CHECKING:` block does not.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import swapbench

# low to high; a module may import its own layer and the ones below
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "registry", "device", "version"}),
    frozenset({"nn"}),
    frozenset({"spaces", "proxies"}),
    frozenset({"data"}),
    frozenset({"study"}),
    frozenset({"search"}),
    frozenset({"report"}),
    frozenset({"api", ""}),  # "" is the root package (swapbench/__init__.py): the API's facade
    frozenset({"cli"}),
)
# same layer, but neither may import the other
PEERS: frozenset[frozenset[str]] = frozenset({frozenset({"spaces", "proxies"})})


@dataclass(frozen=True)
class Import:
    file: Path
    line: int
    source: str  # the importing unit (first name below the root package)
    target: str  # the imported unit

    def where(self, root: Path) -> str:
        return f"{self.file.relative_to(root.parent)}:{self.line}"


def layer_of(unit: str) -> int | None:
    for level, names in enumerate(LAYERS):
        if unit in names:
            return level
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(nodes: list[ast.stmt] | list[ast.AST]) -> Iterator[ast.AST]:
    """Every node below `nodes`, leaving out the body of `if TYPE_CHECKING:` (its `else` is kept)."""
    for node in nodes:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _walk(node.orelse)
            continue
        yield node
        yield from _walk(list(ast.iter_child_nodes(node)))


def _unit(dotted: str, package: str) -> str | None:
    """The unit of a dotted module name inside `package`: `swapbench.proxies.swap` -> "proxies"."""
    parts = dotted.split(".")
    if parts[0] != package:
        return None
    return parts[1] if len(parts) > 1 else ""


def units_of(root: Path) -> set[str]:
    """The units of the package at `root`: its modules and subpackages, and "" for the root itself."""
    return {""} | {p.stem if p.is_file() else p.name for p in root.iterdir()
                   if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}


def imported_units(node: ast.AST, module: str, is_package: bool, units: set[str]) -> list[str]:
    """The units of the root package that `node` imports (relative imports resolved against `module`)."""
    package = module.split(".")[0]
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".")
            base = base[: len(base) - node.level + (1 if is_package else 0)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        # `from swapbench import study` imports the study unit; `from swapbench import build_network` the root
        names = [f"{target}.{alias.name}" if target == package and alias.name in units else target
                 for alias in node.names]
    else:
        return []
    found = [_unit(name, package) for name in names]
    return list(dict.fromkeys(u for u in found if u is not None))  # once per statement


def collect_imports(root: Path) -> list[Import]:
    """Every import from one unit of the package at `root` (a directory with __init__.py) to another."""
    package, units = root.name, units_of(root)
    found: list[Import] = []
    for file in sorted(root.rglob("*.py")):
        rel = file.relative_to(root.parent).with_suffix("")
        is_package = rel.name == "__init__"
        module = ".".join(rel.parts[:-1] if is_package else rel.parts)
        source = _unit(module, package)
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        for node in _walk(tree.body):
            for target in imported_units(node, module, is_package, units):
                if target != source:
                    found.append(Import(file, getattr(node, "lineno", 0), source, target))
    return found


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one unit (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


def layer_violations(root: Path) -> list[str]:
    """One line per problem: a unit without a layer; an import of a higher layer or between peers (naming
    file:line); each group of packages that import each other round a loop (naming one import per link)."""
    problems = [f"{root.name}/{unit}: '{unit}' has no layer (add it to LAYERS)"
                for unit in sorted(units_of(root)) if layer_of(unit) is None]
    edges: dict[str, set[str]] = {}
    first: dict[tuple[str, str], Import] = {}
    for imp in collect_imports(root):
        edges.setdefault(imp.source, set()).add(imp.target)
        first.setdefault((imp.source, imp.target), imp)
        src, dst = layer_of(imp.source), layer_of(imp.target)
        name = imp.target or root.name
        if src is None or dst is None:
            continue
        if frozenset({imp.source, imp.target}) in PEERS:
            problems.append(f"{imp.where(root)}: {imp.source} imports its peer {name}")
        elif dst > src:
            problems.append(f"{imp.where(root)}: {imp.source} (layer {src}) imports {name} (layer {dst}), "
                            "a higher layer")
    for group in _cycles(edges):
        links = [f"{first[(a, b)].where(root)} ({a or root.name} -> {b or root.name})"
                 for a in group for b in group if (a, b) in first]
        problems.append(f"import cycle between packages {', '.join(u or root.name for u in group)}: "
                        + "; ".join(links))
    return problems


# ---------------------------------------------------------------------------------------------


def test_the_package_is_layered():
    root = Path(swapbench.__file__).parent
    assert layer_violations(root) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "swapbench"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        (folder / "__init__.py").touch()
    return root


def test_an_upward_import_is_reported_with_file_and_line(tmp_path):
    root = _tree(tmp_path, {
        "errors.py": "",
        "nn/hooks.py": "import torch\n",
        "spaces/base.py": "from swapbench.errors import X\n\n\ndef f():\n    from swapbench.study.runner import run\n",
        "study/runner.py": "from swapbench.spaces.base import B\n",
    })
    problems = layer_violations(root)
    assert any(p.startswith("swapbench/spaces/base.py:5: spaces (layer 2) imports study (layer 4)") for p in problems)
    assert any(p.startswith("import cycle between packages spaces, study") for p in problems)


def test_peers_relative_imports_and_type_checking(tmp_path):
    root = _tree(tmp_path, {
        "proxies/swap.py": "from ..spaces import base\n",
        "spaces/base.py": ("from typing import TYPE_CHECKING\n"
                           "if TYPE_CHECKING:\n    from swapbench.cli import app\n"
                           "else:\n    from swapbench import data\n"),
        "data/images.py": "",
        "cli.py": "",
    })
    problems = layer_violations(root)
    assert "swapbench/proxies/swap.py:1: proxies imports its peer spaces" in problems
    assert "swapbench/spaces/base.py:5: spaces (layer 2) imports data (layer 3), a higher layer" in problems
    assert not any("cli" in p for p in problems)  # the TYPE_CHECKING import does not count


def test_a_unit_without_a_layer_is_reported(tmp_path):
    root = _tree(tmp_path, {"errors.py": "", "plugins/extra.py": "from swapbench.errors import E\n"})
    assert any("'plugins' has no layer" in p for p in layer_violations(root))


@pytest.mark.parametrize("unit, layer", [("errors", 0), ("version", 0), ("nn", 1), ("proxies", 2), ("", 7), ("cli", 8)])
def test_layer_table(unit, layer):
    assert layer_of(unit) == layer


def module_cycles(root: Path) -> list[str]:
    """Loops of imports between the modules of one subpackage (e.g. study.runner <-> study.backends), which
    lazy imports inside functions would otherwise hide; one line per loop."""
    package = root.name
    problems = []
    for sub in sorted(p for p in root.iterdir() if (p / "__init__.py").exists()):
        modules = {p.stem for p in sub.glob("*.py") if p.stem != "__init__"}
        edges: dict[str, set[str]] = {}
        for file in sorted(sub.glob("*.py")):
            tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
            for node in _walk(tree.body):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                for name in names:
                    parts = name.split(".")
                    if parts[:2] == [package, sub.name] and len(parts) > 2 and parts[2] in modules:
                        if parts[2] != file.stem:
                            edges.setdefault(file.stem, set()).add(parts[2])
        problems += [f"{package}.{sub.name}: modules {', '.join(g)} import each other" for g in _cycles(edges)]
    return problems


def test_no_module_imports_loop_inside_a_package(tmp_path):
    assert module_cycles(Path(swapbench.__file__).parent) == []
    bad = _tree(tmp_path, {"study/a.py": "from swapbench.study.b import x\n",
                           "study/b.py": "def f():\n    from swapbench.study import a\n"})
    assert module_cycles(bad) == ["swapbench.study: modules a, b import each other"]

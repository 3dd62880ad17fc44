"""The benchmark scripts stay on the library's public surface: each imports as `bench.NAME`, none imports a
private swapbench name (so a refactor of the internals cannot silently break them) and none imports another
script (shared code lives in `bench.common`); rank correlations come from the engine's implementation."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
SHARED = "common"  # the one module the scripts may import from each other
SCRIPTS = sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__init__")


def _private(dotted: str) -> bool:
    return any(part.startswith("_") for part in dotted.split("."))


def import_problems(source: str, siblings: set[str]) -> list[str]:
    """One line per import of `source` that reaches a private swapbench name or a sibling script (other than
    bench.common), at any depth of the module (imports inside functions count too)."""
    problems = []

    def sibling(name: str) -> bool:
        return name in siblings and name != SHARED

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "swapbench" and _private(alias.name):
                    problems.append(f"line {node.lineno}: import {alias.name} (private)")
                elif sibling(parts[0]) or (parts[0] == "bench" and len(parts) > 1 and sibling(parts[1])):
                    problems.append(f"line {node.lineno}: import {alias.name} (another bench script)")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module == "__future__":
                continue
            names = [alias.name for alias in node.names]
            parts = module.split(".") if module else []
            if node.level == 0 and parts and parts[0] == "swapbench":
                private = [n for n in names if n.startswith("_")]
                if _private(module) or private:
                    problems.append(f"line {node.lineno}: from {module} import {', '.join(names)} (private)")
                continue
            # what a bench module can reach: a sibling as a top-level module, `bench.X`, or relative imports
            if node.level == 0 and parts and sibling(parts[0]):
                target = parts[0]
            elif node.level == 0 and parts[:1] == ["bench"]:
                target = parts[1] if len(parts) > 1 else next((n for n in names if sibling(n)), "")
            elif node.level > 0:
                target = parts[0] if parts else next((n for n in names if sibling(n)), "")
            else:
                continue
            if sibling(target):
                where = "." * node.level + module
                problems.append(f"line {node.lineno}: from {where} import {', '.join(names)} (another bench script)")
    return problems


@pytest.mark.parametrize("name", SCRIPTS)
def test_imports_as_package_module(name):
    module = importlib.import_module(f"bench.{name}")
    assert Path(module.__file__).resolve() == BENCH / f"{name}.py"


@pytest.mark.parametrize("name", SCRIPTS)
def test_no_private_names_or_sibling_scripts(name):
    assert import_problems((BENCH / f"{name}.py").read_text(), set(SCRIPTS)) == []


@pytest.mark.parametrize("name", SCRIPTS)
def test_rank_correlations_come_from_the_engine(name):
    tree = ast.parse((BENCH / f"{name}.py").read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(m == "scipy" or m.startswith("scipy.") for m in modules), \
        "use swapbench.study.stats.rank_correlations (or bench.common.spearman)"


BAD = [
    "from swapbench.data.benchmarks import _value",
    "from swapbench.proxies._patterns import naive_count",
    "import swapbench.spaces._count",
    "import swapbench.spaces._count as counting",
    "def f():\n    from swapbench.study.runner import _batch\n",
    "from validate_proxies import stored_values, write_result",
    "import validate_proxies",
    "from bench.validate_proxies import write_result",
    "from bench import validate_proxies",
    "import bench.validate_proxies",
    "from . import validate_proxies",
    "from .validate_proxies import write_result",
]
GOOD = [
    "from __future__ import annotations",
    "import swapbench\nfrom swapbench.api import execution",
    "from swapbench.study.runner import run_batch, score_arch",
    "from bench.common import RESULTS, spearman, write_result",
    "from bench import common",
    "from .common import write_result",
    "import torch\nfrom torch import nn",
]


@pytest.mark.parametrize("source", BAD)
def test_checker_flags_bad_imports(source):
    assert len(import_problems(source, {"validate_proxies", "common"})) == 1


@pytest.mark.parametrize("source", GOOD)
def test_checker_passes_public_imports(source):
    assert import_problems(source, {"validate_proxies", "common"}) == []

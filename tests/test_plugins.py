"""Metrics and spaces from other installed distributions, through the entry-point groups `swapbench.proxies`
and `swapbench.spaces`: a plugin is listed with its distribution, scores through the registry and harness,
and one that fails to import costs one warning line, never the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
from conftest import ROOT

from swapbench.registry import BUILT_IN, Registry

METRIC = '''
from swapbench.proxies import proxy


@proxy("plug_params", description="plugin: parameter count", data="none")
def plug_params(net, inputs, targets, loss_fn, ctx):
    return float(sum(p.numel() for p in net.parameters()))
'''

SPACE = '''
from dataclasses import replace

from swapbench.spaces import get_space, register_space

register_space(replace(get_space("nb201"), name="nb201_plug", description="plugin: NB201 under another name"))
'''

BROKEN = '''
from swapbench.proxies import proxy


@proxy("half_registered", description="registered before the import fails")
def half(net, inputs, targets, loss_fn, ctx):
    return 0.0


raise RuntimeError("this plugin is broken on purpose")
'''


CRASH = '''
import os

from swapbench.proxies import proxy


@proxy("crash_worker", description="plugin: ends its process, as the OS ends one out of memory", data="none")
def crash_worker(net, inputs, targets, loss_fn, ctx):
    os._exit(137)
'''


def make_distribution(site: Path, dist: str, modules: dict[str, str], entry_points: dict[str, dict[str, str]]) -> None:
    """An installed distribution as pip leaves it: modules plus a `<dist>-<version>.dist-info` folder."""
    site.mkdir(parents=True, exist_ok=True)
    for module, code in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(code))
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = []
    for group, entries in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in entries.items()]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder with a working plugin distribution (a metric and a space)."""
    path = tmp_path_factory.mktemp("plugins") / "site"
    make_distribution(path, "sbplug", {"sbplug_metrics": METRIC, "sbplug_spaces": SPACE},
                      {"swapbench.proxies": {"plug_params": "sbplug_metrics"},
                       "swapbench.spaces": {"nb201_plug": "sbplug_spaces"}})
    return path


def run_with(sites: list[Path], *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, sites), str(ROOT), env.get("PYTHONPATH", "")])
    env["COLUMNS"] = "250"
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=sites[0], env=env,
                          timeout=300)


def test_plugin_metric_is_listed_with_its_distribution(site):
    proc = run_with([site], "-m", "swapbench.cli", "proxies")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    row = next(line for line in proc.stdout.splitlines() if "plug_params" in line)
    assert "sbplug" in row
    assert "built-in" in next(line for line in proc.stdout.splitlines() if " swap " in line)


def test_plugin_space_is_listed_with_its_distribution(site):
    proc = run_with([site], "-m", "swapbench.cli", "spaces")
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "nb201_plug" in line]
    assert len(rows) == 3 and all("sbplug" in row for row in rows)  # NB201's three tasks


def test_plugin_metric_scores_through_the_registry_and_harness(site):
    script = textwrap.dedent('''
        import json

        import numpy as np
        import torch

        from swapbench.proxies.registry import PROXIES, ProxyContext, get_proxy, run_proxy
        from swapbench.spaces import get_space

        space = get_space("nb201")
        torch.manual_seed(0)
        net = space.build(space.random_arch(np.random.default_rng(0)), "cifar10")
        spec = get_proxy("plug_params")
        x, y = torch.zeros(2, 3, 32, 32), torch.zeros(2, dtype=torch.long)
        ctx = ProxyContext(space=space, task="cifar10", options=spec.resolve_options())
        score = run_proxy(spec, net, x, y, space.loss_fn("cifar10"), ctx)
        print(json.dumps({"score": score, "params": sum(p.numel() for p in net.parameters()),
                          "source": PROXIES.source("plug_params"), "space": get_space("nb201_plug").name}))
    ''')
    proc = run_with([site], "-c", script)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["score"] == result["params"] > 0
    assert result["source"] == "sbplug" and result["space"] == "nb201_plug"


def test_a_broken_plugin_costs_one_warning_line(site, tmp_path):
    broken = tmp_path / "broken-site"
    make_distribution(broken, "sbbroken", {"sbbroken_metrics": BROKEN},
                      {"swapbench.proxies": {"sbbroken": "sbbroken_metrics"}})
    proc = run_with([broken, site], "-m", "swapbench.cli", "proxies")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == ["warning: plugin 'sbbroken' (swapbench.proxies) failed to load: "
                     "RuntimeError: this plugin is broken on purpose"], proc.stderr
    assert "plug_params" in proc.stdout  # the working plugin still loads
    assert "half_registered" not in proc.stdout  # nothing of the broken one stays registered


# ---------------------------------------------------------------------------------------------
# the registry's plugin loading, in process


def test_registry_loads_plugins_after_its_built_ins(tmp_path, monkeypatch, capsys):
    pkg = tmp_path / "builtins_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "one.py").write_text("from registry_under_test import THINGS\nTHINGS.add('one', 1)\n")
    (tmp_path / "registry_under_test.py").write_text(
        "from swapbench.registry import Registry\nTHINGS = Registry('thing', 'builtins_pkg', 'test.things')\n")
    (tmp_path / "good_plugin.py").write_text("from registry_under_test import THINGS\nTHINGS.add('two', 2)\n")
    (tmp_path / "bad_plugin.py").write_text(
        "from registry_under_test import THINGS\nTHINGS.add('three', 3)\nimport not_a_module_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [metadata.EntryPoint("bad", "bad_plugin", "test.things"),
              metadata.EntryPoint("good", "good_plugin", "test.things")]
    monkeypatch.setattr("swapbench.registry.plugin_entry_points", lambda group: points)
    import registry_under_test

    things: Registry[int] = registry_under_test.THINGS
    assert things.names() == ["one", "two"]
    assert things.source("one") == BUILT_IN and things.source("two") == "good"  # no distribution: the name
    err = capsys.readouterr().err
    assert err == ("warning: plugin 'bad' (test.things) failed to load: ModuleNotFoundError: "
                   "No module named 'not_a_module_anywhere'\n")
    for name in ("registry_under_test", "builtins_pkg", "builtins_pkg.one", "good_plugin", "bad_plugin"):
        sys.modules.pop(name, None)


@pytest.mark.slow  # a Ray instance starts in seconds, and each lost worker is replaced
def test_ray_worker_lost_on_every_try_exits_3_in_one_line(tmp_path, synthetic_data_dir):
    """A job whose Ray worker dies is tried again by Ray; lost on every try, the run ends with exit 3 and one
    line naming the column, not a traceback."""
    pytest.importorskip("ray")
    crash = tmp_path / "crash-site"
    make_distribution(crash, "sbcrash", {"sbcrash_metrics": CRASH}, {"swapbench.proxies": {"crash": "sbcrash_metrics"}})
    proc = run_with([crash], "-m", "swapbench.cli", "correlate", "--space", "nb201", "--task", "cifar10",
                    "--proxies", "crash_worker", "--n-archs", "3", "--seeds", "0", "--backend", "ray",
                    "--workers", "1", "--threads", "1", "--data-dir", str(synthetic_data_dir),
                    "--cache", str(tmp_path / "cache.sqlite"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 3, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in proc.stderr and len(errors) == 1, proc.stderr
    assert errors[0].startswith("error: a Ray worker died while scoring nb201/cifar10 seed 0, 3 times")
    assert "re-run the same command to resume" in errors[0]

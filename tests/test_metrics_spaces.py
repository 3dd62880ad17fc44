"""Every registered metric runs on every (space, task) pair the project supports: a small network of the
space, a small batch of the task's input shape and targets, and the result is a float that is finite,
the -1e8 failure sentinel, or NaN where the metric declares itself not applicable (zen without a
global pool). New spaces, tasks and metrics are picked up from the registries."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import every_metric
from torch import nn

from swapbench.nn.hooks import hooked_forward
from swapbench.proxies.registry import FAILED
from swapbench.proxies.zen import global_pools
from swapbench.spaces import get_space, list_spaces

pytestmark = pytest.mark.usefixtures("one_thread")

BATCH = 4
PAIRS = [(s, t) for s in list_spaces() for t in get_space(s).tasks]
# Pairs whose grid takes more than a few seconds on one CPU thread (256x256 Taskonomy inputs, the image-sized
# decoders, DARTS' 20-cell evaluation network) run with the slow tests. The default run keeps every other space
# and task: the macro skeletons' classification, room-layout and jigsaw heads, and one micro-cell task.
EXPENSIVE = {("darts", "cifar10"), *((s, t) for s in ("tnb101_micro", "tnb101_macro")
                                    for t in ("autoencoder", "normal", "segmentsemantic")),
             *(("tnb101_micro", t) for t in ("class_scene", "jigsaw", "room_layout"))}


def small_arch(space, seed: int = 0):
    """The sampled architecture with the fewest parameters among a few draws: small, but not degenerate."""
    rng = np.random.default_rng(seed)
    archs = [space.random_arch(rng) for _ in range(6)]
    return min(archs, key=lambda a: sum(p.numel() for p in space.build(a, next(iter(space.tasks))).parameters()))


def global_pool_calls(net: nn.Module, x: torch.Tensor) -> int:
    """How many global-average-pool calls one forward makes (zen needs exactly one)."""
    calls = []
    hooked_forward(net, global_pools(net), lambda *_: calls.append(1), x)
    return len(calls)


def raw_images(space, task: str, gen: torch.Generator) -> torch.Tensor:
    """What the image loader hands prepare_batch: 3-channel frames (jigsaw tiles are cut from 256x256)."""
    shape = space.task(task).input_shape
    if len(shape) != 3:
        shape = (3, 256, 256)
    return torch.randn((BATCH, *shape), generator=gen)


def test_the_grid_covers_every_fig4_space():
    assert {s for s, _ in PAIRS} >= {"nb101", "nb201", "nb301", "tnb101_micro", "tnb101_macro"}
    assert len([p for p in PAIRS if p[0].startswith("tnb101")]) == 14


@pytest.mark.parametrize(("space_name", "task"), [
    pytest.param(s, t, id=f"{s}-{t}", marks=[pytest.mark.slow] if (s, t) in EXPENSIVE else []) for s, t in PAIRS])
def test_every_metric_on_every_space_and_task(space_name, task):
    space = get_space(space_name)
    info = space.task(task)
    arch = small_arch(space)
    torch.manual_seed(0)
    net = space.build(arch, task)
    gen = torch.Generator().manual_seed(0)
    images = raw_images(space, task, gen)
    labels = torch.randint(0, max(int(info.num_classes or 2), 2), (BATCH,), generator=gen)
    x, y = space.prepare_batch(task, images, labels, gen)
    values = every_metric(space, task, arch, net, x, y)
    for name, value in values.items():
        assert isinstance(value, float), (name, value)
        if math.isnan(value):
            assert name == "zen" and global_pool_calls(net, x) != 1, f"{name} is NaN on {space_name}/{task}"
        else:
            assert value == FAILED or (math.isfinite(value) and abs(value) < 1e30), (name, value)
    # the cheap, always-defined ones must be real numbers, not the failure sentinel
    for name in ("params", "flops", "swap", "reg_swap"):
        assert values[name] != FAILED and values[name] > 0, (name, values[name])
    # synflow can be exactly 0: with |W| and an all-ones input the autoencoder/normal decoders' final Tanh
    # saturates and passes no gradient (NAS-Bench-Suite-Zero stores no synflow for those tasks)
    assert values["synflow"] >= 0, values["synflow"]

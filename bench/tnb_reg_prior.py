"""Label-free default mu = sigma of regularised SWAP for the TransNAS-Bench-101 tasks.

The SWAP paper (Appendix B) sets mu = sigma per space from the model-size distribution, at its upper end,
and gives no value for TransNAS-Bench-101. Rule used here: the MAXIMUM executed-parameter count (millions,
tensorwatch rule = the stored `params`) over 1000 architectures drawn with
`space.random_arch(np.random.default_rng(0))`, rounded UP to 2 significant digits. No accuracy is read.

`--calibrate` prints the same statistic for NB101/NB201/NB301, next to the paper's values (40, 1.5, 1.8):
the paper's values lie at or somewhat above the sampled maximum in every space.

The task networks are encoder + head; every encoder module executes, so a network's count is
count(encoder) + count(head), and the head count depends only on (task, encoder width, nominal feature
size): one representative network per combination is counted, the encoders (`space.encoder(arch)`) of all
1000 samples.

    python -m bench.tnb_reg_prior [--n 1000] [--calibrate]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from swapbench.nn.counting import executed_params
from swapbench.spaces import get_space
from swapbench.spaces.tnb101 import TNB101Space

PAPER = {"nb101": 40.0, "nb201": 1.5, "nb301": 1.8}


def round_up(value: float, digits: int = 2) -> float:
    scale = 10 ** (math.floor(math.log10(value)) - digits + 1)
    return round(math.ceil(value / scale - 1e-9) * scale, 10)


def tnb_sizes(space: TNB101Space, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    archs = [space.random_arch(rng) for _ in range(n)]
    heads: dict[tuple, float] = {}
    sizes: dict[str, list[float]] = {t: [] for t in space.tasks}
    for arch in archs:
        with torch.device("meta"):
            enc = space.encoder(arch)
        enc_params = executed_params(enc, (3, 256, 256))
        combo = (enc.out_channels, enc.nominal_width)
        for task, info in space.tasks.items():
            if (task, combo) not in heads:
                with torch.device("meta"):
                    net = space.build(arch, task)
                heads[(task, combo)] = executed_params(net, info.input_shape) - enc_params
            sizes[task].append(enc_params + heads[(task, combo)])
    return {t: np.asarray(v) for t, v in sizes.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--calibrate", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'space':14s} {'task':16s} {'p50':>8s} {'p99':>8s} {'max':>8s} {'mu=sigma':>9s}")
    for name in ("tnb101_micro", "tnb101_macro"):
        space = get_space(name)
        start = time.perf_counter()
        for task, values in tnb_sizes(space, args.n).items():
            print(f"{name:14s} {task:16s} {np.median(values):8.3f} {np.percentile(values, 99):8.3f} "
                  f"{values.max():8.3f} {round_up(values.max()):9g}")
        print(f"  ({time.perf_counter() - start:.0f} s)")
    if args.calibrate:
        for name, paper in PAPER.items():
            space = get_space(name)
            task = next(iter(space.tasks))
            rng = np.random.default_rng(0)
            values = []
            for _ in range(args.n):
                with torch.device("meta"):
                    net = space.build(space.random_arch(rng), task)
                values.append(executed_params(net, space.tasks[task].input_shape))
            v = np.asarray(values)
            print(f"{name:14s} {task:16s} {np.median(v):8.3f} {np.percentile(v, 99):8.3f} {v.max():8.3f} "
                  f"{round_up(v.max()):9g}  (paper: {paper:g})")


if __name__ == "__main__":
    main()

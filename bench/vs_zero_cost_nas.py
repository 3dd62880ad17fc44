"""Seconds per architecture of the 8 metrics swapbench shares with SamsungLabs/zero-cost-nas (plain, grasp,
fisher, grad_norm, snip, synflow, l2_norm, jacov / jacob_cov), ours against its `find_measures`, on the
same NB201 networks, batch and threads, interleaved in one process. Its l2_norm cannot go through
`find_measures` (the measure takes no `loss_fn`), so it is called on its own and timed with the rest.

zero-cost-nas runs twice per architecture: on the network built from torch's own modules (its copy's
pooling layers are torch's nn.AvgPool2d / nn.MaxPool2d, as its own model code builds them: same
architecture, weights and values), which is the comparison the ratio reports, and on our modules as they
are (`swapbench.nn.pooling`'s faster CPU route), reported beside it so that what our pooling alone gives
is visible.

    python -m bench.vs_zero_cost_nas --zcnas PATH [--archs 5] [--rounds 2] [--threads 1]

PATH is a checkout of https://github.com/SamsungLabs/zero-cost-nas (its `foresight` package is imported
from there; without --zcnas the script prints one line and exits 0). Each round scores every architecture
with both, alternating which goes first; each side gets its own copy of the network a run scores
(`swapbench.build_network`), the run's batch (`run_batch`) and one dataloader-like list holding it; ours runs
the metrics as a run does (one shared memo, through the harness), timed as a whole per architecture.
Writes bench/results/vs_zero_cost_nas.csv and prints the ratio of total seconds (theirs / ours) with a 95 %
bootstrap interval over architectures.
"""

from __future__ import annotations

import argparse
import copy
import csv
import statistics
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results" / "vs_zero_cost_nas.csv"
OURS = ("plain", "grasp", "fisher", "grad_norm", "snip", "synflow", "l2_norm", "jacov")
THEIRS = ("plain", "grasp", "fisher", "grad_norm", "snip", "synflow", "jacob_cov")  # + l2_norm, see below


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zcnas", type=Path, default=None, help="checkout of SamsungLabs/zero-cost-nas")
    parser.add_argument("--archs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--task", default="cifar10")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.zcnas is None or not (args.zcnas / "foresight" / "pruners").is_dir():
        print("vs_zero_cost_nas: skipped (pass --zcnas PATH to a checkout of SamsungLabs/zero-cost-nas)")
        return 0

    import torch
    import torch.nn.functional as F
    from torch import nn

    import swapbench
    from swapbench.nn import pooling
    from swapbench.proxies.registry import ProxyContext, get_proxy, run_proxy
    from swapbench.study.config import CorrelateConfig
    from swapbench.study.runner import plan_run, run_batch

    sys.path.insert(0, str(args.zcnas.resolve()))
    import foresight.pruners.measures.l2_norm  # noqa: F401  (registers l2_norm, which load_all skips)
    from foresight.pruners import measures as zc_measures
    from foresight.pruners.predictive import find_measures

    torch.set_num_threads(args.threads)
    plan = plan_run(CorrelateConfig(space="nb201", task=args.task, proxies=list(OURS), n_archs=max(args.archs, 3),
                                    limit_archs=args.archs, seeds=[0], device="cpu"))
    space = plan.space
    loss_fn = space.loss_fn(args.task)
    n_classes = space.task(args.task).num_classes if hasattr(space.task(args.task), "num_classes") else 10

    class Logits(nn.Module):
        """zero-cost-nas calls net(x) and expects the logits tensor."""

        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.net(x)
            return out[0] if isinstance(out, (tuple, list)) else out

    cases = []
    for row in plan.samples[0]:
        arch = plan.truth.archs[row]
        key = space.canonical_key(arch)
        net = swapbench.build_network("nb201", arch, args.task, seed=0)
        cases.append((key, net, *run_batch(plan, 0, key)))

    def ours(key: str, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        memo: dict = {}
        out = {}
        for name in OURS:
            spec = get_proxy(name)
            ctx = ProxyContext(space=space, task=args.task, seed=0, arch_key=key, options=plan.options[name],
                               memo=memo, planned=frozenset(OURS))
            out[name] = run_proxy(spec, net, x, y, loss_fn, ctx)
        return out

    def torch_pools(net: nn.Module) -> nn.Module:
        """The same network with torch's pooling classes (ours subclass them and hold no state of their own)."""
        for m in net.modules():
            if isinstance(m, pooling.AvgPool2d):
                m.__class__ = nn.AvgPool2d
            elif isinstance(m, pooling.MaxPool2d):
                m.__class__ = nn.MaxPool2d
        return net

    def theirs(net: nn.Module, x: torch.Tensor, y: torch.Tensor, torch_modules: bool) -> dict[str, float]:
        model = Logits(torch_pools(copy.deepcopy(net)) if torch_modules else copy.deepcopy(net))
        out = find_measures(model, [(x, y)], ("random", 1, n_classes), torch.device("cpu"),
                            loss_fn=F.cross_entropy, measure_names=list(THEIRS))
        # its l2_norm takes no loss_fn, so find_measures cannot run it: the measure itself, summed the same way
        arr = zc_measures.calc_measure("l2_norm", model, torch.device("cpu"), x, y, split_data=1)
        out["l2_norm"] = float(sum(float(a.detach().sum()) for a in arr))
        return out

    order = ["ours", "zero-cost-nas", "zero-cost-nas on our pools"]
    seconds: dict[str, list[float]] = {side: [] for side in order}
    for r in range(args.rounds):
        for i, (key, net, x, y) in enumerate(cases):
            shift = (r + i) % len(order)  # each side goes first, second and third in turn
            for side in order[shift:] + order[:shift]:
                start = time.perf_counter()
                if side == "ours":
                    ours(key, net, x, y)
                else:
                    theirs(net, x, y, torch_modules=side == "zero-cost-nas")
                seconds[side].append(time.perf_counter() - start)
    per_arch = {side: statistics.mean(v) for side, v in seconds.items()}
    ratio = per_arch["zero-cost-nas"] / per_arch["ours"]
    ratio_pools = per_arch["zero-cost-nas on our pools"] / per_arch["ours"]
    low, high = _ratio_interval(seconds["zero-cost-nas"], seconds["ours"], len(cases))
    print(f"nb201/{args.task}, {len(cases)} archs x {args.rounds} rounds, batch {plan.batch_size}, "
          f"{args.threads} thread(s): ours {per_arch['ours']:.3f} s/arch, zero-cost-nas find_measures "
          f"{per_arch['zero-cost-nas']:.3f} s/arch, ratio {ratio:.2f}x [{low:.2f}, {high:.2f}] (on our pooling modules "
          f"{per_arch['zero-cost-nas on our pools']:.3f} s/arch, {ratio_pools:.2f}x)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["space", "task", "archs", "rounds", "batch", "threads", "ours_s_per_arch",
                         "zero_cost_nas_s_per_arch", "ratio", "ratio_low", "ratio_high",
                         "zero_cost_nas_our_pools_s_per_arch",
                         "ratio_our_pools"])
        writer.writerow(["nb201", args.task, len(cases), args.rounds, plan.batch_size, args.threads,
                         f"{per_arch['ours']:.4f}", f"{per_arch['zero-cost-nas']:.4f}", f"{ratio:.2f}",
                         f"{low:.2f}", f"{high:.2f}",
                         f"{per_arch['zero-cost-nas on our pools']:.4f}", f"{ratio_pools:.2f}"])
    print(f"wrote {args.out}")
    return 0


def _ratio_interval(theirs: list[float], ours: list[float], n_archs: int, draws: int = 2000) -> tuple[float, float]:
    """95 % bootstrap interval of sum(theirs) / sum(ours) over architectures (all rounds of a drawn
    architecture go together; the lists hold round after round of the same architecture order)."""
    import numpy as np

    t = np.asarray(theirs).reshape(-1, n_archs).sum(axis=0)
    o = np.asarray(ours).reshape(-1, n_archs).sum(axis=0)
    rng = np.random.default_rng(0)
    picks = rng.integers(0, n_archs, size=(draws, n_archs))
    ratios = t[picks].sum(axis=1) / o[picks].sum(axis=1)
    return float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))


if __name__ == "__main__":
    sys.exit(main())

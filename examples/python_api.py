"""The Python API in a few calls: build a network, score it, correlate a small sample, write the run, re-render it.

    python examples/python_api.py [OUT_DIR]      (a minute on one CPU core; reads the default data dir)
"""

import sys
from pathlib import Path

import swapbench

out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/example")
arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|"

net = swapbench.build_network("nb201", arch, "cifar10", seed=0)  # the network a run scores for seed 0
print(f"{sum(p.numel() for p in net.parameters())} parameters")

scores = swapbench.score("nb201", arch, "cifar10", ["swap", "params"], seed=0, batch_size=16)
print({name: round(s.value, 4) for name, s in scores.items()})

result = swapbench.correlate("nb201", "cifar10", ["swap", "reg_swap"], n_archs=10, seeds=[0], batch_size=16,
                             cache=str(out / "cache.sqlite"))
print(result.summary[["proxy", "n", "spearman_mean", "spearman_lo", "spearman_hi"]])
result.write(out / "run")  # run.json, scores.csv.gz, correlations.csv, summary.csv/.md, figures/
swapbench.rerender(out / "run")  # the same tables again, from the stored scores alone

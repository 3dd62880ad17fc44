#!/usr/bin/env bash
# Paper Fig. 5 (model-size control): `scripts/ablation_size_control.sh [darts-swap|nb201] [options]` regenerates
# results/ablation-size-control-SPACE/: SWAP-NAS with reg_swap at mu = sigma over the grid (darts-swap, the
# official one-cell network: 0.5..2.5 step 0.4, thousands of parameters; nb201: 0.2..1.4 step 0.3, millions),
# five searches each, and the size histogram of 1000 random models. Default search budget on darts-swap;
# nb201 uses P=10, C=10, 4 mutations (a CPU budget); the stored NB201 result is `... nb201 --task ImageNet16-120
# --out results/ablation-size-control-nb201-in16`. Scores are cached in runs/cache-search.sqlite (resumable).
set -euo pipefail
cd "$(dirname "$0")/.."
space="${1:-darts-swap}"
shift || true
budget=()
if [ "$space" = nb201 ]; then budget=(--population 10 --cycles 10 --mutation-times 4); fi
exec "${PYTHON:-.venv/bin/python}" -m swapbench.cli ablation size-control --space "$space" --seeds 0-4 \
  "${budget[@]}" --threads 1 --cache runs/cache-search.sqlite --out "results/ablation-size-control-$space" "$@"

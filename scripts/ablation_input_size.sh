#!/usr/bin/env bash
# Paper Table 3 (input size): regenerates results/ablation-input-size/. Extra arguments are passed on,
# e.g. `scripts/ablation_input_size.sh --n-archs 200`. Scores are cached in runs/cache.sqlite (resumable).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m swapbench.cli ablation input-size --threads 1 --out results/ablation-input-size "$@"

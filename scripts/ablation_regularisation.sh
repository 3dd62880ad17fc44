#!/usr/bin/env bash
# Paper Tables 4-6 (regulariser mu, sigma): `scripts/ablation_regularisation.sh SPACE [options]` regenerates
# results/ablation-reg-SPACE/, e.g. `scripts/ablation_regularisation.sh nb201 --group-size 500`.
# Scores are cached in runs/cache.sqlite (resumable).
set -euo pipefail
cd "$(dirname "$0")/.."
space="${1:?usage: $0 SPACE [options], SPACE one of nb101, nb201, nb301}"
shift
exec "${PYTHON:-.venv/bin/python}" -m swapbench.cli ablation regularisation --space "$space" --threads 1 \
  --out "results/ablation-reg-$space" "$@"

#!/usr/bin/env bash
# Metric validation on NB201 (configs/validate_nb201.toml): every NB-SZ arch of the three tasks, seed 0,
# scored into the shared cache (resumable), then the study report in results/validate-nb201/, the agreement
# tables in bench/results/ and the README's table (bench/validation_table.py). Stored: all three tasks.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin; [ -x "$BIN/swapbench" ] || BIN=$(dirname "$(command -v swapbench)")
"$BIN/swapbench" study configs/validate_nb201.toml --workers 2 --threads 1 --out results/validate-nb201 "$@"
for task in cifar10 cifar100 ImageNet16-120; do
  "$BIN/python" -m bench.validate_proxies --task "$task" --cached-only --extra
done
"$BIN/python" -m bench.validation_table

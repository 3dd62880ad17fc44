#!/usr/bin/env bash
# NB201 search table: SWAP-NAS evolution with reg_swap, swap and nwot as fitness, 5 seeds each, on
# CIFAR-10, CIFAR-100 and ImageNet16-120, each beside random search with the same number of distinct
# evaluations; then results/search-nb201/table.md. Budget (a CPU budget, not the paper's): P=10, C=10,
# 4 mutations per cycle, crossover 0.5 (at most 70 fitness calls per search). Extra arguments are passed to
# every `swapbench search`. Scores are cached in runs/cache-search.sqlite (resumable: a re-run recomputes nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-.venv/bin/python}"
budget=(--population 10 --cycles 10 --mutation-times 4 --crossover-prob 0.5)
for task in cifar10 cifar100 ImageNet16-120; do
  for metric in reg_swap swap nwot; do
    "$py" -m swapbench.cli search --space nb201 --task "$task" --metric "$metric" --seeds 0-4 "${budget[@]}" \
      --threads 1 --cache runs/cache-search.sqlite --out "results/search-nb201/$task-$metric" "$@"
  done
done
"$py" -m bench.search_table results/search-nb201

#!/usr/bin/env bash
# The default search on NB201 / CIFAR-10, five seeds, random search beside it; regenerates
# results/search-nb201-default/. Its own cache (results/search-nb201-default/cache.sqlite, not committed), so
# a first run measures the full cost; a re-run recomputes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m swapbench.cli search --space nb201 --task cifar10 --seeds 0-4 --threads 1 \
  --out results/search-nb201-default "$@"

#!/usr/bin/env bash
# The small study CI re-checks with `swapbench regress results/ci` (configs/ci.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
SWAPBENCH=swapbench; [ -x .venv/bin/swapbench ] && SWAPBENCH=.venv/bin/swapbench
exec "$SWAPBENCH" study configs/ci.toml --out results/ci --cache runs/ci-cache-t1.sqlite --threads 1 --workers 2 "$@"

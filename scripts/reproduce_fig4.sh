#!/usr/bin/env bash
# The paper's Fig. 4 grid (configs/fig4.toml) with the heatmap and its difference to the paper.
# Full size: 13 columns x 17 metrics x 5 seeds x min(1000, available) archs (GPU-hours; CPU-days).
# Extra arguments pass through, e.g. --limit-archs 10 --seeds 0 for the reduced run stored in results/fig4.
set -euo pipefail
cd "$(dirname "$0")/.."
SWAPBENCH=swapbench; [ -x .venv/bin/swapbench ] && SWAPBENCH=.venv/bin/swapbench
exec "$SWAPBENCH" study configs/fig4.toml --out results/fig4 \
  --reference ../shared/reference/paper_fig4_spearman.csv "$@"

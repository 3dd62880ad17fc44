#!/usr/bin/env bash
# The 8 TransNAS-Bench-101 columns of Fig. 4 with the cheaper metrics only (results/fig4-tnb-cheap):
# 20 archs, seed 0. Its scores are reused by the full configs/fig4.toml run when both use one cache.
set -euo pipefail
cd "$(dirname "$0")/.."
SWAPBENCH=swapbench; [ -x .venv/bin/swapbench ] && SWAPBENCH=.venv/bin/swapbench
exec "$SWAPBENCH" study configs/fig4.toml --out results/fig4-tnb-cheap \
  --columns tnb101_micro/class_scene,tnb101_micro/class_object,tnb101_micro/jigsaw,tnb101_micro/autoencoder,tnb101_macro/class_scene,tnb101_macro/class_object,tnb101_macro/jigsaw,tnb101_macro/autoencoder \
  --proxies params,flops,synflow,l2_norm,nwot,swap,reg_swap --limit-archs 20 --seeds 0 --threads 1 "$@"

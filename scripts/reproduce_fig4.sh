#!/usr/bin/env bash
# The paper's Fig. 4 (configs/fig4.toml), in four resumable stages, each a `swapbench study` with the heatmap,
# its difference to the paper and gaps.md (95 % bootstrap intervals):
#   swap-paper     SWAP and reg-SWAP, all 13 columns, 200 archs x 5 seeds, protocol paper -> results/fig4-swap-paper
#   swap-official  SWAP and reg-SWAP, the 5 real-image columns (NB101, NB201 x3, NB301), 200 archs x 5 seeds,
#                  protocol swap-official (16 images, 32 Gaussian re-initialisations)   -> results/fig4-swap-official
#   all            every metric, the 5 real-image columns, seed 0, ALL_ARCHS (default 200) archs -> results/fig4
#   all-tnb        every metric, the 8 TransNAS-Bench-101 columns, seed 0, TNB_ARCHS (default 50) archs
#                                                                                         -> results/fig4-tnb
# Usage: scripts/reproduce_fig4.sh [STAGE ...] [-- extra study options, e.g. --columns nb201/cifar10 --workers 2]
# (no stage: all four). The full size is CPU-days on 2 cores (GPU-hours): each stage first puts the scores of
# every committed run in results/ into the score cache (`swapbench cache import`), so a stage that was cut
# short in one session, then committed, goes on from there in the next, on any machine.
set -euo pipefail
cd "$(dirname "$0")/.."
SWAPBENCH=swapbench; [ -x .venv/bin/swapbench ] && SWAPBENCH=.venv/bin/swapbench
REFERENCE=../shared/reference/paper_fig4_spearman.csv
REAL=nb101,nb201,nb301            # --columns takes spaces: every column of these spaces in the config
TNB=tnb101_micro,tnb101_macro
stages=(); extra=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
  stages+=("$1"); shift
done
[ ${#stages[@]} -gt 0 ] || stages=(swap-paper swap-official all all-tnb)

runs=(); for d in results/*/; do [ -f "$d/run.json" ] && [ -f "$d/scores.csv.gz" ] && runs+=("${d%/}"); done
[ ${#runs[@]} -eq 0 ] || "$SWAPBENCH" cache import "${runs[@]}"

for stage in "${stages[@]}"; do
  case "$stage" in
    swap-paper)
      "$SWAPBENCH" study configs/fig4.toml --proxies swap,reg_swap --protocol paper --seeds 0-4 \
        --limit-archs "${SWAP_ARCHS:-200}" --out results/fig4-swap-paper --reference "$REFERENCE" "${extra[@]}" ;;
    swap-official)
      "$SWAPBENCH" study configs/fig4.toml --proxies swap,reg_swap --protocol swap-official --seeds 0-4 \
        --limit-archs "${SWAP_ARCHS:-200}" --columns "$REAL" \
        --out results/fig4-swap-official --reference "$REFERENCE" "${extra[@]}" ;;
    all)
      "$SWAPBENCH" study configs/fig4.toml --seeds 0 --limit-archs "${ALL_ARCHS:-200}" --columns "$REAL" \
        --out results/fig4 --reference "$REFERENCE" "${extra[@]}" ;;
    all-tnb)
      "$SWAPBENCH" study configs/fig4.toml --seeds 0 --limit-archs "${TNB_ARCHS:-50}" --columns "$TNB" \
        --out results/fig4-tnb --reference "$REFERENCE" "${extra[@]}" ;;
    *) echo "unknown stage '$stage' (swap-paper, swap-official, all or all-tnb)" >&2; exit 2 ;;
  esac
done

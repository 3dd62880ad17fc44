#!/usr/bin/env bash
# Our metrics against NAS-Bench-Suite-Zero's stored scores beyond NB201 (results/validate-*): 200 archs of
# NB101, NB301, TNB101-micro and -macro class_scene, seed 0, the nbsz protocol (batch 32, a fresh augmented
# batch per architecture). NB101 and NB301: every stored metric (about 1 h each on 2 cores for grasp, fisher,
# plain and epe_nas, whose shared pass carries GraSP's double backward); TNB101: the stored metrics that cost
# about one forward + backward (about 40 min). Committed runs are imported into the cache first, so a rerun only scores
# what they lack.
set -euo pipefail
cd "$(dirname "$0")/.."
SWAPBENCH=swapbench; [ -x .venv/bin/swapbench ] && SWAPBENCH=.venv/bin/swapbench
runs=(); for d in results/validate-*/; do [ -f "$d/scores.csv.gz" ] && runs+=("${d%/}"); done
[ ${#runs[@]} -eq 0 ] || "$SWAPBENCH" cache import "${runs[@]}" --cache runs/validate.sqlite
run() {
  "$SWAPBENCH" validate --space "$1" --task "$2" --metrics "$3" --n-archs 200 --protocol nbsz --workers 2 --threads 1 \
    --out "results/validate-$1-$2" --cache runs/validate.sqlite
}
run nb101 cifar10 params,flops,l2_norm,synflow,snip,grad_norm,jacov,grasp,fisher,plain,epe_nas
run nb301 cifar10 params,flops,l2_norm,synflow,snip,grad_norm,jacov,grasp,fisher,plain,epe_nas
run tnb101_micro class_scene params,flops,l2_norm,nwot,snip,grad_norm,jacov,grasp,fisher,plain,epe_nas
# the macro column's grasp, fisher, plain and epe_nas (about 26 min per 50 archs on 2 workers), in
# results/validate-tnb101_macro-class_scene-grasp-pass
"$SWAPBENCH" validate --space tnb101_macro --task class_scene --metrics grasp,fisher,plain,epe_nas --n-archs 200 \
  --protocol nbsz --workers 2 --threads 1 --out results/validate-tnb101_macro-class_scene-grasp-pass \
  --cache runs/validate.sqlite
run tnb101_macro class_scene params,flops,l2_norm,nwot,snip,grad_norm,jacov

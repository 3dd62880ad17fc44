#!/usr/bin/env bash
# On a machine with a GPU (about 8 minutes): seconds per architecture of every metric on every Fig. 4 column,
# then the SWAP / reg-SWAP rows of Fig. 4 at the full protocol (13 columns x min(1000, available) archs x 5
# seeds), several worker processes sharing the GPU. Writes
#   bench/results/gpu_metric_seconds.csv   column, metric, seconds per arch (and the machine)
#   bench/results/gpu_fig4_swap/           the run directory of the SWAP rows (summary, heatmap, gaps)
#   bench/results/gpu_fig4_swap.csv        its summary, one row per column and metric
# Everything goes through the score cache (GPU_CHECK_CACHE), so a second call resumes where a timeout stopped.
# Knobs (environment): GPU_CHECK_DEVICE (cuda), GPU_CHECK_WORKERS_PER_GPU (4), GPU_CHECK_TIMING_ARCHS (5),
# GPU_CHECK_SWAP_ARCHS (full: 1000), GPU_CHECK_SWAP_SECONDS (300), GPU_CHECK_DATA (../shared/data),
# GPU_CHECK_COLUMNS (all; e.g. nb201/cifar10 for a dry run on CPU), GPU_CHECK_OUT (bench/results).
set -uo pipefail
cd "$(dirname "$0")/.."
SWAPBENCH=swapbench; [ -x .venv/bin/swapbench ] && SWAPBENCH=.venv/bin/swapbench
PY=python3; [ -x .venv/bin/python ] && PY=.venv/bin/python
DEVICE=${GPU_CHECK_DEVICE:-cuda}
PER_GPU=${GPU_CHECK_WORKERS_PER_GPU:-4}
DATA=${GPU_CHECK_DATA:-../shared/data}
CACHE=${GPU_CHECK_CACHE:-runs/gpu_check.sqlite}
TMP=$(mktemp -d)
# a large card holds every network's whole graphs: skip the block checkpointing that bounds CPU memory
PARALLEL=(--workers-per-gpu "$PER_GPU" --checkpointing off)
[ "$DEVICE" = cuda ] || PARALLEL=(--workers 2)
export SWAPBENCH_PROGRESS_INTERVAL=${SWAPBENCH_PROGRESS_INTERVAL:-20}
OUT=${GPU_CHECK_OUT:-bench/results}
COLUMNS=(); [ -n "${GPU_CHECK_COLUMNS:-}" ] && COLUMNS=(--columns "$GPU_CHECK_COLUMNS")
mkdir -p "$OUT"

echo "== 1. every metric on every column, ${GPU_CHECK_TIMING_ARCHS:-5} archs, seed 0 ($DEVICE)"
"$SWAPBENCH" study configs/fig4.toml --limit-archs "${GPU_CHECK_TIMING_ARCHS:-5}" --seeds 0 --device "$DEVICE" \
  --data-dir "$DATA" --cache "$CACHE" --out "$TMP/timing" "${COLUMNS[@]}" "${PARALLEL[@]}" || exit $?
"$PY" - "$TMP/timing/run.json" "$OUT/gpu_metric_seconds.csv" <<'PYEOF'
import csv, json, sys
meta = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["column", "metric", "seconds_per_arch", "archs", "device", "cuda", "workers"])
    for col in meta["columns"]:
        for metric, secs in col["per_metric_seconds"].items():
            w.writerow([col["column"], metric, secs, col["archs_per_seed"], meta["machine"]["device"],
                        meta["machine"]["cuda"], (meta.get("execution") or {}).get("workers")])
print(f"wrote {sys.argv[2]}")
PYEOF

echo "== 2. SWAP and reg-SWAP rows of Fig. 4 at the full protocol (at most ${GPU_CHECK_SWAP_SECONDS:-300} s)"
LIMIT=(); [ -n "${GPU_CHECK_SWAP_ARCHS:-}" ] && LIMIT=(--limit-archs "$GPU_CHECK_SWAP_ARCHS")
timeout "${GPU_CHECK_SWAP_SECONDS:-300}" "$SWAPBENCH" study configs/fig4.toml --proxies swap,reg_swap \
  --device "$DEVICE" --data-dir "$DATA" --cache "$CACHE" --out "$OUT/gpu_fig4_swap" \
  --reference ../shared/reference/paper_fig4_spearman.csv "${LIMIT[@]}" "${COLUMNS[@]}" "${PARALLEL[@]}"
code=$?
if [ "$code" -eq 0 ]; then
  cp "$OUT/gpu_fig4_swap/summary.csv" "$OUT/gpu_fig4_swap.csv"
  echo "wrote $OUT/gpu_fig4_swap/ and $OUT/gpu_fig4_swap.csv"
else
  echo "the SWAP rows stopped (exit $code); their scores are kept in $CACHE: run this script again to resume"
fi
rm -rf "$TMP"
exit "$code"

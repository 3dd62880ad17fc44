#!/usr/bin/env bash
# Installs swapbench the way a user of the library does (a wheel, not an editable install) into a fresh
# virtualenv and runs the cheap form of every command from a directory outside the source tree, with HOME
# pointing into the temp dir (so `lswag-band` writes to a user location there, never into the package).
#
#   scripts/wheel_check.sh [DATA_DIR]        (default: $SWAPBENCH_DATA, else ../shared/data)
#
# Prints one line per command with its exit code and ends with a summary; exits 1 if any command failed.
# KEEP=1 keeps the temp dir (its path is printed). PYTHON picks the interpreter (default python3).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${1:-${SWAPBENCH_DATA:-$ROOT/../shared/data}}
[ -d "$DATA" ] || { echo "error: data dir $DATA not found; pass it as the first argument" >&2; exit 2; }
DATA=$(cd "$DATA" && pwd)
PYTHON=${PYTHON:-python3}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/swapbench-wheel.XXXXXX")
[ "${KEEP:-0}" = 1 ] && echo "temp dir: $TMP" || trap 'rm -rf "$TMP"' EXIT

step() { echo "--- $*"; }

# 1. a wheel from the files a checkout has (tracked and new, not ignored), built outside the work tree
step "wheel"
mkdir -p "$TMP/src" "$TMP/dist"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$ROOT" && git ls-files -co --exclude-standard -z) |
    (cd "$ROOT" && while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done) |
    tar -C "$ROOT" --null -T - -cf - | tar -C "$TMP/src" -xf -
else
  cp -a "$ROOT/." "$TMP/src/"
fi
pip_step() {  # pip_step WHAT ARGS...: pip's chatter goes to $TMP/pip.log, shown only when it fails
  local what=$1; shift
  "$@" >>"$TMP/pip.log" 2>&1 || { tail -30 "$TMP/pip.log" >&2; echo "error: $what failed" >&2; exit 1; }
}
pip_step "building the wheel" "$PYTHON" -m pip wheel -q --no-deps -w "$TMP/dist" "$TMP/src"
WHEEL=$(ls "$TMP"/dist/swapbench-*.whl)
echo "built $(basename "$WHEEL")"
for data in "swapbench/proxies/priors/reg_swap.toml" "swapbench/proxies/priors/lswag_bands.toml" \
            "swapbench/study/paper/table3_input_size.csv" "swapbench/study/paper/tables4-6_regulariser.csv"; do
  unzip -l "$WHEEL" | grep -q " $data\$" || { echo "error: the wheel lacks the package data $data" >&2; exit 1; }
done
echo "package data in the wheel: priors (reg_swap.toml, lswag_bands.toml), study/paper tables"

# 2. a fresh virtualenv: the pinned CPU torch first, then the wheel and its dependencies
step "virtualenv"
"$PYTHON" -m venv "$TMP/venv"
pip_step "installing torch==2.13.0" "$TMP/venv/bin/python" -m pip install -q torch==2.13.0
pip_step "installing the wheel" "$TMP/venv/bin/python" -m pip install -q "$WHEEL"
echo "installed: $("$TMP/venv/bin/python" -m pip list 2>/dev/null | grep -Ei '^(swapbench|torch) ' | tr -s ' ' | paste -sd, -)"
SB=$TMP/venv/bin/swapbench

# 3. every command, from a directory that is not the source tree, with a temp HOME
mkdir -p "$TMP/work" "$TMP/home"
cd "$TMP/work" || exit 1
export HOME=$TMP/home
unset SWAPBENCH_HOME XDG_DATA_HOME PYTHONPATH
cat > tiny_study.toml <<'EOF'
name = "tiny"
proxies = ["params", "flops"]
seeds = [0]
n_archs = 5

[[columns]]
space = "nb201"
task = "cifar10"
EOF

declare -a RESULTS=()
FAILED=0
run() {  # run NAME EXPECTED_CODE ARGS...: the command's output goes to NAME.log
  local name=$1 expect=$2; shift 2
  local t0=$SECONDS
  "$SB" "$@" >"$name.log" 2>&1
  local rc=$?
  local line
  line=$(printf '%-24s exit %-3s (%ss)  swapbench %s' "$name" "$rc" "$((SECONDS - t0))" "$*")
  if [ "$rc" != "$expect" ]; then
    line="$line   FAILED (expected $expect)"
    FAILED=1
    sed 's/^/    | /' "$name.log" | tail -15
  fi
  echo "$line"
  RESULTS+=("$line")
}

step "commands (cwd $TMP/work, HOME $HOME)"
run help 0 --help
run proxies 0 proxies
run spaces 0 spaces
run protocols 0 protocols
run data-status 0 data status --data-dir "$DATA"
run data-use 0 data use "$DATA"
run data-fetch 0 data fetch nbsz --data-dir "$DATA"
run correlate 0 correlate --space nb201 --task cifar10 --proxies params,flops --n-archs 5 --seeds 0 \
  --data-dir "$DATA" --out out/correlate
run study 0 study tiny_study.toml --data-dir "$DATA" --out out/study --cache out/study-cache.sqlite
run regress 0 regress out/study --data-dir "$DATA"
run report 0 report out/study
run search 0 search --space nb201 --task cifar10 --metric params --population 2 --cycles 1 --mutation-times 1 \
  --no-baseline --batch-size 4 --data-dir "$DATA" --out out/search
run lswag-band 0 lswag-band --space nb201 --task cifar10 --n-networks 2 --batch-size 8 --data-dir "$DATA"
run ablation-input-size 0 ablation input-size --space nb201 --task cifar10 --n-archs 3 --sizes 3,8 --batch-size 4 \
  --data-dir "$DATA" --out out/input-size --cache out/ablation-cache.sqlite
run ablation-regularisation 0 ablation regularisation --space nb201 --task cifar10 --groups 1 --group-size 3 \
  --mus 1.5 --sigmas 1.5 --forms paper --batch-size 4 --data-dir "$DATA" --out out/reg --cache out/ablation-cache.sqlite
run ablation-size-control 0 ablation size-control --space nb201 --task cifar10 --mus 0.5,1.0 --seeds 0 \
  --population 2 --cycles 1 --mutation-times 1 --n-random 3 --batch-size 4 --data-dir "$DATA" --out out/size-control
run bad-option 2 correlate --space nb201 --task cifar10 --n-archs 0

step "checks"
BANDS=$HOME/.local/share/swapbench/lswag_bands.toml
if [ -f "$BANDS" ] && grep -q "^\[nb201.cifar10\]" "$BANDS"; then
  echo "lswag-band stored its band in the user location $BANDS"
else
  echo "FAILED: lswag-band left no band in $BANDS"; FAILED=1
fi
CHANGED=$("$TMP/venv/bin/python" -m pip show -f swapbench >/dev/null 2>&1 &&
  find "$TMP/venv/lib" -path '*site-packages/swapbench*' -newer "$TMP/work/tiny_study.toml" -type f ! -name '*.pyc')
if [ -z "$CHANGED" ]; then
  echo "nothing was written into the installed package"
else
  echo "FAILED: files written into the installed package:"; echo "$CHANGED"; FAILED=1
fi
"$TMP/venv/bin/python" - <<'EOF' || FAILED=1
import swapbench, sys
from swapbench.proxies.priors import read_bands, reg_swap_prior
assert "site-packages" in swapbench.__file__, swapbench.__file__
assert reg_swap_prior("nb201", "cifar10") == 1.5 and read_bands()["nb101"]["cifar10"]["p_hi"] == 9
print(f"library import from {swapbench.__file__}: priors read as package data")
EOF

step "summary"
printf '%s\n' "${RESULTS[@]}"
if [ "$FAILED" = 0 ]; then echo "wheel check passed"; else echo "wheel check FAILED"; exit 1; fi

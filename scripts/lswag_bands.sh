#!/usr/bin/env bash
# L-SWAG layer bands shipped in swapbench/proxies/priors/lswag_bands.toml, chosen label-free by
# `swapbench lswag-band` (gradient statistics of networks sampled from the space; no accuracy is read). Each
# call replaces its (space, task) entry. NB201 from 100 networks, NB101/NB301 from 30, the 14
# TransNAS-Bench-101 tasks from 20.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin; [ -x "$BIN/swapbench" ] || BIN=$(dirname "$(command -v swapbench)")
BANDS=(--band-file swapbench/proxies/priors/lswag_bands.toml)  # the packaged file, not the user's
for task in cifar10 cifar100 ImageNet16-120; do
  "$BIN/swapbench" lswag-band --space nb201 --task "$task" --n-networks 100 "${BANDS[@]}"
done
"$BIN/swapbench" lswag-band --space nb101 --task cifar10 --n-networks 30 "${BANDS[@]}"
"$BIN/swapbench" lswag-band --space nb301 --task cifar10 --n-networks 30 "${BANDS[@]}"
for space in tnb101_micro tnb101_macro; do
  for task in class_scene class_object jigsaw room_layout autoencoder normal segmentsemantic; do
    "$BIN/swapbench" lswag-band --space "$space" --task "$task" --n-networks 20 "${BANDS[@]}"
  done
done

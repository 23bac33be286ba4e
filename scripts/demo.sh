#!/usr/bin/env bash
# The main job on a fresh machine: install the TensorFlow-free runtime (.venv-runtime:
# specs, zoo, runtime only), then predict poses on a video with the pretrained
# stacked_densenet.mirror_mouse model (shipped inside dpk-zoo, so it works offline):
# a CSV and an HDF5 of keypoints, an overlay video and a trajectory plot.
#
# Usage: bash scripts/demo.sh [VIDEO] [OUTPUT_FOLDER] [MODEL]
. "$(dirname "$0")/_env.sh"
cd "$ROOT"
VIDEO="${1:-$ROOT/../shared/data/lp-mirror-mouse/videos/test_vid.mp4}"
OUT="${2:-$ROOT/out/demo}"
MODEL="${3:-stacked_densenet.mirror_mouse}"
make_venv .venv-runtime ./specs ./zoo ./runtime
DPK=.venv-runtime/bin/dpk
mkdir -p "$OUT"
$DPK --version
$DPK zoo info "$MODEL"
$DPK predict "$VIDEO" --model "$MODEL" -o "$OUT/poses.csv" -o "$OUT/poses.h5"
$DPK render "$VIDEO" "$OUT/poses.h5" -o "$OUT/overlay.mp4"
$DPK plot "$OUT/poses.h5" -o "$OUT/trajectories.png"
echo
echo "done: poses in $OUT/poses.csv and $OUT/poses.h5, overlay video $OUT/overlay.mp4,"
echo "      trajectories and confidence over time in $OUT/trajectories.png"

#!/usr/bin/env bash
# Every inference-speed table of docs/benchmarks.md (issue 15) in one run, on this machine:
#
#   1. speed.py       onnxruntime vs TensorFlow's compiled network, each architecture of the
#                     paper plus dpk's U-Net, batch 1, 32 and 100; Predictor.run at the
#                     runtime's default call size; the peak finder's share.
#   2. vs_original.py dpk's Stacked DenseNet through Predictor.predict vs the original
#                     DeepPoseKit 0.3.9 (SELU as in the paper, leaky ReLU, leaky ReLU with
#                     16-channel blocks), batch 1 and 100.
#   3. precision.py   float32 / float16 / int8 copies of the shipped zoo models: speed at
#                     batch 1 and 32 and the error each adds on the held-out frames.
#   4. op_profile.py  where onnxruntime spends the time, per operator type.
#   5. gpu_speed.py   CUDA / TensorRT rows, only where nvidia-smi finds a GPU.
#
# Ratios are only comparable within one run (the machine is shared): run it on an idle
# machine and quote the tables it prints together. Each script also writes its JSON to
# benchmarks/results/. The original DeepPoseKit's environment (.venv-dpk039) is made by
# scripts/original_dpk_env.sh when it is missing.
#
# Usage: bash benchmarks/speed_all.sh [--quick]    (THREADS=2 by default; the log goes to
# stdout: tee it). --quick runs each script's smoke setting (minutes, not an hour).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
THREADS="${THREADS:-2}"
QUICK=()
[ "${1:-}" = "--quick" ] && QUICK=(--quick)

stage() { echo; echo "=== $1 ($(date -u +%H:%M:%S) UTC)"; }

stage "speed.py: onnxruntime vs TensorFlow"
"$PY" benchmarks/speed.py --threads "$THREADS" "${QUICK[@]}"

stage "vs_original.py: dpk vs DeepPoseKit 0.3.9"
[ -x .venv-dpk039/bin/python ] || bash scripts/original_dpk_env.sh
"$PY" benchmarks/vs_original.py --threads "$THREADS" "${QUICK[@]}"

stage "precision.py: float32 / float16 / int8 of the zoo models"
ZOO=zoo/src/dpk/zoo/models
MODELS=()  # the shipped float models (unet.fly13_int8 is already the int8 copy)
for name in unet.fly13 stacked_densenet.fly13 deeplabcut.fly13 unet.mirror_mouse \
  stacked_densenet.mirror_mouse; do MODELS+=(--model "$ZOO/$name.onnx"); done
if [ ${#QUICK[@]} -eq 0 ]; then
  "$PY" benchmarks/precision.py "${MODELS[@]}" --threads "$THREADS" --rounds 3
else
  "$PY" benchmarks/precision.py "${MODELS[@]}" --threads "$THREADS" --quick
fi

stage "op_profile.py: time per operator type"
"$PY" benchmarks/op_profile.py --threads "$THREADS"

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  stage "gpu_speed.py: CUDA and TensorRT"
  "$PY" benchmarks/gpu_speed.py "${QUICK[@]}"
else
  stage "gpu_speed.py: skipped (no NVIDIA GPU here)"
fi
stage "done"

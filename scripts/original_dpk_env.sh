#!/usr/bin/env bash
# Benchmark-only environment for the original DeepPoseKit 0.3.9 (Graving et al. 2019).
#
# Why: issue 15 compares dpk's exported Stacked DenseNet (through dpk.runtime.Predictor)
# with the original package's own predict model on the same machine. The original's last
# PyPI release, deepposekit 0.3.9, is a TensorFlow 2.x / tf.keras package; it runs on the
# project's TensorFlow (2.21, the trainer's pin in constraints.txt) through tf-keras
# (TF_USE_LEGACY_KERAS=1), with numpy 2 and h5py 3 patched at run time by the small shims
# in benchmarks/vs_original.py (nothing in site-packages is edited).
#
# This environment is for benchmarks/vs_original.py ONLY: nothing in dpk imports
# deepposekit, and the project's own .venv must never get it (its imgaug/opencv pins and
# tf-keras would shadow the trainer's Keras 3).
#
# Usage: scripts/original_dpk_env.sh   -> .venv-dpk039/ at the repo root (gitignored by
# .venv*/). Idempotent: an existing environment that imports deepposekit is reused.
# Set DPK_PYTHON to a Python 3.11 interpreter if it is not on PATH.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/_env.sh"   # ROOT, find_python

VENV="$ROOT/.venv-dpk039"
PY="$VENV/bin/python"
TF_VERSION="$(sed -n 's/^tensorflow==//p' "$ROOT/constraints.txt")"
TF_MINOR="${TF_VERSION%.*}"   # 2.21.0 -> 2.21

# Versions, and the imports that need no shim (imgaug needs benchmarks/vs_original.py's).
check() {
  TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=3 "$PY" - <<'EOF' 2>/dev/null
import importlib.metadata as m
assert m.version("deepposekit") == "0.3.9"
import cv2, h5py, numpy, sklearn, tensorflow, tf_keras  # noqa: F401
assert numpy.__version__.startswith("2.")
print(f"deepposekit 0.3.9, tensorflow {tensorflow.__version__}, tf-keras {tf_keras.__version__}, "
      f"numpy {numpy.__version__}, h5py {h5py.__version__}, imgaug {m.version('imgaug')}")
EOF
}

# pip without the index-location warnings of this machine's pip configuration.
pip_install() {
  "$PY" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 |
    { grep -v "is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}

if [ -x "$PY" ] && versions="$(check)"; then
  echo "[1/1] reusing .venv-dpk039: $versions"
  exit 0
fi

echo "[1/5] virtual environment .venv-dpk039 (Python 3.11)"
[ -x "$PY" ] || "$(find_python)" -m venv "$VENV"
pip_install --upgrade "pip>=24" 2>/dev/null || true

echo "[2/5] tensorflow==$TF_VERSION and tf-keras~=$TF_MINOR.0 (the trainer's TensorFlow)"
pip_install -c "$ROOT/constraints.txt" "tensorflow==$TF_VERSION" "tf-keras~=$TF_MINOR.0"

# deepposekit and imgaug declare opencv-python (GUI build); use the headless wheel and
# install both without their declared dependencies, listing what they import instead.
echo "[3/5] numpy 2, h5py 3, opencv-python-headless and what deepposekit/imgaug import"
pip_install -c "$ROOT/constraints.txt" "numpy>=2" h5py opencv-python-headless matplotlib \
  pandas pyyaml scipy scikit-image scikit-learn imageio pillow six shapely

echo "[4/5] imgaug 0.4.0 and deepposekit==0.3.9 (--no-deps)"
pip_install --no-deps "imgaug==0.4.0" "deepposekit==0.3.9"

versions="$(check)" || { echo "error: .venv-dpk039 does not import deepposekit's stack" >&2; exit 1; }
echo "[5/5] ready: $versions"

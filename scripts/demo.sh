#!/usr/bin/env bash
# The main job on a fresh machine: install the TensorFlow-free runtime (.venv-runtime:
# specs, zoo, runtime) and run it.
. "$(dirname "$0")/_env.sh"
cd "$ROOT"
make_venv .venv-runtime ./specs ./zoo ./runtime
DPK=.venv-runtime/bin/dpk
$DPK --version
$DPK doctor
$DPK spec check examples/*.yaml

"""The public API of dpk.runtime, and that importing it (and its verbs) stays cheap."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import dpk.runtime

HEAVY = ("cv2", "onnxruntime", "matplotlib", "h5py", "tqdm")


def test_every_public_name_resolves():
    for name in dpk.runtime.__all__:
        assert getattr(dpk.runtime, name) is not None, name
    assert set(dpk.runtime.__all__) <= set(dir(dpk.runtime))
    assert dpk.runtime.Predictor.__module__ == "dpk.runtime.predictor"


def test_importing_the_runtime_and_registering_its_verbs_loads_nothing_heavy():
    script = (
        "import argparse, sys\n"
        "import dpk.runtime, dpk.runtime.commands as c, dpk.runtime.cli\n"
        "sub = argparse.ArgumentParser().add_subparsers()\n"
        "for name in ('predict', 'filter', 'render', 'plot', 'info', 'benchmark'):\n"
        "    getattr(c, 'register_' + name)(sub)\n"
        "dpk.runtime.cli.register_doctor(sub)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_runtime_declares_its_verbs_filter_included():
    declared = {e.name: e.value for e in entry_points(group="dpk.commands")}
    for verb in ("doctor", "predict", "filter", "render", "plot", "info", "benchmark"):
        assert declared.get(verb, "").startswith("dpk.runtime."), verb
    assert declared["filter"] == "dpk.runtime.commands:register_filter"


def test_dpk_filter_help_names_its_methods():
    out = subprocess.run(
        [sys.executable, "-m", "dpk.runtime.cli", "filter", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for method in ("kalman", "median", "savgol"):
        assert method in out

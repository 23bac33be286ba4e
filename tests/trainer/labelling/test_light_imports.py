"""The labelling tools and the label formats ship with dpk-trainer but never load
TensorFlow, Keras or tf2onnx: checked in a fresh interpreter, after importing every module
and after ``dpk annotate --help`` (the import-linter contract ``labels-no-tensorflow``
checks the same statically)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

HEAVY = ("tensorflow", "keras", "tf2onnx")

LABELLING = ("cli", "convert", "merge", "outliers", "project", "sample", "server", "starter")
FORMATS = ("coco", "dlc", "dpk_h5", "sleap")

SCRIPT = f"""
import importlib
import sys

def heavy():
    return sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))

importlib.import_module('dpk.trainer.labelling')
for name in {LABELLING!r}:
    importlib.import_module('dpk.trainer.labelling.' + name)
importlib.import_module('dpk.trainer.labels')
from dpk.trainer.labels.formats import LABEL_FORMATS
for name in {FORMATS!r}:
    importlib.import_module('dpk.trainer.labels.formats.' + name)
for entry in LABEL_FORMATS.values():
    entry.function('detect')
print('IMPORTS:' + ','.join(heavy()))

from dpk.runtime.cli import main
try:
    main(['annotate', '--help'])
except SystemExit as exit_:
    assert exit_.code == 0, exit_.code
print('ANNOTATE:' + ','.join(heavy()))
"""


def test_labelling_and_label_formats_load_no_tensorflow():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(("IMPORTS:", "ANN"))]
    assert lines == ["IMPORTS:", "ANNOTATE:"], result.stdout + result.stderr
    assert "usage: dpk annotate" in result.stdout


def test_the_dpk_command_registers_the_labelling_verbs_from_the_trainer():
    from importlib.metadata import entry_points

    verbs = {e.name: e for e in entry_points(group="dpk.commands")}
    for verb in ("sample", "annotate", "outliers", "merge", "project"):
        assert verbs[verb].value == f"dpk.trainer.labelling.cli:register_{verb}"
        assert verbs[verb].dist is not None and verbs[verb].dist.name == "dpk-trainer"


def test_the_annotation_page_ships_with_the_trainer_package():
    from importlib import resources

    static = resources.files("dpk.trainer.labelling").joinpath("static")
    for name in ("index.html", "app.js", "app.css"):
        assert static.joinpath(name).is_file(), name

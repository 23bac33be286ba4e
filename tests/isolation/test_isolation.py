"""The runtime never needs TensorFlow: proven statically, in this environment, and in a
fresh virtual environment that holds only specs, zoo and runtime (DESIGN.md, section 1)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import venv

import pytest

from tests.conftest import ROOT, SHARED_DATA

FORBIDDEN = ("tensorflow", "keras", "tf2onnx", "dpk.trainer")
LIGHT_PARTS = ("specs", "zoo", "runtime")
LABELLING_VERBS = ("sample", "annotate", "outliers", "merge", "project")

CHECK_SCRIPT = """
import sys
def heavy(trainer):
    return sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx')
                  or (trainer and m.startswith('dpk.trainer')))
import dpk.specs, dpk.zoo, dpk.runtime
print('RUNTIME:' + ','.join(heavy(trainer=True)))
from dpk.runtime.cli import build_parser
build_parser()  # registers every installed part's verbs (the trainer's light cli module too)
print('CLI:' + ','.join(heavy(trainer=False)))
"""


def _imported_names(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", ""))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


def test_static_import_contract():
    offenders = []
    for part in LIGHT_PARTS:
        for path in (ROOT / part / "src").rglob("*.py"):
            for line, name in _imported_names(ast.parse(path.read_text(), str(path))):
                if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                    offenders.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_runtime_import_loads_no_tensorflow_in_full_environment():
    out = subprocess.run(
        [sys.executable, "-c", CHECK_SCRIPT], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["RUNTIME:", "CLI:"], out


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fresh_runtime_only_environment(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(ROOT / "constraints.txt"),
            *(str(ROOT / part) for part in LIGHT_PARTS),
        ],
        check=True,
        env=environ,
        cwd=tmp_path,
    )
    for module in ("tensorflow", "keras", "tf2onnx", "dpk.trainer"):
        probe = subprocess.run(
            [str(python), "-c", f"import {module}"],
            capture_output=True,
            text=True,
            env=environ,
            cwd=tmp_path,
        )
        assert probe.returncode != 0, f"{module} is importable in the runtime-only environment"
        assert "ModuleNotFoundError" in probe.stderr

    def output(*argv: object) -> str:
        done = subprocess.run(
            [str(a) for a in argv],
            capture_output=True,
            text=True,
            check=True,
            env=environ,
            cwd=tmp_path,
        )
        return done.stdout

    out = output(python, "-c", CHECK_SCRIPT)
    assert out.split() == ["RUNTIME:", "CLI:"], out
    version = output(env_dir / "bin" / "dpk", "--version")
    assert "dpk-runtime 0.1.0" in version and "dpk-trainer (not installed)" in version
    # the runtime alone predicts: labelling verbs come with dpk-trainer
    usage = output(env_dir / "bin" / "dpk", "--help")
    verbs = set(re.findall(r"^    ([a-z]+)\b", usage, flags=re.MULTILINE))
    assert {"predict", "render", "filter"} <= verbs, usage
    assert not verbs & set(LABELLING_VERBS), usage
    freeze = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
        env=environ,
    ).stdout.lower()
    names = {line.split("==")[0] for line in freeze.splitlines()}
    assert not {"onnxruntime", "onnxruntime-gpu"} <= names, "both onnxruntime packages installed"
    # a pretrained model shipped inside dpk-zoo predicts on the real video by name, offline
    video = SHARED_DATA / "lp-mirror-mouse" / "videos" / "test_vid.mp4"
    out = tmp_path / "poses.csv"
    offline = {**environ, "DPK_OFFLINE": "1", "DPK_HOME": str(tmp_path / "home")}
    subprocess.run(
        [
            str(env_dir / "bin" / "dpk"),
            "predict",
            str(video),
            "--model",
            "stacked_densenet.mirror_mouse",
            "--stop",
            "20",
            "--quiet",
            "-o",
            str(out),
        ],
        check=True,
        env=offline,
        cwd=tmp_path,
    )
    rows = out.read_text().splitlines()
    assert len(rows) == 21 and rows[0].startswith("frame,paw1LH_top_x")
    size = sum(f.stat().st_size for f in env_dir.rglob("*") if f.is_file())
    print(f"runtime-only environment: {size / 2**20:.0f} MiB")

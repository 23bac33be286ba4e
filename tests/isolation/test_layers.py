"""The layers hold by imports: import-linter's contracts (pyproject.toml, run by
scripts/test.sh) name all four parts in order, and they catch a bad import, direct or
indirect, when one is injected into a copy of the sources (DESIGN.md, section 1)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

PARTS = ("specs", "zoo", "runtime", "trainer")

# Runs import-linter on the copy only: the repository's source folders (put on sys.path
# by the editable installs) are taken off so that `dpk` is the copy's namespace.
LINT = """
import sys
copy, config = sys.argv[1], sys.argv[2]
parts = ("specs", "zoo", "runtime", "trainer")
sys.path[:] = [f"{copy}/{p}/src" for p in parts] + [
    p for p in sys.path if not any(p.rstrip("/").endswith(f"{q}/src") for q in parts)
]
from importlinter.cli import lint_imports
sys.exit(lint_imports(config_filename=config, no_cache=True, no_logo=True))
"""


def _config() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["tool"]["importlinter"]


def test_contracts_name_every_part_in_order() -> None:
    config = _config()
    assert config["root_packages"] == ["dpk"]
    contracts = {c["id"]: c for c in config["contracts"]}
    assert contracts["layers"]["type"] == "layers"
    assert contracts["layers"]["layers"] == [f"dpk.{p}" for p in reversed(PARTS)]
    forbidden = contracts["no-tensorflow"]
    assert forbidden["source_modules"] == ["dpk.specs", "dpk.zoo", "dpk.runtime"]
    assert set(forbidden["forbidden_modules"]) == {"tensorflow", "keras", "tf2onnx"}
    labels = contracts["labels-no-tensorflow"]
    assert labels["source_modules"] == ["dpk.trainer.labels", "dpk.trainer.labelling"]
    assert set(labels["forbidden_modules"]) == {"tensorflow", "keras", "tf2onnx"}
    assert config["include_external_packages"] is True


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("layers")
    for part in PARTS:
        shutil.copytree(
            ROOT / part / "src",
            copy / part / "src",
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
        )
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def _lint(copy: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LINT, str(copy), str(copy / "pyproject.toml")],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_sources_keep_the_contracts(source_copy: Path) -> None:
    result = _lint(source_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("part", "module", "line", "contract"),
    [
        ("specs", "skeleton", "import dpk.zoo.registry", "specs <- zoo"),
        ("zoo", "errors", "from dpk.runtime import model_file", "specs <- zoo"),
        ("runtime", "model_file", "import dpk.trainer.cli", "specs <- zoo"),
        ("zoo", "errors", "import keras", "never reach TensorFlow"),
        # Indirect: specs -> a new runtime module -> TensorFlow.
        ("specs", "skeleton", "import dpk.runtime.bad_helper", "never reach TensorFlow"),
        # The labelling tools reaching the trainer's Keras code.
        (
            "trainer",
            "labelling.server",
            "import dpk.trainer.training",
            "labels and labelling never",
        ),
    ],
)
def test_a_bad_import_breaks_a_contract(
    source_copy: Path, tmp_path: Path, part: str, module: str, line: str, contract: str
) -> None:
    copy = tmp_path / "src"
    shutil.copytree(source_copy, copy)
    target = copy / part / "src" / "dpk" / part / f"{module.replace('.', '/')}.py"
    target.write_text(target.read_text() + f"\n{line}  # injected\n")
    if "bad_helper" in line:
        helper = copy / "runtime" / "src" / "dpk" / "runtime" / "bad_helper.py"
        helper.write_text('"""Imports TensorFlow."""\n\nimport tensorflow\n')
    result = _lint(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(contract in row for row in broken), result.stdout
    assert f"dpk.{part}.{module}" in result.stdout

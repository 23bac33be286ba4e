"""No committed file carries a path of the machine it was made on (a home folder, the
workspace): text files are read whole, model files (.onnx) by their metadata."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Written so that this file does not match itself.
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|root|home|Users)/|[A-Za-z]:\\Users\\")


def _committed_files() -> list[str]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an sdist)
        return []
    return sorted(name for name in listed.decode().split("\0") if name)


FILES = _committed_files()


def _texts(path: Path) -> list[tuple[str, str]]:
    """(where, text) pairs to search: an ONNX file's metadata, or a text file's contents."""
    if path.suffix == ".onnx":
        import onnx

        proto = onnx.load(str(path), load_external_data=False)
        return [(f"metadata {p.key}", p.value) for p in proto.metadata_props] + [
            ("doc_string", proto.doc_string)
        ]
    data = path.read_bytes()
    if b"\0" in data[:8192]:  # binary (images): nothing to read
        return []
    return [("", data.decode("utf-8", errors="replace"))]


@pytest.mark.skipif(not FILES, reason="not a git checkout")
@pytest.mark.parametrize("name", FILES)
def test_no_machine_path(name: str) -> None:
    path = ROOT / name
    if not path.is_file():  # deleted in the work tree, not yet committed
        pytest.skip("not in the work tree")
    found = []
    for where, text in _texts(path):
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append(f"{where or f'line {number}'}: {line.strip()[:300]}")
    assert not found, f"{name} holds a path of this machine:\n" + "\n".join(found[:5])


def test_the_model_files_and_the_benchmark_results_are_covered() -> None:
    if not FILES:
        pytest.skip("not a git checkout")
    assert "benchmarks/results/train_real.json" in FILES
    assert any(name.endswith(".onnx") for name in FILES)

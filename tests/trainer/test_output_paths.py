"""dpk export and dpk publish check their outputs before any slow work (issue 11)."""

from __future__ import annotations

import os
import sys

import pytest


@pytest.fixture
def fake_run(tmp_path):
    """A folder with the files dpk export reads (their content is never reached)."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("spec.yaml", "best.keras", "check_images.npz", "summary.json"):
        (run / name).write_bytes(b"precious")
    return run


def _one_line(code, err, *needles):
    assert code != 0 and "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if "error" in line]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.mark.parametrize("name", ["best.keras", "spec.yaml", "link.onnx"])
def test_export_refuses_to_overwrite_the_run(run_cli, fake_run, name):
    output = fake_run / name
    if name == "link.onnx":
        os.link(fake_run / "check_images.npz", output)
    code, _, err = run_cli("export", fake_run, "-o", output)
    _one_line(code, err, str(output), "is an input", "choose another output name")
    assert (fake_run / "best.keras").read_bytes() == b"precious"
    assert "tensorflow" not in sys.modules or code == 2


def test_export_refuses_a_read_only_output_or_variant(run_cli, fake_run, tmp_path):
    variant = tmp_path / "m.fp16.onnx"
    variant.write_bytes(b"old")
    variant.chmod(0o444)
    code, _, err = run_cli("export", fake_run, "-o", tmp_path / "m.onnx", "--precision", "fp16")
    _one_line(code, err, "m.fp16.onnx", "is read-only")
    assert variant.read_bytes() == b"old" and not (tmp_path / "m.onnx").exists()


def test_publish_refuses_a_read_only_registry_before_the_slow_work(run_cli, fake_run, tmp_path):
    registry = tmp_path / "registry.yaml"
    registry.write_text("[]\n")
    registry.chmod(0o444)
    code, _, err = run_cli(
        "publish", fake_run, "--name", "stacked_densenet.test", "--registry", registry,
        "--url", "https://example.org/m.onnx", "--training-data", "t", "--data-license", "MIT",
    )  # fmt: skip
    _one_line(code, err, "registry.yaml", "is read-only")

"""dpk export and dpk publish check their outputs before any slow work (issue 11)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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


@pytest.mark.parametrize(
    ("variant_name", "option"),
    [("m.fp16.onnx", ("--precision", "fp16")), ("m.int8.onnx", ("--quantize", "int8"))],
)
def test_export_refuses_a_read_only_output_or_variant(
    run_cli, fake_run, tmp_path, variant_name, option
):
    variant = tmp_path / variant_name
    variant.write_bytes(b"old")
    variant.chmod(0o444)
    code, _, err = run_cli("export", fake_run, "-o", tmp_path / "m.onnx", *option)
    _one_line(code, err, variant_name, "is read-only")
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


def test_the_variant_names_have_one_home():
    """dpk export checks the files that export_run writes: both take their names from
    dpk.trainer.export.variants."""
    from dpk.trainer import cli
    from dpk.trainer.export import export_paths, variant_path

    assert export_paths("a/m.onnx", precision="fp16", quantize="int8") == [
        Path("a/m.onnx"),
        Path("a/m.fp16.onnx"),
        Path("a/m.int8.onnx"),
    ]
    assert export_paths("m.onnx", precision="fp32") == [Path("m.onnx")]
    assert variant_path("m.onnx", "int8") == Path("m.int8.onnx")
    assert not hasattr(cli, "_export_outputs")

"""A tiny run goes through dpk export, evaluate and publish, as a user would run them."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from dpk.specs import DataSpec, ModelCard, ModelSpec, save_spec
from dpk.trainer.training import train_arrays
from tests.trainer.test_training import blobs, make_spec, tiny_model


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A trained run folder whose data section points at a DeepPoseKit file of blobs."""
    from dpk.trainer.labels import Labels
    from dpk.trainer.labels.formats.dpk_h5 import save_dpk_h5

    root = tmp_path_factory.mktemp("run")
    images, keypoints = blobs(48, 5)
    spec = make_spec(epochs=2)
    labels = Labels(
        images=images, keypoints=keypoints, skeleton=spec.skeleton, sources=["x"] * len(images)
    )
    save_dpk_h5(root / "blobs.h5", labels)
    spec = ModelSpec.model_validate(
        {**spec.model_dump(), "data": DataSpec(path=str(root / "blobs.h5")).model_dump()}
    )
    run = root / "run"
    run.mkdir()
    save_spec(spec, run / "spec.yaml")
    np.savez_compressed(
        run / "check_images.npz",
        validation=images[:8],
        validation_keypoints=keypoints[:8],
        train=images[8:24],
    )
    train_arrays(
        spec,
        images[8:],
        keypoints[8:],
        images[:8],
        keypoints[:8],
        run,
        model=tiny_model(spec),
        verbose=0,
    )
    (run / "summary.json").write_text(
        json.dumps({**json.loads((run / "summary.json").read_text())})
    )
    return run


@pytest.mark.slow
def test_export_evaluate_publish(tiny_run, run_cli, tmp_path):
    out = tmp_path / "tiny.onnx"
    code, stdout, stderr = run_cli(
        "export", tiny_run, "-o", out, "--precision", "fp16", "--quantize", "int8"
    )
    assert code == 0, stderr
    assert (
        out.is_file()
        and out.with_suffix(".fp16.onnx").is_file()
        and out.with_suffix(".int8.onnx").is_file()
    )
    assert "keypoints differ from float32" in stdout
    session = ort.InferenceSession(
        str(out.with_suffix(".int8.onnx")), providers=["CPUExecutionProvider"]
    )
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["dpk.precision"] == "int8" and "dpk.spec" in meta

    code, stdout, stderr = run_cli("evaluate", tiny_run)
    assert code == 0, stderr
    metrics = json.loads((tiny_run / "evaluation" / "metrics.json").read_text())
    assert {"overall", "keypoints", "confidence"} <= set(metrics)
    for plot in ("errors.png", "confidence.png", "frames.png"):
        assert (tiny_run / "evaluation" / plot).stat().st_size > 5000

    registry = tmp_path / "zoo" / "registry.yaml"
    registry.parent.mkdir()
    code, stdout, stderr = run_cli(
        "publish",
        tiny_run,
        "--name",
        "tiny_net.blobs",
        "--registry",
        registry,
        "--packaged",
        "--training-data",
        "synthetic blobs",
        "--data-license",
        "CC0-1.0",
    )
    assert code == 0, stderr
    assert "published tiny_net.blobs" in stdout
    from dpk.zoo import Registry

    entry = Registry.from_file(registry).get("tiny_net.blobs")
    assert entry.packaged and entry.keypoints == ["left", "right"]
    assert set(entry.speed) == {"cpu@1", "cpu@100"} and entry.metrics["error_median_px"] >= 0
    packaged = registry.parent / "models" / entry.file
    card = ModelCard.model_validate_json(
        ort.InferenceSession(str(packaged), providers=["CPUExecutionProvider"])
        .get_modelmeta()
        .custom_metadata_map["dpk.card"]
    )
    assert card.training_data.license == "CC0-1.0" and card.speed and card.metrics == entry.metrics


@pytest.mark.slow
def test_publish_int8_measures_the_int8_file(tiny_run, run_cli, tmp_path):
    from dpk.trainer.evaluation_run import evaluate_model_file
    from dpk.zoo import Registry

    registry = tmp_path / "zoo" / "registry.yaml"
    registry.parent.mkdir()
    code, out, stderr = run_cli(
        "publish", tiny_run, "--name", "tiny_net.blobs:int8", "--quantize", "int8",
        "--which", "last", "--registry", registry, "--packaged",
        "--training-data", "synthetic blobs", "--data-license", "CC0-1.0",
    )  # fmt: skip
    assert code == 0, stderr
    assert "published tiny_net.blobs:int8" in out
    entry = Registry.from_file(registry).get("tiny_net.blobs:int8")
    packaged = registry.parent / "models" / entry.file
    assert entry.file == "tiny_net.blobs_int8.onnx"
    meta = (
        ort.InferenceSession(str(packaged), providers=["CPUExecutionProvider"])
        .get_modelmeta()
        .custom_metadata_map
    )
    assert meta["dpk.precision"] == "int8"
    card = ModelCard.model_validate_json(meta["dpk.card"])
    assert card.training["precision"] == "int8" and card.metrics == entry.metrics
    # the card's errors are the published int8 file's own on the held-out frames
    again = evaluate_model_file(tiny_run, packaged, out_dir=tmp_path / "again").report
    assert entry.metrics["error_median_px"] == pytest.approx(again["overall"]["median"])


def test_publish_needs_a_destination(tiny_run, run_cli):
    code, _, stderr = run_cli(
        "publish",
        tiny_run,
        "--name",
        "tiny_net.blobs",
        "--training-data",
        "x",
        "--data-license",
        "y",
    )
    assert code == 2 and "--url" in stderr and "Traceback" not in stderr


def test_export_of_a_folder_that_is_not_a_run(run_cli, tmp_path):
    code, _, stderr = run_cli("export", tmp_path, "-o", tmp_path / "x.onnx")
    assert code == 2 and "not a dpk run folder" in stderr

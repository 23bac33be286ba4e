"""examples/js: a zoo model run from Node.js (onnxruntime-node) agrees with dpk's Predictor."""

from __future__ import annotations

import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from dpk.runtime.predictor import Predictor
from dpk.runtime.preprocess import fit_frames
from dpk.zoo import model_path
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node and npm are not installed",
)


@pytest.fixture(scope="module")
def node_example() -> None:
    """``npm ci`` once when node_modules is missing (the npm registry is reachable)."""
    if not (EXAMPLE / "node_modules" / "onnxruntime-node").is_dir():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=EXAMPLE,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]


def test_node_keypoints_match_the_predictor(node_example, shared_data, tmp_path):
    model = model_path("stacked_densenet.mirror_mouse", download=False, progress=False)
    predictor = Predictor(model)
    capture = cv2.VideoCapture(str(shared_data / "lp-mirror-mouse" / "videos" / "test_vid.mp4"))
    frames = []
    for index in range(40):
        ok, frame = capture.read()
        assert ok
        if index % 10 == 0:
            frames.append(frame)
    capture.release()
    batch, _ = fit_frames(np.stack(frames), predictor.preprocessing, frame_order="bgr")
    frames_bin = tmp_path / "frames.bin"
    batch.tofile(frames_bin)
    done = subprocess.run(
        ["node", "predict.mjs", str(model), str(frames_bin), str(len(batch))],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["names"] == predictor.skeleton.names
    node = np.array(
        [[p if p is not None else [np.nan] * 3 for p in frame] for frame in result["keypoints"]],
        dtype=np.float64,
    )
    expected = predictor.run(batch)
    assert node.shape == expected.shape == (4, predictor.skeleton.n_keypoints, 3)
    np.testing.assert_allclose(node[..., :2], expected[..., :2], atol=0.01)
    np.testing.assert_allclose(node[..., 2], expected[..., 2], atol=1e-4)


def test_node_refuses_a_wrong_frame_file(node_example, tmp_path):
    model = model_path("stacked_densenet.mirror_mouse", download=False, progress=False)
    pre = Predictor(model).preprocessing
    height, width, channels = pre.height, pre.width, pre.channels
    frames_bin = tmp_path / "short.bin"
    frames_bin.write_bytes(b"\0" * 100)
    done = subprocess.run(
        ["node", "predict.mjs", str(model), str(frames_bin), "1"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    expected = f"expected {height * width * channels} for 1 frames of {height}x{width}x{channels}"
    assert done.returncode == 1 and expected in done.stderr

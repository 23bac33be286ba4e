"""An anchor model exports to one self-describing file with ``keypoints`` and ``anchors``."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from dpk.runtime.model_file import ModelFile
from dpk.specs import AnchorTargets, ModelSpec, Preprocessing, Skeleton, Targets
from dpk.trainer.anchors import find_anchors
from dpk.trainer.export.exporter import export_onnx
from dpk.trainer.peaks import PEAK_PARITY_MAP_PX

SPEC = ModelSpec(
    name="anchor",
    skeleton=Skeleton(names=["thorax"]),
    preprocessing=Preprocessing(height=48, width=64, channels=1),
    targets=Targets(
        sigma=4.0,
        downsample_factor=1,
        graph=False,
        anchor=AnchorTargets(max_animals=3, threshold=0.2, min_distance=6),
    ),
)


def blob_model():
    """Maps = the image, scaled to [0, 1] and halved: each blob is an anchor."""
    import keras

    image = keras.Input((48, 64, 1), dtype="uint8", name="image")
    x = keras.layers.Rescaling(1 / 255.0)(keras.ops.cast(image, "float32"))
    x = keras.layers.AveragePooling2D(2)(x)
    maps = keras.layers.Conv2D(1, 1, name="output_0", use_bias=False)(x)
    model = keras.Model(image, [maps])
    model.layers[-1].set_weights([np.ones((1, 1, 1, 1), np.float32)])
    return model


def two_blob_frames(n: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:48, 0:64]
    out = np.zeros((n, 48, 64, 1), np.uint8)
    for i in range(n):
        image = np.zeros((48, 64))
        for x, y in ((rng.uniform(6, 26), rng.uniform(6, 42)), (rng.uniform(38, 58), 24.0)):
            image = np.maximum(image, np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / 32.0))
        out[i, ..., 0] = np.round(240 * image)
    out[-1] = 0  # no animal
    return out


def test_anchor_model_exports_keypoints_and_anchors(tmp_path):
    path = tmp_path / "anchor.onnx"
    images = two_blob_frames()
    report = export_onnx(blob_model(), SPEC, path, check_images=images)
    assert report.outputs == ["keypoints", "anchors", "maps"]
    assert ModelFile.load(path).spec.targets.anchor == SPEC.targets.anchor  # a dpk model file
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    keypoints, anchors, maps = session.run(None, {"image": images})
    assert anchors.shape == (4, 3, 3) and keypoints.shape == (4, 1, 3)
    want = find_anchors(maps, 2, 4.0, max_animals=3, threshold=0.2, radius=3)
    np.testing.assert_array_equal(np.isnan(anchors), np.isnan(want))
    np.testing.assert_allclose(anchors, want, atol=PEAK_PARITY_MAP_PX * 2)
    assert np.isfinite(anchors[:3, :2]).all() and np.isnan(anchors[:3, 2]).all()
    assert np.isnan(anchors[3]).all()  # a frame without animals: empty rows

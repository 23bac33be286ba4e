"""COCO keypoints JSON as training labels, built from the real mouse and fly labels."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from dpk.runtime.formats.coco import skeleton_category
from dpk.specs import DpkError
from dpk.trainer.data import detect_format, load_training_data
from dpk.trainer.labels.formats.coco import load_coco_labels
from dpk.trainer.labels.formats.dlc import load_dlc
from dpk.trainer.labels.formats.sleap import load_slp
from tests.trainer.test_data_loading import make_spec


def _keypoints(points: np.ndarray) -> list:
    values: list = []
    for x, y in points.tolist():
        values += [0, 0, 0] if np.isnan(x) else [x, y, 2]
    return values


def write_coco(path: Path, skeleton, images: list[tuple[str, int, int]], instances) -> Path:
    """``images``: (file name, width, height); ``instances``: per image, (A, K, 2) points."""
    annotations = []
    for image_id, points in enumerate(instances, start=1):
        for animal in points:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "keypoints": _keypoints(animal),
                    "iscrowd": 0,
                }
            )
    document = {
        "images": [
            {"id": i, "file_name": name, "width": w, "height": h}
            for i, (name, w, h) in enumerate(images, start=1)
        ],
        "annotations": annotations,
        "categories": [skeleton_category(skeleton, "mouse")],
    }
    path.write_text(json.dumps(document))
    return path


@pytest.fixture(scope="module")
def mouse_coco(shared_data, tmp_path_factory):
    """The mirror-mouse CollectedData.csv rewritten as COCO, images referenced relatively."""
    dlc = load_dlc(shared_data / "lp-mirror-mouse" / "CollectedData.csv")
    folder = tmp_path_factory.mktemp("coco")
    h, w = dlc.image_shape[:2]
    names = [(os.path.relpath(s, folder), w, h) for s in dlc.sources]
    path = write_coco(folder / "mouse.json", dlc.skeleton, names, dlc.keypoints[:, None])
    return dlc, path


def test_mirror_mouse_coco_reads_the_same_labels(mouse_coco):
    dlc, path = mouse_coco
    assert detect_format(path) == "coco"
    labels = load_coco_labels(path).to_labels()
    assert labels.names == dlc.names
    np.testing.assert_array_equal(labels.keypoints, dlc.keypoints)  # NaN where missing
    assert np.isnan(labels.keypoints).any()
    np.testing.assert_array_equal(labels.images, dlc.images)
    assert [Path(s).resolve() for s in labels.sources] == [Path(s).resolve() for s in dlc.sources]


def test_mirror_mouse_coco_trains_like_the_csv(mouse_coco, shared_data):
    _, path = mouse_coco
    names = ["nose_top", "paw1LH_top", "tailBase_top"]
    csv = shared_data / "lp-mirror-mouse" / "CollectedData.csv"
    train, validation = load_training_data(make_spec(names, 406, 396, {"path": str(path)}), "/")
    ref_train, ref_validation = load_training_data(
        make_spec(names, 406, 396, {"path": str(csv)}), "/"
    )
    np.testing.assert_array_equal(train.keypoints, ref_train.keypoints)
    np.testing.assert_array_equal(validation.keypoints, ref_validation.keypoints)
    np.testing.assert_array_equal(train.images, ref_train.images)


def test_fly_clip_two_animals_per_image_are_cropped(shared_data, tmp_path):
    sleap = load_slp(shared_data / "sleap-fly-clip" / "clip.slp")
    frames = [1200, 1300, 1400]
    names = []
    for index, image in sleap.iter_frames(frames):
        name = f"frames/f{index}.png"
        (tmp_path / "frames").mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / name), image[..., ::-1] if image.shape[-1] == 3 else image)
        names.append((name, image.shape[1], image.shape[0]))
    instances = [sleap.instances[f] for f in frames]
    path = write_coco(tmp_path / "flies.json", sleap.skeleton, names, instances)
    coco = load_coco_labels(path)
    assert coco.max_instances == 2
    np.testing.assert_array_equal(coco.instances[1], sleap.instances[1300])
    with pytest.raises(DpkError, match=r"up to 2 animals.*data\.crop"):
        coco.to_labels()
    spec = make_spec(
        sleap.skeleton.names,
        96,
        96,
        {"path": str(path), "crop": {"anchor": "thorax", "size": 96}},
        validation_fraction=0.0,
    )
    train, _ = load_training_data(spec, tmp_path)
    assert len(train) == 6 and train.images.shape[1:3] == (96, 96)
    assert train.crop_offsets is not None
    thorax = sleap.skeleton.names.index("thorax")
    frame_xy = train.keypoints[:, thorax] + train.crop_offsets
    expected = np.concatenate([sleap.instances[f][:, thorax] for f in frames])
    np.testing.assert_allclose(frame_xy, expected, atol=0)


def test_missing_image_and_bad_annotation(tmp_path, mouse_coco):
    dlc, _ = mouse_coco
    path = write_coco(
        tmp_path / "m.json", dlc.skeleton, [("nowhere.png", 4, 4)], [dlc.keypoints[:1]]
    )
    with pytest.raises(DpkError, match=r"'nowhere\.png' not found.*relative to the JSON"):
        load_coco_labels(path)
    data = json.loads(path.read_text())
    data["annotations"][0]["keypoints"] = [1, 2, 2]
    path.write_text(json.dumps(data))
    with pytest.raises(DpkError, match="has 3 keypoint values"):
        load_coco_labels(path)

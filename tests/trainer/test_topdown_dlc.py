"""Top-down training from multi-animal DeepLabCut projects: a pose model on crops around
each animal (``data.crop``) and an anchor model on whole frames (``targets.anchor``), as
from a SLEAP ``.slp``; a single-animal spec on such a project is refused in one line."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dpk.specs import DpkError, ModelSpec
from dpk.trainer.data import crop_image, load_training_data
from tests.trainer.test_labels_dlc_multi import BODYPARTS, INDIVIDUALS, make_project
from tests.trainer.test_training import tiny_model

SIZE = 32
NO_AUGMENTATION = {"flip_lr": 0, "affine": 0, "noise": 0, "dropout": 0, "blur": 0}


def make_spec(data: dict, names=BODYPARTS, anchor: dict | None = None, **extra) -> ModelSpec:
    """A tiny spec at 32x32 input (``tiny_model``'s), one short epoch, fixed seed."""
    targets = {"sigma": 2.0, "downsample_factor": 1, "graph": False}
    if anchor is not None:
        targets["anchor"] = anchor
    return ModelSpec.model_validate(
        {
            "name": "ma_dlc",
            "skeleton": {"names": list(names)},
            "preprocessing": {"height": SIZE, "width": SIZE, "channels": 1, **extra},
            "targets": targets,
            "augmentation": NO_AUGMENTATION,
            "training": {
                "epochs": 1,
                "batch_size": 4,
                "learning_rate": 1e-3,
                "seed": 0,
                "validation_fraction": 0.34,
                "split": "random",
            },
            "data": data,
        }
    )


def drop_individual(table: Path, image: str, individual: str) -> None:
    """Erase every keypoint of one individual in one image, as DeepLabCut's GUI leaves it."""
    if table.suffix == ".h5":
        frame = pd.read_hdf(table, key="df_with_missing")
    else:
        frame = pd.read_csv(table, header=[0, 1, 2, 3], index_col=[0, 1, 2])
    row = next(i for i, key in enumerate(frame.index) if key[2] == image)
    frame.iloc[row, frame.columns.get_level_values("individuals") == individual] = np.nan
    if table.suffix == ".h5":
        frame.to_hdf(table, key="df_with_missing", mode="w")
    else:
        frame.to_csv(table)


@pytest.fixture
def project(tmp_path) -> tuple[Path, dict]:
    """Two videos of three images with two mice; mouse2 is absent from vidB's img007."""
    root = tmp_path / "proj"
    truth = make_project(root)
    drop_individual(root / "labeled-data/vidB/CollectedData_me.csv", "img007.png", "mouse2")
    truth[("vidB", 7)] = truth[("vidB", 7)][:1]
    return root, truth


def load(spec: ModelSpec, base: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # unique body parts left out
        return load_training_data(spec, base)


def check_crops(labels, root: Path, truth: dict) -> set:
    """Every crop is its frame's pixels around one animal's thorax, keypoints shifted."""
    import cv2

    seen = set()
    for i in range(len(labels)):
        source = Path(labels.sources[i])
        video, number = source.parent.name, int(labels.frame_indices[i])
        x0, y0 = labels.crop_offsets[i]
        frame = cv2.imread(str(source), cv2.IMREAD_GRAYSCALE)[..., None]
        np.testing.assert_array_equal(labels.images[i], crop_image(frame, x0, y0, SIZE))
        shifted = truth[(video, number)].astype(np.float32) - np.array([x0, y0], np.float32)
        match = [a for a, s in enumerate(shifted) if np.allclose(s[1], labels.keypoints[i, 1])]
        assert len(match) == 1
        expected = shifted[match[0]]
        inside = ((expected >= -0.5) & (expected <= SIZE - 0.5)).all(axis=-1)
        np.testing.assert_array_equal(labels.keypoints[i][inside], expected[inside])
        assert np.isnan(labels.keypoints[i][~inside]).all()
        assert abs(labels.keypoints[i, 1] - SIZE // 2).max() <= 0.5  # the anchor is centred
        seen.add((video, number, match[0]))
    return seen


def frames(labels) -> set:
    return {(Path(s).parent.name, int(f)) for s, f in zip(labels.sources, labels.frame_indices)}


def test_crops_of_every_labelled_animal(project):
    root, truth = project
    spec = make_spec({"path": "proj", "crop": {"anchor": "thorax", "size": SIZE}})
    train, validation = load(spec, root.parent)
    assert train.images.shape[1:] == (SIZE, SIZE, 1) and train.names == BODYPARTS
    seen = check_crops(train, root, truth) | check_crops(validation, root, truth)
    assert len(seen) == len(train) + len(validation) == 11  # 2 x 3 images x 2 mice, less one
    assert ("vidB", 7, 1) not in seen  # the absent mouse gives no crop (no NaN example)
    assert not frames(train) & frames(validation)  # one frame's animals stay on one side


@pytest.mark.parametrize("fmt", ["csv", "h5"])
def test_anchor_frames_hold_every_animals_anchor(tmp_path, fmt):
    root = tmp_path / "proj"
    truth = make_project(root, fmt=fmt)
    drop_individual(root / f"labeled-data/vidA/CollectedData_me.{fmt}", "img012.png", "mouse1")
    truth[("vidA", 12)] = truth[("vidA", 12)][1:]
    spec = make_spec(
        {"path": "proj/config.yaml"}, names=["thorax"], anchor={"max_animals": 3}, fit="resize"
    )
    train, validation = load(spec, tmp_path)
    assert len(train) + len(validation) == 6
    rows = 0
    for labels in (train, validation):
        assert labels.images.shape[1:] == (SIZE, SIZE, 1) and labels.keypoints.shape[1:] == (3, 2)
        assert labels.names == ["thorax", "thorax_2", "thorax_3"]
        for i, source in enumerate(labels.sources):
            anchors = truth[(Path(source).parent.name, int(labels.frame_indices[i]))][:, 1]
            expected = labels.frame_transform.to_model(anchors.astype(np.float32))
            n = len(anchors)  # 2, or 1 where a mouse has no labelled keypoint
            np.testing.assert_allclose(labels.keypoints[i, :n], expected, atol=1e-5)
            assert np.isnan(labels.keypoints[i, n:]).all()
            rows += n
    assert rows == 11


def test_a_single_animal_spec_on_a_multi_animal_project_is_refused(project):
    root, _ = project
    for path in ("proj", "proj/labeled-data/vidA/CollectedData_me.csv"):
        with pytest.raises(DpkError) as error:
            load(make_spec({"path": path}), root.parent)
        text = str(error.value)
        assert "\n" not in text and str(root.parent / path) in text
        assert "data.crop" in text and "targets.anchor" in text
        assert f"2 individuals: {', '.join(INDIVIDUALS)}" in text


def test_a_unique_body_part_in_the_skeleton_is_refused(project):
    root, _ = project
    spec = make_spec(
        {"path": "proj", "crop": {"anchor": "thorax", "size": SIZE}}, names=["thorax", "feeder"]
    )
    with pytest.raises(DpkError, match="'feeder' are unique body parts"):
        load(spec, root.parent)


@pytest.mark.slow
def test_a_crop_pose_model_and_an_anchor_model_train_from_the_project(project, tmp_path):
    from dpk.trainer.training import train_arrays

    root, _ = project
    specs = {
        "pose": make_spec({"path": "proj", "crop": {"anchor": "thorax", "size": SIZE}}),
        "anchor": make_spec(
            {"path": "proj"}, names=["thorax"], anchor={"max_animals": 2}, fit="resize"
        ),
    }
    for name, spec in specs.items():
        train, validation = load(spec, root.parent)
        (tmp_path / name).mkdir()
        result = train_arrays(
            spec,
            train.images,
            train.keypoints,
            validation.images,
            validation.keypoints,
            tmp_path / name,
            model=tiny_model(spec),
            verbose=0,
            frame_transform=validation.frame_transform,
        )
        assert result.epochs_done == 1
        assert (tmp_path / name / "last.keras").is_file()
        assert set(result.report["keypoints"]) == set(train.names)  # per keypoint/animal


def test_a_lone_h5_table_gives_the_same_crops(tmp_path):
    root = tmp_path / "proj"
    truth = make_project(root, videos=("vidA",), fmt="h5")
    table = "proj/labeled-data/vidA/CollectedData_me.h5"
    spec = make_spec({"path": table, "crop": {"anchor": "thorax", "size": SIZE}})
    train, validation = load(spec, tmp_path)
    assert train.origin == str(tmp_path / table)
    assert len(check_crops(train, root, truth) | check_crops(validation, root, truth)) == 6


def test_dpk_train_says_what_to_set_in_one_line(project, run_cli, monkeypatch):
    from dpk.specs import save_spec

    root, _ = project
    monkeypatch.chdir(root.parent)
    spec = root.parent / "spec.yaml"
    save_spec(make_spec({"path": "proj"}), spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        code, _, err = run_cli("train", spec)
    assert code != 0 and err.startswith(f"dpk train: error: {root}: ") and err.count("\n") == 1
    assert "data.crop" in err and "targets.anchor" in err

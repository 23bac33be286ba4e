"""From a spec to (train, validation): formats, crops, names, channels, sizes and errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import sleap_io as sio

from dpk.specs import DpkError, ModelSpec, Skeleton, load_spec
from dpk.trainer.data import detect_format, load_training_data
from tests.conftest import ROOT

MOUSE_NAMES = ["nose_top", "paw1LH_top", "tailBase_top"]


def make_spec(names, height, width, data, channels=1, color_order="gray", **training):
    return ModelSpec.model_validate(
        {
            "skeleton": {"names": list(names)},
            "preprocessing": {
                "height": height,
                "width": width,
                "channels": channels,
                "color_order": color_order,
            },
            "targets": {"downsample_factor": 1},
            "training": {"validation_fraction": 0.2, "seed": 0, **training},
            "data": data,
        }
    )


def write_video(path, n_frames, height=64, width=80):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (width, height))
    for i in range(n_frames):
        frame = np.full((height, width, 3), 20 * i, np.uint8)
        frame[:8] = 255
        writer.write(frame)
    writer.release()


def write_slp(path, video, frames, grayscale=True):
    skeleton = sio.Skeleton(nodes=["head", "thorax", "tail"], edges=[("thorax", "head")])
    metadata = {"filename": str(video), "grayscale": grayscale}
    vid = sio.Video(filename=str(video), backend_metadata=metadata, open_backend=False)
    labelled = [
        sio.LabeledFrame(
            video=vid,
            frame_idx=index,
            instances=[
                sio.Instance.from_numpy(np.asarray(p, float), skeleton=skeleton) for p in pts
            ],
        )
        for index, pts in frames.items()
    ]
    sio.save_slp(sio.Labels(labeled_frames=labelled, videos=[vid], skeletons=[skeleton]), str(path))


def write_dlc(folder: Path, n=5, size=(48, 64)):
    """A bare CollectedData CSV with gray PNG frames in labeled-data/."""
    (folder / "labeled-data").mkdir(parents=True)
    rows = ["scorer,me,me,me,me", "bodyparts,nose,nose,tail,tail", "coords,x,y,x,y"]
    for i in range(n):
        image = np.full(size, 10 * i, np.uint8)
        cv2.imwrite(str(folder / "labeled-data" / f"img{i:03d}.png"), image)
        rows.append(f"labeled-data/img{i:03d}.png,{10 + i},{12.5},{30},{20 + i}")
    (folder / "CollectedData_me.csv").write_text("\n".join(rows) + "\n")
    return folder / "CollectedData_me.csv"


# ------------------------------------------------------------------------ DeepLabCut
@pytest.mark.realdata
def test_mirror_mouse_example_spec():
    spec = load_spec(ROOT / "examples" / "mirror_mouse.yaml")
    train, validation = load_training_data(spec, ROOT / "examples")
    assert (len(train), len(validation)) == (72, 18)
    # the example fits the 406x396 frames to 256x250; the labels remember how to map back
    assert train.images.shape[1:] == (256, 250, 1)
    assert train.frame_transform.frame_size == (406, 396)
    assert train.frame_transform.scale == pytest.approx((256 / 406, 256 / 406))
    assert train.names == spec.skeleton.names
    assert train.skeleton == spec.skeleton
    assert not set(train.sources) & set(validation.sources)
    assert train.origin.endswith("lp-mirror-mouse/CollectedData.csv") and ".." not in train.origin
    again, _ = load_training_data(spec, ROOT / "examples")
    assert again.sources == train.sources


@pytest.mark.realdata
def test_keypoints_follow_the_spec_and_channels_are_converted(shared_data):
    csv = shared_data / "lp-mirror-mouse" / "CollectedData.csv"
    spec = make_spec(MOUSE_NAMES, 406, 396, {"path": str(csv)}, channels=3, color_order="bgr")
    train, _ = load_training_data(spec, shared_data)
    assert train.names == MOUSE_NAMES and train.images.shape[-1] == 3
    assert np.array_equal(train.images[..., 0], train.images[..., 2])
    gray, _ = load_training_data(make_spec(MOUSE_NAMES, 406, 396, {"path": str(csv)}), shared_data)
    np.testing.assert_array_equal(train.images[..., 1], gray.images[..., 0])
    columns = [gray.names.index(n) for n in MOUSE_NAMES]
    np.testing.assert_array_equal(train.keypoints, gray.keypoints[:, columns])


@pytest.mark.realdata
def test_unknown_keypoint_names_are_listed(shared_data):
    csv = shared_data / "lp-mirror-mouse" / "CollectedData.csv"
    spec = make_spec(["nose_top", "whisker"], 406, 396, {"path": str(csv)})
    with pytest.raises(DpkError) as error:
        load_training_data(spec, shared_data)
    assert str(csv) in str(error.value) and "'whisker'" in str(error.value)


@pytest.mark.realdata
def test_frames_of_another_size_are_fitted_like_the_runtime(shared_data):
    """Whole frames are letterboxed to the input (as the runtime will) with their keypoints,
    and the transform maps them back exactly."""
    from dpk.trainer.labels.formats.dlc import load_dlc

    csv = shared_data / "lp-mirror-mouse" / "CollectedData.csv"
    spec = make_spec(MOUSE_NAMES, 203, 198, {"path": str(csv)})
    train, validation = load_training_data(spec, shared_data)
    assert train.images.shape[1:] == (203, 198, 1)
    transform = train.frame_transform
    assert transform is not None and transform.frame_size == (406, 396)
    assert transform.scale == (0.5, 0.5) and validation.frame_transform == transform
    original = load_dlc(csv).select_keypoints(MOUSE_NAMES)
    by_source = {s: k for s, k in zip(original.sources, original.keypoints, strict=True)}
    back = transform.to_frame(train.keypoints)
    for i, source in enumerate(train.sources):
        np.testing.assert_allclose(back[i], by_source[source], atol=1e-3)
    # (x + 0.5) * r - 0.5: the pixel-centre rule of docs/model-file.md
    first = by_source[train.sources[0]]
    np.testing.assert_allclose(train.keypoints[0], (first + 0.5) * 0.5 - 0.5, atol=1e-4)


def test_crops_must_match_the_input(shared_data):
    csv = shared_data / "lp-mirror-mouse" / "CollectedData.csv"
    cropped = make_spec(
        MOUSE_NAMES, 128, 128, {"path": str(csv), "crop": {"anchor": "nose_top", "size": 128}}
    )
    train, validation = load_training_data(cropped, shared_data)
    assert len(train) + len(validation) == 90  # nose_top is labelled in every frame
    assert train.images.shape[1:] == (128, 128, 1)
    assert np.all(np.abs(train.keypoints[:, 0] - 64) <= 0.5)
    wrong = make_spec(
        MOUSE_NAMES, 128, 128, {"path": str(csv), "crop": {"anchor": "nose_top", "size": 96}}
    )
    with pytest.raises(DpkError, match=r"set data\.crop\.size to 128"):
        load_training_data(wrong, shared_data)


def test_paths_expand_home_and_variables(tmp_path, monkeypatch):
    write_dlc(tmp_path / "proj")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DPK_TEST_LABELS", str(tmp_path / "proj"))
    for path in ("~/proj/CollectedData_me.csv", "$DPK_TEST_LABELS/CollectedData_me.csv"):
        spec = make_spec(["tail", "nose"], 48, 64, {"path": path})
        train, validation = load_training_data(spec, "/nonexistent")
        assert (len(train), len(validation)) == (4, 1)
        assert train.names == ["tail", "nose"]
    relative = make_spec(["nose"], 48, 64, {"path": "proj/CollectedData_me.csv"})
    assert len(load_training_data(relative, tmp_path)[0]) == 4


def test_no_validation_when_the_fraction_is_zero(tmp_path):
    csv = write_dlc(tmp_path / "proj")
    spec = make_spec(["nose"], 48, 64, {"path": str(csv)}, validation_fraction=0)
    train, validation = load_training_data(spec, tmp_path)
    assert len(train) == 5 and len(validation) == 0
    assert validation.images.shape == (0, 48, 64, 1)
    rgb = make_spec(["nose"], 48, 64, {"path": str(csv)}, 3, "rgb", validation_fraction=0)
    assert load_training_data(rgb, tmp_path)[1].images.shape == (0, 48, 64, 3)


def test_missing_or_unknown_labels(tmp_path):
    spec = make_spec(["nose"], 48, 64, {"path": "nothing.csv"})
    with pytest.raises(DpkError, match="labels not found") as error:
        load_training_data(spec, tmp_path)
    assert str(tmp_path / "nothing.csv") in str(error.value)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DpkError, match="cannot tell the labels format"):
        detect_format(tmp_path / "notes.txt")
    with pytest.raises(DpkError, match="no data section"):
        load_training_data(spec.model_copy(update={"data": None}), tmp_path)


def test_one_convert_channels_and_label_images_are_rgb(tmp_path):
    """The trainer converts label images (gray or RGB) with the runtime's function."""
    import dpk.trainer.data
    from dpk.runtime.preprocess import convert_channels

    assert not hasattr(dpk.trainer.data, "convert_channels")
    csv = write_dlc(tmp_path / "proj")
    gray = make_spec(["nose"], 48, 64, {"path": str(csv)}, validation_fraction=0)
    frames = load_training_data(gray, tmp_path)[0].images
    for order in ("rgb", "bgr"):
        spec = make_spec(["nose"], 48, 64, {"path": str(csv)}, 3, order, validation_fraction=0)
        colour = load_training_data(spec, tmp_path)[0].images
        np.testing.assert_array_equal(colour, convert_channels(frames, order, "rgb"))
    rgb = np.arange(12, dtype=np.uint8).reshape(1, 2, 2, 3)
    one = convert_channels(rgb, "gray", "rgb")
    assert one[0, 0, 0, 0] == cv2.cvtColor(rgb[0], cv2.COLOR_RGB2GRAY)[0, 0]


# ------------------------------------------------------------------------ DeepPoseKit HDF5
@pytest.mark.realdata
def test_deepposekit_file_takes_the_spec_names(shared_data):
    folder = shared_data / "dpk-fly-example"
    with pytest.warns(UserWarning, match="repaired"):
        skeleton = Skeleton.from_csv(folder / "skeleton.csv", on_asymmetric_swap="repair")
    spec = make_spec(skeleton.names, 192, 192, {"path": str(folder / "example_annotation_set.h5")})
    spec = spec.model_copy(update={"skeleton": skeleton})
    with pytest.warns(UserWarning) as record:
        train, validation = load_training_data(spec, folder)
    messages = " ".join(str(w.message) for w in record)
    assert "100 of 100 frames have keypoints not marked 'annotated'" in messages
    assert "swaps differ" in messages
    assert (len(train), len(validation)) == (80, 20)
    assert train.names[:3] == ["head", "eyeL", "eyeR"] and train.images.shape[1:] == (192, 192, 1)
    short = make_spec(
        ["head", "thorax"], 192, 192, {"path": str(folder / "example_annotation_set.h5")}
    )
    with pytest.raises(DpkError, match="has 32 keypoints but the given skeleton has 2"):
        load_training_data(short, folder)


# ------------------------------------------------------------------------ SLEAP
@pytest.mark.realdata
def test_fly_clip_frame_ranges_decode_only_what_is_used(shared_data):
    clip = shared_data / "sleap-fly-clip" / "clip.slp"
    names = ["thorax", "head", "abdomen", "wingL", "wingR"]
    spec = make_spec(
        names,
        96,
        96,
        {
            "path": str(clip),
            "crop": {"anchor": "thorax", "size": 96},
            "train_frames": {"start": 0, "stop": 40},
            "validation_frames": {"start": 40, "stop": 50},
        },
    )
    train, validation = load_training_data(spec, shared_data)
    assert (len(train), len(validation)) == (80, 20)
    assert train.frame_indices.max() == 39 and validation.frame_indices.min() == 40
    assert train.images.shape[1:] == (96, 96, 1) and train.names == names
    assert np.all(np.abs(train.keypoints[:, 0] - 48) <= 0.5)
    assert train.sources[0] == f"{shared_data / 'sleap-fly-clip' / 'clip.mp4'}#frame=0"


@pytest.mark.realdata
def test_several_animals_need_a_crop(shared_data):
    clip = shared_data / "sleap-fly-clip" / "clip.slp"
    spec = make_spec(["thorax", "head"], 1024, 1024, {"path": str(clip)})
    with pytest.raises(DpkError) as error:
        load_training_data(spec, shared_data)
    text = str(error.value)
    assert str(clip) in text and "up to 2 animals" in text and "data.crop" in text


@pytest.mark.realdata
@pytest.mark.slow
def test_fly13_example_spec_full_split():
    spec = load_spec(ROOT / "examples" / "fly13.yaml")
    train, validation = load_training_data(spec, ROOT / "examples")
    assert (len(train), len(validation)) == (2400, 600)
    assert train.images.shape == (2400, 160, 160, 1)
    assert validation.frame_indices.min() == 1200 and train.frame_indices.max() == 1199
    assert train.skeleton == spec.skeleton


def test_single_animal_video_labels_use_whole_frames(tmp_path):
    write_video(tmp_path / "vid.mp4", n_frames=6)
    frames = {i: [[[10 + i, 20], [30, 30], [np.nan, np.nan]]] for i in range(1, 6)}
    write_slp(tmp_path / "labels.slp", "vid.mp4", frames)
    spec = make_spec(
        ["thorax", "head"], 64, 80, {"path": "labels.slp"}, channels=3, color_order="rgb"
    )
    train, validation = load_training_data(spec, tmp_path)
    assert (len(train), len(validation)) == (4, 1)
    assert train.images.shape[1:] == (64, 80, 3)
    joined = np.concatenate([train.frame_indices, validation.frame_indices])
    assert sorted(joined.tolist()) == [1, 2, 3, 4, 5]
    for keypoints, frame in zip(train.keypoints, train.frame_indices, strict=True):
        np.testing.assert_allclose(keypoints, [[30, 30], [10 + frame, 20]])  # thorax, head


def test_slp_label_outside_the_frame(tmp_path):
    write_video(tmp_path / "vid.mp4", n_frames=3)
    frames = {0: [[[10, 20], [30, 30], [5, 5]]], 2: [[[10, 20], [30, 90], [5, 5]]]}
    write_slp(tmp_path / "labels.slp", "vid.mp4", frames)
    spec = make_spec(["head", "thorax"], 64, 80, {"path": "labels.slp"}, validation_fraction=0)
    with pytest.raises(DpkError) as error:
        load_training_data(spec, tmp_path)
    text = str(error.value)
    assert str(tmp_path / "labels.slp") in text and "'thorax'" in text and "frame 2" in text


@pytest.mark.realdata
def test_h5_labels_are_told_by_content_not_name(shared_data, tmp_path):
    import shutil

    original = shared_data / "dpk-fly-example" / "example_annotation_set.h5"
    renamed = tmp_path / "CollectedData_fly.h5"
    shutil.copy(original, renamed)
    assert detect_format(renamed) == "dpk_h5"


def test_one_frame_without_validation_is_fitted_and_trains(tmp_path):
    """A one-frame dataset with ``validation_fraction: 0`` and frames of another size than
    the input: the empty validation set is left as it is (no crash), the training frame is
    fitted and keeps its transform."""
    csv = write_dlc(tmp_path / "proj", n=1, size=(48, 64))
    spec = make_spec(["nose", "tail"], 24, 32, {"path": str(csv)}, validation_fraction=0.0)
    train, validation = load_training_data(spec, tmp_path)
    assert (len(train), len(validation)) == (1, 0)
    assert train.images.shape[1:] == (24, 32, 1)
    assert train.frame_transform is not None
    assert validation.frame_transform is None


def test_one_labelled_frame_with_a_validation_split_is_refused_with_the_fix(tmp_path):
    csv = write_dlc(tmp_path / "proj", n=1)
    spec = make_spec(["nose", "tail"], 48, 64, {"path": str(csv)})
    with pytest.raises(DpkError, match="validation_fraction: 0"):
        load_training_data(spec, tmp_path)

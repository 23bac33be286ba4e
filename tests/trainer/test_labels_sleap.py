"""SLEAP projects as labels: the real two-fly clip read lazily, stale video paths and bad
files (predictions written and read back as .slp: ``tests/runtime/test_formats_sleap.py``)."""

from __future__ import annotations

import shutil
import sys

import cv2
import numpy as np
import pytest
import sleap_io as sio

from dpk.specs import DpkError
from dpk.trainer.labels.formats.sleap import load_slp

FLY_NODES = [
    "head", "thorax", "abdomen", "wingL", "wingR", "forelegL4", "forelegR4",
    "midlegL4", "midlegR4", "hindlegL4", "hindlegR4", "eyeL", "eyeR",
]  # fmt: skip


@pytest.fixture(scope="module")
def fly(shared_data):
    return shared_data / "sleap-fly-clip"


@pytest.fixture(scope="module")
def fly_labels(fly):
    return load_slp(fly / "clip.slp")


def write_video(path, n_frames=5, height=48, width=64):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (width, height))
    for i in range(n_frames):
        writer.write(np.full((height, width, 3), 40 * i, np.uint8))
    writer.release()


def write_slp(path, video_name, frames, predicted=False, grayscale=None):
    """A small .slp: ``frames`` maps frame index -> list of (K, 2) instance points."""
    skeleton = sio.Skeleton(
        nodes=["a", "b", "c"], edges=[("a", "b"), ("a", "c")], symmetries=[("b", "c")]
    )
    metadata = {"filename": str(video_name)}
    if grayscale is not None:
        metadata["grayscale"] = grayscale
    video = sio.Video(filename=str(video_name), backend_metadata=metadata, open_backend=False)
    labelled = []
    for index, instances in frames.items():
        made = [
            sio.PredictedInstance.from_numpy(np.asarray(p, float), skeleton=skeleton, score=0.5)
            if predicted
            else sio.Instance.from_numpy(np.asarray(p, float), skeleton=skeleton)
            for p in instances
        ]
        labelled.append(sio.LabeledFrame(video=video, frame_idx=index, instances=made))
    sio.save_slp(
        sio.Labels(labeled_frames=labelled, videos=[video], skeletons=[skeleton]), str(path)
    )


# ------------------------------------------------------------------------ real data
@pytest.mark.realdata
def test_real_clip_is_read_without_decoding(fly, fly_labels):
    labels = fly_labels
    assert len(labels) == 1500 and labels.n_instances == 3000 and labels.max_instances == 2
    assert labels.frame_indices[0] == 0 and labels.frame_indices[-1] == 1499
    assert labels.skeleton.names == FLY_NODES
    assert len(labels.skeleton.edges) == 12
    assert labels.skeleton.parents[FLY_NODES.index("eyeL")] == "head"
    assert labels.skeleton.parents[FLY_NODES.index("wingL")] == "thorax"
    assert labels.skeleton.swaps == [None] * 13  # the file has no symmetries
    assert labels.video_path == fly / "clip.mp4"
    assert labels.grayscale is True
    assert sorted(labels.track_names) == ["female", "male"]
    assert sorted(labels.tracks[0]) == ["female", "male"]
    assert labels.instances[0].shape == (2, 13, 2) and labels.instances[0].dtype == np.float32
    assert labels.source(12) == f"{fly / 'clip.mp4'}#frame=12"


@pytest.mark.realdata
def test_real_frames_decode_in_order_and_match_a_plain_read(fly, fly_labels):
    frames = list(fly_labels.iter_frames([7, 2, 7]))
    assert [i for i, _ in frames] == [2, 7]
    capture = cv2.VideoCapture(str(fly / "clip.mp4"))
    plain = [capture.read()[1] for _ in range(8)]
    capture.release()
    for index, image in frames:
        assert image.shape == (1024, 1024, 1) and image.dtype == np.uint8
        np.testing.assert_array_equal(image[..., 0], cv2.cvtColor(plain[index], cv2.COLOR_BGR2GRAY))
    assert not np.array_equal(frames[0][1], frames[1][1])
    subset = fly_labels.subset_frames(range(10, 20))
    assert subset.frame_indices.tolist() == list(range(10, 20))
    assert [i for i, _ in subset.iter_frames()] == list(range(10, 20))


@pytest.mark.realdata
def test_stale_video_path_is_reported_and_can_be_given(fly, tmp_path):
    copy = tmp_path / "clip.slp"
    shutil.copy(fly / "clip.slp", copy)
    with pytest.raises(DpkError) as error:
        load_slp(copy)
    text = str(error.value)
    assert str(copy) in text and "'clip.mp4'" in text and str(tmp_path / "clip.mp4") in text
    given = load_slp(copy, video=fly / "clip.mp4")
    assert given.video_path == fly / "clip.mp4"
    with pytest.raises(DpkError, match="video file not found"):
        load_slp(copy, video=tmp_path / "nothing.mp4")
    (tmp_path / "clip.mp4").symlink_to(fly / "clip.mp4")
    assert load_slp(copy).video_path == tmp_path / "clip.mp4"


@pytest.mark.realdata
def test_truncated_slp(fly, tmp_path):
    path = tmp_path / "clip.slp"
    path.write_bytes((fly / "clip.slp").read_bytes()[:200_000])
    with pytest.raises(DpkError) as error:
        load_slp(path)
    assert str(path) in str(error.value) and "not a readable SLEAP file" in str(error.value)


# ------------------------------------------------------------------------ synthetic files
def test_video_found_by_name_beside_the_slp_and_symmetries_become_swaps(tmp_path):
    write_video(tmp_path / "vid.mp4")
    frames = {2: [[[1, 2], [3, 4], [5, 6]]]}
    write_slp(tmp_path / "labels.slp", "/old/machine/vid.mp4", frames, grayscale=True)
    labels = load_slp(tmp_path / "labels.slp")
    assert labels.video_path == tmp_path / "vid.mp4" and labels.grayscale is True
    assert labels.skeleton.parents == [None, "a", "a"]
    assert labels.skeleton.swaps == [None, "c", "b"]
    assert labels.tracks[2] == [None]
    ((index, image),) = list(labels.iter_frames())
    assert index == 2 and image.shape == (48, 64, 1)
    assert abs(int(image[10, 10, 0]) - 80) <= 3  # frame 2 was drawn at grey level 80
    # Without the file's flag, a frame is gray only when its channels are equal (as in
    # sleap-io); this lossy mp4v encoding makes them differ slightly, so frames are RGB.
    write_slp(tmp_path / "labels.slp", "vid.mp4", frames)
    ((_, image),) = list(load_slp(tmp_path / "labels.slp").iter_frames())
    assert image.shape == (48, 64, 3)
    assert np.abs(image[10, 10].astype(int) - 80).max() <= 6


def test_video_shorter_than_the_labels(tmp_path):
    write_video(tmp_path / "vid.mp4", n_frames=5)
    write_slp(
        tmp_path / "labels.slp", "vid.mp4", {1: [[[1, 2], [3, 4], [5, 6]]], 7: [[[1, 2]] * 3]}
    )
    labels = load_slp(tmp_path / "labels.slp")
    frames = labels.iter_frames()
    assert next(frames)[0] == 1
    with pytest.raises(DpkError) as error:
        next(frames)
    text = str(error.value)
    assert str(tmp_path / "vid.mp4") in text and "labels frame 7" in text


def test_embedded_frames_are_read_from_the_package(tmp_path):
    write_video(tmp_path / "vid.mp4", n_frames=5)
    frames = {1: [[[1, 2], [3, 4], [5, 6]]], 3: [[[7, 8], [9, 10], [11, 12]]]}
    write_slp(tmp_path / "labels.slp", "vid.mp4", frames, grayscale=True)
    package = tmp_path / "labels.pkg.slp"
    sio.save_slp(sio.load_slp(str(tmp_path / "labels.slp")), str(package), embed="user")
    (tmp_path / "vid.mp4").unlink()  # the package alone must do
    labels = load_slp(package)
    assert labels.embedded and labels.video_path == package
    decoded = list(labels.iter_frames())
    assert [i for i, _ in decoded] == [1, 3]
    assert decoded[0][1].shape == (48, 64, 1)
    assert abs(int(decoded[1][1][20, 20, 0]) - 120) <= 6  # frame 3 was drawn at grey 120


def test_only_predicted_instances_is_an_empty_set(tmp_path):
    write_video(tmp_path / "vid.mp4")
    write_slp(tmp_path / "labels.slp", "vid.mp4", {1: [[[1, 2], [3, 4], [5, 6]]]}, predicted=True)
    with pytest.raises(DpkError) as error:
        load_slp(tmp_path / "labels.slp")
    assert str(tmp_path / "labels.slp") in str(error.value) and "empty set" in str(error.value)


def test_missing_file_and_missing_sleap_io(tmp_path, monkeypatch):
    with pytest.raises(DpkError, match="file not found"):
        load_slp(tmp_path / "none.slp")
    (tmp_path / "labels.slp").write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "sleap_io", None)
    with pytest.raises(DpkError, match=r"pip install 'dpk-runtime\[sleap\]'"):
        load_slp(tmp_path / "labels.slp")

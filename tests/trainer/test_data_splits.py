"""Train/validation splits: seeded, by frame, in blocks, by explicit frame ranges."""

from __future__ import annotations

import numpy as np
import pytest

from dpk.runtime.video import video_source
from dpk.specs import DataSpec, DpkError, FrameRange, Skeleton, Training
from dpk.trainer.data.splits import frame_keys, split_examples, split_labels
from dpk.trainer.labels import Labels


def video_keys(frames, animals=2):
    """Keys of ``animals`` crops per frame of one video, frame by frame."""
    return [("clip.mp4", int(f), "") for f in frames for _ in range(animals)]


def data(**kwargs):
    return DataSpec(path="labels.slp", **kwargs)


def frames_of(keys, indices):
    return sorted({keys[i][1] for i in indices})


def test_random_split_is_seeded_and_keeps_a_frames_animals_together():
    keys = video_keys(range(100))
    training = Training(validation_fraction=0.2, seed=3)
    split = split_examples(keys, data=None, training=training, origin="labels.slp")
    again = split_examples(keys, data=None, training=training, origin="labels.slp")
    np.testing.assert_array_equal(split.train, again.train)
    assert len(split.validation) == 40 and len(split.train) == 160
    assert not set(frames_of(keys, split.train)) & set(frames_of(keys, split.validation))
    assert np.all(np.diff(split.train) > 0)  # the examples' own order
    other = split_examples(
        keys, data=None, training=Training(validation_fraction=0.2, seed=4), origin="x"
    )
    assert frames_of(keys, other.validation) != frames_of(keys, split.validation)


def test_block_split_holds_out_contiguous_blocks():
    keys = video_keys(range(0, 200, 2), animals=1)  # 100 frames, every other video frame
    training = Training(validation_fraction=0.2, split="blocks", seed=0)
    split = split_examples(keys, data=None, training=training, origin="labels.slp")
    held = frames_of(keys, split.validation)
    blocks = [list(range(start, start + 20, 2)) for start in range(0, 200, 20)]
    chosen = [block for block in blocks if block[0] in held]
    assert len(chosen) == 2  # round(0.2 * 10 blocks)
    assert held == sorted(f for block in chosen for f in block)
    changed = split_examples(
        keys,
        data=None,
        training=Training(validation_fraction=0.2, split="blocks", seed=1),
        origin="x",
    )
    assert frames_of(keys, changed.validation) != held


def test_explicit_frame_ranges():
    keys = video_keys(range(50))
    spec = data(train_frames=FrameRange(start=0, stop=30), validation_frames=FrameRange(start=40))
    split = split_examples(keys, data=spec, training=Training(), origin="labels.slp")
    assert frames_of(keys, split.train) == list(range(30))
    assert frames_of(keys, split.validation) == list(range(40, 50))
    only_validation = split_examples(
        keys,
        data=data(validation_frames=FrameRange(start=40, stop=45)),
        training=Training(),
        origin="x",
    )
    assert frames_of(keys, only_validation.validation) == list(range(40, 45))
    assert frames_of(keys, only_validation.train) == list(range(40)) + list(range(45, 50))


def test_train_range_alone_is_split_inside_the_range():
    keys = video_keys(range(50))
    split = split_examples(
        keys,
        data=data(train_frames=FrameRange(start=10, stop=30)),
        training=Training(validation_fraction=0.25),
        origin="x",
    )
    everything = frames_of(keys, np.concatenate([split.train, split.validation]))
    assert everything == list(range(10, 30))
    assert len(frames_of(keys, split.validation)) == 5


def test_zero_fraction_means_no_validation():
    split = split_examples(
        video_keys(range(5)), data=None, training=Training(validation_fraction=0), origin="x"
    )
    assert len(split.validation) == 0 and len(split.train) == 10


@pytest.mark.parametrize(
    ("keys", "spec", "training", "message"),
    [
        ([], None, Training(), "no labelled examples"),
        (video_keys([3]), None, Training(), "1 labelled frame(s) to split"),
        (
            video_keys(range(10)),
            data(validation_frames=FrameRange(start=100)),
            Training(),
            "validation_frames (frames 100..end) holds no labelled frame",
        ),
        (
            video_keys(range(10)),
            data(train_frames=FrameRange(start=20, stop=30)),
            Training(validation_fraction=0),
            "no training frames in data.train_frames (frames 20..30)",
        ),
        (
            video_keys(range(10)),
            data(validation_frames=FrameRange(start=0)),
            Training(),
            "no training frames",
        ),
    ],
)
def test_empty_sets_name_the_file(keys, spec, training, message):
    with pytest.raises(DpkError) as error:
        split_examples(keys, data=spec, training=training, origin="labels.slp")
    assert "labels.slp" in str(error.value) and message in str(error.value)


def test_frame_keys_group_video_frames_and_keep_images_apart():
    n = 4
    labels = Labels(
        images=np.zeros((n, 4, 4, 1), np.uint8),
        keypoints=np.zeros((n, 1, 2)),
        skeleton=Skeleton.from_names(["a"]),
        sources=[
            video_source("/v/a.mp4", 5),
            video_source("/v/a.mp4", 5),
            "/p/labeled-data/v1/img1.png",
            "/p/labeled-data/v1/img1b.png",
        ],
        frame_indices=np.array([5, 5, 1, 1]),
        origin="labels",
    )
    keys = frame_keys(labels)
    assert keys[0] == keys[1] == ("/v/a.mp4", 5, "")
    assert keys[2][:2] == keys[3][:2] == ("/p/labeled-data/v1", 1)
    assert keys[2] != keys[3]
    train, validation = split_labels(
        labels, data=None, training=Training(validation_fraction=0.34, seed=0)
    )
    assert len(train) + len(validation) == 4
    assert (validation.sources.count("/v/a.mp4#frame=5") in (0, 2)) and len(validation) >= 1

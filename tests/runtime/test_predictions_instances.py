"""Predictions with an instance axis (several animals) and tracks: writers and readers."""

from __future__ import annotations

import numpy as np
import pytest

from dpk.runtime.formats import load_predictions, save_predictions
from dpk.runtime.predictions import Predictions
from dpk.specs.errors import DpkError
from dpk.specs.skeleton import Skeleton

SKELETON = Skeleton(names=["head", "thorax", "tail"], parents=[None, "head", "thorax"])


def two_animals(n: int = 6) -> Predictions:
    """Two tracked animals in 3 instance rows: frame 2 misses 'b', rows swap at frame 3."""
    rng = np.random.default_rng(0)
    keypoints = np.full((n, 3, 3, 3), np.nan, np.float32)
    ids = np.full((n, 3), -1, np.int64)
    for t in range(n):
        a = np.c_[rng.uniform(5, 60, (3, 2)), rng.uniform(0.3, 1, 3)]
        b = np.c_[rng.uniform(5, 60, (3, 2)), rng.uniform(0.3, 1, 3)]
        rows = (0, 1) if t < 3 else (1, 0)
        keypoints[t, rows[0]], ids[t, rows[0]] = a, 0
        if t != 2:
            keypoints[t, rows[1]], ids[t, rows[1]] = b, 1
    keypoints[4, 1, 2] = np.nan  # one missing keypoint
    keypoints = np.round(keypoints, 3)
    keypoints[..., 2] = np.round(keypoints[..., 2], 4)
    return Predictions(
        keypoints=keypoints,
        frame_indices=np.arange(10, 10 + n),
        skeleton=SKELETON,
        source="clip.mp4",
        source_info={"fps": 25.0, "width": 64, "height": 64, "n_frames": 100},
        model_name="pair",
        track_ids=ids,
        track_names=["alice", "bob"],
    )


def test_instances_validate_and_default():
    p = two_animals()
    assert p.has_instances and p.n_instances == 3
    assert p.instance_scores is not None and np.isnan(p.instance_scores[0, 2])
    np.testing.assert_allclose(p.instance_scores[0, 0], np.nanmean(p.keypoints[0, 0, :, 2]))
    single = Predictions(np.zeros((2, 3, 3)), [0, 1], SKELETON)
    assert not single.has_instances and single.n_instances == 1 and single.track_ids is None
    with pytest.raises(ValueError, match="instance axis"):
        Predictions(np.zeros((2, 3, 3)), [0, 1], SKELETON, track_ids=np.zeros((2, 1)))
    with pytest.raises(ValueError, match="track_ids must have shape"):
        Predictions(np.zeros((2, 2, 3, 3)), [0, 1], SKELETON, track_ids=np.zeros((2, 1)))
    unnamed = Predictions(np.zeros((1, 2, 3, 3)), [0], SKELETON, track_ids=[[0, 2]])
    assert unnamed.track_names == ["track_0", "track_1", "track_2"]


def test_by_track_puts_each_track_in_its_row():
    p = two_animals()
    tracked = p.by_track()
    assert tracked.keypoints.shape == (6, 2, 3, 3)
    np.testing.assert_array_equal(tracked.keypoints[3, 0], p.keypoints[3, 1])
    np.testing.assert_array_equal(tracked.keypoints[3, 1], p.keypoints[3, 0])
    assert np.isnan(tracked.keypoints[2, 1]).all() and tracked.track_ids[2, 1] == -1
    bad = Predictions(np.ones((1, 1, 3, 3)), [0], SKELETON, track_ids=[[-1]])
    with pytest.raises(DpkError, match="no track id"):
        bad.by_track()


def _same(back: Predictions, p: Predictions, *, scores: bool = True) -> None:
    np.testing.assert_array_equal(back.frame_indices, p.frame_indices)
    np.testing.assert_allclose(back.keypoints, p.keypoints, atol=1e-3)
    np.testing.assert_array_equal(back.track_ids, p.track_ids)
    assert back.track_names == p.track_names
    if scores:
        np.testing.assert_allclose(back.instance_scores, p.instance_scores, atol=1e-4)


def test_h5_round_trip(tmp_path):
    p = two_animals()
    back = load_predictions(save_predictions(tmp_path / "p.h5", p))
    _same(back, p)
    assert back.source_info == p.source_info


def test_csv_round_trip(tmp_path):
    p = two_animals()
    path = save_predictions(tmp_path / "p.csv", p)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("frame,instance,track,track_name,score,head_x")
    assert len(lines) == 1 + 6 * 3
    assert lines[3].startswith("10,2,-1,,,")
    _same(load_predictions(path), p)


def test_slp_round_trip_with_tracks(tmp_path):
    sio = pytest.importorskip("sleap_io")
    p = two_animals()
    path = save_predictions(tmp_path / "p.slp", p)
    labels = sio.load_slp(str(path), open_videos=False)
    assert [t.name for t in labels.tracks] == ["alice", "bob"]
    assert len(labels.labeled_frames[2].instances) == 1
    back = load_predictions(path)
    expected = p.by_track()
    missing = np.isnan(expected.keypoints[..., 0]) & ~np.isnan(back.keypoints[..., 2])
    assert missing.sum() == 1 and (back.keypoints[..., 2][missing] == 0).all()  # SLEAP: score 0
    back.keypoints[..., 2][missing] = np.nan
    _same(back, expected)

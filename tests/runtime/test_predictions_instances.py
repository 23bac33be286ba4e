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


@pytest.mark.parametrize("suffix", [".csv", ".h5"])
def test_dlc_multi_animal_table(tmp_path, suffix):
    pd = pytest.importorskip("pandas")
    if suffix == ".h5":
        pytest.importorskip("tables")
    p = two_animals()
    path = save_predictions(tmp_path / f"p{suffix}", p, fmt="dlc")
    if suffix == ".csv":
        table = pd.read_csv(path, header=[0, 1, 2, 3], index_col=0)
    else:
        table = pd.read_hdf(path, "df_with_missing")
    assert table.columns.names == ["scorer", "individuals", "bodyparts", "coords"]
    assert list(table.columns.get_level_values(1).unique()) == ["alice", "bob"]
    assert len(table) == 16  # frames 0 .. 15; 0 .. 9 were not predicted
    expected = p.by_track().keypoints
    np.testing.assert_allclose(
        table.loc[13, ("pair", "bob", "thorax", ["x", "y", "likelihood"])], expected[3, 1, 1]
    )
    assert table.loc[12, ("pair", "bob")].isna().all() and table.loc[5].isna().all()
    frame = p.to_dataframe("dlc")
    assert frame.shape == (6, 2 * 3 * 3)


def test_nwb_one_pose_estimation_per_track(tmp_path):
    pytest.importorskip("ndx_pose")
    import h5py

    p = two_animals()
    path = save_predictions(tmp_path / "p.nwb", p)
    with h5py.File(path, "r") as f:
        behavior = f["processing/behavior"]
        assert {"PoseEstimation_alice", "PoseEstimation_bob"} <= set(behavior)
    back = load_predictions(path)
    _same(back, p.by_track(), scores=False)


def test_coco_one_annotation_per_instance(tmp_path):
    import json

    p = two_animals()
    path = save_predictions(tmp_path / "p.json", p)
    data = json.loads(path.read_text())
    assert len(data["annotations"]) == 11  # 6 frames x 2 animals, one absent
    first = data["annotations"][0]
    assert (first["instance"], first["track_id"], first["track_name"]) == (0, 0, "alice")
    assert data["info"]["tracks"] == ["alice", "bob"]
    _same(load_predictions(path), p)


def test_movement_and_tidy_have_one_individual_per_track():
    pytest.importorskip("xarray")
    p = two_animals()
    ds = p.to_movement()
    assert list(ds["individuals"].values) == ["alice", "bob"]
    assert ds["position"].shape == (6, 2, 3, 2)
    np.testing.assert_allclose(ds["position"].values[3, :, 1, 0], p.keypoints[3, 1, 1, :2])
    tidy = p.to_dataframe("tidy")
    assert len(tidy) == 6 * 3 * 3 and set(tidy["track"]) == {-1, 0, 1}

"""dpk filter on several tracked animals: each track on its own, layout and names kept."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util

import numpy as np
import pytest

from dpk.runtime.filtering import (
    FLAG_OUTLIER,
    FilterSettings,
    by_track_array,
    filter_keypoints,
    filter_tracks,
    untracked_instances,
)
from dpk.runtime.formats import load_predictions, save_predictions
from dpk.runtime.predictions import Predictions
from dpk.specs.errors import DpkError
from dpk.specs.skeleton import Skeleton

SKELETON = Skeleton(names=["head", "tail"], parents=[None, "head"], swaps=None)
N = 160
OUTLIERS = {0: 40, 1: 110}  # track -> frame of its one glitch
GAP = range(60, 90)  # bob is gone: 30 frames, longer than max_gap 10
SHORT_GAP = range(20, 23)  # bob is gone: 3 frames, shorter than max_gap


def tracked(seed: int = 0, untracked: bool = False) -> Predictions:
    """Two noisy animals (alice 0, bob 1) in 3 instance rows; rows swap at frame 100.

    Bob starts at frame 5 and has a long gap and a short one; each track has one glitch.
    ``untracked``: a third animal without a track id in frames 30-49 (row 2).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(N)
    keypoints = np.full((N, 3, 2, 3), np.nan, np.float32)
    ids = np.full((N, 3), -1, np.int64)
    for track, (x0, y0) in enumerate([(100.0, 80.0), (300.0, 200.0)]):
        head = np.stack([x0 + 40 * np.sin(t / 25 + track), y0 + 0.3 * t], axis=1)
        truth = np.stack([head, head + np.array([20.0, 0.0])], axis=1)
        noisy = truth + rng.normal(0, 1.0, truth.shape)
        noisy[OUTLIERS[track], 0] += 150.0
        conf = rng.uniform(0.6, 1.0, (N, 2, 1))
        animal = np.concatenate([noisy, conf], axis=2)
        present = np.ones(N, bool)
        if track == 1:
            present[:5] = False
            present[list(GAP)] = False
            present[list(SHORT_GAP)] = False
        row = np.where(t < 100, track, 1 - track)
        keypoints[t[present], row[present]] = animal[present]
        ids[t[present], row[present]] = track
    if untracked:
        keypoints[30:50, 2] = [[400.0, 400.0, 0.9], [420.0, 400.0, 0.9]]
    return Predictions(
        keypoints=keypoints,
        frame_indices=np.arange(N),
        skeleton=SKELETON,
        source="pair.mp4",
        source_info={"fps": 25.0, "width": 640, "height": 480, "n_frames": N},
        model_name="pair",
        track_ids=ids,
        track_names=["alice", "bob"],
    )


def alone(p: Predictions, track: int, settings: FilterSettings) -> tuple[np.ndarray, ...]:
    """The track as one animal over its span (NaN where absent), filtered alone."""
    series = by_track_array(p.keypoints, p.track_ids, 2)[:, track]
    frames = np.flatnonzero((p.track_ids == track).any(axis=1))
    first, last = frames[0], frames[-1]
    filtered, flags = filter_keypoints(series[first : last + 1], settings)
    return frames, filtered[frames - first], flags[frames - first]


@pytest.mark.parametrize("method", ["kalman", "median", "savgol"])
def test_each_track_is_filtered_as_one_animal_alone(method):
    p = tracked()
    settings = FilterSettings(method=method, max_gap=10)
    out, flags = filter_tracks(p.keypoints, p.track_ids, settings)
    assert out.shape == p.keypoints.shape and flags.shape == p.keypoints.shape[:3]
    for track in (0, 1):
        frames, expected, expected_flags = alone(p, track, settings)
        rows, cols = np.nonzero(p.track_ids == track)
        np.testing.assert_array_equal(rows, frames)
        np.testing.assert_array_equal(out[rows, cols], expected)
        np.testing.assert_array_equal(flags[rows, cols], expected_flags)
        glitch = OUTLIERS[track]
        assert flags[glitch, cols[rows == glitch][0], 0] & FLAG_OUTLIER
        error = np.abs(out[rows, cols, :, :2] - p.keypoints[rows, cols, :, :2])
        assert error[rows == glitch].max() > 100  # the glitch is gone
    # the same through filter_keypoints, the function dpk filter calls
    same, same_flags = filter_keypoints(p.keypoints, settings, track_ids=p.track_ids)
    np.testing.assert_array_equal(same, out)
    np.testing.assert_array_equal(same_flags, flags)


def test_gaps_stay_gaps_and_the_layout_is_kept():
    p = tracked()
    out, flags = filter_tracks(p.keypoints, p.track_ids, FilterSettings(max_gap=10))
    absent = ~np.isfinite(p.keypoints).any(axis=(2, 3))
    assert np.isnan(out[absent]).all() and (flags[absent] == 0).all()  # absent stays absent
    present = ~absent
    assert np.isfinite(out[present][..., :2]).all()
    bob = by_track_array(out, p.track_ids, 2)[:, 1]
    assert np.isnan(bob[list(GAP)]).all() and np.isnan(bob[list(SHORT_GAP)]).all()
    assert np.isnan(bob[:5]).all()
    np.testing.assert_array_equal(by_track_array(out, p.track_ids, [1])[:, 0], bob)
    cleaned = dataclasses.replace(p, keypoints=out, flags=flags)
    np.testing.assert_array_equal(cleaned.track_ids, p.track_ids)
    assert cleaned.track_names == ["alice", "bob"]
    np.testing.assert_array_equal(cleaned.instance_scores, p.instance_scores)


def test_untracked_instances_are_left_as_they_are():
    p = tracked(untracked=True)
    untracked = untracked_instances(p.keypoints, p.track_ids)
    assert untracked.sum() == 20 and untracked[30:50, 2].all()
    out, flags = filter_tracks(p.keypoints, p.track_ids)
    np.testing.assert_array_equal(out[untracked], p.keypoints[untracked])
    assert (flags[untracked] == 0).all()
    out, flags = filter_tracks(p.keypoints, None)  # nothing tracked: nothing changes
    np.testing.assert_array_equal(out, p.keypoints)
    assert not flags.any()


def test_two_instances_of_one_track_in_a_frame_are_refused():
    p = tracked()
    ids = p.track_ids.copy()
    ids[7, 1] = 0
    with pytest.raises(DpkError, match="track 0 has two instances in row 7"):
        filter_tracks(p.keypoints, ids)
    with pytest.raises(ValueError, match="instance axis"):
        filter_keypoints(p.keypoints[:, 0], track_ids=p.track_ids)


def _expected(p: Predictions) -> tuple[np.ndarray, np.ndarray]:
    """What dpk filter computes with its defaults (quality flags added to the filter's)."""
    from dpk.runtime.filtering import apply_per_track
    from dpk.runtime.quality import quality_flags

    out, flags = filter_tracks(p.keypoints, p.track_ids, FilterSettings())
    _, quality = apply_per_track(out, p.track_ids, lambda s: (s, quality_flags(s, SKELETON)))
    return out, flags | quality


@pytest.mark.parametrize("suffix", [".h5", ".csv"])
def test_dpk_filter_round_trip_keeps_instances_tracks_and_names(run_cli, tmp_path, suffix):
    p = tracked()
    raw = save_predictions(tmp_path / f"raw{suffix}", p)
    out = tmp_path / f"clean{suffix}"
    code, stdout, err = run_cli("filter", raw, "-o", out)
    assert code == 0, err
    assert err == ""
    assert f"wrote {out} ({suffix[1:]}, {N} frames, 2 tracks)" in stdout
    assert "outlier" in stdout
    # jumps are counted along each track (rows swap at frame 100): the 2 glitches, 4 frames
    assert f"between frames {4 / (N - 1):.1%} -> 0.0%;" in stdout
    back = load_predictions(out)
    expected, flags = _expected(load_predictions(raw))
    assert back.keypoints.shape == p.keypoints.shape
    np.testing.assert_array_equal(back.track_ids, p.track_ids)
    assert back.track_names == ["alice", "bob"]
    np.testing.assert_allclose(back.keypoints, expected, atol=1e-3)
    np.testing.assert_array_equal(back.flags, flags)


def test_dpk_filter_writes_tracks_in_every_multi_animal_format(run_cli, tmp_path):
    p = tracked()
    raw = save_predictions(tmp_path / "raw.h5", p)
    outputs = [(tmp_path / "clean.dlc.csv", "dlc")]
    if importlib.util.find_spec("sleap_io"):
        outputs.append((tmp_path / "clean.slp", "slp"))
    if importlib.util.find_spec("pynwb") and importlib.util.find_spec("ndx_pose"):
        outputs.append((tmp_path / "clean.nwb", "nwb"))
    argv = ["filter", raw]
    for path, fmt in outputs:
        argv += ["-o", path, "--format", fmt]
    code, stdout, err = run_cli(*argv)
    assert code == 0, err
    expected, flags = _expected(p)
    by_track = by_track_array(expected, p.track_ids, 2)
    for path, fmt in outputs:
        assert f"wrote {path} ({fmt}, {N} frames, 2 tracks; flags in {path}.flags.csv)" in stdout
        back = load_predictions(path).by_track()
        assert back.track_names == ["alice", "bob"], fmt
        np.testing.assert_array_equal(back.frame_indices, np.arange(N), err_msg=fmt)
        np.testing.assert_allclose(back.keypoints, by_track, atol=1e-3, err_msg=fmt)
        with open(f"{path}.flags.csv", newline="") as f:
            rows = [r for r in csv.reader(f) if not r[0].startswith("#")]
        assert rows[0] == ["frame", "instance", "track_id", "track", "head", "tail"]
        for frame, instance, track_id, name, *bits in rows[1:]:
            f, j = int(frame), int(instance)
            assert int(track_id) == p.track_ids[f, j]
            assert name == ["alice", "bob"][int(track_id)]
            assert [int(b) for b in bits] == flags[f, j].tolist()
        assert len(rows) - 1 == int((p.track_ids >= 0).sum())


def test_dpk_filter_warns_about_untracked_animals_and_refuses_when_none_is_tracked(
    run_cli, tmp_path
):
    p = tracked(untracked=True)
    raw = save_predictions(tmp_path / "raw.h5", p)
    out = tmp_path / "clean.h5"
    code, _, err = run_cli("filter", raw, "-o", out)
    assert code == 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dpk filter: warning:")
    assert "20 of " in lines[0] and "no track id" in lines[0] and "track them" in lines[0]
    back = load_predictions(out)
    np.testing.assert_array_equal(back.keypoints[30:50, 2], p.keypoints[30:50, 2])
    assert not back.flags[30:50, 2].any()
    np.testing.assert_array_equal(back.track_ids, p.track_ids)

    untracked = dataclasses.replace(p, track_ids=None, track_names=None)
    raw2 = save_predictions(tmp_path / "untracked.h5", untracked)
    assert load_predictions(raw2).track_ids is None
    code, _, err = run_cli("filter", raw2, "-o", tmp_path / "clean2.h5")
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert str(raw2) in err and "no animal has a track id" in err
    assert not (tmp_path / "clean2.h5").exists()


def test_filter_plot_shows_each_track(run_cli, tmp_path):
    pytest.importorskip("matplotlib")
    from dpk.runtime.filter_plot import _panels

    p = tracked()
    raw = save_predictions(tmp_path / "raw.h5", p)
    code, _, err = run_cli("filter", raw, "-o", tmp_path / "c.h5", "--plot", tmp_path / "p.png")
    assert code == 0, err
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    out, flags = filter_tracks(p.keypoints, p.track_ids)
    cleaned = dataclasses.replace(p, keypoints=out, flags=flags)
    rows, note = _panels(p, cleaned, max_keypoints=4, max_tracks=4)
    assert [r[0] for r in rows][:1] == ["alice head"] and len(rows) == 4
    assert {r[0].split()[0] for r in rows} == {"alice", "bob"}
    assert note == "; tracks alice, bob"
    rows, note = _panels(p, cleaned, max_keypoints=4, max_tracks=1)
    assert len(rows) == 2 and len({r[0].split()[0] for r in rows}) == 1
    assert note.endswith("(1 of 2, most changed)")

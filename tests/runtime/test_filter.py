"""Trajectory cleaning (dpk filter): methods, gaps, quality flags, every output format."""

from __future__ import annotations

import numpy as np
import pytest

from dpk.runtime.filtering import (
    FLAG_INTERPOLATED,
    FLAG_OUTLIER,
    FilterSettings,
    filter_keypoints,
    savgol_coefficients,
)
from dpk.runtime.formats import load_predictions, save_predictions
from dpk.runtime.predictions import Predictions
from dpk.runtime.quality import FLAG_BONE_LENGTH, quality_flags
from dpk.specs.skeleton import Skeleton

SKELETON = Skeleton(names=["head", "tail"], parents=[None, "head"], swaps=None)


def _track(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(truth, noisy observations with glitches and a gap) of two keypoints 20 px apart."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    head = np.stack([100 + 40 * np.sin(t / 25), 80 + 0.3 * t], axis=1)
    truth = np.stack([head, head + np.array([20.0, 0.0])], axis=1)
    noisy = np.concatenate([truth + rng.normal(0, 1.0, truth.shape), np.ones((n, 2, 1))], axis=2)
    noisy[::37, 0, :2] += 200.0  # single-frame glitches
    noisy[100:105, 1] = np.nan  # a short gap
    noisy[200:230, 1] = np.nan  # a long gap
    return truth, noisy.astype(np.float32)


@pytest.mark.parametrize("method", ["kalman", "median", "savgol"])
def test_methods_remove_glitches_fill_short_gaps_and_reduce_error(method):
    truth, noisy = _track()
    filtered, flags = filter_keypoints(noisy, FilterSettings(method=method, max_gap=10))
    assert (flags[::37, 0] & FLAG_OUTLIER).all()
    assert (flags[100:105, 1] == FLAG_INTERPOLATED).all()
    assert np.isnan(filtered[200:230, 1, 0]).all()  # longer than max_gap: left out
    assert np.isfinite(filtered[100:105, 1]).all()
    raw_error = np.nanmean(np.linalg.norm(noisy[..., :2] - truth, axis=-1))
    error = np.nanmean(np.linalg.norm(filtered[..., :2] - truth, axis=-1))
    assert error < raw_error / 4
    assert error < 1.0


def test_kalman_follows_confidence():
    truth, noisy = _track(seed=1)
    noisy[50, 0, :2] += 8.0  # a small error
    sure, unsure = noisy.copy(), noisy.copy()
    unsure[50, 0, 2] = 0.05
    settings = FilterSettings(jump=100.0)  # keep the point: only the smoother decides
    a, _ = filter_keypoints(sure, settings)
    b, _ = filter_keypoints(unsure, settings)
    assert abs(b[50, 0, 0] - truth[50, 0, 0]) < abs(a[50, 0, 0] - truth[50, 0, 0])


def test_savgol_kernel_matches_the_textbook_values():
    np.testing.assert_allclose(savgol_coefficients(5, 2), np.array([-3, 12, 17, 12, -3]) / 35)


def test_bone_length_flags_from_the_video_and_from_a_reference():
    truth, _ = _track()
    kp = truth.copy()
    kp[10, 1, 0] += 15.0  # the bone is 35 px instead of 20
    flags = quality_flags(kp, SKELETON)
    assert flags[10, 1] & FLAG_BONE_LENGTH and not flags[20, 1] & FLAG_BONE_LENGTH
    reference = truth[:5].copy()
    reference[:, 1] = reference[:, 0] + np.array([35.0, 0.0])  # labels say the bone is 35 px long
    flags = quality_flags(kp, SKELETON, reference=reference)
    assert not flags[10, 1] & FLAG_BONE_LENGTH and flags[20, 1] & FLAG_BONE_LENGTH


@pytest.mark.parametrize("suffix", [".csv", ".h5"])
def test_flags_round_trip_through_csv_and_hdf5(tmp_path, suffix):
    _, noisy = _track(n=40)
    filtered, flags = filter_keypoints(noisy)
    predictions = Predictions(filtered, np.arange(40), SKELETON, flags=flags)
    path = save_predictions(tmp_path / f"p{suffix}", predictions)
    back = load_predictions(path)
    np.testing.assert_array_equal(back.flags, flags)
    np.testing.assert_allclose(back.keypoints, filtered, atol=1e-3)


def test_dpk_filter_command_writes_outputs_flags_and_plot(run_cli, tmp_path):
    _, noisy = _track()
    raw = save_predictions(tmp_path / "raw.h5", Predictions(noisy, np.arange(300), SKELETON))
    out = tmp_path / "clean.h5"
    code, stdout, err = run_cli(
        "filter", raw, "-o", out, "-o", tmp_path / "clean.csv", "-o", tmp_path / "clean.dlc.csv",
        "--format", "h5", "--format", "csv", "--format", "dlc", "--plot", tmp_path / "ba.png",
    )  # fmt: skip
    assert code == 0, err
    assert "moving > 50 px between frames" in stdout and "interpolated" in stdout
    assert load_predictions(out).flags.shape == (300, 2)
    assert (tmp_path / "clean.dlc.csv.flags.csv").read_text().startswith("# dpk quality flags")
    assert (tmp_path / "ba.png").read_bytes()[:4] == b"\x89PNG"
    code, _, err = run_cli("filter", raw, "-o", raw)
    assert code == 2 and "is an input" in err

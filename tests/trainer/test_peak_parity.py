"""The in-graph peak finder and its numpy twin are the same function (DESIGN.md, section 4).

On every peak of every kind of map (random, flat, tied, tiny, negative, spikes, edges,
clean Gaussians), at several strides and batch sizes, onnxruntime and numpy agree within
``PEAK_PARITY_MAP_PX`` map pixels, and the fit is well conditioned: a relative change of
the map values at float32 rounding level moves no peak by more than that.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from dpk.trainer.export.peaks_onnx import peak_finder_model
from dpk.trainer.peaks import PEAK_PARITY_MAP_PX, find_peaks, fit_offsets, triples

SHAPES = {1: (48, 40), 2: (24, 21), 4: (12, 13), 8: (7, 6)}
"""Map (height, width) per stride; odd sides included."""
BATCHES = (1, 2, 3, 7, 16, 33)


def _gaussians(rng: np.random.Generator, n: int, shape, k: int, sigma_map: float, edge: bool):
    h, w = shape
    x = rng.uniform(-0.49, w - 0.51, (n, 1, 1, k))
    y = rng.uniform(-0.49, h - 0.51, (n, 1, 1, k))
    if edge:
        x = np.where(rng.random((n, 1, 1, k)) < 0.5, rng.uniform(-0.49, 0.5, x.shape), x)
        y = np.where(rng.random((n, 1, 1, k)) < 0.5, h - 1 - rng.uniform(-0.49, 0.5, y.shape), y)
    ys = np.arange(h)[None, :, None, None]
    xs = np.arange(w)[None, None, :, None]
    return np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma_map**2))


def hard_maps(stride: int, sigma: float, k: int = 5, seed: int = 0) -> np.ndarray:
    """(N, h, w, k) float32 maps of every awkward kind, 8 frames per kind."""
    rng = np.random.default_rng(seed)
    h, w = SHAPES[stride]
    n = 8
    sigma_map = sigma / stride
    kinds = [
        rng.random((n, h, w, k)),  # uniform noise: the profile is not peaked
        rng.random((n, h, w, k)) ** 12,  # sparse spikes
        rng.normal(0.0, 1.0, (n, h, w, k)),  # negative values
        np.zeros((n, h, w, k)),  # all zero: a tie everywhere
        np.full((n, h, w, k), 0.37),  # flat
        0.01 + 1e-7 * rng.random((n, h, w, k)),  # almost flat (an unsure network)
        1e-25 * rng.random((n, h, w, k)),  # tiny values
        1e25 * rng.random((n, h, w, k)),  # huge values
        _gaussians(rng, n, (h, w), k, sigma_map, edge=False),
        _gaussians(rng, n, (h, w), k, sigma_map, edge=True),  # truncated at the border
        0.8 * _gaussians(rng, n, (h, w), k, sigma_map, False) + rng.normal(0, 0.05, (n, h, w, k)),
        _gaussians(rng, n, (h, w), k, 3 * sigma_map, edge=False),  # a wide, unsure peak
        _gaussians(rng, n, (h, w), k, 0.3, edge=False),  # narrower than a pixel
    ]
    ties = rng.random((n, h, w, k)) * 0.5
    ties[:, 1, 2], ties[:, h - 2, w - 1] = 1.0, 1.0  # two equal maxima: the first one wins
    kinds.append(ties)
    spike = np.zeros((n, h, w, k))
    spike[:, h // 2, w // 2] = 1.0  # one pixel, and one pixel with a neighbour
    spike[:, h // 2, w // 2 + 1] = rng.random((n, k))
    kinds.append(spike)
    return np.concatenate(kinds).astype(np.float32)


def session_for(shape, n_maps: int, k: int, stride: int, sigma: float):
    model = peak_finder_model(*shape, n_maps, n_keypoints=k, stride=stride, sigma=sigma)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def map_px_difference(a: np.ndarray, b: np.ndarray, stride: int) -> float:
    """Largest x/y difference of two (N, K, 3) keypoint arrays, in map pixels."""
    return float(np.abs(a[..., :2] - b[..., :2]).max() / stride)


@pytest.mark.parametrize("stride,sigma", [(1, 5.0), (2, 5.0), (4, 5.0), (8, 5.0), (2, 1.2)])
def test_onnx_and_numpy_agree_on_every_peak_at_every_batch_size(stride, sigma):
    maps = hard_maps(stride, sigma)
    k = maps.shape[-1] - 1  # the last channel is not a keypoint map
    session = session_for(maps.shape[1:3], maps.shape[-1], k, stride, sigma)
    want = find_peaks(maps, stride, sigma, k)
    assert np.isfinite(want).all()
    for batch in BATCHES:
        got = np.concatenate(
            [
                session.run(None, {"maps": maps[i : i + batch]})[0]
                for i in range(0, len(maps), batch)
            ]
        )
        assert map_px_difference(got, want, stride) <= PEAK_PARITY_MAP_PX, batch
        np.testing.assert_array_equal(got[..., 2], want[..., 2])  # the maximum itself


def test_ties_and_flat_maps_take_the_first_maximum():
    maps = np.zeros((2, 9, 11, 2), np.float32)
    maps[0, 3, 4, 0] = maps[0, 6, 8, 0] = 1.0  # a tie: row-major first is (3, 4)
    maps[1] = 0.5  # flat: the first pixel, no correction
    session = session_for((9, 11), 2, 2, 1, 1.0)
    for found in (find_peaks(maps, 1, 1.0), session.run(None, {"maps": maps})[0]):
        np.testing.assert_allclose(found[0, 0, :2], [4.0, 3.0], atol=1e-6)
        np.testing.assert_allclose(found[1, :, :2], [[0.0, 0.0], [0.0, 0.0]], atol=1e-6)


@pytest.mark.parametrize("stride", [1, 4, 8])
def test_the_fit_is_well_conditioned(stride):
    """Float32-sized changes of the map values move a peak by float-sized amounts, never
    to another pixel's window or by a fraction of a pixel (unless the maximum moves)."""
    rng = np.random.default_rng(stride)
    maps = hard_maps(stride, 5.0, seed=stride)
    nudged = (maps * (1 + 3e-7 * rng.standard_normal(maps.shape))).astype(np.float32)
    a, b = find_peaks(maps, stride, 5.0), find_peaks(nudged, stride, 5.0)
    cube = maps.transpose(0, 3, 1, 2).reshape(*maps.shape[::3], -1)
    nudged_cube = nudged.transpose(0, 3, 1, 2).reshape(*maps.shape[::3], -1)
    same_pixel = cube.argmax(-1) == nudged_cube.argmax(-1)
    assert same_pixel.mean() > 0.5  # the almost flat maps change their maximum
    moved = np.abs(a[..., :2] - b[..., :2]).max(-1)[same_pixel] / stride
    assert moved.max() <= PEAK_PARITY_MAP_PX / 10


def test_fit_equals_weighted_least_squares():
    """The triple form is the weighted least-squares log-parabola (Cauchy-Binet)."""
    rng = np.random.default_rng(3)
    profiles = 0.2 + rng.random((50, 9))
    profiles[:, 4] = 1.3  # peaked enough that no clip or floor applies
    t = np.arange(-4, 5, dtype=np.float64)
    design = np.stack([np.ones_like(t), t, t * t], axis=1)
    floor = 0.05 / (2 * 2.0**2)  # CURVATURE_FLOOR at sigma_map 2
    checked = 0
    for profile, got in zip(profiles, fit_offsets(profiles, limit=4.0, sigma_map=2.0)):
        w = profile.astype(np.float64) ** 2
        _, b, c = np.linalg.lstsq(
            design * np.sqrt(w)[:, None], np.log(profile) * np.sqrt(w), rcond=None
        )[0]
        if c < -floor:
            assert abs(got - np.clip(-b / (2 * c), -4, 4)) < 1e-4
            checked += 1
    assert checked > 25


def test_triple_tables():
    index, v2, alpha, beta = triples(1)
    np.testing.assert_array_equal(index, [[0, 1, 2]])
    np.testing.assert_allclose(v2, [4.0])  # ((0 - -1) (1 - -1) (1 - 0))^2
    # y = t^2 + 3t through t = -1, 0, 1: c = 1, b = 3
    y = np.array([-2.0, 0.0, 4.0])
    assert alpha[0] @ y == pytest.approx(1.0) and beta[0] @ y == pytest.approx(3.0)
    assert len(triples(12)[0]) == 2300 and not triples(12)[0].flags.writeable

"""The anchor model's multi-peak finder: ONNX and numpy agree, and it finds every animal.

Several Gaussians per map (0 to 5 animals, more than ``max_animals`` included, at the
edges, closer than ``min_distance``, noisy), at several strides and batch sizes: the
in-graph anchors equal the numpy twin's within ``PEAK_PARITY_MAP_PX`` map pixels with the
same absent rows; clean peaks come back within 0.02 map pixels.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from dpk.trainer.anchors import find_anchors, local_maxima
from dpk.trainer.export.anchors_onnx import anchor_finder_model
from dpk.trainer.peaks import PEAK_PARITY_MAP_PX

SHAPES = {2: (48, 45), 4: (28, 27), 8: (20, 19), 16: (12, 11)}
SIGMA = 5.0


def gaussian_maps(rng, n: int, shape, stride: int, counts, edge: bool = False):
    """(N, h, w, 1) maps with ``counts[i]`` unit Gaussians, and their centres in input px."""
    h, w = shape
    sigma_map = SIGMA / stride
    maps = np.zeros((n, h, w, 1), np.float64)
    centres = []
    ys, xs = np.mgrid[0:h, 0:w]
    for i in range(n):
        points: list[tuple[float, float]] = []
        for _ in range(2000):  # as many as fit, at most counts[i]
            if len(points) == counts[i]:
                break
            lo = 0.0 if edge else 3 * sigma_map
            x, y = rng.uniform(lo, w - 1 - lo), rng.uniform(lo, h - 1 - lo)
            if all(np.hypot(x - px, y - py) > 8 * sigma_map for px, py in points):
                points.append((x, y))
        for x, y in points:
            blob = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma_map**2))
            maps[i, ..., 0] = np.maximum(maps[i, ..., 0], blob)
        centres.append(np.array(points).reshape(-1, 2) * stride + (stride - 1) / 2)
    return maps.astype(np.float32), centres


def run_onnx(maps, stride, **settings):
    h, w = maps.shape[1:3]
    model = anchor_finder_model(h, w, maps.shape[3], stride=stride, sigma=SIGMA, **settings)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["anchors"], {"maps": maps})[0]


def assert_parity(maps, stride, **settings):
    found = run_onnx(maps, stride, **settings)
    twin = find_anchors(maps, stride, SIGMA, **settings)
    assert found.shape == twin.shape
    np.testing.assert_array_equal(np.isnan(found), np.isnan(twin))
    ok = ~np.isnan(twin[..., 0])
    error = np.abs(found[ok][:, :2] - twin[ok][:, :2]) / stride
    assert error.max(initial=0) <= PEAK_PARITY_MAP_PX
    np.testing.assert_allclose(found[ok][:, 2], twin[ok][:, 2], rtol=1e-6)
    return twin


@pytest.mark.parametrize("stride", sorted(SHAPES))
@pytest.mark.parametrize("batch", [1, 3, 16])
def test_onnx_and_numpy_agree(stride, batch):
    rng = np.random.default_rng(stride * 100 + batch)
    counts = rng.integers(0, 6, batch)
    clean, _ = gaussian_maps(rng, batch, SHAPES[stride], stride, counts, edge=True)
    noisy = clean * 0.8 + rng.normal(0, 0.05, clean.shape).astype(np.float32)
    for maps in (clean, noisy, rng.random(clean.shape).astype(np.float32)):
        for animals, radius in ((1, 1), (3, 2), (5, 1)):
            assert_parity(maps, stride, max_animals=animals, threshold=0.3, radius=radius)


@pytest.mark.parametrize("stride", [2, 4, 8])
def test_clean_peaks_are_found_subpixel(stride):
    rng = np.random.default_rng(stride)
    n = 12
    maps, centres = gaussian_maps(rng, n, SHAPES[stride], stride, [2] * n)
    found = assert_parity(maps, stride, max_animals=3, threshold=0.5, radius=1)
    assert np.isnan(found[:, 2]).all()  # a third animal is absent
    for i in range(n):
        got = found[i, :2, :2]
        distance = np.linalg.norm(got[:, None] - centres[i][None], axis=-1)
        assert distance.min(axis=1).max() < 0.02 * stride  # DESIGN.md 4: 0.02 map px


def test_more_animals_than_rows_keeps_the_strongest():
    maps = np.zeros((1, 20, 20, 1), np.float32)
    for value, (x, y) in zip((0.9, 0.5, 0.7, 0.6), ((3, 3), (15, 4), (4, 15), (15, 15))):
        maps[0, y, x, 0] = value
    found = assert_parity(maps, 4, max_animals=2, threshold=0.3, radius=1)
    np.testing.assert_allclose(found[0, :, 2], [0.9, 0.7])


def test_empty_map_gives_nan_rows_and_threshold_is_inclusive():
    maps = np.zeros((2, 10, 12, 1), np.float32)
    maps[1, 5, 6, 0] = 0.3
    found = assert_parity(maps, 8, max_animals=2, threshold=0.3, radius=1)
    assert np.isnan(found[0]).all()
    assert np.isfinite(found[1, 0]).all() and np.isnan(found[1, 1]).all()


def test_min_distance_merges_close_maxima():
    maps = np.zeros((1, 20, 20, 1), np.float32)
    maps[0, 10, 10, 0], maps[0, 10, 12, 0] = 1.0, 0.8
    assert np.isfinite(find_anchors(maps, 4, SIGMA, max_animals=2, threshold=0.3, radius=1)).all()
    merged = assert_parity(maps, 4, max_animals=2, threshold=0.3, radius=2)
    assert np.isnan(merged[0, 1]).all() and merged[0, 0, 2] == 1.0


def test_local_maxima_ignore_outside_pixels():
    cube = np.array([[[[1.0, 0.5], [0.2, 0.9]]]], np.float32)
    np.testing.assert_array_equal(local_maxima(cube, 1)[0, 0], [[True, False], [False, False]])

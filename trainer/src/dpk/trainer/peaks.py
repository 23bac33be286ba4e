"""Subpixel peak finding on confidence maps (the numpy reference of the in-graph version).

DeepPoseKit refines each map's global maximum with upsampled-DFT registration against a
Gaussian kernel; that needs FFTs and complex numbers, which ONNX cannot express, it loses
precision at coarse strides and it is biased where a peak touches the map's edge. dpk
uses a closed-form fit instead, real-valued and the same function, operation for
operation, inside the ONNX graph (:mod:`dpk.trainer.export.peaks_onnx`) and here
(DESIGN.md, section 4):

1. the global maximum of each keypoint map gives the integer peak (row, column) and the
   confidence (the maximum value); on ties the first pixel in row-major order wins (numpy
   ``argmax`` and ONNX ``ArgMax`` agree);
2. a (2R+1) x (2R+1) window around it (zero outside the map; R about two target sigmas)
   is reduced to a column profile and a row profile, each a sum over the other axis
   weighted by the target Gaussian (a matched filter across that axis). For a separable
   Gaussian peak both profiles are exact 1-D Gaussians, whatever the window cuts off;
3. the log of each profile is fitted with a parabola ``y = a + b t + c t^2`` by weighted
   least squares, with the squared profile as weights (Caruana's method: noise in the low
   tails barely counts, and zero padding outside the map gets no weight). The vertex
   ``-b / 2c`` is the subpixel offset, clipped to L = max(1, R/2) pixels.

One pass, centred on the integer maximum: the offset is a continuous function of the map
values (given which pixel is the maximum), so float rounding in another runtime, on
another CPU or at another batch size moves it by about float rounding, never by a pixel.

The least-squares solution is computed in a form that is well conditioned in float32.
Each profile is divided by its maximum and floored at ``EPSILON`` (``p`` in [1e-6, 1]
whatever the map's scale), ``y = log p`` and ``w = p^2``. By the Cauchy-Binet formula the
weighted least-squares parabola is the weighted mean of the parabolas through every three
samples i < j < k of the window (T = (2R+1 choose 3) triples):

    b = sum_T W_T b_T / sum_T W_T,    c = sum_T W_T c_T / sum_T W_T,
    W_T = w_i w_j w_k V_T^2,          V_T = (t_j - t_i) (t_k - t_i) (t_k - t_j),

where ``c_T`` is the second divided difference of y over (t_i, t_j, t_k) and
``b_T = (y_j - y_i) / (t_j - t_i) - c_T (t_i + t_j)``, both fixed linear combinations of
three log values (:func:`triples`). Every weight is positive, so the sums are accurate to
float rounding even when the weights span twelve orders of magnitude (a spike on one or
two pixels, zero padding), where the usual normal equations (moments up to t^4 and 3 x 3
determinants) lose every digit. The curvature is floored smoothly at
``CURVATURE_FLOOR`` times that of the target Gaussian, ``c_min = CURVATURE_FLOOR /
(2 sigma^2)`` (sigma in map pixels):

    offset = clip(B / (2 max(-C, c_min S)), -L, L),    B = sum W_T b_T, C = sum W_T c_T,
                                                        S = sum W_T.

A flat window gives B = 0 and offset 0; a window that is not peaked (c >= 0) moves by at
most ``|b| / (2 c_min)``, continuously, instead of jumping between "no correction" and a
division by a curvature near zero. On a clean Gaussian the log-profile is exactly a
parabola, so the fit is exact up to float rounding at any stride and any map size, at the
edges too. numpy and onnxruntime agree within ``PEAK_PARITY_MAP_PX`` on every peak
(tests/trainer/test_peak_parity.py; measured differences are about 1e-5 map px).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "CURVATURE_FLOOR",
    "EPSILON",
    "PEAK_PARITY_MAP_PX",
    "TINY",
    "find_peaks",
    "fit_offsets",
    "max_offset",
    "min_curvature",
    "profile_weights",
    "refine_at",
    "triples",
    "window_radius",
]

EPSILON = 1e-6
"""Floor of a profile, relative to its maximum, before the logarithm."""
TINY = 1e-30
"""Floor of a profile's maximum: a profile below ``TINY * EPSILON`` everywhere is flat."""
CURVATURE_FLOOR = 0.05
"""Smallest curvature the vertex divides by, as a fraction of the target Gaussian's."""
PEAK_PARITY_MAP_PX = 1e-3
"""Largest difference (map pixels) allowed between the in-graph and the numpy peaks of the
same maps (the export check and the tests)."""
_CHUNK = 1 << 22
"""Largest number of (profile, triple) elements fitted at once in numpy (memory bound)."""


def window_radius(sigma_map: float) -> int:
    """Half-width R of the fitting window for a Gaussian of ``sigma_map`` map pixels."""
    return int(min(12, max(2, np.ceil(2.0 * sigma_map))))


def max_offset(radius: int) -> float:
    """Largest correction (map pixels) a fit may apply in a window of ``radius``."""
    return float(max(1.0, radius / 2.0))


def min_curvature(sigma_map: float) -> float:
    """Curvature floor of the log-profile fit: ``CURVATURE_FLOOR / (2 sigma_map^2)``."""
    return float(CURVATURE_FLOOR / (2.0 * sigma_map**2))


def profile_weights(radius: int, sigma_map: float) -> np.ndarray:
    """Gaussian weights of the window's rows (or columns) when summing them into a profile."""
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    return np.exp(-(t**2) / (2.0 * sigma_map**2)).astype(np.float32)


@lru_cache(maxsize=32)
def triples(radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The constant tables of the fit over a window of 2R+1 samples, t = -R..R.

    Returns:
        ``(index, v2, alpha, beta)``: int64 (T, 3) sample indices i < j < k of every
        triple; float32 (T,) ``V_T^2``; float32 (T, 3) coefficients of y_i, y_j, y_k in
        ``c_T`` (``alpha``) and in ``b_T`` (``beta``). Read-only.
    """
    side = 2 * radius + 1
    i, j, k = (a.ravel() for a in np.meshgrid(*[np.arange(side)] * 3, indexing="ij"))
    keep = (i < j) & (j < k)
    index = np.stack([i[keep], j[keep], k[keep]], axis=1).astype(np.int64)
    t = index.astype(np.float64) - radius
    ti, tj, tk = t[:, 0], t[:, 1], t[:, 2]
    v2 = ((tj - ti) * (tk - ti) * (tk - tj)) ** 2
    alpha = np.stack(
        [1 / ((ti - tj) * (ti - tk)), 1 / ((tj - ti) * (tj - tk)), 1 / ((tk - ti) * (tk - tj))],
        axis=1,
    )
    beta = -alpha * np.stack([tj + tk, ti + tk, ti + tj], axis=1)
    tables = (index, v2.astype(np.float32), alpha.astype(np.float32), beta.astype(np.float32))
    for table in tables:
        table.setflags(write=False)
    return tables


def _fit(profiles: np.ndarray, limit: float, floor: float) -> np.ndarray:
    """:func:`fit_offsets` on (n, 2R+1) float32 profiles (the ONNX nodes' order)."""
    f32 = np.float32
    index, v2, alpha, beta = triples(profiles.shape[-1] // 2)
    top = np.maximum(profiles.max(axis=-1, keepdims=True), f32(TINY))
    p = np.maximum(profiles / top, f32(EPSILON))
    w = p * p
    y = np.log(p)
    wi, wj, wk = (w[:, index[:, s]] for s in range(3))
    yi, yj, yk = (y[:, index[:, s]] for s in range(3))
    weight = wi * wj * wk * v2
    c = (alpha[:, 0] * yi + alpha[:, 1] * yj) + alpha[:, 2] * yk
    b = (beta[:, 0] * yi + beta[:, 1] * yj) + beta[:, 2] * yk
    big_b = (weight * b).sum(axis=-1)
    big_c = (weight * c).sum(axis=-1)
    total = weight.sum(axis=-1)
    vertex = big_b / (f32(2.0) * np.maximum(-big_c, f32(floor) * total))
    return np.clip(vertex, f32(-limit), f32(limit))


def fit_offsets(profiles: np.ndarray, limit: float = 1.0, sigma_map: float = 1.0) -> np.ndarray:
    """Subpixel offsets of the peak of 1-D profiles centred on their integer maximum.

    Args:
        profiles: (..., 2R+1) profiles, sample R at the integer peak (values <= 0 count as
            ``EPSILON`` times the maximum).
        limit: Largest offset returned (either way), in samples.
        sigma_map: Target sigma in samples (sets the curvature floor).

    Returns:
        float32 (...) offsets in samples, in [-limit, limit].
    """
    profiles = np.asarray(profiles, dtype=np.float32)
    side = profiles.shape[-1]
    if side < 3 or side % 2 == 0:
        raise ValueError(f"profiles need an odd length of at least 3, got {side}")
    rows = profiles.reshape(-1, side)
    n_triples = len(triples(side // 2)[0])
    step = max(1, _CHUNK // n_triples)
    floor = min_curvature(sigma_map)
    out = [_fit(rows[s : s + step], limit, floor) for s in range(0, len(rows), step)]
    found = np.concatenate(out) if out else np.zeros(0, np.float32)
    return found.reshape(profiles.shape[:-1]).astype(np.float32)


def find_peaks(
    maps: np.ndarray,
    stride: int,
    sigma: float,
    n_keypoints: int | None = None,
) -> np.ndarray:
    """Subpixel maxima of keypoint maps, in input pixels.

    Args:
        maps: (N, h, w, M) confidence maps (channels last); the first ``n_keypoints``
            channels are keypoint maps.
        stride: Output stride of the maps (input pixels per map pixel).
        sigma: Target sigma in input pixels (sets the window and the profile weights).
        n_keypoints: Number of keypoint maps (default: all channels).

    Returns:
        float32 (N, K, 3): x, y, confidence; x and y in input pixels.
    """
    maps = np.asarray(maps, dtype=np.float32)
    n, h, w, m = maps.shape
    k = m if n_keypoints is None else n_keypoints
    cube = np.ascontiguousarray(maps[..., :k].transpose(0, 3, 1, 2))  # (N, K, h, w)
    flat = cube.reshape(n, k, h * w)
    index = flat.argmax(axis=2)
    confidence = np.take_along_axis(flat, index[..., None], axis=2)[..., 0]
    row, col = np.divmod(index, w)
    x_input, y_input = refine_at(cube, row, col, stride, sigma)
    return np.stack([x_input, y_input, confidence], axis=-1).astype(np.float32)


def refine_at(
    cube: np.ndarray, row: np.ndarray, col: np.ndarray, stride: int, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Subpixel positions, in input pixels, of peaks at integer map positions.

    The one pass of :func:`find_peaks` around given maxima, so that other peak pickers
    (several animals per map: :mod:`dpk.trainer.anchors`) refine exactly the same way.

    Args:
        cube: float32 (N, C, h, w) maps, channels first.
        row: int (N, C) map rows of the peaks (channel c of cube is read for column c).
        col: int (N, C) map columns of the peaks.
        stride: Output stride of the maps.
        sigma: Target sigma in input pixels.

    Returns:
        ``(x, y)``: float32 (N, C) each, in input pixels.
    """
    n, c = row.shape
    sigma_map = sigma / stride
    radius = window_radius(sigma_map)
    weights = profile_weights(radius, sigma_map)
    limit = max_offset(radius)
    padded = np.pad(cube, ((0, 0), (0, 0), (radius, radius), (radius, radius)))
    offsets = np.arange(2 * radius + 1)
    batch = np.arange(n)[:, None, None, None]
    channel = np.arange(c)[None, :, None, None]
    rows = row[..., None, None] + offsets[:, None]  # rows in padded coordinates
    cols = col[..., None, None] + offsets[None, :]
    window = padded[batch, channel, rows, cols]  # (N, C, 2R+1, 2R+1): [row, col]
    col_profile = window.transpose(0, 1, 3, 2) @ weights
    x = col.astype(np.float32) + fit_offsets(col_profile, limit, sigma_map)
    y = row.astype(np.float32) + fit_offsets(window @ weights, limit, sigma_map)
    x_input = x * np.float32(stride) + np.float32((stride - 1) / 2.0)
    y_input = y * np.float32(stride) + np.float32((stride - 1) / 2.0)
    return x_input.astype(np.float32), y_input.astype(np.float32)

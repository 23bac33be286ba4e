"""Subpixel peak finding on confidence maps (the numpy reference of the in-graph version).

DeepPoseKit refines each map's global maximum with upsampled-DFT registration against a
Gaussian kernel; that needs FFTs and complex numbers, which ONNX cannot express, it loses
precision at coarse strides and it is biased where a peak touches the map's edge. dpk
uses a closed-form fit instead, real-valued and the same inside the ONNX graph
(:mod:`dpk.trainer.export.peaks_onnx`) and here:

1. the global maximum of each keypoint map gives the integer peak (row, column) and the
   confidence (the maximum value);
2. a (2R+1) x (2R+1) window around it (zero outside the map; R about two target sigmas)
   is reduced to a column profile and a row profile, each a sum over the other axis
   weighted by the target Gaussian (a matched filter across that axis). For a separable
   Gaussian peak both profiles are exact 1-D Gaussians, whatever the window cuts off;
3. the log of each profile is fitted with a parabola by weighted least squares, with the
   squared profile as weights (Caruana's method: noise in the low tails barely counts, and
   zero padding outside the map gets no weight); the vertex ``-b / 2c`` is the subpixel
   offset, clipped to max(1, R/2) pixels, and 0 where the profile is not peaked (c >= 0);
4. the window is centred again on the rounded estimate and step 3 repeated, which
   recovers peaks whose noisy maximum pixel was off by more than a pixel.

On a clean Gaussian the log-profile is exactly a parabola, so the fit is exact up to float
rounding at any stride and any map size, at the edges too. Closed form: with weighted
moments ``m_k = sum w t^k`` and ``y_k = sum w t^k log p`` the vertex is
``-det_b / (2 det_c)`` (Cramer's rule; the determinant of the system cancels).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "EPSILON",
    "PASSES",
    "find_peaks",
    "fit_offsets",
    "max_offset",
    "profile_weights",
    "window_radius",
]

EPSILON = 1e-6
"""Floor of the profile before the logarithm."""
PASSES = 2
"""Fits per peak: the second is centred on the first's rounded estimate."""


def window_radius(sigma_map: float) -> int:
    """Half-width R of the fitting window for a Gaussian of ``sigma_map`` map pixels."""
    return int(min(12, max(2, np.ceil(2.0 * sigma_map))))


def max_offset(radius: int) -> float:
    """Largest correction (map pixels) a fit may apply in a window of ``radius``."""
    return float(max(1.0, radius / 2.0))


def profile_weights(radius: int, sigma_map: float) -> np.ndarray:
    """Gaussian weights of the window's rows (or columns) when summing them into a profile."""
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    return np.exp(-(t**2) / (2.0 * sigma_map**2)).astype(np.float32)


def fit_offsets(profiles: np.ndarray, limit: float = 1.0) -> np.ndarray:
    """Subpixel offsets of the peak of 1-D profiles centred on their maximum.

    Args:
        profiles: (..., 2R+1) non-negative profiles centred on the integer peak.
        limit: Largest offset returned (either way).

    Returns:
        (...) offsets in samples, in [-limit, limit].
    """
    profiles = np.asarray(profiles, dtype=np.float32)
    radius = profiles.shape[-1] // 2
    t = np.arange(-radius, radius + 1, dtype=np.float32)
    p = np.maximum(profiles, np.float32(EPSILON))
    w = p * p
    y = np.log(p)
    powers = t[:, None] ** np.arange(5, dtype=np.float32)[None, :]  # (2R+1, 5)
    m = w @ powers  # (..., 5)
    r = (w * y) @ powers[:, :3]  # (..., 3)
    m0, m1, m2, m3, m4 = (m[..., i] for i in range(5))
    y0, y1, y2 = (r[..., i] for i in range(3))
    det_b = m0 * (y1 * m4 - m3 * y2) - y0 * (m1 * m4 - m3 * m2) + m2 * (m1 * y2 - y1 * m2)
    det_c = m0 * (m2 * y2 - y1 * m3) - m1 * (m1 * y2 - y1 * m2) + y0 * (m1 * m3 - m2 * m2)
    peaked = det_c < 0
    safe = np.where(peaked, det_c, np.float32(-1.0))
    offset = np.where(peaked, -det_b / (2.0 * safe), np.float32(0.0))
    return np.clip(offset, -limit, limit).astype(np.float32)


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
    sigma_map = sigma / stride
    radius = window_radius(sigma_map)
    weights = profile_weights(radius, sigma_map)
    limit = max_offset(radius)
    cube = np.ascontiguousarray(maps[..., :k].transpose(0, 3, 1, 2))  # (N, K, h, w)
    flat = cube.reshape(n, k, h * w)
    index = flat.argmax(axis=2)
    confidence = np.take_along_axis(flat, index[..., None], axis=2)[..., 0]
    row, col = np.divmod(index, w)
    padded = np.pad(cube, ((0, 0), (0, 0), (radius, radius), (radius, radius)))
    offsets = np.arange(2 * radius + 1)
    batch = np.arange(n)[:, None, None, None]
    channel = np.arange(k)[None, :, None, None]
    x, y = col.astype(np.float32), row.astype(np.float32)
    for _ in range(PASSES):
        row = np.clip(np.round(y), 0, h - 1).astype(np.int64)
        col = np.clip(np.round(x), 0, w - 1).astype(np.int64)
        rows = row[..., None, None] + offsets[:, None]  # rows in padded coordinates
        cols = col[..., None, None] + offsets[None, :]
        window = padded[batch, channel, rows, cols]  # (N, K, 2R+1, 2R+1)
        x = col + fit_offsets(window.transpose(0, 1, 3, 2) @ weights, limit)
        y = row + fit_offsets(window @ weights, limit)
    x_input = x * stride + (stride - 1) / 2.0
    y_input = y * stride + (stride - 1) / 2.0
    return np.stack([x_input, y_input, confidence], axis=-1).astype(np.float32)

"""Subpixel peak finding on confidence maps (the numpy reference of the in-graph version).

DeepPoseKit refines each map's global maximum with upsampled-DFT registration against a
Gaussian kernel; that needs FFTs and complex numbers, which ONNX cannot express, and it
loses precision at coarse strides. dpk uses a closed-form fit instead, real-valued and
the same inside the ONNX graph (:mod:`dpk.trainer.export.peaks_onnx`) and here:

1. the global maximum of each keypoint map gives the integer peak (row, column) and the
   confidence (the maximum value);
2. a (2R+1) x (2R+1) window around it (zero outside the map) is summed along rows and
   along columns. For a separable Gaussian the two marginal profiles are exact 1-D
   Gaussians, whatever the window cuts off;
3. the log of each profile is fitted with a parabola by weighted least squares, with the
   squared profile as weights (Caruana's method: noise in the low tails barely counts);
   the vertex ``-b / 2c`` is the subpixel offset, clipped to +-1 pixel, and 0 where the
   profile is not peaked (``c >= 0``).

On a clean Gaussian the log-profile is exactly a parabola, so the fit is exact up to
float rounding, at any stride and any map size. Closed form: with weighted moments
``m_k = sum w t^k`` and ``y_k = sum w t^k log p``, the vertex is
``-det_b / (2 det_c)`` (Cramer's rule; the determinant of the system cancels).
"""

from __future__ import annotations

import numpy as np

__all__ = ["EPSILON", "MAX_OFFSET", "find_peaks", "fit_offsets", "window_radius"]

EPSILON = 1e-6
"""Floor of the profile before the logarithm."""
MAX_OFFSET = 1.0
"""Largest subpixel correction, in map pixels."""


def window_radius(sigma_map: float) -> int:
    """Half-width R of the fitting window for a Gaussian of ``sigma_map`` map pixels."""
    return int(min(6, max(2, np.ceil(sigma_map))))


def fit_offsets(profiles: np.ndarray) -> np.ndarray:
    """Subpixel offsets of the peak of 1-D profiles centred on their maximum.

    Args:
        profiles: (..., 2R+1) non-negative profiles; the middle sample is the maximum.

    Returns:
        (...) offsets in samples, in [-MAX_OFFSET, MAX_OFFSET].
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
    return np.clip(offset, -MAX_OFFSET, MAX_OFFSET).astype(np.float32)


def find_peaks(
    maps: np.ndarray,
    stride: int,
    sigma: float,
    n_keypoints: int | None = None,
    radius: int | None = None,
) -> np.ndarray:
    """Subpixel maxima of keypoint maps, in input pixels.

    Args:
        maps: (N, h, w, M) confidence maps (channels last); the first ``n_keypoints``
            channels are keypoint maps.
        stride: Output stride of the maps (input pixels per map pixel).
        sigma: Target sigma in input pixels (sets the fitting window).
        n_keypoints: Number of keypoint maps (default: all channels).
        radius: Window half-width in map pixels (default: :func:`window_radius`).

    Returns:
        float32 (N, K, 3): x, y, confidence; x and y in input pixels.
    """
    maps = np.asarray(maps, dtype=np.float32)
    n, h, w, m = maps.shape
    k = m if n_keypoints is None else n_keypoints
    radius = window_radius(sigma / stride) if radius is None else radius
    cube = np.ascontiguousarray(maps[..., :k].transpose(0, 3, 1, 2))  # (N, K, h, w)
    flat = cube.reshape(n, k, h * w)
    index = flat.argmax(axis=2)
    confidence = np.take_along_axis(flat, index[..., None], axis=2)[..., 0]
    row, col = np.divmod(index, w)
    padded = np.pad(cube, ((0, 0), (0, 0), (radius, radius), (radius, radius)))
    offsets = np.arange(2 * radius + 1)
    rows = row[..., None, None] + offsets[:, None]  # rows in padded coordinates
    cols = col[..., None, None] + offsets[None, :]
    window = padded[
        np.arange(n)[:, None, None, None], np.arange(k)[None, :, None, None], rows, cols
    ]  # (N, K, 2R+1, 2R+1)
    dx = fit_offsets(window.sum(axis=2))
    dy = fit_offsets(window.sum(axis=3))
    x = (col + dx) * stride + (stride - 1) / 2.0
    y = (row + dy) * stride + (stride - 1) / 2.0
    return np.stack([x, y, confidence], axis=-1).astype(np.float32)

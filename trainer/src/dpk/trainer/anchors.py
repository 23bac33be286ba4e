"""Several animals per map: the numpy twin of the anchor model's in-graph peak finder.

An anchor model's one map has a Gaussian at the anchor keypoint of every animal. Its
anchors are the local maxima of the map (a pixel equal to the maximum of the
``2r + 1`` square around it, ``r`` = :meth:`dpk.specs.AnchorTargets.nms_radius`) whose value
is at least ``threshold``; the ``max_animals`` strongest are kept (ties: the first in
row-major order), each refined to subpixel by exactly the pass of
:func:`dpk.trainer.peaks.refine_at`. Rows of absent animals are NaN. Two equal pixels
side by side on a plateau are both maxima; the trained map has no plateaus above the
threshold.

:mod:`dpk.trainer.export.anchors_onnx` builds the same operations into the model file;
the two agree within :data:`dpk.trainer.peaks.PEAK_PARITY_MAP_PX` map pixels.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dpk.specs.skeleton import Skeleton
from dpk.trainer.peaks import refine_at

__all__ = [
    "MASKED",
    "anchor_skeleton",
    "find_anchors",
    "local_maxima",
    "match_anchors",
]

MASKED = np.float32(-1e30)
"""The value a pixel that is not an anchor candidate gets before the top-N choice."""


def local_maxima(cube: np.ndarray, radius: int) -> np.ndarray:
    """bool (N, C, h, w): pixels equal to the maximum of the square of half-side ``radius``
    around them (pixels outside the map do not count, as in ONNX MaxPool)."""
    r = int(radius)
    padded = np.pad(cube, ((0, 0), (0, 0), (r, r), (r, r)), constant_values=-np.inf)
    pooled = sliding_window_view(padded, (2 * r + 1, 2 * r + 1), axis=(2, 3)).max(axis=(-2, -1))
    return cube == pooled


def find_anchors(
    maps: np.ndarray,
    stride: int,
    sigma: float,
    *,
    max_animals: int,
    threshold: float,
    radius: int,
) -> np.ndarray:
    """The anchors of every frame: the strongest local maxima of map 0, subpixel.

    Args:
        maps: (N, h, w, M) maps, channels last; channel 0 is the anchor map.
        stride: Output stride of the maps (input pixels per map pixel).
        sigma: Target sigma in input pixels.
        max_animals: Rows per frame (A).
        threshold: Smallest map value of an anchor.
        radius: Half-side of the local-maximum window, in map pixels.

    Returns:
        float32 (N, A, 3): x, y (input pixels), confidence (the map value), strongest
        first; NaN rows where fewer than A anchors were found.
    """
    maps = np.asarray(maps, dtype=np.float32)
    n, h, w, _ = maps.shape
    a = int(max_animals)
    if a > h * w:
        raise ValueError(f"max_animals ({a}) is more than the {h}x{w} map's pixels")
    cube = np.ascontiguousarray(maps[..., :1].transpose(0, 3, 1, 2))  # (N, 1, h, w)
    keep = local_maxima(cube, radius) & (cube >= np.float32(threshold))
    flat = np.where(keep, cube, MASKED).reshape(n, h * w)
    index = np.argsort(-flat, axis=1, kind="stable")[:, :a]  # (N, A)
    value = np.take_along_axis(flat, index, axis=1)
    row, col = np.divmod(index, w)
    x, y = refine_at(np.broadcast_to(cube, (n, a, h, w)), row, col, stride, sigma)
    anchors = np.stack([x, y, value], axis=-1).astype(np.float32)
    anchors[value < np.float32(threshold)] = np.nan
    return anchors


def anchor_skeleton(anchor: str, max_animals: int) -> Skeleton:
    """The training labels' skeleton of an anchor model: one column per animal
    (``thorax``, ``thorax_2``, ...), no edges, no swaps (animals have no order)."""
    names = [anchor] + [f"{anchor}_{i}" for i in range(2, int(max_animals) + 1)]
    return Skeleton(names=names)


def match_anchors(predicted: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Reorder each frame's predicted anchors (N, A, 3) to the labelled animals (N, A, 2)
    by least total distance, so that row i of both is one animal (errors per animal)."""
    from dpk.runtime.tracking import assign

    out = np.full_like(predicted, np.nan)
    for t in range(len(predicted)):
        cost = np.linalg.norm(predicted[t, :, None, :2] - labelled[t, None, :, :2], axis=-1)
        cost = np.where(np.isfinite(cost), cost, np.inf)
        for i, j in assign(cost):
            out[t, j] = predicted[t, i]
    return out

"""Confidence-map targets: keypoint Gaussians and the hierarchical posture graph.

Conventions (DESIGN.md, sections 2 and 5): at output stride ``s``, map pixel ``j``
covers input pixels ``[j*s, (j+1)*s)``, so its centre lies at input coordinate
``j*s + (s-1)/2``. A keypoint at input ``x`` therefore sits at map coordinate
``(x - (s-1)/2) / s``, and :func:`dpk.trainer.peaks.find_peaks` maps back with the
inverse. Sigma is given in input pixels and divided by the stride on the maps.

Map layout for K keypoints with the posture graph on (see
:func:`dpk.specs.n_output_maps`):

1. K keypoint maps (unnormalised Gaussians, peak 1);
2. one map per limb group (the edges hanging from one root, drawn together);
3. one map per edge (child -> parent), in the order of ``skeleton.edges``;
4. one map of all edges (when the skeleton has edges);
5. one global map of all edges and all keypoints.

Lines are blurred with the same Gaussian profile as keypoints (the value at a pixel is
``exp(-d**2 / (2 sigma**2))`` with ``d`` its distance to the segment); maps that combine
several lines or keypoints take the pixel-wise maximum, so every map stays within
[0, 1] before ``graph_scale`` multiplies the graph maps. With ``mask_missing`` the maps
of a missing keypoint, and of the edges that touch it, are NaN: the loss ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dpk.specs import ModelSpec, Skeleton, Targets

__all__ = [
    "TargetLayout",
    "draw_targets",
    "draw_targets_batch",
    "input_to_map",
    "map_to_input",
]


def input_to_map(coords: np.ndarray, stride: int) -> np.ndarray:
    """Input-pixel coordinates to map coordinates at ``stride``."""
    return (np.asarray(coords, dtype=np.float64) - (stride - 1) / 2.0) / stride


def map_to_input(coords: np.ndarray, stride: int) -> np.ndarray:
    """Map coordinates at ``stride`` to input-pixel coordinates (inverse of :func:`input_to_map`)."""
    return np.asarray(coords, dtype=np.float64) * stride + (stride - 1) / 2.0


@dataclass(frozen=True)
class TargetLayout:
    """Which map holds what, for one skeleton and target setting."""

    n_keypoints: int
    groups: tuple[tuple[int, tuple[int, ...]], ...]
    """(root, indices into ``edges`` of the edges in that limb group)."""
    edges: tuple[tuple[int, int], ...]
    """(child, parent) keypoint pairs."""
    graph: bool

    @classmethod
    def from_skeleton(cls, skeleton: Skeleton, graph: bool) -> TargetLayout:
        """Derive the layout from the skeleton's parent links."""
        edges = tuple(skeleton.edges)
        parents = skeleton.parent_indices

        def root_of(i: int) -> int:
            while parents[i] >= 0:
                i = parents[i]
            return i

        groups = []
        for root in skeleton.roots:
            members = tuple(e for e, (child, _) in enumerate(edges) if root_of(child) == root)
            if members:
                groups.append((root, members))
        return cls(skeleton.n_keypoints, tuple(groups), edges, graph)

    @property
    def n_maps(self) -> int:
        """Total number of maps."""
        if not self.graph:
            return self.n_keypoints
        extra = len(self.groups) + len(self.edges) + (1 if self.edges else 0) + 1
        return self.n_keypoints + extra

    def map_names(self, names: list[str]) -> list[str]:
        """A readable name for every map (for plots and logs)."""
        out = list(names)
        if not self.graph:
            return out
        out += [f"group:{names[root]}" for root, _ in self.groups]
        out += [f"edge:{names[c]}-{names[p]}" for c, p in self.edges]
        if self.edges:
            out.append("all_edges")
        out.append("global")
        return out


def _gaussian_points(
    u: np.ndarray, v: np.ndarray, shape: tuple[int, int], sigma: float
) -> np.ndarray:
    """(K, h, w) Gaussians at map coordinates (u, v); NaN points give zeros."""
    h, w = shape
    ys = np.arange(h, dtype=np.float64)[None, :, None]
    xs = np.arange(w, dtype=np.float64)[None, None, :]
    du = xs - np.nan_to_num(u, nan=-1e6)[:, None, None]
    dv = ys - np.nan_to_num(v, nan=-1e6)[:, None, None]
    return np.exp(-(du**2 + dv**2) / (2.0 * sigma**2))


def _gaussian_segments(
    a: np.ndarray, b: np.ndarray, shape: tuple[int, int], sigma: float
) -> np.ndarray:
    """(E, h, w) Gaussian-blurred segments from points a (E, 2) to b (E, 2), map coordinates."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    px, py = xs[None], ys[None]
    ax, ay = a[:, 0, None, None], a[:, 1, None, None]
    dx, dy = (b[:, 0] - a[:, 0])[:, None, None], (b[:, 1] - a[:, 1])[:, None, None]
    length2 = dx**2 + dy**2
    t = np.where(length2 > 0, ((px - ax) * dx + (py - ay) * dy) / np.maximum(length2, 1e-12), 0.0)
    t = np.clip(t, 0.0, 1.0)
    d2 = (px - (ax + t * dx)) ** 2 + (py - (ay + t * dy)) ** 2
    return np.exp(-d2 / (2.0 * sigma**2))


def draw_targets(
    keypoints: np.ndarray,
    layout: TargetLayout,
    targets: Targets,
    map_shape: tuple[int, int],
) -> np.ndarray:
    """Draw every target map for one image.

    Args:
        keypoints: (K, 2) input-pixel coordinates, NaN where missing.
        layout: Map layout from the skeleton.
        targets: Sigma, stride, graph settings.
        map_shape: (h, w) of the network's output maps.

    Returns:
        float32 (h, w, M) maps; NaN channels are masked (see module docstring).
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if targets.anchor is not None:  # anchor model: one map, a Gaussian at every animal
        uv = input_to_map(keypoints, targets.stride)
        seen = np.isfinite(uv).all(axis=1)
        points = _gaussian_points(
            uv[seen, 0], uv[seen, 1], map_shape, targets.sigma / targets.stride
        )
        anchor_map = points.max(axis=0) if seen.any() else np.zeros(map_shape)
        return anchor_map[..., None].astype(np.float32)
    if keypoints.shape != (layout.n_keypoints, 2):
        raise ValueError(f"keypoints must be ({layout.n_keypoints}, 2), got {keypoints.shape}")
    stride = targets.stride
    sigma = targets.sigma / stride
    uv = input_to_map(keypoints, stride)
    missing = np.isnan(uv).any(axis=1)
    point_maps = _gaussian_points(uv[:, 0], uv[:, 1], map_shape, sigma)
    point_maps[missing] = 0.0
    maps = [point_maps]
    masked = list(missing) if targets.mask_missing else [False] * layout.n_keypoints
    if layout.graph:
        edges = np.array(layout.edges, dtype=np.int64).reshape(-1, 2)
        edge_ok = (
            ~(missing[edges[:, 0]] | missing[edges[:, 1]]) if len(edges) else np.zeros(0, bool)
        )
        if len(edges):
            edge_maps = _gaussian_segments(
                np.nan_to_num(uv[edges[:, 0]]), np.nan_to_num(uv[edges[:, 1]]), map_shape, sigma
            )
            edge_maps[~edge_ok] = 0.0
        else:
            edge_maps = np.zeros((0, *map_shape))
        group_maps = (
            np.stack([edge_maps[list(members)].max(axis=0) for _, members in layout.groups])
            if layout.groups
            else np.zeros((0, *map_shape))
        )
        extra = [group_maps, edge_maps]
        if len(edges):
            extra.append(edge_maps.max(axis=0, keepdims=True))
        extra.append(np.concatenate([edge_maps, point_maps]).max(axis=0, keepdims=True))
        graph_maps = np.concatenate(extra) * targets.graph_scale
        maps.append(graph_maps)
        masked += [False] * len(group_maps)
        masked += list(~edge_ok) if targets.mask_missing else [False] * len(edges)
        masked += [False] * (len(graph_maps) - len(group_maps) - len(edges))
    out = np.concatenate(maps).astype(np.float32)
    out[np.array(masked, dtype=bool)] = np.nan
    return np.ascontiguousarray(out.transpose(1, 2, 0))


def draw_targets_batch(
    keypoints: np.ndarray, spec: ModelSpec, map_shape: tuple[int, int]
) -> np.ndarray:
    """Draw targets for a batch: keypoints (N, K, 2) -> float32 (N, h, w, M)."""
    layout = TargetLayout.from_skeleton(spec.skeleton, spec.targets.graph)
    return np.stack([draw_targets(k, layout, spec.targets, map_shape) for k in keypoints])

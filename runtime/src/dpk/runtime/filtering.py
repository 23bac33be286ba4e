"""Cleaning keypoint trajectories: glitch removal, smoothing, gap filling (numpy only).

Every method runs the same three steps on each keypoint's x and y over time:

1. Observations are dropped (flag ``OUTLIER``) where a point sits far from the running
   median of its neighbours (a single-frame jump and back), and where the confidence is
   below ``min_confidence`` (flag ``LOW_CONFIDENCE``).
2. The rest is smoothed by the named method:

   - ``median``: a running median of ``window`` frames.
   - ``savgol``: a Savitzky-Golay filter (a least-squares polynomial of ``polyorder``
     over ``window`` frames) on the gap-filled track.
   - ``kalman``: a constant-velocity Kalman filter and a backward Rauch-Tung-Striebel
     pass. Each observation's noise is ``obs_noise / confidence``, so unsure points pull
     less; the noise levels are chosen by maximum likelihood of the observations (the
     idea of Lightning Pose's ensemble Kalman smoother, where the ensemble's variance
     plays the part of our confidence; no JAX, a vectorised numpy loop).

3. Gaps inside the track up to ``max_gap`` frames are filled (flag ``INTERPOLATED``;
   confidence interpolated from the neighbours); longer gaps and the ends stay NaN.

Several animals (keypoints (N, A, K, 3) with track ids (N, A), see
:mod:`dpk.runtime.predictions`): each track is cleaned on its own, exactly as one animal,
over its own span of rows (its first to its last frame; rows where it is absent are NaN in
that series, so they are gaps like any other). Results go back to the instance rows the
track occupies, so the instance layout is kept and frames where a track is absent stay
absent (nothing is filled in where the track has no instance row). Instances without a
track id (-1, or no ``track_ids`` at all) are left as they are, with flags 0: their rows
are not a time series until they are tracked (:mod:`dpk.runtime.tracking`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dpk.specs.errors import DpkError

__all__ = [
    "FLAG_BONE_LENGTH",
    "FLAG_INTERPOLATED",
    "FLAG_LOW_CONFIDENCE",
    "FLAG_NAMES",
    "FLAG_OUTLIER",
    "FLAG_SPEED",
    "METHODS",
    "FilterSettings",
    "apply_per_track",
    "by_track_array",
    "filter_keypoints",
    "filter_tracks",
    "kalman_smooth",
    "running_median",
    "savgol_coefficients",
    "savgol_smooth",
    "untracked_instances",
]

FLAG_LOW_CONFIDENCE = 1
"""The observation's confidence was below ``min_confidence``; it was not used."""
FLAG_OUTLIER = 2
"""The observation jumped away from its neighbours; it was not used."""
FLAG_INTERPOLATED = 4
"""No usable observation: the position is filled in from the neighbouring frames."""
FLAG_BONE_LENGTH = 8
"""A bone to this keypoint is far from its usual length (see :mod:`dpk.runtime.quality`)."""
FLAG_SPEED = 16
"""The keypoint moves much faster than it usually does (see :mod:`dpk.runtime.quality`)."""
FLAG_NAMES = {
    FLAG_LOW_CONFIDENCE: "low_confidence",
    FLAG_OUTLIER: "outlier",
    FLAG_INTERPOLATED: "interpolated",
    FLAG_BONE_LENGTH: "bone_length",
    FLAG_SPEED: "speed",
}
"""Bit -> name of every quality flag."""

Method = Literal["kalman", "median", "savgol"]
METHODS: tuple[str, ...] = ("kalman", "median", "savgol")


@dataclass(frozen=True)
class FilterSettings:
    """How to clean trajectories.

    Attributes:
        method: ``kalman``, ``median`` or ``savgol``.
        window: Frames of the running median and Savitzky-Golay windows (odd).
        polyorder: Savitzky-Golay polynomial order.
        max_gap: Longest run of missing frames that is filled in.
        min_confidence: Observations below this confidence are not used.
        jump: Pixels from the running median (``outlier_window`` frames) beyond which an
            observation is a glitch; None: 6 robust standard deviations of the keypoint's
            own distances, at least 10 px.
        outlier_window: Frames of the running median used to find glitches (odd).
        obs_noise: Kalman observation noise in pixels at confidence 1; None: chosen by
            maximum likelihood.
        process_noise: Kalman acceleration noise in pixels per frame squared; None:
            chosen by maximum likelihood.
    """

    method: Method = "kalman"
    window: int = 5
    polyorder: int = 2
    max_gap: int = 10
    min_confidence: float = 0.0
    jump: float | None = None
    outlier_window: int = 7
    obs_noise: float | None = None
    process_noise: float | None = None

    def check(self) -> None:
        """Raise :class:`DpkError` for values that cannot work."""
        if self.method not in METHODS:
            raise DpkError(
                f"unknown filter method {self.method!r}; use one of {', '.join(METHODS)}"
            )
        for name in ("window", "outlier_window"):
            value = getattr(self, name)
            if value < 1 or value % 2 == 0:
                raise DpkError(f"{name} {value}: give an odd number of frames, e.g. 5")
        if self.method == "savgol" and not 0 <= self.polyorder < self.window:
            raise DpkError(
                f"polyorder {self.polyorder} must be below the window ({self.window} frames)"
            )
        if self.max_gap < 0:
            raise DpkError(f"max_gap {self.max_gap} must be 0 or more")


# --------------------------------------------------------------------------- helpers
def running_median(values: np.ndarray, window: int) -> np.ndarray:
    """Centred running median over axis 0, ignoring NaN (NaN where a window is all NaN)."""
    half = window // 2
    padded = np.pad(values, [(half, half)] + [(0, 0)] * (values.ndim - 1), constant_values=np.nan)
    windows = sliding_window_view(padded, window, axis=0)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(windows, axis=-1)


def _runs(missing: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of every run of True in a 1-D boolean array."""
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _interior_fill(missing: np.ndarray, max_gap: int) -> np.ndarray:
    """Frames to fill: inside runs of at most ``max_gap`` missing frames, not at the ends."""
    fill = np.zeros_like(missing)
    n = len(missing)
    for start, stop in _runs(missing):
        if start > 0 and stop < n and stop - start <= max_gap:
            fill[start:stop] = True
    return fill


def _interpolate(values: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN along axis 0 of (N, S); the ends take the nearest value."""
    out = values.copy()
    t = np.arange(len(values))
    for s in range(values.shape[1]):
        good = np.isfinite(values[:, s])
        if good.any() and not good.all():
            out[~good, s] = np.interp(t[~good], t[good], values[good, s])
    return out


def savgol_coefficients(window: int, polyorder: int) -> np.ndarray:
    """The Savitzky-Golay smoothing kernel (value at the centre) for an odd window."""
    half = window // 2
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    design = np.vander(offsets, polyorder + 1, increasing=True)
    return np.linalg.pinv(design)[0]


def savgol_smooth(values: np.ndarray, window: int, polyorder: int) -> np.ndarray:
    """Savitzky-Golay smoothing of (N, S) series along axis 0 (mirror-padded ends, no NaN)."""
    n = len(values)
    if n < 2:
        return values.copy()
    window = min(window, n if n % 2 else n - 1)
    if window <= polyorder:
        return values.copy()
    kernel = savgol_coefficients(window, polyorder)
    half = window // 2
    padded = np.pad(values, [(half, half), (0, 0)], mode="reflect")
    windows = sliding_window_view(padded, window, axis=0)  # (N, S, window)
    return windows @ kernel


# --------------------------------------------------------------------------- Kalman
def _kalman_pass(z, r2, q):
    """Forward filter + RTS means for (N, S) observations (NaN = none), noises (S,) each.

    Returns:
        Smoothed positions (N, S) and the log-likelihood of the observations (S,).
    """
    n, s = z.shape
    first = np.argmax(np.isfinite(z), axis=0)
    x0 = z[first, np.arange(s)]
    x0 = np.where(np.isfinite(x0), x0, 0.0)
    # state mean (p, v) and covariance [[a, b], [b, c]] per series
    p, v = x0.copy(), np.zeros(s)
    a, b, c = np.full(s, 1e6), np.zeros(s), np.full(s, 1e4)
    qa, qb, qc = q / 4.0, q / 2.0, q
    fp = np.empty((n, s))
    fv = np.empty((n, s))
    fa, fb, fc = np.empty((n, s)), np.empty((n, s)), np.empty((n, s))
    pa, pb, pc = np.empty((n, s)), np.empty((n, s)), np.empty((n, s))
    loglik = np.zeros(s)
    for t in range(n):
        if t > 0:  # predict: F = [[1, 1], [0, 1]]
            p = p + v
            a, b, c = a + 2 * b + c + qa, b + c + qb, c + qc
        pa[t], pb[t], pc[t] = a, b, c
        obs = z[t]
        seen = np.isfinite(obs)
        innovation = np.where(seen, obs - p, 0.0)
        var = a + r2[t]
        gain_p = np.where(seen, a / var, 0.0)
        gain_v = np.where(seen, b / var, 0.0)
        loglik += np.where(seen, -0.5 * (np.log(2 * np.pi * var) + innovation**2 / var), 0.0)
        p = p + gain_p * innovation
        v = v + gain_v * innovation
        a, b, c = (1 - gain_p) * a, (1 - gain_p) * b, c - gain_v * b
        fp[t], fv[t], fa[t], fb[t], fc[t] = p, v, a, b, c
    sp, sv = fp[-1].copy(), fv[-1].copy()
    out = np.empty((n, s))
    out[-1] = sp
    for t in range(n - 2, -1, -1):
        # C = P_f[t] F^T inv(P_p[t+1])
        ma, mb, mc = pa[t + 1], pb[t + 1], pc[t + 1]
        det = ma * mc - mb * mb
        ia, ib, ic = mc / det, -mb / det, ma / det
        ha, hb = fa[t] + fb[t], fb[t]  # P_f F^T, first row: (a + b, b); second: (b + c, c)
        hc, hd = fb[t] + fc[t], fc[t]
        c11, c12 = ha * ia + hb * ib, ha * ib + hb * ic
        c21, c22 = hc * ia + hd * ib, hc * ib + hd * ic
        dp, dv = sp - (fp[t] + fv[t]), sv - fv[t]
        sp = fp[t] + c11 * dp + c12 * dv
        sv = fv[t] + c21 * dp + c22 * dv
        out[t] = sp
    return out, loglik


def kalman_smooth(
    positions: np.ndarray,
    confidence: np.ndarray,
    *,
    obs_noise: float | None = None,
    process_noise: float | None = None,
) -> np.ndarray:
    """Constant-velocity Kalman filter + RTS smoother on (N, K, 2) positions.

    The observation noise of a point is ``obs_noise / confidence`` pixels (confidence
    clipped to 0.05-1); NaN positions are not observed. Noise levels left as None are
    chosen per keypoint by maximum likelihood on a grid.

    Args:
        positions: (N, K, 2) x, y; NaN where there is no usable observation.
        confidence: (N, K) confidence of each observation.
        obs_noise: Pixels of observation noise at confidence 1 (None: fitted).
        process_noise: Acceleration noise in px/frame^2 (None: fitted).

    Returns:
        (N, K, 2) smoothed positions (every frame gets a value).
    """
    n, k, _ = positions.shape
    z = positions.reshape(n, k * 2).astype(np.float64)
    conf = np.clip(np.nan_to_num(confidence.astype(np.float64), nan=1.0), 0.05, 1.0)
    conf = np.repeat(conf, 2, axis=1)  # x and y share their keypoint's confidence
    r_grid = [obs_noise] if obs_noise is not None else [0.5, 1.0, 2.0, 4.0, 8.0]
    q_grid = [process_noise] if process_noise is not None else list(np.logspace(-3, 2, 11))
    combos = [(r, q) for r in r_grid for q in q_grid]
    m = len(combos)
    zz = np.tile(z, (1, m))
    r2 = np.concatenate([(r / conf) ** 2 for r, _ in combos], axis=1)
    qq = np.concatenate([np.full(k * 2, q**2) for _, q in combos])
    smoothed, loglik = _kalman_pass(zz, r2, qq)
    per_keypoint = loglik.reshape(m, k, 2).sum(axis=2)  # (m, K): x and y choose together
    best = np.argmax(per_keypoint, axis=0)
    smoothed = smoothed.reshape(n, m, k, 2)
    return smoothed[:, best, np.arange(k), :]


# --------------------------------------------------------------------------- driver
def _glitches(xy: np.ndarray, window: int, jump: float | None) -> np.ndarray:
    """(N, K) True where a point is far from the running median of its neighbours."""
    median = running_median(xy, window)
    distance = np.linalg.norm(xy - median, axis=-1)
    if jump is None:
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                typical = np.nanmedian(distance, axis=0)
        limit = np.maximum(10.0, 6 * 1.4826 * np.nan_to_num(typical, nan=0.0))
    else:
        limit = np.full(xy.shape[1], float(jump))
    return np.nan_to_num(distance, nan=0.0) > limit


def filter_keypoints(
    keypoints: np.ndarray,
    settings: FilterSettings | None = None,
    *,
    track_ids: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Clean keypoints: drop glitches, smooth, fill short gaps.

    One animal: (N, K, 3). Several animals: (N, A, K, 3) with ``track_ids``, each track
    cleaned on its own (see :func:`filter_tracks`).

    Args:
        keypoints: float (N, K, 3) or (N, A, K, 3): x, y, confidence; NaN where missing.
        settings: See :class:`FilterSettings` (default: the Kalman smoother).
        track_ids: int (N, A) track id of every instance row (-1 = none), for keypoints
            with an instance axis; None there: no instance is tracked (all left as they
            are).

    Returns:
        ``(filtered, flags)``: float32 of the keypoints' shape and uint8 bit flags of its
        shape without the last axis (``LOW_CONFIDENCE``, ``OUTLIER``, ``INTERPOLATED``).

    Raises:
        DpkError: Bad settings, or a track with two instances in one frame.
        ValueError: ``track_ids`` given for one animal, or of the wrong shape.
    """
    settings = settings or FilterSettings()
    settings.check()
    if np.ndim(keypoints) == 4:
        return filter_tracks(keypoints, track_ids, settings)
    if track_ids is not None:
        raise ValueError("track_ids need keypoints with an instance axis, (N, A, K, 3)")
    keypoints = np.asarray(keypoints, np.float64)
    n, k, _ = keypoints.shape
    xy = keypoints[..., :2].copy()
    conf = keypoints[..., 2].copy()
    flags = np.zeros((n, k), np.uint8)
    missing = ~np.isfinite(xy).all(axis=-1)
    low = ~missing & (np.nan_to_num(conf, nan=0.0) < settings.min_confidence)
    flags[low] |= FLAG_LOW_CONFIDENCE
    xy[low] = np.nan
    glitch = ~missing & ~low & _glitches(xy, settings.outlier_window, settings.jump)
    flags[glitch] |= FLAG_OUTLIER
    xy[glitch] = np.nan
    unused = ~np.isfinite(xy).all(axis=-1)
    if n == 0:
        return keypoints.astype(np.float32), flags

    if settings.method == "kalman":
        smooth = kalman_smooth(
            xy, conf, obs_noise=settings.obs_noise, process_noise=settings.process_noise
        )
    elif settings.method == "median":
        smooth = _interpolate(running_median(xy, settings.window).reshape(n, k * 2))
        smooth = smooth.reshape(n, k, 2)
    else:
        filled = _interpolate(xy.reshape(n, k * 2))
        smooth = savgol_smooth(filled, settings.window, settings.polyorder).reshape(n, k, 2)

    out = np.full((n, k, 3), np.nan)
    conf_filled = _interpolate(np.where(unused, np.nan, conf))
    for j in range(k):
        fill = _interior_fill(unused[:, j], settings.max_gap)
        keep = ~unused[:, j] | fill
        out[keep, j, :2] = smooth[keep, j]
        out[keep, j, 2] = np.where(fill[keep], conf_filled[keep, j], conf[keep, j])
        flags[fill, j] |= FLAG_INTERPOLATED
    return out.astype(np.float32), flags


# --------------------------------------------------------------------------- tracks
def untracked_instances(keypoints: np.ndarray, track_ids: np.ndarray | None) -> np.ndarray:
    """(N, A) True for instance rows with a keypoint but no track id (-1, or no ids at all).

    Args:
        keypoints: (N, A, K, 2+) keypoints; NaN rows for absent animals.
        track_ids: int (N, A) track ids (-1 = none), or None.
    """
    present = np.isfinite(np.asarray(keypoints)[..., :2]).any(axis=(2, 3))
    if track_ids is None:
        return present
    return present & (np.asarray(track_ids) < 0)


def _track_rows(track_ids: np.ndarray, n: int, a: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(track id, frame rows ascending, instance columns) of every track."""
    ids = np.asarray(track_ids, np.int64)
    if ids.shape != (n, a):
        raise ValueError(f"track_ids must have shape ({n}, {a}), got {ids.shape}")
    rows, cols = np.nonzero(ids >= 0)
    tracks = ids[rows, cols]
    order = np.lexsort((rows, tracks))
    rows, cols, tracks = rows[order], cols[order], tracks[order]
    starts = np.flatnonzero(np.diff(np.concatenate([[-1], tracks])) != 0)
    out = []
    for r, c, t in zip(np.split(rows, starts[1:]), np.split(cols, starts[1:]), tracks[starts]):
        repeated = r[1:][np.diff(r) == 0]
        if len(repeated):
            raise DpkError(
                f"track {int(t)} has two instances in row {int(repeated[0])}; track ids must be "
                "unique per frame"
            )
        out.append((int(t), r, c))
    return out


def apply_per_track(
    keypoints: np.ndarray,
    track_ids: np.ndarray | None,
    function: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Run a one-animal ``function`` on every track's time series of several animals.

    A track's series is its span of rows, from its first to its last frame, float32
    (M, K, 3), NaN where the track has no instance row. The function's result is written
    back to the rows the track occupies only; untracked rows are copied, flags 0.

    Args:
        keypoints: (N, A, K, 3) keypoints.
        track_ids: int (N, A) track ids (-1 = none), or None (nothing is tracked).
        function: ``series (M, K, 3) -> (keypoints (M, K, 3), flags (M, K))``.

    Returns:
        ``(keypoints, flags)``: float32 (N, A, K, 3) and uint8 (N, A, K).

    Raises:
        DpkError: A track has two instances in one frame.
    """
    keypoints = np.asarray(keypoints)
    n, a, k = keypoints.shape[:3]
    out = keypoints.astype(np.float32, copy=True)
    flags = np.zeros((n, a, k), np.uint8)
    if track_ids is None:
        return out, flags
    for _, rows, cols in _track_rows(track_ids, n, a):
        first = rows[0]
        series = np.full((rows[-1] - first + 1, k, keypoints.shape[3]), np.nan, np.float32)
        series[rows - first] = keypoints[rows, cols]
        result, result_flags = function(series)
        out[rows, cols] = result[rows - first]
        flags[rows, cols] = result_flags[rows - first]
    return out, flags


def filter_tracks(
    keypoints: np.ndarray,
    track_ids: np.ndarray | None,
    settings: FilterSettings | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Clean the keypoints of several tracked animals, each track on its own.

    Each track is filtered with :func:`filter_keypoints` as one animal over its span of
    rows (first to last frame of the track, NaN where it is absent, so an absence is a
    gap: ``max_gap`` applies to it like any other gap). The result lands only on the
    instance rows the track occupies: the layout (rows, track ids) is unchanged and
    frames where a track is absent stay absent. Instance rows without a track id
    (``track_ids`` -1, or None) are returned as they are, with flags 0; find them with
    :func:`untracked_instances` and link them first with
    :func:`dpk.runtime.tracking.track_instances`.

    Args:
        keypoints: float (N, A, K, 3): x, y, confidence; NaN rows for absent animals.
        track_ids: int (N, A) track id of every instance row (-1 = none), or None.
        settings: See :class:`FilterSettings` (default: the Kalman smoother).

    Returns:
        ``(filtered, flags)``: float32 (N, A, K, 3) and uint8 (N, A, K) bit flags.

    Raises:
        DpkError: Bad settings, or a track with two instances in one frame.
        ValueError: Keypoints without an instance axis, or ``track_ids`` of the wrong shape.
    """
    settings = settings or FilterSettings()
    settings.check()
    if np.ndim(keypoints) != 4:
        raise ValueError(f"keypoints must be (N, A, K, 3), got shape {np.shape(keypoints)}")
    return apply_per_track(keypoints, track_ids, lambda series: filter_keypoints(series, settings))


def by_track_array(
    values: np.ndarray,
    track_ids: np.ndarray | None,
    tracks: int | Sequence[int],
    fill: float | int = np.nan,
) -> np.ndarray:
    """Reorder per-instance values (N, A, ...) to one column per track (N, T, ...).

    Column i holds track ``tracks[i]``'s row of each frame, ``fill`` where it is absent;
    untracked rows and other tracks are left out. Memory grows with N x T: with many
    tracks, ask for the few needed.

    Args:
        values: (N, A, ...) keypoints, flags or scores, one row per instance.
        track_ids: int (N, A) track ids (-1 = none), or None (no tracks: all ``fill``).
        tracks: The track ids wanted, in order; an int T: tracks 0 .. T-1
            (``len(track_names)``: all of them).
        fill: Value where a track is absent.

    Raises:
        DpkError: A track has two instances in one frame.
    """
    values = np.asarray(values)
    n, a = values.shape[:2]
    wanted = list(range(tracks)) if isinstance(tracks, int) else [int(t) for t in tracks]
    column = {t: i for i, t in enumerate(wanted)}
    out = np.full((n, len(wanted), *values.shape[2:]), fill, dtype=values.dtype)
    if track_ids is None:
        return out
    for t, rows, cols in _track_rows(track_ids, n, a):
        if t in column:
            out[rows, column[t]] = values[rows, cols]
    return out

"""Pick frames to label: k-means on downsampled frames (DeepPoseKit's sampling).

Each video gets its share of the frames (its quota). Its frames are read with a stride
(at most ``max_read`` per video), shrunk to ``size`` x ``size`` grey thumbnails, blurry
frames (sharpness below ``blur_fraction`` of the video's median) are dropped, k-means
(k-means++ seeding, a fixed seed) groups the rest into ``quota`` clusters, and the frame
nearest each centre is picked; a pick that is a near duplicate of an earlier one (or of a
frame already in the project) is skipped.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dpk.trainer.labelling.project import Project, ProjectError

__all__ = ["kmeans", "quotas", "sample_frames", "sample_video", "thumbnails"]


def quotas(n: int, n_videos: int) -> list[int]:
    """``n`` frames shared as evenly as possible over ``n_videos`` videos."""
    return [n // n_videos + (1 if i < n % n_videos else 0) for i in range(n_videos)]


def thumbnails(
    video: str | os.PathLike, size: int = 32, max_read: int = 2000, progress: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grey ``size`` x ``size`` thumbnails of up to ``max_read`` evenly spaced frames.

    Returns:
        ``(indices, thumbs, sharpness)``: frame indices (int64), float32 thumbnails
        (N, size*size) scaled to [0, 1], and each frame's variance of the Laplacian.

    Raises:
        ProjectError: The video cannot be opened or no frame can be decoded.
    """
    import cv2

    from dpk.runtime.video import SourceError, VideoSource

    try:
        source = VideoSource(Path(video))
        total = source.n_frames or 0
        step = max(1, math.ceil(total / max_read)) if total else 1
        source = VideoSource(Path(video), step=step)
    except SourceError as error:
        raise ProjectError(str(error)) from None
    indices, thumbs, sharp = [], [], []
    reads = tqdm(
        source,
        total=len(source) or None,
        desc=f"reading {Path(video).name}",
        unit="frame",
        disable=not progress,
        leave=False,
    )
    for read in reads:
        if read.frame is None:
            continue
        grey = cv2.cvtColor(read.frame, cv2.COLOR_BGR2GRAY)
        sharp.append(float(cv2.Laplacian(grey, cv2.CV_64F).var()))
        small = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
        thumbs.append(small.astype(np.float32).ravel() / 255.0)
        indices.append(read.index)
    if not indices:
        raise ProjectError(f"{video}: no frame could be decoded (damaged or not a video)")
    return np.array(indices, np.int64), np.stack(thumbs), np.array(sharp)


def kmeans(x: np.ndarray, k: int, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """Cluster centres of ``x`` (N, D) by Lloyd's k-means with k-means++ seeding."""
    rng = np.random.default_rng(seed)
    n = len(x)
    k = min(k, n)
    centres = [x[rng.integers(n)]]
    d2 = ((x - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = d2.sum()
        pick = rng.integers(n) if total <= 0 else rng.choice(n, p=d2 / total)
        centres.append(x[pick])
        d2 = np.minimum(d2, ((x - x[pick]) ** 2).sum(axis=1))
    c = np.stack(centres)
    for _ in range(iterations):
        dist = (x**2).sum(1)[:, None] - 2 * x @ c.T + (c**2).sum(1)[None]
        label = dist.argmin(axis=1)
        moved = c.copy()
        for j in range(k):
            members = x[label == j]
            if len(members):
                moved[j] = members.mean(axis=0)
        if np.allclose(moved, c):
            break
        c = moved
    return c


def sample_video(
    video: str | os.PathLike,
    n: int,
    *,
    seed: int = 0,
    size: int = 32,
    blur_fraction: float = 0.25,
    duplicate_distance: float = 0.02,
    exclude: Sequence[int] = (),
    progress: bool = True,
) -> list[int]:
    """Frame indices of ``video`` picked by k-means (see the module docs), sorted.

    Args:
        video: The video file.
        n: How many frames to pick.
        seed: Seed of the k-means seeding.
        size: Side of the thumbnails.
        blur_fraction: Frames less sharp than this fraction of the median are skipped.
        duplicate_distance: Root-mean-square thumbnail difference (0-1) under which two
            frames count as duplicates.
        exclude: Frames already in the project (neither picked again nor duplicated).
        progress: Show a progress bar.
    """
    if n <= 0:
        return []
    indices, thumbs, sharp = thumbnails(video, size, progress=progress)
    keep = sharp >= blur_fraction * np.median(sharp)
    taken = set(int(i) for i in exclude)
    keep &= ~np.isin(indices, list(taken))
    candidates, x = indices[keep], thumbs[keep]
    if not len(candidates):
        return []
    centres = kmeans(x, n, seed=seed)
    dim = x.shape[1]
    chosen_x: list[np.ndarray] = [thumbs[indices == i][0] for i in taken if i in set(indices)]
    chosen: list[int] = []
    dist = ((x[:, None, :] - centres[None]) ** 2).sum(axis=2)  # (N, k)
    for j in range(len(centres)):
        for candidate in np.argsort(dist[:, j]):
            pick = int(candidates[candidate])
            if pick in chosen:
                continue
            rms = [float(np.sqrt(((x[candidate] - c) ** 2).sum() / dim)) for c in chosen_x]
            if rms and min(rms) < duplicate_distance:
                continue
            chosen.append(pick)
            chosen_x.append(x[candidate])
            break
    return sorted(chosen)


def sample_frames(
    project: Project,
    videos: Sequence[str | os.PathLike],
    n: int,
    *,
    seed: int = 0,
    size: int = 32,
    progress: bool = True,
) -> dict[Path, list[int]]:
    """Add ``n`` frames picked from ``videos`` (per-video quotas) to ``project``.

    Returns:
        The new frame indices of each video.
    """
    picked: dict[Path, list[int]] = {}
    for video, quota in zip(videos, quotas(n, len(videos)), strict=True):
        vid = project.video_id(video)
        existing = [f.index for f in project.frames.values() if f.video == vid]
        frames = sample_video(
            video, quota, seed=seed, size=size, exclude=existing, progress=progress
        )
        for index in frames:
            project.add_frame(vid, index, added="sample")
        picked[project.videos[vid]] = frames
    return picked

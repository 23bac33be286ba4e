"""DeepPoseKit annotation files (HDF5) into and out of a label project.

Import: the file's images become a lossless video beside the project
(``PROJECT.frames.avi``, FFV1, frame i = image i), so the project stays a plain SLEAP file
that references a video. DeepPoseKit's ``annotated`` flag says whether a person confirmed
a keypoint: confirmed points are *labelled*, the others (placed by a model or a guess)
*predicted-unreviewed*; NaN points are *missing*. A frame whose points are all confirmed
is *done*.

Export: every frame with labelled or predicted points, its pixels read from the videos
(all frames must have one size); occluded and missing points are NaN, ``annotated`` is
True for labelled points only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dpk.specs.skeleton import Skeleton
from dpk.trainer.labelling.project import (
    LABELLED,
    MISSING,
    PREDICTED,
    Project,
    ProjectError,
    read_frame,
)

__all__ = ["export_dpk_h5", "frames_video_path", "import_dpk_h5"]


def frames_video_path(project: str | os.PathLike) -> Path:
    """The video an import writes the images to: ``PROJECT.frames.avi`` beside it."""
    project = Path(project)
    return project.with_name(project.stem + ".frames.avi")


def _write_video(path: Path, images: np.ndarray, progress: bool) -> None:
    import cv2

    from dpk.specs.files import atomic_output

    _, height, width, channels = images.shape
    with atomic_output(path) as tmp:
        writer = cv2.VideoWriter(
            str(tmp),
            cv2.VideoWriter_fourcc(*"FFV1"),  # type: ignore[attr-defined]
            25.0,
            (width, height),
            channels == 3,
        )
        if not writer.isOpened():
            raise ProjectError(f"{path}: OpenCV cannot write an FFV1 video here")
        try:
            for image in tqdm(images, desc="writing frames", disable=not progress, leave=False):
                writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if channels == 3 else image)
        finally:
            writer.release()


def import_dpk_h5(
    h5: str | os.PathLike,
    project_path: str | os.PathLike,
    skeleton: Skeleton | str | os.PathLike | None = None,
    *,
    repair_swaps: bool = False,
    progress: bool = True,
) -> Project:
    """A new project from a DeepPoseKit annotation file (saved; see the module docs).

    Args:
        h5: The DeepPoseKit file.
        project_path: The new project (``.slp``).
        skeleton: Keypoint names, parents and swaps (a skeleton CSV), else the file's.
        repair_swaps: Make one-way left/right swaps mutual instead of refusing them.
        progress: Show a progress bar.

    Raises:
        ProjectError: The project already exists.
        DpkError: The file cannot be read (see :func:`~dpk.trainer.labels.formats.dpk_h5.load_dpk_h5`).
    """
    from dpk.trainer.labels.formats.dpk_h5 import load_dpk_h5

    project_path = Path(project_path)
    if project_path.exists():
        raise ProjectError(
            f"{project_path}: exists; import into a new project, then dpk merge it into this one"
        )
    given = Path(skeleton) if isinstance(skeleton, os.PathLike) else skeleton
    labels = load_dpk_h5(Path(h5), given, on_asymmetric_swap="repair" if repair_swaps else "error")
    video = frames_video_path(project_path)
    _write_video(video, labels.images, progress)
    project = Project.new(project_path, labels.skeleton)
    vid = project.video_id(video)
    annotated = labels.annotated_or_labelled()
    for i, points in enumerate(labels.keypoints):
        frame = project.add_frame(vid, i, added="import")
        finite = np.isfinite(points).all(axis=1)
        frame.xy = np.where(finite[:, None], points, np.nan).astype(np.float64)
        frame.state = np.where(finite, np.where(annotated[i], LABELLED, PREDICTED), MISSING)
        frame.state = frame.state.astype(np.int8)
        frame.done = bool(finite.any() and annotated[i][finite].all())
    project.save()
    return project


def export_dpk_h5(project: Project, output: str | os.PathLike, progress: bool = True) -> int:
    """Write the project's frames with points as a DeepPoseKit annotation file.

    Returns:
        The number of frames written.

    Raises:
        ProjectError: No frame has points, or frames differ in size.
    """
    from dpk.trainer.labels import Labels
    from dpk.trainer.labels.formats.dpk_h5 import save_dpk_h5

    frames = [f for f in project.frames.values() if np.isin(f.state, (LABELLED, PREDICTED)).any()]
    if not frames:
        raise ProjectError(f"{project.path}: no frame has keypoints; nothing to export")
    project.check_videos()
    cache: dict = {}
    images = []
    for frame in tqdm(frames, desc="reading frames", disable=not progress, leave=False):
        images.append(read_frame(project.videos[frame.video], frame.index, cache))
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise ProjectError(
            f"{project.path}: frames of several sizes {sorted(shapes)}; a DeepPoseKit file "
            "holds one size (export one video's project at a time)"
        )
    stack = np.stack(images)[..., ::-1]  # BGR -> RGB
    if (stack[..., 0] == stack[..., 1]).all() and (stack[..., 1] == stack[..., 2]).all():
        stack = stack[..., :1]
    keep = [np.isin(f.state, (LABELLED, PREDICTED)) for f in frames]
    keypoints = np.stack([np.where(k[:, None], f.xy, np.nan) for f, k in zip(frames, keep)])
    labels = Labels(
        images=np.ascontiguousarray(stack),
        keypoints=keypoints.astype(np.float32),
        skeleton=project.skeleton,
        sources=[f"{project.videos[f.video]}#frame={f.index}" for f in frames],
        frame_indices=np.array([f.index for f in frames], np.int64),
        annotated=np.stack([f.state == LABELLED for f in frames]),
        origin=str(project.path),
    )
    save_dpk_h5(Path(output), labels)
    return len(frames)

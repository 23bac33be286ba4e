"""Join label projects: same skeleton, conflicts reported, never silently overwritten.

A frame (same video file, same index) in both projects is taken from the other project
when this one has no labelled points there; when both have labelled points that differ,
the frame is a conflict: it is kept as it is here and reported (``--prefer other``
takes the other's instead, on purpose). Predicted-unreviewed points never replace
labelled ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dpk.trainer.labelling.project import Project, ProjectError

__all__ = ["MergeReport", "check_same_skeleton", "merge_projects"]


@dataclass
class MergeReport:
    """What a merge did.

    Attributes:
        added: Frames new to this project.
        filled: Frames here without labels that took the other's.
        same: Frames identical in both.
        conflicts: Frames labelled differently in both, as ``(video name, index)``.
    """

    added: int = 0
    filled: int = 0
    same: int = 0
    conflicts: list[tuple[str, int]] = field(default_factory=list)


def check_same_skeleton(a: Project, b: Project) -> None:
    """Refuse two projects whose keypoints differ, naming the names.

    Raises:
        ProjectError: Names, their order, or the edges differ.
    """
    names_a, names_b = list(a.skeleton.names), list(b.skeleton.names)
    if names_a != names_b:
        only_a = [n for n in names_a if n not in names_b]
        only_b = [n for n in names_b if n not in names_a]
        detail = (
            f"only in {a.path.name}: {only_a or 'none'}; only in {b.path.name}: {only_b or 'none'}"
            if only_a or only_b
            else "same names in another order"
        )
        raise ProjectError(f"{b.path}: cannot merge into {a.path}, the skeletons differ ({detail})")
    if sorted(a.skeleton.edges) != sorted(b.skeleton.edges):
        raise ProjectError(
            f"{b.path}: cannot merge into {a.path}: same keypoints but different edges"
        )


def _same(x, y) -> bool:
    return bool(np.array_equal(x.state, y.state) and np.allclose(x.xy, y.xy, equal_nan=True))


def _take(target, source) -> None:
    """Give ``target`` a copy of ``source``'s points, states, scores and done flag."""
    target.xy, target.state, target.score = (
        source.xy.copy(),
        source.state.copy(),
        source.score.copy(),
    )
    target.done = source.done


def merge_projects(into: Project, other: Project, prefer: str = "this") -> MergeReport:
    """Merge ``other`` into ``into`` (in memory; save ``into`` afterwards).

    Args:
        into: The project that receives frames.
        other: The project merged in.
        prefer: ``this`` (keep ``into``'s labels on a conflict, the default) or ``other``.
    """
    check_same_skeleton(into, other)
    report = MergeReport()
    for frame in other.frames.values():
        vid = into.video_id(other.videos[frame.video])
        key = (vid, frame.index)
        mine = into.frames.get(key)
        if mine is None:
            copy = into.add_frame(vid, frame.index, added=frame.added)
            _take(copy, frame)
            report.added += 1
        elif _same(mine, frame):
            mine.done = mine.done or frame.done
            report.same += 1
        elif not mine.n_labelled and (frame.n_labelled or not (mine.state > 0).any()):
            _take(mine, frame)
            report.filled += 1
        elif frame.n_labelled:
            report.conflicts.append((into.videos[vid].name, frame.index))
            if prefer == "other":
                _take(mine, frame)
        else:
            report.same += 1  # the other has only predictions where this one has labels
    return report

"""Seeded train/validation splits by frame, never splitting one frame's animals.

Examples are grouped into frames by a key ``(group, frame_index, image)``: the video (or
image folder), the frame number, and the image path for images (empty for video frames). The split decides frame by frame, so every crop of one frame
goes to the same side. Three ways, in this order of precedence:

1. ``data.validation_frames`` (a :class:`~dpk.specs.FrameRange`): those frames are held
   out; the rest (or ``data.train_frames``) train.
2. ``training.split: random``: a seeded random ``validation_fraction`` of the frames
   (restricted to ``data.train_frames`` when given) is held out.
3. ``training.split: blocks``: the frames, ordered by (group, frame index), are cut into
   ``n_blocks`` contiguous blocks (10 by default) and a seeded choice of
   ``round(validation_fraction * n_blocks)`` blocks (at least one) is held out, so that
   neighbouring, nearly identical video frames do not land on both sides.

With ``validation_fraction: 0`` and no ``validation_frames`` the validation set is empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np

from dpk.specs.data import DataSpec, FrameRange
from dpk.specs.errors import DpkError
from dpk.specs.training import Training
from dpk.trainer.labels import Labels

__all__ = ["FrameKey", "Split", "frame_keys", "split_examples", "split_labels"]

DEFAULT_BLOCKS = 10


@dataclass(frozen=True)
class Split:
    """Example indices of each side, ascending (the examples' own order)."""

    train: np.ndarray
    validation: np.ndarray


FrameKey = tuple[str, int, str]


def frame_keys(labels: Labels) -> list[FrameKey]:
    """``(group, frame_index, image)`` of each example.

    For a ``"video#frame=N"`` source the group is the video and ``image`` is empty; for an
    image path the group is its folder (DeepLabCut keeps one folder per video) and
    ``image`` the path, so that two images are never taken for one frame.
    """
    keys = []
    for source, index in zip(labels.sources, labels.frame_indices, strict=True):
        if "#frame=" in source:
            keys.append((source.split("#frame=", 1)[0], int(index), ""))
        else:
            keys.append((str(PurePath(source).parent), int(index), source))
    return keys


def _describe(frame_range: FrameRange) -> str:
    stop = "end" if frame_range.stop is None else str(frame_range.stop)
    return f"frames {frame_range.start}..{stop}"


def _held_out_random(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    n_val = min(max(1, round(fraction * n)), n - 1)
    return np.sort(rng.permutation(n)[:n_val])


def _held_out_blocks(
    n: int, fraction: float, n_blocks: int, rng: np.random.Generator
) -> np.ndarray:
    n_blocks = min(n_blocks, n)
    blocks = np.array_split(np.arange(n), n_blocks)
    n_val = min(max(1, round(fraction * n_blocks)), n_blocks - 1)
    chosen = np.sort(rng.permutation(n_blocks)[:n_val])
    return np.concatenate([blocks[b] for b in chosen])


def split_examples(
    keys: Sequence[FrameKey],
    *,
    data: DataSpec | None,
    training: Training,
    origin: str,
    n_blocks: int = DEFAULT_BLOCKS,
) -> Split:
    """Split examples into training and validation by their frames.

    Args:
        keys: ``(group, frame_index, image)`` per example (see :func:`frame_keys`).
        data: The spec's data section (for ``train_frames`` and ``validation_frames``).
        training: The spec's training section (``split``, ``validation_fraction``, ``seed``).
        origin: The labels file, for messages.
        n_blocks: Number of contiguous blocks for ``split: blocks``.

    Raises:
        DpkError: No examples, no training frames, no frames in ``validation_frames``, or
            too few frames to hold any out; the message names the labels file.
    """
    if not keys:
        raise DpkError(f"{origin}: no labelled examples (empty set)")
    frames = sorted(set(keys))
    frame_of = {key: i for i, key in enumerate(frames)}
    example_frame = np.array([frame_of[k] for k in keys], dtype=np.int64)
    numbers = np.array([f for _, f, _ in frames], dtype=np.int64)
    train_range = data.train_frames if data else None
    val_range = data.validation_frames if data else None
    in_train_range = (
        np.array([train_range.contains(int(f)) for f in numbers])
        if train_range
        else np.ones(len(frames), bool)
    )
    if val_range is not None:
        is_val = np.array([val_range.contains(int(f)) for f in numbers])
        if not is_val.any():
            raise DpkError(
                f"{origin}: data.validation_frames ({_describe(val_range)}) holds no labelled "
                f"frame; the labelled frames are {numbers.min()}..{numbers.max()}"
            )
        is_train = in_train_range & ~is_val
    else:
        pool = np.flatnonzero(in_train_range)
        is_val = np.zeros(len(frames), bool)
        fraction = training.validation_fraction
        if fraction > 0:
            if len(pool) < 2:
                raise DpkError(
                    f"{origin}: {len(pool)} labelled frame(s) to split: a validation set needs "
                    "at least 2 (label more frames, or set training.validation_fraction: 0)"
                )
            rng = np.random.default_rng(training.seed)
            if training.split == "blocks":
                held = _held_out_blocks(len(pool), fraction, n_blocks, rng)
            else:
                held = _held_out_random(len(pool), fraction, rng)
            is_val[pool[held]] = True
        is_train = in_train_range & ~is_val
    if not is_train.any():
        where = f" in data.train_frames ({_describe(train_range)})" if train_range else ""
        raise DpkError(
            f"{origin}: no training frames{where} (empty set); the labelled frames are "
            f"{numbers.min()}..{numbers.max()}"
        )
    return Split(
        train=np.flatnonzero(is_train[example_frame]),
        validation=np.flatnonzero(is_val[example_frame]),
    )


def split_labels(
    labels: Labels, *, data: DataSpec | None, training: Training, n_blocks: int = DEFAULT_BLOCKS
) -> tuple[Labels, Labels]:
    """``(train, validation)`` labels; see :func:`split_examples`."""
    split = split_examples(
        frame_keys(labels),
        data=data,
        training=training,
        origin=labels.origin or "labels",
        n_blocks=n_blocks,
    )
    return labels.subset(split.train), labels.subset(split.validation)

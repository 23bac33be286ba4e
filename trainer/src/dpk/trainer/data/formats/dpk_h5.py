"""DeepPoseKit annotation sets (``.h5`` with ``images`` and ``annotations``) for training;
read by :func:`dpk.trainer.labels.formats.dpk_h5.load_dpk_h5`.

DeepPoseKit files do not store keypoint names: their keypoints take the spec's names in
order (the counts must match), unless dpk wrote the names into the file. Keypoints not
marked ``annotated`` are used, with a warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from dpk.specs.model import ModelSpec
from dpk.trainer.data.formats.common import select_crop_split
from dpk.trainer.labels import Labels
from dpk.trainer.labels.formats.dpk_h5 import load_dpk_h5, stored_keypoint_names

__all__ = ["load"]


def _warn_unconfirmed(labels: Labels) -> None:
    if labels.annotated is None:
        return
    unconfirmed = int((~labels.annotated.all(axis=1)).sum())
    if unconfirmed:
        warnings.warn(
            f"{labels.origin}: {unconfirmed} of {len(labels)} frames have keypoints not marked "
            "'annotated' (placed by a model or an initial guess, not confirmed by a person); "
            "they are used as they are",
            stacklevel=4,
        )


def load(path: Path, spec: ModelSpec) -> tuple[Labels, Labels]:
    """``(train, validation)`` from a DeepPoseKit annotation set."""
    if stored_keypoint_names(path) is not None:
        labels = load_dpk_h5(path, on_asymmetric_swap="accept")
    else:  # no names in the file: the spec's skeleton names its keypoints, in order
        labels = load_dpk_h5(path, spec.skeleton)
    _warn_unconfirmed(labels)
    return select_crop_split(labels, spec)

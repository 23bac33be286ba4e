"""Specs and model cards without the paths of the machine that made them.

An exported model file travels (zoo, colleagues, other runtimes): the spec and card it
carries keep what the model was trained on (the labels' file names, crops, frames) but
not where those files were, nor whose home folder held them.
"""

from __future__ import annotations

import re
from typing import Any

from dpk.specs.card import ModelCard
from dpk.specs.model import ModelSpec

__all__ = ["file_name", "portable_card", "portable_spec", "strip_machine_paths"]

_ABSOLUTE_PATH = re.compile(
    r"""
    (?<![^\s(\[{"'=,])                # at the start, or after a blank or an opening mark
    (?:~|\$\{?[A-Za-z_]\w*\}?)?       # ~/... or $HOME/... or ${DATA}/...
    (?:/|[A-Za-z]:[\\/]|\\\\)         # the root: /, C:\ or C:/, or \\server (UNC)
    [^\s"'<>|;,]+                     # the rest, up to a blank or a delimiter
    """,
    re.VERBOSE,
)


def file_name(path: str) -> str:
    """The last component of a POSIX or Windows path (``""`` for a bare root)."""
    return re.split(r"[\\/]", path.rstrip("\\/"))[-1]


def _strip_text(text: str) -> str:
    return _ABSOLUTE_PATH.sub(lambda match: file_name(match.group(0)), text)


def strip_machine_paths(value: Any) -> Any:
    """``value`` with every absolute path in its strings replaced by the path's file name.

    Absolute means rooted (``/...``, ``C:\\...``, ``\\\\server\\...``) or under a home or
    environment variable (``~/...``, ``$HOME/...``), alone or inside a sentence; URLs and
    relative paths are kept. Lists, tuples and dicts are walked (their keys are kept);
    other values are returned as they are.
    """
    if isinstance(value, str):
        return _strip_text(value)
    if isinstance(value, dict):
        return {key: strip_machine_paths(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(strip_machine_paths(item) for item in value)
    return value


def portable_spec(spec: ModelSpec) -> ModelSpec:
    """A copy of ``spec`` fit to leave the machine: ``data.path`` and ``data.video`` become
    file names, ``data.relative_to`` is dropped, and any other absolute path (e.g. the
    backbone's ``architecture.weights``) becomes its file name. Keypoint names are never
    changed."""
    dumped = spec.model_dump(mode="json")
    skeleton = dumped.pop("skeleton")
    data = dumped.pop("data", None)
    dumped = strip_machine_paths(dumped)
    if data is not None:
        data = strip_machine_paths(data)
        data["path"] = file_name(data["path"]) or "."
        if data.get("video"):
            data["video"] = file_name(data["video"]) or "."
        data["relative_to"] = None
    weights = dumped.get("architecture", {}).get("weights")
    if weights:
        dumped["architecture"]["weights"] = file_name(weights)
    return ModelSpec.model_validate({**dumped, "skeleton": skeleton, "data": data})


def portable_card(card: ModelCard) -> ModelCard:
    """A copy of ``card`` with every absolute path in its texts replaced by its file name."""
    return ModelCard.model_validate(strip_machine_paths(card.model_dump(mode="json")))

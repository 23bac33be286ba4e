"""Which videos a batch runs on: folders, glob patterns and text files of paths, expanded.

``dpk predict`` in batch mode takes any mix of:

- a video file;
- a folder: the video files directly inside it (by suffix, natural name order);
- a glob pattern (``*``, ``?``, ``[``; ``**`` reaches into sub-folders), quoted so that the
  shell leaves it alone;
- a text file of paths (``.txt``, ``.list``, ``.lst``): one path or pattern per line, blank
  lines and ``#`` comments skipped, relative paths relative to the list's folder.

A path listed twice (the same file under any name) runs once; a missing file is reported
and the others go on.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LIST_SUFFIXES", "VIDEO_SUFFIXES", "BatchInputs", "expand_inputs"]

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm", ".h264", ".mj2"}
)
"""Suffixes taken as videos when a folder is expanded."""

LIST_SUFFIXES = frozenset({".txt", ".list", ".lst"})
"""Suffixes of text files that list videos."""

_GLOB = re.compile(r"[*?\[]")


@dataclass
class BatchInputs:
    """The videos to run, and what was wrong with the inputs.

    Attributes:
        videos: Absolute paths, each file once, in the order given.
        missing: Inputs that name no file, with the reason.
        duplicates: Inputs that name a file already listed (run once).
    """

    videos: list[Path] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def _natural(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def _folder_videos(folder: Path) -> list[Path]:
    found = [p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()]
    return sorted(found, key=_natural)


def _read_list(path: Path) -> list[tuple[str, Path]]:
    """(text as written, resolved candidate) for each line of a list file."""
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        expanded = os.path.expandvars(os.path.expanduser(text))
        candidate = Path(expanded)
        if not candidate.is_absolute():
            candidate = path.parent / candidate
        entries.append((text, candidate))
    return entries


def _expand_one(
    text: str, candidate: Path, found: BatchInputs, seen: dict[str, Path], from_list: bool
) -> None:
    if _GLOB.search(str(candidate)) and not candidate.exists():
        matches = sorted(
            (Path(m) for m in glob.glob(str(candidate), recursive=True)),
            key=lambda p: (str(p.parent), _natural(p)),
        )
        matches = [m for m in matches if m.is_file()]
        if not matches:
            found.missing.append((text, "no file matches this pattern"))
        for match in matches:
            _add(str(match), match, found, seen)
        return
    if candidate.is_dir():
        videos = _folder_videos(candidate)
        if not videos:
            suffixes = ", ".join(sorted(VIDEO_SUFFIXES))
            found.missing.append((text, f"a folder without video files ({suffixes})"))
        for video in videos:
            _add(str(video), video, found, seen)
        return
    if not from_list and candidate.suffix.lower() in LIST_SUFFIXES and candidate.is_file():
        for line_text, line_path in _read_list(candidate):
            _expand_one(line_text, line_path, found, seen, from_list=True)
        return
    if not candidate.exists():
        found.missing.append((text, "no such file"))
        return
    _add(text, candidate, found, seen)


def _add(text: str, path: Path, found: BatchInputs, seen: dict[str, Path]) -> None:
    key = os.path.realpath(path)
    if key in seen:
        found.duplicates.append(text)
        return
    absolute = Path(os.path.abspath(path))
    seen[key] = absolute
    found.videos.append(absolute)


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> BatchInputs:
    """Expand folders, patterns and list files into a list of video files.

    Args:
        inputs: What the user gave on the command line.

    Returns:
        The videos (each file once, absolute paths) and the inputs that were missing or
        repeated; nothing is raised for those, so the rest of the batch goes on.
    """
    found = BatchInputs()
    seen: dict[str, Path] = {}
    for item in inputs:
        text = os.fspath(item)
        candidate = Path(os.path.expandvars(os.path.expanduser(text)))
        _expand_one(text, candidate, found, seen, from_list=False)
    return found

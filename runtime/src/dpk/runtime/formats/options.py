"""Options of the prediction writers that are not in the predictions themselves.

One :class:`WriteOptions` goes to every writer; each reads the fields it needs. The CLI
builds it with :func:`add_write_options` and :func:`write_options_from_args`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dpk.specs.errors import DpkError

__all__ = [
    "DEFAULT_VISIBILITY_THRESHOLD",
    "NwbMetadata",
    "WriteOptions",
    "add_write_options",
    "load_nwb_metadata",
    "write_options_from_args",
]

DEFAULT_VISIBILITY_THRESHOLD = 0.2
"""Points below this confidence are written as not visible (SLEAP; COCO ``v=1``)."""


@dataclass
class NwbMetadata:
    """Session and subject facts for an NWB file (all optional).

    Attributes:
        identifier: The file's unique identifier; movement names the individual after
            it. Default: the subject id, else the video's name.
        session_description: What the session was; default names the video and model.
        session_start_time: ISO 8601 date-time (a time zone is added: UTC when absent);
            default: now.
        subject_id, species, sex, age, subject_description: The NWB ``Subject``;
            ``species`` as a Latin binomial (``Mus musculus``) or an NCBI taxonomy URL,
            ``sex`` one of ``M``, ``F``, ``U``, ``O`` (default ``U``), ``age`` ISO 8601
            (``P90D``; DANDI and nwbinspector require it for a subject).
        experimenter, lab, institution: Who and where.
        fps: Frames per second of the source when it has none (image folders); default
            1.0, so that times are frame numbers.
    """

    identifier: str | None = None
    session_description: str | None = None
    session_start_time: str | None = None
    subject_id: str | None = None
    species: str | None = None
    sex: str | None = None
    age: str | None = None
    subject_description: str | None = None
    experimenter: str | None = None
    lab: str | None = None
    institution: str | None = None
    fps: float | None = None

    def start_time(self) -> dt.datetime:
        """The session start as a time-zone aware date-time."""
        if not self.session_start_time:
            return dt.datetime.now(dt.UTC).replace(microsecond=0)
        try:
            value = dt.datetime.fromisoformat(str(self.session_start_time))
        except ValueError:
            raise DpkError(
                f"session start time {self.session_start_time!r} is not ISO 8601; give e.g. "
                "2024-05-01T09:30:00+02:00"
            ) from None
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass
class WriteOptions:
    """What the writers need beyond :class:`~dpk.runtime.predictions.Predictions`.

    Attributes:
        nwb: Session and subject metadata for NWB.
        visibility_threshold: Points with a confidence below this are not visible in
            SLEAP files and ``v=1`` in COCO files (they keep their coordinates).
    """

    nwb: NwbMetadata = field(default_factory=NwbMetadata)
    visibility_threshold: float = DEFAULT_VISIBILITY_THRESHOLD


def load_nwb_metadata(path: str | os.PathLike) -> NwbMetadata:
    """Read NWB metadata from a YAML or JSON mapping (keys: :class:`NwbMetadata` fields).

    Raises:
        DpkError: Missing or unreadable file, not a mapping, or an unknown key.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DpkError(f"{path}: cannot read the NWB metadata ({error.strerror})") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except ValueError as error:  # yaml.YAMLError and JSONDecodeError are ValueErrors
        raise DpkError(f"{path}: not valid {path.suffix[1:] or 'YAML'} ({error})") from None
    except Exception as error:  # yaml.YAMLError
        raise DpkError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise DpkError(f"{path}: NWB metadata must be a mapping of names to values")
    known = {f.name for f in fields(NwbMetadata)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise DpkError(
            f"{path}: unknown NWB metadata key(s) {', '.join(unknown)}; known: "
            f"{', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {k: (None if v is None else str(v)) for k, v in data.items()}
    if values.get("fps") is not None:
        try:
            values["fps"] = float(values["fps"])
        except ValueError:
            raise DpkError(f"{path}: fps must be a number, got {data['fps']!r}") from None
    return NwbMetadata(**values)


_CLI_FIELDS = ("subject_id", "species", "sex", "age", "session_description", "session_start_time")


def add_write_options(parser: argparse.ArgumentParser) -> None:
    """Add the writers' options (NWB metadata, SLEAP visibility) to a CLI parser."""
    group = parser.add_argument_group("output metadata")
    group.add_argument(
        "--nwb-metadata",
        metavar="FILE",
        help="YAML or JSON mapping of NWB session/subject facts (subject_id, species, sex, "
        "age, session_description, session_start_time, experimenter, lab, institution, "
        "identifier, fps); the options below override it",
    )
    for name in _CLI_FIELDS:
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"nwb_{name}", metavar="TEXT")
    group.add_argument(
        "--visibility-threshold",
        type=float,
        default=DEFAULT_VISIBILITY_THRESHOLD,
        metavar="CONF",
        help="SLEAP and COCO outputs: points below this confidence are not visible "
        "(COCO v=1 instead of 2; default "
        f"{DEFAULT_VISIBILITY_THRESHOLD})",
    )


def write_options_from_args(args: argparse.Namespace) -> WriteOptions:
    """The :class:`WriteOptions` of parsed CLI arguments (see :func:`add_write_options`)."""
    path = getattr(args, "nwb_metadata", None)
    metadata = load_nwb_metadata(path) if path else NwbMetadata()
    for name in _CLI_FIELDS:
        value = getattr(args, f"nwb_{name}", None)
        if value is not None:
            setattr(metadata, name, value)
    metadata.start_time()  # a bad date fails before the long work
    threshold = getattr(args, "visibility_threshold", DEFAULT_VISIBILITY_THRESHOLD)
    return WriteOptions(nwb=metadata, visibility_threshold=threshold)

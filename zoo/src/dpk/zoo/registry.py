"""Registries: YAML lists of zoo entries, validated as a whole when they load.

A registry is a file (or an ``http(s)://`` / ``file://`` URL) holding a YAML list of
:class:`dpk.specs.ZooEntry` mappings. One registry ships with dpk-zoo
(``dpk/zoo/registry.yaml``); users add their own (see :mod:`dpk.zoo.settings`). A
registry with any invalid entry (no sha256, a malformed one, an unknown field, two entries
of one name) is refused when it loads, with every problem named by entry and line.

Files of ``packaged: true`` entries live in the ``models/`` folder beside a local
registry file (for the shipped registry: inside the installed package).

An entry with a ``pipeline`` field (:class:`dpk.specs.ZooPipeline`) names a pair of
models for top-down inference and has no file of its own::

    - name: topdown.fly13
      pipeline: {anchor: stacked_densenet.fly_anchor, pose: stacked_densenet.fly13}
      description: two flies, whole frames

Its models must be entries of the catalog's registries (:class:`dpk.zoo.Catalog` checks).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dpk.specs._base import issues_from_validation_error
from dpk.specs.card import ZooEntry, ZooPipeline
from dpk.specs.errors import SpecIssue
from dpk.specs.files import atomic_output
from dpk.specs.io import duplicate_keys, write_text_atomic
from dpk.zoo.errors import ChecksumError, OfflineError, RegistryError, ZooError
from dpk.zoo.hashing import file_mismatch, sha256_file
from dpk.zoo.settings import dpk_home, is_offline, read_timeout

__all__ = [
    "DEFAULT_HEADER",
    "SHIPPED_REGISTRY",
    "Registry",
    "add_entry",
    "make_entry",
    "packaged_models_dir",
    "registry_copy_path",
]

SHIPPED_REGISTRY = Path(__file__).resolve().parent / "registry.yaml"
"""The registry that ships with dpk-zoo."""

DEFAULT_HEADER = (
    "# dpk model zoo registry: a YAML list of entries validated by dpk.specs.ZooEntry.\n"
    "# Written by dpk.zoo.add_entry (`dpk publish`); packaged files live in models/.\n"
)
"""Comment written at the top of a new registry file."""


def packaged_models_dir(registry_path: str | Path) -> Path:
    """The folder that holds the files of a local registry's ``packaged: true`` entries."""
    return Path(registry_path).resolve().parent / "models"


def _entry_lines(text: str) -> list[tuple[int, dict[str, int]]]:
    """For each list item in YAML text: its first line and the line of each top-level key."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if not isinstance(node, yaml.SequenceNode):
        return []
    lines = []
    for item in node.value:
        keys = {}
        if isinstance(item, yaml.MappingNode):
            keys = {k.value: k.start_mark.line + 1 for k, _ in item.value if hasattr(k, "value")}
        lines.append((item.start_mark.line + 1, keys))
    return lines


def _parse_entries(
    text: str, source: str, *, local: bool
) -> tuple[list[ZooEntry], list[ZooPipeline]]:
    """Validate a registry's text: its model entries and its pipeline entries.

    Raises:
        RegistryError: With every problem, by entry and line.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(error, "problem", None) or str(error)
        raise RegistryError([SpecIssue("", f"not valid YAML: {problem}", line)], source) from None
    duplicates = duplicate_keys(text)
    if duplicates:
        raise RegistryError(duplicates, source)
    if data is None:
        return [], []
    if not isinstance(data, list):
        kind = type(data).__name__
        raise RegistryError(
            [SpecIssue("", f"a registry is a YAML list of entries ('- name: ...'), not a {kind}")],
            source,
        )
    lines = _entry_lines(text)
    issues: list[SpecIssue] = []
    entries: list[ZooEntry] = []
    pipelines: list[ZooPipeline] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(data):
        start, keys = lines[index] if index < len(lines) else (None, {})
        name = item.get("name") if isinstance(item, Mapping) else None
        where = f"entry {index + 1}" + (f" ({name})" if isinstance(name, str) else "")
        if not isinstance(item, Mapping):
            issues.append(SpecIssue(where, "must be a mapping of fields (name, file, ...)", start))
            continue
        model: type[ZooEntry] | type[ZooPipeline] = ZooPipeline if "pipeline" in item else ZooEntry
        try:
            entry = model.model_validate(dict(item))
        except ValidationError as error:
            for issue in issues_from_validation_error(error):
                field = issue.location.split(".")[0].split("[")[0]
                location = f"{where}: {issue.location}" if issue.location else where
                issues.append(SpecIssue(location, issue.message, keys.get(field, start)))
            continue
        if entry.name in seen:
            issues.append(
                SpecIssue(
                    where, f"name {entry.name!r} is already used by entry {seen[entry.name]}", start
                )
            )
            continue
        seen[entry.name] = index + 1
        if isinstance(entry, ZooPipeline):
            pipelines.append(entry)
            continue
        if entry.packaged and not entry.urls and not local:
            issues.append(
                SpecIssue(
                    where,
                    "packaged: true needs a local registry file; a registry at a URL must give urls",
                    keys.get("packaged", start),
                )
            )
            continue
        entries.append(entry)
    if issues:
        raise RegistryError(issues, source)
    return entries, pipelines


class _Dumper(yaml.SafeDumper):
    """Writes short lists of plain values on one line, and keeps key order."""


def _represent_list(dumper: yaml.SafeDumper, value: list) -> yaml.Node:
    flow = all(isinstance(v, (str, int, float, bool)) for v in value) and len(str(value)) < 200
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


class Registry:
    """One registry of zoo entries, validated when it loads.

    Args:
        entries: The entries, in file order.
        source: The file path or URL it came from (used in every message).
        models_dir: Folder holding the files of ``packaged: true`` entries; None for a
            registry at a URL.
        shipped: Whether this is the registry that ships with dpk-zoo.
        pipelines: Entries that name a pair of models (top-down), in file order.

    Raises:
        RegistryError: Two entries share a name.
    """

    def __init__(
        self,
        entries: Iterable[ZooEntry] = (),
        *,
        source: str,
        models_dir: Path | None = None,
        shipped: bool = False,
        pipelines: Iterable[ZooPipeline] = (),
    ):
        self.entries: tuple[ZooEntry, ...] = tuple(entries)
        self.pipelines: tuple[ZooPipeline, ...] = tuple(pipelines)
        self.source = source
        self.models_dir = models_dir
        self.shipped = shipped
        names = [e.name for e in self.entries] + [p.name for p in self.pipelines]
        doubles = sorted({n for n in names if names.count(n) > 1})
        if doubles:
            raise RegistryError([SpecIssue("", f"names used twice: {', '.join(doubles)}")], source)

    def __repr__(self) -> str:
        return f"Registry({self.source!r}, {len(self.entries)} entries)"

    def __iter__(self) -> Iterator[ZooEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, name: object) -> bool:
        return any(e.name == name for e in self.entries)

    @property
    def names(self) -> list[str]:
        """Entry names, in file order."""
        return [e.name for e in self.entries]

    def get(self, name: str) -> ZooEntry | None:
        """The entry of exactly this name, or None."""
        return next((e for e in self.entries if e.name == name), None)

    def packaged_path(self, entry: ZooEntry) -> Path | None:
        """Where a ``packaged: true`` entry's file lives (None when it is not packaged)."""
        if not entry.packaged or self.models_dir is None:
            return None
        return self.models_dir / entry.file

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        source: str,
        models_dir: Path | None = None,
        shipped: bool = False,
    ) -> Registry:
        """Validate registry YAML text.

        Raises:
            RegistryError: The text is not a list of valid entries; names ``source``,
                each bad entry and its line.
        """
        entries, pipelines = _parse_entries(text, source, local=models_dir is not None)
        return cls(
            entries, source=source, models_dir=models_dir, shipped=shipped, pipelines=pipelines
        )

    @classmethod
    def from_file(cls, path: str | Path, *, shipped: bool = False) -> Registry:
        """Load a registry file; packaged files are looked for in ``models/`` beside it.

        Raises:
            RegistryError: The file is missing, unreadable or holds an invalid entry.
        """
        path = Path(path).expanduser().resolve()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RegistryError(
                [SpecIssue("", "registry file not found (check DPK_REGISTRIES and config.yaml)")],
                str(path),
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise RegistryError([SpecIssue("", f"cannot read it ({error})")], str(path)) from None
        return cls.parse(text, source=str(path), models_dir=path.parent / "models", shipped=shipped)

    @classmethod
    def from_url(cls, url: str, *, refresh: bool = False, timeout: float | None = None) -> Registry:
        """Load a registry from a URL, keeping a validated copy in ``$DPK_HOME/registries``.

        A ``file://`` URL is read like a path. An ``http(s)://`` registry is fetched only
        when there is no copy yet or ``refresh`` is true (and never when offline); the copy
        is replaced only by a registry that validates.

        Raises:
            RegistryError: The registry holds an invalid entry.
            OfflineError: Offline, and no copy has been fetched before.
            DownloadError: It cannot be fetched and there is no copy.
        """
        if url.lower().startswith("file://"):
            from urllib.request import url2pathname

            return cls.from_file(url2pathname(url[len("file://") :]))
        copy = registry_copy_path(url)
        if copy.is_file() and (not refresh or is_offline()):
            return cls.parse(copy.read_text(encoding="utf-8"), source=f"{url} (copy {copy})")
        if is_offline():
            raise OfflineError(
                f"registry {url} has never been fetched and DPK_OFFLINE is set; "
                f"run `dpk zoo list --refresh` once with network, or remove it from DPK_REGISTRIES"
            )
        from dpk.zoo.download import fetch_bytes

        timeout = read_timeout() if timeout is None else timeout
        data = fetch_bytes(url, timeout=timeout)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise RegistryError([SpecIssue("", "not UTF-8 text")], url) from None
        registry = cls.parse(text, source=url)
        copy.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(copy, text)
        return registry

    @classmethod
    def load(cls, location: str | Path, *, refresh: bool = False) -> Registry:
        """Load a registry from a file path or a URL (see :meth:`from_file`, :meth:`from_url`)."""
        text = str(location)
        if re.match(r"^(https?|file)://", text, re.IGNORECASE):
            return cls.from_url(text, refresh=refresh)
        return cls.from_file(text)

    @classmethod
    def shipped_registry(cls) -> Registry:
        """The registry that ships with dpk-zoo (its packaged models in ``dpk/zoo/models``)."""
        return cls.from_file(SHIPPED_REGISTRY, shipped=True)

    def to_yaml(self, header: str = DEFAULT_HEADER) -> str:
        """The registry as YAML text (fields at their defaults left out), after ``header``."""
        data = [
            e.model_dump(mode="json", exclude_defaults=True)
            for e in (*self.entries, *self.pipelines)
        ]
        body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
        return header + ("\n" if header and not header.endswith("\n") else "") + body


def registry_copy_path(url: str) -> Path:
    """Where the validated copy of a registry fetched from ``url`` is kept."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", url.rstrip("/").rsplit("/", 1)[-1])[:40] or "registry"
    return dpk_home() / "registries" / f"{digest}-{stem}"


def make_entry(
    model_file: str | Path,
    name: str,
    urls: Sequence[str] = (),
    packaged: bool = False,
    *,
    license: str,
    training_data: str,
    data_license: str,
    input: Any,
    keypoints: Sequence[str],
    metrics: Mapping[str, float] | None = None,
    speed: Mapping[str, float] | None = None,
    description: str = "",
) -> ZooEntry:
    """A validated registry entry for a model file, with its size and SHA-256 computed.

    Args:
        model_file: The ``.onnx`` file; its name becomes the entry's ``file``.
        name: ``architecture.dataset`` with an optional ``:tag``.
        urls: Download mirrors, tried in order.
        packaged: The file ships inside the package (``models/`` beside the registry).
        license: Licence of the model.
        training_data: Dataset the model was trained on.
        data_license: Licence of the training data.
        input: The model's input spec (a :class:`dpk.specs.Preprocessing` or its mapping).
        keypoints: Keypoint names, in output order.
        metrics: Held-out accuracy (e.g. ``error_median_px``).
        speed: Frames per second keyed ``provider@batch``.
        description: One line for ``dpk zoo list``.

    Raises:
        ZooError: The model file cannot be read.
        RegistryError: The fields do not make a valid entry.
    """
    path = Path(model_file)
    try:
        size = path.stat().st_size
        digest = sha256_file(path)
    except OSError as error:
        raise ZooError(f"{path}: cannot read the model file ({error.strerror or error})") from None
    if hasattr(input, "model_dump"):
        input = input.model_dump()
    data = {
        "name": name,
        "file": path.name,
        "size": size,
        "sha256": digest,
        "urls": list(urls),
        "packaged": packaged,
        "license": license,
        "training_data": training_data,
        "data_license": data_license,
        "input": input,
        "keypoints": list(keypoints),
        "metrics": dict(metrics or {}),
        "speed": dict(speed or {}),
        "description": description,
    }
    try:
        return ZooEntry.model_validate(data)
    except ValidationError as error:
        issues = issues_from_validation_error(error)
        raise RegistryError(issues, f"zoo entry {name!r} for {path}") from None


def _header_of(text: str) -> str:
    """The leading comment and blank lines of a YAML text."""
    lines = []
    for line in text.splitlines(keepends=True):
        if line.strip() and not line.lstrip().startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


def _install_packaged(entry: ZooEntry, model_file: Path | None, models_dir: Path) -> None:
    target = models_dir / entry.file
    if model_file is not None:
        problem = file_mismatch(model_file, entry.size, entry.sha256, remember=False)
        if problem:
            raise ChecksumError(f"{model_file}: does not match entry {entry.name!r} ({problem})")
        if target.exists() and file_mismatch(target, entry.size, entry.sha256) is None:
            return
        models_dir.mkdir(parents=True, exist_ok=True)
        with atomic_output(target, inputs=[model_file], tmp_suffix=".part") as tmp:
            with open(model_file, "rb") as source, open(tmp, "xb") as out:
                shutil.copyfileobj(source, out)
            tmp.chmod(0o644)
        return
    problem = file_mismatch(target, entry.size, entry.sha256, remember=False)
    if problem:
        raise ZooError(
            f"{target}: packaged file of {entry.name!r} is not in place ({problem}); "
            f"pass model_file to add_entry or copy the model there"
        )


def add_entry(
    registry_path: str | Path, entry: ZooEntry, *, model_file: str | Path | None = None
) -> Registry:
    """Add an entry to a registry file (replacing one of the same name), atomically.

    The file is created when missing; its leading comment is kept. For a
    ``packaged: true`` entry the model file must be in ``models/`` beside the registry:
    give ``model_file`` to have it checked and copied there.

    Args:
        registry_path: The registry YAML file.
        entry: The entry, e.g. from :func:`make_entry`.
        model_file: The model file, to copy into ``models/`` for a packaged entry.

    Returns:
        The registry as written.

    Raises:
        RegistryError: The existing registry is invalid.
        ChecksumError: ``model_file`` does not match the entry.
        ZooError: A packaged entry's file is missing, or its file name is taken by another
            packaged entry with different content.
    """
    path = Path(registry_path).expanduser().resolve()
    if path.exists():
        existing = Registry.from_file(path)
        header = _header_of(path.read_text(encoding="utf-8"))
    else:
        existing = Registry(source=str(path), models_dir=path.parent / "models")
        header = DEFAULT_HEADER
    entries = list(existing.entries)
    if entry.packaged:
        for other in entries:
            if (
                other.packaged
                and other.file == entry.file
                and other.name != entry.name
                and other.sha256 != entry.sha256
            ):
                raise ZooError(
                    f"{path}: packaged file name {entry.file!r} is already used by "
                    f"{other.name!r} with other content; rename the model file"
                )
        _install_packaged(
            entry, None if model_file is None else Path(model_file), path.parent / "models"
        )
    names = [e.name for e in entries]
    if entry.name in names:
        entries[names.index(entry.name)] = entry
    else:
        entries.append(entry)
    registry = Registry(
        entries,
        source=str(path),
        models_dir=path.parent / "models",
        pipelines=existing.pipelines,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, registry.to_yaml(header))
    return registry

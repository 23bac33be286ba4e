"""Where the zoo keeps its files and how it may use the network, from environment and config.

Environment variables (they win over the config file):

- ``DPK_HOME``: the cache folder (default: the per-user cache directory, via platformdirs).
- ``DPK_OFFLINE``: ``1``/``true``/``yes`` forbids every network access.
- ``DPK_TIMEOUT``: seconds to wait for each network read (default 30).
- ``DPK_REGISTRIES``: extra registries, separated by ``os.pathsep``; each a file path or an
  ``http(s)://`` / ``file://`` URL.

The user's own registry, ``$DPK_HOME/registry/registry.yaml`` (where ``dpk publish`` adds
models by default), is read too when it exists, after the others.

The optional config file ``$DPK_HOME/config.yaml`` may hold ``registries: [...]`` (paths
relative to the config file, or URLs) and ``timeout: SECONDS``. Other keys belong to other
parts of dpk and are left alone.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from dpk.zoo.errors import ZooError

__all__ = [
    "DEFAULT_TIMEOUT",
    "config_path",
    "dpk_home",
    "is_offline",
    "read_config",
    "read_timeout",
    "registry_locations",
    "split_registry_list",
    "user_registry_path",
]

DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for each network read when nothing else is configured."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def dpk_home() -> Path:
    """The folder that holds the model cache and ``config.yaml`` (not created here).

    ``DPK_HOME`` when set, else the per-user cache directory (``~/.cache/dpk`` on Linux).
    """
    value = os.environ.get("DPK_HOME", "").strip()
    if value:
        return Path(value).expanduser().resolve()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("dpk", appauthor=False))


def user_registry_path() -> Path:
    """``$DPK_HOME/registry/registry.yaml``: the user's own registry (``dpk publish``
    writes there by default; its packaged models live in ``models/`` beside it)."""
    return dpk_home() / "registry" / "registry.yaml"


def config_path() -> Path:
    """``$DPK_HOME/config.yaml``."""
    return dpk_home() / "config.yaml"


def read_config() -> dict[str, Any]:
    """The config file as a mapping (empty when there is none).

    Raises:
        ZooError: The file exists but is not a YAML mapping.
    """
    path = config_path()
    if not path.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        problem = getattr(error, "problem", None) or error
        raise ZooError(
            f"{path}: cannot read the dpk config file ({problem}); fix or delete it"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ZooError(
            f"{path}: the dpk config file must be a YAML mapping such as 'registries: []'"
        )
    return data


def is_offline() -> bool:
    """Whether ``DPK_OFFLINE`` forbids the network.

    Raises:
        ZooError: The variable holds something other than a yes/no value.
    """
    value = os.environ.get("DPK_OFFLINE", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ZooError(f"DPK_OFFLINE={value!r} is not understood; set it to 1 (offline) or 0")


def _positive_seconds(value: Any, where: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds > 0:
        raise ZooError(f"{where}={value!r} is not a positive number of seconds; e.g. 30")
    return seconds


def read_timeout() -> float:
    """Seconds to wait for each network read: ``DPK_TIMEOUT``, config ``timeout``, or 30."""
    value = os.environ.get("DPK_TIMEOUT", "").strip()
    if value:
        return _positive_seconds(value, "DPK_TIMEOUT")
    config = read_config()
    if config.get("timeout") is not None:
        return _positive_seconds(config["timeout"], f"{config_path()}: timeout")
    return DEFAULT_TIMEOUT


def _is_url(location: str) -> bool:
    return location.lower().startswith(("http://", "https://", "file://"))


def split_registry_list(value: str) -> list[str]:
    """Split a ``DPK_REGISTRIES`` value on ``os.pathsep``, keeping URLs whole.

    With ``:`` as separator (POSIX), the colons of a URL's scheme (``https://``) and port
    (``host:8000/``) do not split it; a colon inside a URL's path does.
    """
    pieces: list[str] = []
    for piece in value.split(os.pathsep):
        if pieces and (
            (re.fullmatch(r"(?i)https?|file", pieces[-1].strip()) and piece.startswith("//"))
            or (re.fullmatch(r"(?i)\s*https?://[^/]*", pieces[-1]) and re.match(r"\d+(/|$)", piece))
        ):
            pieces[-1] += os.pathsep + piece
        else:
            pieces.append(piece)
    return [p.strip() for p in pieces if p.strip()]


def registry_locations() -> list[str]:
    """The user's registries, highest precedence first: ``DPK_REGISTRIES``, the config, then
    :func:`user_registry_path` when it exists.

    Paths are made absolute (config paths relative to the config file); URLs are kept.

    Raises:
        ZooError: The config's ``registries`` is not a list of strings.
    """
    locations: list[str] = []
    for item in split_registry_list(os.environ.get("DPK_REGISTRIES", "")):
        if item:
            locations.append(item if _is_url(item) else str(Path(item).expanduser().resolve()))
    config = read_config()
    configured = config.get("registries") or []
    if not isinstance(configured, list) or not all(isinstance(i, str) for i in configured):
        raise ZooError(
            f"{config_path()}: 'registries' must be a list of file paths or URLs, "
            f"e.g. registries: [/lab/models/registry.yaml]"
        )
    base = config_path().parent
    for item in configured:
        item = item.strip()
        if item:
            locations.append(
                item if _is_url(item) else str((base / Path(item).expanduser()).resolve())
            )
    own = user_registry_path()
    if own.is_file():
        locations.append(str(own.resolve()))
    unique: list[str] = []
    for item in locations:
        if item not in unique:
            unique.append(item)
    return unique

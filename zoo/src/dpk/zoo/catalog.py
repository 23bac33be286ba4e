"""All known models: the user's registries over the shipped one, and name resolution."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterator, Sequence

from dpk.specs.card import ZooEntry, ZooPipeline
from dpk.specs.errors import SpecIssue
from dpk.zoo.errors import DownloadError, OfflineError, RegistryError, ZooError, ZooWarning
from dpk.zoo.registry import Registry
from dpk.zoo.settings import registry_locations

__all__ = ["Catalog", "load_catalog"]


def _describe(registry: Registry) -> str:
    return "the registry shipped with dpk-zoo" if registry.shipped else registry.source


class Catalog:
    """The models of several registries; the first registry that names a model wins.

    A name defined by more than one registry is taken from the first, with a
    :class:`ZooWarning` naming both (a user registry shadowing a shipped model).

    Pipeline entries (a pair of models for top-down inference, no file of their own) are
    kept apart from models (:attr:`pipelines`, :meth:`pipeline`); each must name models
    of the catalog.

    Args:
        registries: Highest precedence first (the user's, then the shipped one).

    Raises:
        RegistryError: A pipeline entry names a model no registry has, or a model and a
            pipeline share a name.
    """

    def __init__(self, registries: Sequence[Registry]):
        self.registries: tuple[Registry, ...] = tuple(registries)
        self._owner: dict[str, tuple[ZooEntry, Registry]] = {}
        for registry in self.registries:
            for entry in registry:
                if entry.name in self._owner:
                    winner = self._owner[entry.name][1]
                    warnings.warn(
                        f"model {entry.name!r} from {_describe(winner)} shadows the one in "
                        f"{_describe(registry)}; rename it there to use both",
                        ZooWarning,
                        stacklevel=2,
                    )
                    continue
                self._owner[entry.name] = (entry, registry)
        self._pipelines: dict[str, tuple[ZooPipeline, Registry]] = {}
        for registry in self.registries:
            for pipeline in registry.pipelines:
                self._add_pipeline(pipeline, registry)

    def _add_pipeline(self, pipeline: ZooPipeline, registry: Registry) -> None:
        where = f"pipeline {pipeline.name!r}"
        if pipeline.name in self._owner:
            raise RegistryError(
                [SpecIssue(where, "a model of another registry has this name; rename it")],
                registry.source,
            )
        if pipeline.name in self._pipelines:
            return  # shadowed by a registry of higher precedence
        pair = pipeline.pipeline
        unknown = [n for n in (pair.anchor, pair.pose) if n not in self._owner]
        if unknown:
            raise RegistryError(
                [
                    SpecIssue(
                        where,
                        f"names unknown models {', '.join(unknown)}; add their entries to a "
                        "registry, or fix the names (`dpk zoo list` shows every model)",
                    )
                ],
                registry.source,
            )
        self._pipelines[pipeline.name] = (pipeline, registry)

    @property
    def pipelines(self) -> list[ZooPipeline]:
        """Every pipeline entry (a pair of models), sorted by name."""
        return [self._pipelines[name][0] for name in sorted(self._pipelines)]

    def pipeline(self, name: str) -> ZooPipeline | None:
        """The pipeline entry of this name (or of this name without ``:tag``), or None."""
        name = name.strip()
        if name in self._pipelines:
            return self._pipelines[name][0]
        matches = [p for p in self.pipelines if ":" not in name and p.base_name == name]
        return matches[0] if len(matches) == 1 else None

    def pipeline_registry(self, name: str) -> Registry:
        """The registry a pipeline entry comes from."""
        return self._pipelines[name][1]

    def __iter__(self) -> Iterator[ZooEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self._owner)

    @property
    def entries(self) -> list[ZooEntry]:
        """Every model, sorted by name."""
        return [self._owner[name][0] for name in sorted(self._owner)]

    @property
    def names(self) -> list[str]:
        """Every model name, sorted."""
        return sorted(self._owner)

    def registry_of(self, entry: ZooEntry | str) -> Registry:
        """The registry an entry (or the model of that exact name) comes from."""
        name = entry if isinstance(entry, str) else entry.name
        return self._owner[name][1]

    def resolve(self, name: str) -> ZooEntry:
        """The entry for a name: exact, or a name without ``:tag`` that fits one entry.

        Raises:
            ZooError: No entry, or several entries, fit; lists the candidates.
        """
        name = name.strip()
        if name in self._owner:
            return self._owner[name][0]
        pipeline = self.pipeline(name)
        if pipeline is not None:
            raise ZooError(
                f"{name!r} is a top-down pipeline (anchor {pipeline.pipeline.anchor}, pose "
                f"{pipeline.pipeline.pose}), not one model file; use dpk predict --model {name}, "
                "or one of its models"
            )
        if ":" not in name:
            matches = [e for e in self.entries if e.base_name == name]
            if len(matches) == 1:
                return matches[0]
            if matches:
                listed = ", ".join(e.name for e in matches)
                raise ZooError(f"model {name!r} is ambiguous: give one of {listed}")
        if not self._owner:
            raise ZooError(
                f"unknown model {name!r}: the zoo is empty; add a registry with DPK_REGISTRIES "
                f"or 'registries:' in $DPK_HOME/config.yaml"
            )
        pool = sorted(set(self._owner) | {e.base_name for e in self.entries})
        close = difflib.get_close_matches(name, pool, n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ZooError(f"unknown model {name!r}{hint} (`dpk zoo list` shows every model)")


def load_catalog(*, refresh: bool = False, include_user: bool = True) -> Catalog:
    """Load the user's registries and the shipped one.

    A registry at an ``http(s)://`` URL that cannot be fetched (and has no copy) is
    skipped with a :class:`ZooWarning`; an invalid registry, or a missing registry file,
    is an error.

    Args:
        refresh: Fetch registries at URLs again instead of using their saved copies.
        include_user: Load the user's registries (``DPK_REGISTRIES``, ``config.yaml``).

    Raises:
        RegistryError: A registry is missing or invalid.
    """
    registries: list[Registry] = []
    if include_user:
        for location in registry_locations():
            try:
                registries.append(Registry.load(location, refresh=refresh))
            except (DownloadError, OfflineError) as error:
                warnings.warn(f"registry skipped: {error}", ZooWarning, stacklevel=2)
    registries.append(Registry.shipped_registry())
    return Catalog(registries)

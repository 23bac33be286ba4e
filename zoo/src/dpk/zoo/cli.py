"""``dpk zoo``: list, describe, pull, verify and locate pretrained models.

Registration only builds parsers; each handler imports the zoo when it runs.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

__all__ = ["format_table", "register"]


def _with_warnings(
    handler: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """Run a handler, printing zoo warnings as one ``dpk zoo: warning:`` line each."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        from dpk.zoo.errors import warnings_as_lines

        with warnings_as_lines("dpk zoo"):
            return handler(args)

    return run


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """Rows of text as an aligned plain-text table (columns separated by two spaces)."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


def _accuracy(metrics: dict[str, float]) -> str:
    for key, label in (("error_median_px", "median"), ("error_mean_px", "mean")):
        if key in metrics:
            return f"{metrics[key]:.2f} px {label}"
    if metrics:
        key, value = next(iter(metrics.items()))
        return f"{key} {value:g}"
    return "-"


def _input(entry) -> str:
    spec = entry.input
    return f"{spec.height}x{spec.width}x{spec.channels}"


def _local_state(entry, catalog) -> str:
    from dpk.zoo.cache import local_path

    registry = catalog.registry_of(entry)
    path = local_path(entry, registry)
    if path is None:
        return "-"
    return "packaged" if path == registry.packaged_path(entry) else "cached"


@_with_warnings
def _list(args: argparse.Namespace) -> int:
    from dpk.zoo.catalog import load_catalog

    catalog = load_catalog(refresh=args.refresh)
    if not len(catalog):
        print(
            "The zoo has no models yet. Add a registry with DPK_REGISTRIES or "
            "'registries:' in $DPK_HOME/config.yaml."
        )
        return 0
    rows = [
        [
            entry.name,
            str(len(entry.keypoints)),
            _input(entry),
            _accuracy(entry.metrics),
            _megabytes(entry.size),
            entry.license,
            _local_state(entry, catalog),
        ]
        for entry in catalog
    ]
    headers = ["NAME", "KEYPOINTS", "INPUT", "ACCURACY", "SIZE", "LICENCE", "LOCAL"]
    print(format_table(headers, rows))
    if catalog.pipelines:
        print("\ntop-down pipelines (an anchor model finds the animals, a pose model reads each):")
        pairs = [
            [p.name, p.pipeline.anchor, p.pipeline.pose, p.description or "-"]
            for p in catalog.pipelines
        ]
        print(format_table(["NAME", "ANCHOR MODEL", "POSE MODEL", "DESCRIPTION"], pairs))
    return 0


def _info_lines(entry, catalog) -> list[tuple[str, str]]:
    from dpk.zoo.cache import cached_path, local_path

    spec = entry.input
    registry = catalog.registry_of(entry)
    norm = spec.normalization
    if norm == "standardize":
        norm += f" (mean {spec.mean}, std {spec.std})"
    fields = [
        ("name", entry.name),
        ("description", entry.description or "-"),
        ("file", f"{entry.file} ({_megabytes(entry.size)}, {entry.size} bytes)"),
        ("sha256", entry.sha256),
        ("urls", "\n".join(entry.urls) or "-"),
        ("packaged", "yes (ships inside dpk-zoo)" if entry.packaged else "no"),
        ("licence", entry.license),
        ("training data", entry.training_data),
        ("data licence", entry.data_license),
        (
            "input",
            f"{spec.height}x{spec.width}x{spec.channels} {spec.color_order}, fit {spec.fit}, "
            f"pad {spec.pad_value}, normalisation {norm}",
        ),
        ("keypoints", f"{len(entry.keypoints)}: {', '.join(entry.keypoints)}"),
        ("metrics", "\n".join(f"{k}: {v:g}" for k, v in entry.metrics.items()) or "-"),
        ("speed", "\n".join(f"{k}: {v:g} fps" for k, v in entry.speed.items()) or "-"),
        ("registry", "shipped with dpk-zoo" if registry.shipped else registry.source),
    ]
    path = local_path(entry, registry)
    where = f"{path}" if path else f"not downloaded (would be {cached_path(entry)})"
    fields.append(("local file", where))
    return fields


def _pipeline_lines(pipeline, catalog) -> list[tuple[str, str]]:
    registry = catalog.pipeline_registry(pipeline.name)
    pose = catalog.resolve(pipeline.pipeline.pose)
    return [
        ("name", pipeline.name),
        ("description", pipeline.description or "-"),
        ("kind", "top-down pipeline (no file of its own)"),
        ("anchor model", pipeline.pipeline.anchor),
        ("pose model", pipeline.pipeline.pose),
        ("keypoints", f"{len(pose.keypoints)}: {', '.join(pose.keypoints)}"),
        ("registry", "shipped with dpk-zoo" if registry.shipped else registry.source),
        ("use", f"dpk predict VIDEO --model {pipeline.name} -o poses.slp"),
    ]


@_with_warnings
def _info(args: argparse.Namespace) -> int:
    from dpk.zoo.catalog import load_catalog

    catalog = load_catalog(refresh=args.refresh)
    pipeline = catalog.pipeline(args.name)
    if pipeline is not None:
        fields = _pipeline_lines(pipeline, catalog)
    else:
        fields = _info_lines(catalog.resolve(args.name), catalog)
    width = max(len(label) for label, _ in fields) + 2
    for label, value in fields:
        first, *rest = value.split("\n")
        print(f"{label + ':':{width}}{first}")
        for line in rest:
            print(f"{'':{width}}{line}")
    return 0


@_with_warnings
def _pull(args: argparse.Namespace) -> int:
    from dpk.specs.errors import DpkError
    from dpk.zoo.cache import pull
    from dpk.zoo.catalog import load_catalog
    from dpk.zoo.errors import ZooError

    if args.all == bool(args.names):
        raise ZooError("give model names or --all (not both); `dpk zoo list` shows the names")
    progress = not args.no_progress
    if not args.all:
        catalog = load_catalog(refresh=args.refresh)
        for name in args.names:
            pipeline = catalog.pipeline(name)
            pair = [pipeline.pipeline.anchor, pipeline.pipeline.pose] if pipeline else [name]
            for model in pair:  # a pipeline entry: both of its models
                path = pull(model, force=args.force, progress=progress)
                print(f"{model}: {path}")
        return 0
    failed = 0
    for entry in load_catalog(refresh=args.refresh):
        try:
            path = pull(entry.name, force=args.force, progress=progress)
        except DpkError as error:
            failed += 1
            print(f"dpk zoo pull: error: {error}", file=sys.stderr)
            continue
        print(f"{entry.name}: {path}")
    return 1 if failed else 0


@_with_warnings
def _verify(args: argparse.Namespace) -> int:
    from dpk.zoo.cache import verify_cache

    report = verify_cache(remove=args.delete)
    for line in report.lines():
        print(line)
    return 0 if report.clean else 1


@_with_warnings
def _path(args: argparse.Namespace) -> int:
    from dpk.zoo.cache import model_path

    print(model_path(args.name, download=not args.no_download, progress=not args.no_progress))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``zoo`` verb and its actions to the ``dpk`` command."""
    parser = subparsers.add_parser(
        "zoo", help="pretrained models: list, describe, download, verify and locate them"
    )
    actions = parser.add_subparsers(dest="zoo_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="table of every known model and whether it is local")
    listing.add_argument(
        "--refresh", action="store_true", help="fetch registries at URLs again before listing"
    )
    listing.set_defaults(func=_list)

    info = actions.add_parser("info", help="the full card of one model")
    info.add_argument("name", metavar="NAME", help="model name, e.g. stacked_densenet.fly13")
    info.add_argument("--refresh", action="store_true", help="fetch registries at URLs again")
    info.set_defaults(func=_info)

    pull = actions.add_parser("pull", help="download models into the cache and check them")
    pull.add_argument("names", nargs="*", metavar="NAME", help="model names")
    pull.add_argument("--all", action="store_true", help="pull every known model")
    pull.add_argument("--force", action="store_true", help="download again even if cached")
    pull.add_argument("--no-progress", action="store_true", help="no progress bar")
    pull.add_argument("--refresh", action="store_true", help="fetch registries at URLs again")
    pull.set_defaults(func=_pull)

    verify = actions.add_parser(
        "verify", help="re-hash the cache; quarantine bad files (exit 1 if any)"
    )
    verify.add_argument(
        "--delete", action="store_true", help="delete bad files instead of quarantining them"
    )
    verify.set_defaults(func=_verify)

    path = actions.add_parser("path", help="print a model's local file, pulling it if needed")
    path.add_argument("name", metavar="NAME", help="model name")
    path.add_argument(
        "--no-download", action="store_true", help="fail instead of downloading a missing model"
    )
    path.add_argument("--no-progress", action="store_true", help="no progress bar")
    path.set_defaults(func=_path)

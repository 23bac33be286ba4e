"""The ``dpk`` command: one entry point, verbs contributed by every installed dpk part.

Each part declares its verbs under the ``dpk.commands`` entry-point group; an entry point
is a function ``register(subparsers)`` that adds one or more sub-parsers and sets
``func`` on them. Registration must stay cheap (no TensorFlow, no onnxruntime import):
handlers import what they need when they run.

Exit status: 0 success; 1 the work was done but something is wrong (an output could not
be written, too many unreadable frames, out of memory); 2 bad input, nothing written;
130 Ctrl-C; 143 SIGTERM (``timeout``, systemd, SLURM). SIGTERM is handled like Ctrl-C, so
unfinished outputs are removed. Errors are one line; ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, entry_points, version

from dpk.specs.errors import DpkError
from dpk.zoo.errors import warnings_as_lines

__all__ = [
    "PARTS",
    "Terminated",
    "build_parser",
    "installed_versions",
    "main",
    "quiet_video_logs",
    "register_doctor",
]

PARTS = ("dpk-specs", "dpk-zoo", "dpk-runtime", "dpk-trainer")
"""The distributions that make up dpk, lowest first."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwinds like Ctrl-C, so atomic outputs remove their temporary files."""


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup
    raise Terminated


def quiet_video_logs() -> None:
    """Keep OpenCV's and FFmpeg's log lines off the terminal (errors are dpk's to report).

    Sets ``OPENCV_LOG_LEVEL`` and ``OPENCV_FFMPEG_LOGLEVEL`` (unless the user set them, for
    debugging) before OpenCV opens a video, and lowers OpenCV's level if already imported.
    """
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    cv2 = sys.modules.get("cv2")
    set_level = getattr(cv2, "setLogLevel", None)
    if set_level is not None and os.environ["OPENCV_LOG_LEVEL"] == "OFF":
        set_level(0)  # LOG_LEVEL_SILENT


def installed_versions() -> dict[str, str | None]:
    """Version of each dpk distribution, None where it is not installed."""
    found: dict[str, str | None] = {}
    for part in PARTS:
        try:
            found[part] = version(part)
        except PackageNotFoundError:
            found[part] = None
    return found


class _VersionAction(argparse.Action):
    def __init__(
        self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None
    ):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        for part, ver in installed_versions().items():
            print(f"{part} {ver or '(not installed)'}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The ``dpk`` argument parser with the verbs of every installed part."""
    parser = argparse.ArgumentParser(
        prog="dpk",
        description="dpk: fast, robust animal pose estimation (DeepPoseKit, ONNX everywhere).",
        epilog="Run 'dpk COMMAND --help' for the options of a command.",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="print the versions of all installed dpk parts"
    )
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks instead of one-line errors"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    seen: set[str] = set()
    for entry in sorted(entry_points(group="dpk.commands"), key=lambda e: e.name):
        if entry.name in seen:  # the same part installed twice (editable + wheel)
            continue
        seen.add(entry.name)
        try:
            register = entry.load()
        except Exception as error:  # a broken plug-in must not take the others down
            print(f"dpk: warning: cannot load command {entry.name!r}: {error}", file=sys.stderr)
            continue
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dpk`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    debug = args.debug or bool(os.environ.get("DPK_DEBUG"))
    quiet_video_logs()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        with warnings_as_lines(f"dpk {args.command}"):  # dpk warnings as one clean line
            return int(args.func(args) or 0)
    except DpkError as error:
        if debug:
            raise
        print(f"dpk {args.command}: error: {error}", file=sys.stderr)
        return 2
    except Terminated:
        print(
            f"dpk {args.command}: stopped by SIGTERM; unfinished outputs were removed",
            file=sys.stderr,
        )
        return 143
    except KeyboardInterrupt:
        print(f"dpk {args.command}: interrupted; unfinished outputs were removed", file=sys.stderr)
        return 130
    except MemoryError:
        if debug:
            raise
        print(
            f"dpk {args.command}: error: out of memory; use a smaller --batch-size, or close "
            "other programs",
            file=sys.stderr,
        )
        return 1
    except BrokenPipeError:
        return 0
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def _doctor(args: argparse.Namespace) -> int:
    from dpk.runtime.providers import provider_report

    print("dpk parts:")
    for part, ver in installed_versions().items():
        print(f"  {part:12s} {ver or '(not installed)'}")
    print(f"python        {sys.version.split()[0]} ({sys.executable})")
    report = provider_report()
    for line in report:
        print(line)
    return 0


def register_doctor(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpk doctor``."""
    parser = subparsers.add_parser(
        "doctor", help="print versions, and which onnxruntime providers are available and working"
    )
    parser.set_defaults(func=_doctor)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

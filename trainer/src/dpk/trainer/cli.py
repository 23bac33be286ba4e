"""The trainer's verbs for the ``dpk`` command: train, evaluate, export.

Registration imports nothing heavy: TensorFlow loads only when a verb runs.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

from dpk.specs.arguments import positive_int

__all__ = ["register_evaluate", "register_export", "register_publish", "register_train"]


_TF_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IWE]\d{4} [\d:.]+\s+\d+ \S+:\d+\] )"
)
"""TensorFlow's C++ start-up lines (oneDNN notice, CUDA probing, ``failed call to cuInit``):
written through absl before its logging is set up, so ``TF_CPP_MIN_LOG_LEVEL`` misses them."""


def _quiet_tensorflow() -> None:
    """Import TensorFlow without its start-up log lines on the terminal.

    Sets ``TF_CPP_MIN_LOG_LEVEL=3`` (unless the user set it; ``TF_ENABLE_ONEDNN_OPTS`` is
    left alone), quiets absl's Python logging, and imports TensorFlow and probes its devices
    with the process's standard error sent to a temporary file; lines that are not
    TensorFlow's C++ log lines are passed on.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    try:
        from absl import logging as absl_logging
    except ImportError:  # pragma: no cover - TensorFlow depends on absl
        pass
    else:
        absl_logging.set_verbosity(absl_logging.ERROR)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # CUDA probing (cuInit) happens here
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        text = captured.read().decode("utf-8", errors="replace")
    for line in text.splitlines():
        if line.strip() and not _TF_NOISE.match(line):
            print(line, file=sys.stderr)


def _limit_threads(threads: int) -> None:
    """Let TensorFlow run each operation on at most ``threads`` CPU threads, one
    operation at a time (the cores a cluster job or a shared machine gives).

    Raises:
        DpkError: TensorFlow already ran something in this process (too late to set).
    """
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        from dpk.specs.errors import DpkError

        raise DpkError(
            "--threads: TensorFlow is already running in this process; set the thread "
            "count before anything else (or run dpk train in a new process)"
        ) from None


def _train(args: argparse.Namespace) -> int:
    from dpk.specs import SpecError, load_spec, training_issues

    if args.resume is None and args.spec is None:
        raise SystemExit("dpk train: give a SPEC file, or --resume RUN")
    spec = None
    if args.spec is not None:
        spec = load_spec(args.spec)
        issues = training_issues(spec.data, args.spec.parent)
        if issues:  # before TensorFlow loads and before a run folder exists
            raise SpecError(issues, str(args.spec))
        updates = {}
        if args.epochs is not None:
            updates["epochs"] = args.epochs
        if args.max_minutes is not None:
            updates["max_minutes"] = args.max_minutes
        if updates:
            spec = spec.model_copy(update={"training": spec.training.model_copy(update=updates)})
            spec = type(spec).model_validate(spec.model_dump())
    _quiet_tensorflow()
    if args.threads:
        _limit_threads(args.threads)
    from dpk.trainer.training import train

    result = train(
        args.spec if spec is None else _with_base(spec, args.spec),
        runs_dir=args.runs_dir,
        run_dir=args.run_dir,
        resume=args.resume,
        verbose=1 if not args.quiet else 2,
    )
    print(result.summary())
    if result.stopped == "interrupted":
        print(
            f"interrupted: the last epoch is saved; continue with `dpk train --resume {result.run_dir}`"
        )
        return 130
    print(f"next: dpk evaluate {result.run_dir}   and   dpk export {result.run_dir} -o model.onnx")
    return 0


def _with_base(spec, spec_path: Path):
    """The spec as the run folder keeps it: the data paths as written and the folder they
    are relative to (``data.relative_to``), so that ``--resume`` and ``dpk evaluate``
    resolve them as this run does."""
    if spec.data is None:
        return spec
    return spec.model_copy(update={"data": spec.data.for_run(spec_path.parent)})


def _evaluate(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from dpk.trainer.evaluation_run import evaluate_run

    result = evaluate_run(args.run, data=args.data, out_dir=args.output, which=args.which)
    print(result.summary())
    return 0


def _export(args: argparse.Namespace) -> int:
    from dpk.specs.files import check_outputs

    run = args.run
    inputs = [run / "spec.yaml", run / f"{args.which}.keras", run / "check_images.npz"]
    from dpk.trainer.export import export_paths  # no TensorFlow yet

    outputs = export_paths(args.output, precision=args.precision, quantize=args.quantize)
    check_outputs(outputs, inputs)  # before TensorFlow loads
    _quiet_tensorflow()
    from dpk.trainer.export import export_run

    reports = export_run(
        args.run,
        args.output,
        which=args.which,
        include_maps=not args.no_maps,
        precision=args.precision,
        quantize=args.quantize,
    )
    for report in reports:
        print(report.summary())
    return 0


def register_train(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpk train``."""
    p = subparsers.add_parser("train", help="train a model from a spec file into a run folder")
    p.add_argument(
        "spec", nargs="?", type=Path, help="model spec (YAML or JSON) with a data section"
    )
    p.add_argument(
        "--runs-dir", default="runs", type=Path, help="where new run folders go (default: runs)"
    )
    p.add_argument("--run-dir", type=Path, help="use this run folder instead of a new one")
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue an interrupted run")
    p.add_argument("--epochs", type=int, help="override training.epochs")
    p.add_argument("--max-minutes", type=float, help="override training.max_minutes")
    p.add_argument(
        "--threads",
        type=positive_int,
        help="CPU threads for TensorFlow's operations (default: all cores); on a cluster "
        "or a shared machine, the cores you were given",
    )
    p.add_argument(
        "--quiet", action="store_true", help="one line per epoch instead of a progress bar"
    )
    p.set_defaults(func=_train)


def register_evaluate(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpk evaluate``."""
    p = subparsers.add_parser("evaluate", help="measure a run's errors (JSON) and plot them (PNG)")
    p.add_argument("run", type=Path, help="run folder written by dpk train")
    p.add_argument(
        "--data",
        type=Path,
        help="a spec file whose data section to evaluate on, or a labels file (default: the run's validation frames)",
    )
    p.add_argument("-o", "--output", type=Path, help="output folder (default: RUN/evaluation)")
    p.add_argument(
        "--which", choices=["best", "last"], default="best", help="checkpoint (default: best)"
    )
    p.set_defaults(func=_evaluate)


def register_export(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpk export``."""
    p = subparsers.add_parser("export", help="export a run to one self-describing ONNX file")
    p.add_argument("run", type=Path, help="run folder written by dpk train")
    p.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    p.add_argument(
        "--which", choices=["best", "last"], default="best", help="checkpoint (default: best)"
    )
    p.add_argument(
        "--no-maps", action="store_true", help="leave the confidence maps out of the outputs"
    )
    p.add_argument(
        "--precision", choices=["fp32", "fp16"], default="fp32", help="also write a float16 copy"
    )
    p.add_argument(
        "--quantize", choices=["int8"], help="also write an int8 copy calibrated on training frames"
    )
    p.set_defaults(func=_export)


def _publish(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from dpk.trainer.publish import publish_run

    result = publish_run(
        args.run,
        args.name,
        registry=args.registry,
        packaged=args.packaged,
        urls=tuple(args.url),
        license=args.license,
        training_data=args.training_data,
        data_source=args.data_source,
        data_license=args.data_license,
        description=args.description,
        threads=args.threads,
        which=args.which,
        quantize=args.quantize,
    )
    print(result.summary())
    return 0


def register_publish(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpk publish``."""
    p = subparsers.add_parser(
        "publish",
        help="publish a run as a zoo model: export, measure, write the card and the entry",
    )
    p.add_argument("run", type=Path, help="run folder written by dpk train")
    p.add_argument("--name", required=True, help="zoo name, architecture.dataset[:tag]")
    p.add_argument(
        "--registry",
        type=Path,
        help="registry file (default: your registry, $DPK_HOME/registry/registry.yaml, which "
        "dpk zoo reads; with --packaged: the one shipped inside the installed dpk-zoo)",
    )
    p.add_argument(
        "--packaged",
        action="store_true",
        help="keep the model file in models/ beside the registry; without --registry, write "
        "the registry shipped inside the installed dpk-zoo package",
    )
    p.add_argument(
        "--url", action="append", default=[], help="download address (repeat for mirrors)"
    )
    p.add_argument("--license", default="MIT", help="licence of the model (default: MIT)")
    p.add_argument("--training-data", required=True, help="name of the training data")
    p.add_argument("--data-source", default="", help="where the training data comes from")
    p.add_argument("--data-license", required=True, help="licence of the training data")
    p.add_argument("--description", default="", help="one line for dpk zoo list")
    p.add_argument("--threads", type=int, help="CPU threads for the speed measurement")
    p.add_argument(
        "--which", choices=["best", "last"], default="best", help="checkpoint (default: best)"
    )
    p.add_argument(
        "--quantize",
        choices=["int8"],
        help="publish the int8 variant (its card's errors measured on the int8 file)",
    )
    p.set_defaults(func=_publish)

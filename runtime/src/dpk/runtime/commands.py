"""The runtime's verbs of the ``dpk`` command: predict, render, plot, info, benchmark.

Registration only builds argument parsers (no onnxruntime, OpenCV or matplotlib import);
each handler imports what it needs when it runs. Errors caused by input are
:class:`~dpk.specs.errors.DpkError` and reach the user as one line (see :mod:`dpk.runtime.cli`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from dpk.runtime.providers import DEVICES
from dpk.specs.arguments import non_negative_int, positive_int
from dpk.specs.errors import DpkError

__all__ = [
    "register_benchmark",
    "register_filter",
    "register_info",
    "register_plot",
    "register_predict",
    "register_render",
]

_MODEL_HELP = "model: a .onnx file exported by dpk, or a zoo name such as stacked_densenet.fly13"
DEFAULT_MAX_UNREADABLE = 0.05
"""Share of unreadable frames above which predict and render exit with status 1."""
MAX_BATCH_SIZE = 4096
"""Largest ``--batch-size`` accepted (frames held in memory at once)."""


def _workers(text: str) -> int | str:
    """``--workers``: a number of worker processes, or ``auto``."""
    return "auto" if text.strip().lower() == "auto" else positive_int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} must be more than 0")
    return value


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of numbers"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give numbers of 1 or more, e.g. 1,100")
    return values


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} must be a fraction from 0 to 1, e.g. 0.05")
    return value


def _batch_size(text: str) -> int:
    value = positive_int(text)
    if value > MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(
            f"{value} frames per call would not fit in memory; use at most {MAX_BATCH_SIZE} "
            "(16-256 is plenty for any GPU)"
        )
    return value


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _too_many_unreadable(command: str, n_bad: int, n_total: int, limit: float) -> bool:
    """Say one line and return True when more than ``limit`` of the frames were unreadable."""
    if n_total == 0 or n_bad / n_total <= limit:
        return False
    _say(
        f"dpk {command}: error: {n_bad} of {n_total} frames ({n_bad / n_total:.0%}) could not "
        f"be read, more than --max-unreadable {limit:g}; the outputs are written, but check or "
        "re-encode the video (ffmpeg -i IN -c:v libx264 OUT.mp4)"
    )
    return True


def _add_max_unreadable(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-unreadable",
        type=_fraction,
        default=DEFAULT_MAX_UNREADABLE,
        metavar="FRACTION",
        help="exit with status 1 when more than this fraction of the frames cannot be read "
        f"(default {DEFAULT_MAX_UNREADABLE}; the outputs are written all the same)",
    )


def _model_file(value: str) -> Path | None:
    """The model argument as a file to protect from being overwritten (None: a zoo name)."""
    path = Path(value)
    return path if path.exists() else None


def _add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where to run: auto (CUDA when it works, else CPU), cpu, cuda, tensorrt "
        "(cuda/tensorrt that do not work are an error, never a silent CPU fall-back)",
    )
    parser.add_argument(
        "--threads", type=positive_int, default=None, help="CPU threads for onnxruntime"
    )


# --------------------------------------------------------------------------- predict
def _outputs_and_formats(args: argparse.Namespace) -> list[tuple[Path, str]]:
    from dpk.runtime.formats import check_output
    from dpk.specs.files import check_outputs

    outputs = [Path(o) for o in args.output]
    formats = args.format or []
    if len(formats) > 1 and len(formats) != len(outputs):
        raise DpkError(
            f"{len(formats)} --format values for {len(outputs)} outputs; give one --format "
            "for all outputs, or one per -o in the same order"
        )
    if len(formats) == 1 and len(outputs) > 1:
        formats = formats * len(outputs)
    anchor = getattr(args, "anchor_model", None)
    inputs = [args.source, _model_file(args.model)]
    if anchor:
        inputs.append(_model_file(anchor))
    check_outputs(outputs, inputs=inputs)
    planned = []
    for i, path in enumerate(outputs):
        fmt = formats[i] if formats else None
        planned.append((path, check_output(path, fmt)))
    return planned


def _zoo_pipeline(args: argparse.Namespace) -> None:
    """A ``--model`` that names a zoo pipeline entry becomes ``--anchor-model`` + ``--model``."""
    from dpk.zoo import pipeline_models

    if Path(args.model).exists():
        return
    pair = pipeline_models(args.model)
    if pair is None:
        return
    if args.anchor_model:
        raise DpkError(
            f"--model {args.model} is a zoo pipeline (anchor {pair[0]}, pose {pair[1]}); "
            "drop --anchor-model, or give a pose model with --model"
        )
    args.anchor_model, args.model = pair


def _predict(args: argparse.Namespace) -> int:
    _zoo_pipeline(args)
    if args.output_dir is not None or args.scheduler or args.workers:
        return _predict_batch(args)
    if len(args.sources) > 1:
        raise DpkError(
            f"{len(args.sources)} inputs: give --output-dir DIR for a batch (one set of outputs "
            "per video), or one input with -o FILE"
        )
    if not args.output:
        raise DpkError(
            "no output: give -o FILE (e.g. -o poses.h5), or --output-dir DIR for a batch"
        )
    args.source = args.sources[0]
    return _predict_one(args)


def _predict_one(args: argparse.Namespace) -> int:
    from dpk.runtime.formats import save_predictions
    from dpk.runtime.formats.options import write_options_from_args
    from dpk.runtime.predictor import Predictor, resolve_model
    from dpk.runtime.video import describe_errors

    planned = _outputs_and_formats(args)  # before any long work
    options = write_options_from_args(args)
    source = Path(args.source)
    if not source.exists():
        raise DpkError(f"{source}: no such video file or image folder")
    model_path, name = resolve_model(args.model)
    predictor = Predictor(
        model_path,
        device=args.device,
        batch_size=args.batch_size,
        threads=args.threads,
        name=name,
        cropped=args.cropped or bool(args.anchor_model),
    )
    started = time.perf_counter()
    if args.anchor_model:
        from dpk.runtime.topdown import TopDown

        anchor_path, anchor_name = resolve_model(args.anchor_model)
        pipeline = TopDown(anchor_path, predictor, device=args.device, threads=args.threads)
        _say(
            f"anchor model {anchor_name} (up to {pipeline.max_animals} animals) and pose model "
            f"{name} on {predictor.provider}, batch size {predictor.batch_size}"
        )
        predictions = pipeline.predict_path(
            source,
            args.start,
            args.stop,
            args.step,
            batch_size=predictor.batch_size,
            max_distance=args.max_distance,
            max_gap=args.max_gap,
            progress=not args.quiet,
        )
    else:
        _say(f"model {name} on {predictor.provider}, batch size {predictor.batch_size}")
        predictions = predictor.predict_path(
            source, args.start, args.stop, args.step, progress=not args.quiet
        )
    seconds = time.perf_counter() - started
    for line in describe_errors(predictions.errors):
        _say(f"dpk predict: warning: {line}; their rows are empty (NaN)")
    failed = 0
    for path, fmt in planned:  # each on its own: one failing output must not cost the others
        try:
            save_predictions(path, predictions, fmt, options)
        except DpkError as error:
            _say(f"dpk predict: error: {error}")
            failed += 1
            continue
        tracks = (
            f", {len(predictions.track_names or [])} tracks" if predictions.has_instances else ""
        )
        print(f"wrote {path} ({fmt}, {predictions.n_frames} frames{tracks})")
    if not args.quiet:
        fps = predictions.n_frames / seconds if seconds > 0 else float("inf")
        _say(f"{predictions.n_frames} frames in {seconds:.1f} s ({fps:.1f} frames/s)")
    bad = _too_many_unreadable(
        "predict", len(predictions.errors), predictions.n_frames, args.max_unreadable
    )
    return 1 if failed or bad else 0


def _batch_formats(args: argparse.Namespace, out_dir: Path) -> tuple[str, ...]:
    from dpk.runtime.batch import FORMAT_SUFFIXES
    from dpk.runtime.formats import check_output

    formats = tuple(dict.fromkeys(args.format or ["h5"]))
    for fmt in formats:
        check_output(out_dir / f"check{FORMAT_SUFFIXES[fmt]}", fmt)  # dependency, writable
    return formats


def _batch_runner(args: argparse.Namespace):
    from dpk.runtime.batch import LocalRunner

    if args.scheduler:
        from dpk.runtime.dask_backend import DaskRunner

        return DaskRunner.connect(args.scheduler, timeout=args.connect_timeout)
    if args.workers:
        from dpk.runtime.dask_backend import DaskRunner

        return DaskRunner.local(args.workers, device=args.device)
    return LocalRunner()


def _batch_anchor(args: argparse.Namespace, model_path: Path, name: str) -> dict:
    """The batch's anchor model: its file, name, sha256 and bytes, checked against the pose
    model here (a bad pair is one line, exit 2, before any video runs)."""
    import hashlib

    from dpk.runtime.predictor import Predictor, resolve_model
    from dpk.runtime.topdown import TopDown

    path, anchor_name = resolve_model(args.anchor_model)
    data = path.read_bytes()
    pose = Predictor(model_path, device="cpu", threads=1, name=name, cropped=True)
    TopDown(path, pose, device="cpu", threads=1)  # not an anchor model, crop mismatch: raise
    return {
        "name": anchor_name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "file": str(path),
        "bytes": data,
    }


def _local_workers(requested: int | str, device: str) -> int:
    """``--workers``: N, or ``auto``: one per GPU when the batch runs on GPUs, else per core."""
    if requested != "auto":
        return int(requested)
    from dpk.runtime.local_cluster import default_workers, gpu_devices, usable_cores

    return default_workers(gpu_devices(device), usable_cores())


def _predict_batch(args: argparse.Namespace) -> int:
    import hashlib
    import os
    from dataclasses import replace

    from dpk.runtime.batch import (
        BatchSettings,
        LocalRunner,
        plan_batch,
        run_batch,
        summary_table,
    )
    from dpk.runtime.batch_inputs import expand_inputs
    from dpk.runtime.manifest import MANIFEST_NAME, BatchLock
    from dpk.runtime.predictor import resolve_model

    if args.output:
        raise DpkError(
            "-o names one output file; a batch writes one set of outputs per video into "
            "--output-dir DIR (choose formats with --format)"
        )
    if args.output_dir is None:
        raise DpkError("a batch needs --output-dir DIR (one set of outputs per video goes there)")
    if args.scheduler and args.workers:
        raise DpkError("give --scheduler ADDRESS (a running cluster) or --workers N, not both")
    out_dir = Path(args.output_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DpkError(f"{out_dir}: is a file; --output-dir takes a folder")
    if not out_dir.parent.is_dir():
        raise DpkError(f"{out_dir}: its folder {out_dir.parent} does not exist; create it first")
    out_dir.mkdir(exist_ok=True)
    formats = _batch_formats(args, out_dir)
    inputs = expand_inputs(args.sources)
    for text, reason in inputs.missing:
        _say(f"dpk predict: warning: {text}: {reason}; the other videos go on")
    for text in inputs.duplicates:
        _say(f"dpk predict: warning: {text}: listed more than once; it runs once")
    if not inputs.videos:
        raise DpkError("no video to run: every input was missing (see the warnings above)")
    videos = {os.path.realpath(v) for v in inputs.videos}
    if os.path.realpath(out_dir / MANIFEST_NAME) in videos:
        raise DpkError(f"{out_dir}: an input is the manifest; choose another --output-dir")
    model_path, name = resolve_model(args.model)
    model_bytes = model_path.read_bytes()
    sha = hashlib.sha256(model_bytes).hexdigest()
    threads = args.threads
    if args.workers:
        from dpk.runtime.local_cluster import session_threads, usable_cores

        args.workers = _local_workers(args.workers, args.device)
        if threads is None:  # each worker's share of the cores: never more threads than cores
            threads = session_threads(usable_cores(), args.workers)
    settings = BatchSettings(
        formats=formats,
        start=args.start,
        stop=args.stop,
        step=args.step,
        device=args.device,
        batch_size=args.batch_size,
        threads=threads,
    )
    anchor = _batch_anchor(args, model_path, name) if args.anchor_model else None
    if anchor is not None:
        settings = replace(settings, tracking=(args.max_distance, args.max_gap))
    runner = _batch_runner(args) if args.scheduler else None  # an unreachable one: exit 2 now
    with BatchLock(out_dir):
        jobs, done = plan_batch(
            inputs.videos,
            out_dir,
            settings,
            sha,
            name,
            with_hash=args.hash_videos,
            anchor_sha256=anchor["sha256"] if anchor else "",
            anchor_name=anchor["name"] if anchor else "",
        )
        clash = [p for job in jobs for p, _ in job.outputs() if os.path.realpath(p) in videos]
        if clash:
            raise DpkError(
                f"{clash[0]}: an output would replace an input video; choose another --output-dir"
            )
        if runner is None:
            runner = _batch_runner(args) if jobs else LocalRunner()
        where = runner.description if jobs else "nothing to run"
        pair = (
            f" with anchor model {anchor['name']} (sha256 {anchor['sha256'][:12]})"
            if anchor
            else ""
        )
        _say(
            f"{len(jobs)} videos to run, {len(done)} done before; model {name} "
            f"(sha256 {sha[:12]}){pair} on {where}"
        )
        model_info: dict[str, object] = {"name": name, "sha256": sha, "file": str(model_path)}
        if anchor is not None:
            model_info["anchor"] = {k: anchor[k] for k in ("name", "sha256", "file")}
        remote = bool(args.scheduler or args.workers)
        try:
            report = run_batch(
                jobs,
                done,
                runner,
                model_bytes if remote else str(model_path),
                out_dir,
                model_info,
                missing=inputs.missing,
                progress=not args.quiet,
                anchor=None if anchor is None else anchor["bytes" if remote else "file"],
            )
        finally:
            if runner is not None and hasattr(runner, "close"):
                runner.close()
    print(summary_table(report))
    print(f"manifest: {out_dir / MANIFEST_NAME}")
    if report.manifest_error:
        _say(f"dpk predict: warning: the manifest was not updated ({report.manifest_error})")
    if report.stopped:
        _say(
            f"dpk predict: error: the batch stopped: {report.stopped}; {report.count('done')} "
            "videos were finished (the manifest lists them); free space and rerun to continue"
        )
    return 0 if report.ok else 1


def register_predict(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpk predict``."""
    from dpk.runtime.formats import FORMATS
    from dpk.runtime.formats.options import add_write_options

    parser = subparsers.add_parser(
        "predict",
        help="predict keypoints on a video or an image folder",
        description="Predict keypoints on every frame of a video (or every image of a folder) "
        "and write them as CSV, HDF5, SLEAP .slp, NWB, DeepLabCut CSV or COCO JSON.",
        epilog="examples: dpk predict video.mp4 --model model.onnx -o poses.csv -o poses.h5\n"
        "          dpk predict clip.mp4 --anchor-model anchor.onnx --model pose.onnx -o out.slp\n"
        "          dpk predict videos/ more.txt --model model.onnx -O poses/ --workers 4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="a video file or a folder of images; with --output-dir: videos, folders of "
        "videos, quoted glob patterns ('runs/**/*.mp4') and text files of paths (.txt)",
    )
    parser.add_argument("--model", "-m", required=True, help=_MODEL_HELP)
    topdown = parser.add_argument_group(
        "several animals (top-down)",
        "an anchor model finds every animal in whole frames, --model (trained on crops) reads "
        "each one, and tracks link them across frames (see docs/topdown.md)",
    )
    topdown.add_argument(
        "--anchor-model",
        metavar="FILE|NAME",
        help="an anchor model (.onnx with targets.anchor, or a zoo name): run top-down, one "
        "row per animal and a track per animal in the outputs",
    )
    topdown.add_argument(
        "--max-gap",
        type=non_negative_int,
        default=10,
        metavar="N",
        help="frames a track may go unseen and still continue (default 10)",
    )
    topdown.add_argument(
        "--max-distance",
        type=_positive_float,
        default=50.0,
        metavar="PX",
        help="largest mean keypoint distance (frame px) from a track's predicted position "
        "that still continues it (default 50)",
    )
    parser.add_argument(
        "--cropped",
        action="store_true",
        help="the frames already are crops around the animal: run a model trained on crops "
        "(data.crop in its spec) on frames of another size than its crops",
    )
    parser.add_argument(
        "-o",
        "--output",
        action="append",
        help="output file; the suffix picks the format (.csv, .h5, .slp, .nwb, .json for "
        "COCO, .analysis.h5 for SLEAP analysis; --format dlc for DeepLabCut's .csv/.h5); "
        "repeat for several outputs",
    )
    batch = parser.add_argument_group(
        "many videos",
        "one set of outputs per video in --output-dir, a manifest (dpk-manifest.json), and a "
        "rerun skips the videos already done",
    )
    batch.add_argument(
        "--output-dir",
        "-O",
        help="batch mode: the folder for every video's outputs (NAME.h5 ...) and the manifest",
    )
    batch.add_argument(
        "--workers",
        type=_workers,
        metavar="N|auto",
        help="run on a local Dask cluster of N worker processes, each pinned to one GPU when "
        "the batch runs on GPUs (auto: one worker per GPU, else one per core); needs "
        "dpk-runtime[dask]",
    )
    batch.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on the Dask cluster whose scheduler is at tcp://HOST:PORT (workers need "
        "dpk-runtime and the videos and --output-dir at the same paths)",
    )
    batch.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for --scheduler to answer (default 10)",
    )
    batch.add_argument(
        "--hash-videos",
        action="store_true",
        help="tell videos apart by their SHA-256 (slow) instead of size and modification time",
    )
    parser.add_argument(
        "--format",
        action="append",
        choices=list(FORMATS),
        help="output format when the suffix is not enough (dlc: DeepLabCut .csv or .h5); once "
        "for all outputs, or once per -o in order",
    )
    _add_device(parser)
    parser.add_argument(
        "--batch-size",
        type=_batch_size,
        default=16,
        help=f"frames per inference call (1 to {MAX_BATCH_SIZE}, default 16)",
    )
    _add_max_unreadable(parser)
    parser.add_argument("--start", type=int, default=0, help="first frame (default 0)")
    parser.add_argument("--stop", type=int, default=None, help="stop before this frame")
    parser.add_argument("--step", type=positive_int, default=1, help="every STEP-th frame")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_write_options(parser)
    parser.set_defaults(func=_predict)


# --------------------------------------------------------------------------- filter
def _jump_share(keypoints, track_ids=None, limit: float = 50.0) -> float:
    """Share of frames where a keypoint (of any track, with ``track_ids``) jumps > limit px."""
    import numpy as np

    from dpk.runtime.filtering import apply_per_track

    def jumps(series):
        step = np.linalg.norm(np.diff(series[..., :2], axis=0), axis=-1)
        fast = np.concatenate([np.zeros((1, series.shape[1]), bool), np.nan_to_num(step) > limit])
        return series, fast.astype(np.uint8)

    if len(keypoints) < 2:
        return 0.0
    if keypoints.ndim == 4:
        fast = apply_per_track(keypoints, track_ids, jumps)[1].reshape(len(keypoints), -1)
    else:
        fast = jumps(keypoints)[1]
    return float(fast[1:].any(axis=1).mean())


def _write_instance_flags_csv(path, predictions) -> Path:
    """``frame,instance,track_id,track,NAME...`` flag rows of every instance with keypoints."""
    import csv
    import io

    import numpy as np

    from dpk.runtime.filtering import FLAG_NAMES
    from dpk.specs.files import write_text_atomic

    legend = "; ".join(f"{bit}={name}" for bit, name in FLAG_NAMES.items())
    text = io.StringIO()
    text.write(f"# dpk quality flags, bits: {legend}; track_id -1: no track (not filtered)\n")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["frame", "instance", "track_id", "track", *predictions.names])
    n, a = predictions.keypoints.shape[:2]
    ids = predictions.track_ids if predictions.track_ids is not None else np.full((n, a), -1)
    names = predictions.track_names or []
    present = np.isfinite(predictions.keypoints[..., :2]).any(axis=(2, 3)) | (ids >= 0)
    for i, j in zip(*np.nonzero(present)):
        track = int(ids[i, j])
        name = names[track] if track >= 0 else ""
        row = [int(predictions.frame_indices[i]), int(j), track, name]
        writer.writerow([*row, *predictions.flags[i, j].tolist()])
    return write_text_atomic(path, text.getvalue())


def _filter(args: argparse.Namespace) -> int:
    import dataclasses

    from dpk.runtime.filtering import (
        FilterSettings,
        apply_per_track,
        filter_keypoints,
        untracked_instances,
    )
    from dpk.runtime.formats import load_predictions, save_predictions
    from dpk.runtime.quality import describe_flags, flags_sidecar, quality_flags, write_flags_csv
    from dpk.specs.files import check_writable

    args.source = args.predictions
    args.model = args.predictions
    planned = _outputs_and_formats(args)
    if args.plot:
        check_writable(args.plot, inputs=[args.predictions])
    settings = FilterSettings(
        method=args.method,
        window=args.window,
        polyorder=args.polyorder,
        max_gap=args.max_gap,
        min_confidence=args.min_confidence,
        jump=args.jump,
    )
    settings.check()
    raw = load_predictions(args.predictions)
    reference = None
    if args.reference:
        reference = load_predictions(args.reference)
        if reference.names != raw.names:
            raise DpkError(
                f"{args.reference}: its keypoints ({', '.join(reference.names[:4])}...) are not "
                f"those of {args.predictions}; give labels of the same skeleton"
            )
    reference_keypoints = None
    if reference is not None:  # labels of several animals: every labelled animal counts
        reference_keypoints = reference.keypoints.reshape(-1, *reference.keypoints.shape[-2:])

    def check(series):
        return series, quality_flags(
            series, raw.skeleton, reference=reference_keypoints, max_speed=args.max_speed
        )

    tracks = ""
    if raw.has_instances:
        untracked = untracked_instances(raw.keypoints, raw.track_ids)
        n_tracked = int((raw.track_ids >= 0).sum()) if raw.track_ids is not None else 0
        if not n_tracked:
            raise DpkError(
                f"{args.predictions}: no animal has a track id, so no track can be filtered; "
                "track them first (dpk predict --anchor-model links animals into tracks; "
                "dpk.runtime.tracking.track_instances for your own)"
            )
        if untracked.any():
            _say(
                f"dpk filter: warning: {args.predictions}: {int(untracked.sum())} of "
                f"{int(untracked.sum()) + n_tracked} animals (instance rows) have no track id and "
                "are left unfiltered; track them first to filter them"
            )
        try:
            keypoints, flags = filter_keypoints(raw.keypoints, settings, track_ids=raw.track_ids)
            flags |= apply_per_track(keypoints, raw.track_ids, check)[1]
        except DpkError as error:
            raise DpkError(f"{args.predictions}: {error}") from None
        tracks = f", {len(raw.track_names or [])} tracks"
    else:
        keypoints, flags = filter_keypoints(raw.keypoints, settings)
        flags |= check(keypoints)[1]
    cleaned = dataclasses.replace(raw, keypoints=keypoints, flags=flags)
    failed = 0
    for path, fmt in planned:
        try:
            save_predictions(path, cleaned, fmt)
            note = ""
            if fmt in ("slp", "nwb", "dlc"):
                sidecar = flags_sidecar(path)
                if cleaned.has_instances:
                    written = _write_instance_flags_csv(sidecar, cleaned)
                else:
                    written = write_flags_csv(sidecar, cleaned)
                note = f"; flags in {written}"
        except DpkError as error:
            _say(f"dpk filter: error: {error}")
            failed += 1
            continue
        print(f"wrote {path} ({fmt}, {cleaned.n_frames} frames{tracks}{note})")
    if args.plot:
        from dpk.runtime.filter_plot import plot_before_after

        plot_before_after(raw, cleaned, args.plot)
        print(f"wrote {args.plot}")
    print(
        f"{settings.method}: frames with a keypoint moving > 50 px between frames "
        f"{_jump_share(raw.keypoints, raw.track_ids):.1%} -> "
        f"{_jump_share(keypoints, raw.track_ids):.1%}; flagged frames: "
        f"{describe_flags(flags.reshape(len(flags), -1))}"
    )
    return 1 if failed else 0


def register_filter(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpk filter``."""
    from dpk.runtime.filtering import METHODS

    parser = subparsers.add_parser(
        "filter",
        help="clean trajectories: drop glitches, smooth, fill short gaps, flag bad frames",
        description="Clean predicted trajectories with the named method (kalman: a "
        "confidence-weighted constant-velocity Kalman smoother with a backward pass; median; "
        "savgol: Savitzky-Golay), fill gaps up to --max-gap frames (marked), and flag frames "
        "whose bones are far from their usual length or whose keypoints move too fast. Flags "
        "are written in every format (CSV: NAME_flags columns; HDF5: 'flags'; SLEAP, NWB, "
        "DeepLabCut: OUTPUT.flags.csv beside the file). Predictions of several tracked "
        "animals are cleaned track by track (frames where a track is absent stay absent; "
        "animals without a track id are left unfiltered, with a warning).",
        epilog="example: dpk filter poses.h5 -o clean.h5 --method kalman --plot before_after.png",
    )
    parser.add_argument("predictions", help="predictions (.h5 or .csv from dpk predict, ...)")
    parser.add_argument(
        "-o", "--output", action="append", required=True, help="output file; repeat for several"
    )
    parser.add_argument(
        "--format",
        action="append",
        choices=["csv", "h5", "slp", "nwb", "dlc"],
        help="output format when the suffix is not enough (dlc: DeepLabCut CSV)",
    )
    parser.add_argument("--method", choices=METHODS, default="kalman", help="default kalman")
    parser.add_argument(
        "--window", type=positive_int, default=5, help="median/savgol window, odd (default 5)"
    )
    parser.add_argument("--polyorder", type=int, default=2, help="savgol order (default 2)")
    parser.add_argument(
        "--max-gap",
        type=int,
        default=10,
        help="fill gaps of up to this many frames (default 10; marked 'interpolated')",
    )
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=0.0,
        help="do not use observations below this confidence (default 0: use all)",
    )
    parser.add_argument(
        "--jump",
        type=float,
        default=None,
        metavar="PX",
        help="pixels from the neighbours' median beyond which a point is a glitch "
        "(default: from the keypoint's own spread, at least 10)",
    )
    parser.add_argument(
        "--reference",
        help="labelled poses of the same skeleton giving the usual bone lengths (default: the "
        "video's own)",
    )
    parser.add_argument(
        "--max-speed",
        type=float,
        default=None,
        metavar="PX",
        help="flag keypoints moving more than this many pixels per frame (default: from "
        "their own speed distribution)",
    )
    parser.add_argument("--plot", help="also write a before/after plot (.png)")
    parser.set_defaults(func=_filter)


# --------------------------------------------------------------------------- render
def _render_skeleton(text: str | None):
    if not text:
        return None
    from dpk.runtime.model_file import ModelFile
    from dpk.runtime.predictor import resolve_model
    from dpk.specs.skeleton import Skeleton

    path = Path(text)
    if path.suffix.lower() == ".csv" and path.is_file():
        return Skeleton.from_csv(path, on_asymmetric_swap="accept")
    model_path, name = resolve_model(text)
    return ModelFile.load(model_path, name).skeleton


def _render(args: argparse.Namespace) -> int:
    from dpk.runtime.formats import load_predictions
    from dpk.runtime.render import render_video
    from dpk.specs.files import check_writable

    skeleton_file = args.skeleton if args.skeleton and Path(args.skeleton).exists() else None
    check_writable(args.output, inputs=[args.video, args.predictions, skeleton_file])
    predictions = load_predictions(args.predictions)
    skeleton = _render_skeleton(args.skeleton)
    unreadable: dict[int, str] = {}
    render_video(
        args.video,
        predictions,
        args.output,
        min_confidence=args.min_confidence,
        skeleton=skeleton,
        radius=args.radius,
        fps=args.fps,
        label_frames=not args.no_labels,
        progress=not args.quiet,
        unreadable=unreadable,
    )
    print(f"wrote {args.output} ({predictions.n_frames} frames)")
    if _too_many_unreadable("render", len(unreadable), predictions.n_frames, args.max_unreadable):
        return 1
    return 0


def register_render(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpk render``."""
    parser = subparsers.add_parser(
        "render",
        help="draw predicted poses on the video",
        description="Draw the predicted skeleton on the frames of the video they came from.",
        epilog="example: dpk render video.mp4 poses.h5 -o overlay.mp4 --min-confidence 0.2",
    )
    parser.add_argument("video", help="the video the predictions were made on")
    parser.add_argument("predictions", help="predictions (.h5 or .csv from dpk predict, ...)")
    parser.add_argument("-o", "--output", required=True, help="overlay video (.mp4 or .avi)")
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=0.1,
        help="hide keypoints below this confidence (default 0.1); below 0.5 they are faded",
    )
    parser.add_argument(
        "--skeleton",
        help="edges to draw when the predictions do not carry them (a CSV table holds names "
        "only): a skeleton CSV (name,parent,swap), a model file or a zoo name",
    )
    parser.add_argument("--radius", type=positive_int, help="keypoint radius in pixels")
    parser.add_argument("--fps", type=float, help="output frame rate (default: the video's)")
    parser.add_argument("--no-labels", action="store_true", help="do not write frame numbers")
    _add_max_unreadable(parser)
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.set_defaults(func=_render)


# --------------------------------------------------------------------------- plot
def _plot(args: argparse.Namespace) -> int:
    from dpk.runtime.formats import load_predictions
    from dpk.runtime.plot import plot_predictions
    from dpk.specs.files import check_writable

    check_writable(args.output, inputs=[args.predictions])
    predictions = load_predictions(args.predictions)
    names = [n.strip() for n in args.keypoints.split(",") if n.strip()] if args.keypoints else None
    plot_predictions(predictions, args.output, keypoints=names, min_confidence=args.min_confidence)
    print(f"wrote {args.output}")
    return 0


def register_plot(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpk plot``."""
    parser = subparsers.add_parser(
        "plot",
        help="plot keypoint trajectories and confidence over time",
        description="Write a PNG with x, y and confidence over time for each keypoint.",
        epilog="example: dpk plot poses.h5 -o poses.png --keypoints nose,tail",
    )
    parser.add_argument("predictions", help="predictions (.h5 or .csv from dpk predict, ...)")
    parser.add_argument("-o", "--output", required=True, help="the .png file")
    parser.add_argument("--keypoints", help="comma-separated names to plot (default: all)")
    parser.add_argument(
        "--min-confidence", type=float, default=None, help="leave out x, y below this confidence"
    )
    parser.set_defaults(func=_plot)


# --------------------------------------------------------------------------- info
def _info_lines(model) -> list[str]:
    spec, card, pre = model.spec, model.card, model.preprocessing
    lines = [
        f"model file   {model.source}",
        f"name         {spec.name}",
        f"format       dpk model file {model.format_version}"
        + (f", exported by dpk {model.dpk_version}" if model.dpk_version else ""),
        f"architecture {spec.architecture.type}",
        f"input        image uint8 (N, {pre.height}, {pre.width}, {pre.channels}) "
        f"{pre.color_order}; fit {pre.fit} (pad {pre.pad_value}); "
        f"normalization {pre.normalization}",
        f"outputs      {', '.join(model.outputs)} (output stride {spec.targets.stride}, "
        f"{'with' if spec.targets.graph else 'without'} posture graph)",
        f"FLOPs        {model.flops if model.flops else 'unknown'} per frame",
        "",
        f"skeleton ({model.n_keypoints} keypoints):",
        f"  {'#':>3s}  {'name':20s} {'parent':20s} swap",
    ]
    skeleton = model.skeleton
    for i, name in enumerate(skeleton.names):
        parent = (skeleton.parents or [None] * len(skeleton.names))[i] or "-"
        swap = (skeleton.swaps or [None] * len(skeleton.names))[i] or "-"
        lines.append(f"  {i:3d}  {name:20s} {parent:20s} {swap}")
    lines += ["", "model card:"]
    card_lines = []
    if card.description:
        card_lines.append(f"  description  {card.description}")
    card_lines.append(f"  license      {card.license}")
    if card.authors:
        card_lines.append(f"  authors      {', '.join(card.authors)}")
    if card.training_data:
        data = card.training_data
        extra = f" ({data.license})" if data.license else ""
        card_lines.append(f"  trained on   {data.name}{extra} {data.source}".rstrip())
    for key, value in card.metrics.items():
        card_lines.append(f"  metric       {key} = {value:g}")
    for speed in card.speed:
        card_lines.append(
            f"  speed        {speed.fps:.1f} frames/s on {speed.provider} at batch "
            f"{speed.batch_size}" + (f" ({speed.machine})" if speed.machine else "")
        )
    if card.created:
        card_lines.append(f"  created      {card.created}")
    return lines + card_lines


def _info(args: argparse.Namespace) -> int:
    from dpk.runtime.model_file import ModelFile
    from dpk.runtime.predictor import resolve_model

    model_path, name = resolve_model(args.model)
    is_file = name == model_path.name  # a zoo model is named by its zoo name
    model = ModelFile.load(model_path, None if is_file else name)
    if args.json:
        print(json.dumps(model.summary(), indent=2))
    else:
        print("\n".join(_info_lines(model)))
    return 0


def register_info(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpk info``."""
    parser = subparsers.add_parser(
        "info",
        help="show what a model file says about itself",
        description="Print a model's spec summary, skeleton and model card.",
    )
    parser.add_argument("model", help=_MODEL_HELP)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=_info)


# --------------------------------------------------------------------------- benchmark
def _benchmark(args: argparse.Namespace) -> int:
    from dpk.runtime.benchmark import (
        benchmark_model,
        compare_models,
        format_benchmark,
        format_comparison,
    )
    from dpk.runtime.predictor import resolve_model

    models = [resolve_model(model) for model in args.model]
    options = {
        "batch_sizes": args.batch_sizes,
        "devices": None if args.device == "auto" else [args.device],
        "repeats": args.repeats,
        "warmup": args.warmup,
        "threads": args.threads,
    }
    if len(models) == 1 and args.rounds is None:
        ((model_path, name),) = models
        print(format_benchmark(*benchmark_model(model_path, name=name, **options)))
        return 0
    rounds = args.rounds or 3
    print(format_comparison(compare_models(models, rounds, **options), rounds))
    return 0


def register_benchmark(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dpk benchmark``."""
    parser = subparsers.add_parser(
        "benchmark",
        help="measure a model's frames per second on each working provider",
        description="Time a model on every working onnxruntime provider (or one --device): "
        "frames per second and GFLOP/s at each batch size, median of repeats after warm-up. "
        "Several models (a float32 file and its int8 copy, say) take turns in rounds and are "
        "compared with the first.",
    )
    parser.add_argument(
        "model",
        nargs="+",
        help=_MODEL_HELP + "; several: timed side by side in turns, speeds relative to the first "
        "(e.g. unet.fly13 unet.fly13:int8)",
    )
    parser.add_argument(
        "--batch-sizes",
        type=_int_list,
        default=[1, 100],
        help="comma-separated batch sizes (default 1,100)",
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=None,
        help="alternating rounds when comparing models (default 3; the median is reported)",
    )
    parser.add_argument("--repeats", type=positive_int, default=5, help="timed runs (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="auto times every working provider; or only cpu, cuda, tensorrt",
    )
    parser.add_argument(
        "--threads", type=positive_int, default=None, help="CPU threads for onnxruntime"
    )
    parser.set_defaults(func=_benchmark)

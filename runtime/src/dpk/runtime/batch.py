"""Batch prediction: many videos, one set of outputs each, a manifest, resumable.

The client plans (which videos are already done), hands one video per task to a runner
(:class:`LocalRunner` in this process, or :class:`~dpk.runtime.dask_backend.DaskRunner`
on a Dask cluster), and rebuilds the manifest after every finished video. The task,
:func:`run_video`, needs nothing but dpk-runtime: it predicts, writes each output
atomically into the shared output folder, and writes the video's record last. A task
killed half-way leaves no output under a real name and no record, so the video is simply
run again (by Dask elsewhere, or by the next run).

With an anchor model (``anchor`` of :func:`run_video`, ``anchor_sha256`` of the job),
each video runs the top-down pipeline (:class:`~dpk.runtime.topdown.TopDown`: anchors,
crops, pose model, tracks) exactly as ``dpk predict VIDEO --anchor-model`` does, and the
records hold both models' SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dpk.runtime.manifest import (
    VideoIdentity,
    VideoRecord,
    here,
    now,
    read_record,
    write_manifest,
    write_record,
)
from dpk.specs.errors import DpkError

if TYPE_CHECKING:
    from dpk.runtime.providers import Device

__all__ = [
    "FORMAT_SUFFIXES",
    "BatchReport",
    "BatchSettings",
    "LocalRunner",
    "Runner",
    "VideoJob",
    "is_disk_full",
    "output_names",
    "output_paths",
    "plan_batch",
    "run_batch",
    "run_video",
    "summary_table",
]

FORMAT_SUFFIXES = {
    "csv": ".csv",
    "h5": ".h5",
    "slp": ".slp",
    "nwb": ".nwb",
    "dlc": ".dlc.csv",
    "coco": ".coco.json",
    "analysis": ".analysis.h5",
}
"""The ending of each format's output file in a batch output folder."""

Hook = Callable[[str, "VideoJob"], None]
"""Called by :func:`run_video` at ``predicted`` (before writing) and ``written`` (after)."""


@dataclass(frozen=True)
class BatchSettings:
    """How every video of a batch is run.

    Attributes:
        formats: Output formats (``csv``, ``h5``, ``slp``, ``nwb``, ``dlc``, ``coco``).
        start: First frame.
        stop: Stop before this frame (None: the end).
        step: Every ``step``-th frame.
        device: onnxruntime device (``auto``, ``cpu``, ``cuda``, ``tensorrt``).
        batch_size: Frames per inference call.
        threads: onnxruntime CPU threads per task (None: its default).
        tracking: ``(max_distance px, max_gap frames)`` of the tracks of a top-down run
            (recorded then); None for single-animal runs.
    """

    formats: tuple[str, ...] = ("h5",)
    start: int = 0
    stop: int | None = None
    step: int = 1
    device: Device = "auto"
    batch_size: int = 16
    threads: int | None = None
    tracking: tuple[float, int] | None = None

    def recorded(self) -> dict[str, Any]:
        """What changes the outputs (a rerun with other values redoes the video)."""
        recorded: dict[str, Any] = {
            "formats": list(self.formats),
            "start": self.start,
            "stop": self.stop,
            "step": self.step,
        }
        if self.tracking is not None:
            recorded["max_distance"], recorded["max_gap"] = self.tracking
        return recorded


@dataclass(frozen=True)
class VideoJob:
    """One task: a video and where its outputs go.

    Attributes:
        video: Absolute path of the video (the same path on every worker).
        name: Base name of its outputs.
        out_dir: The shared output folder.
        settings: How to run it.
        identity: The video's identity when the batch was planned.
        model_sha256: SHA-256 of the model file (the pose model, top-down).
        model_name: Name of the model in outputs.
        anchor_sha256: SHA-256 of the anchor model file ('' : no anchor model, one
            animal per frame).
        anchor_name: Name of the anchor model.
    """

    video: str
    name: str
    out_dir: str
    settings: BatchSettings
    identity: VideoIdentity
    model_sha256: str
    model_name: str
    anchor_sha256: str = ""
    anchor_name: str = ""

    def outputs(self) -> list[tuple[Path, str]]:
        """(file, format) of every output."""
        return output_paths(self.out_dir, self.name, self.settings.formats)


def output_paths(out_dir: str | os.PathLike, name: str, formats: Sequence[str]):
    """(file, format) of each output of the video called ``name``."""
    return [(Path(out_dir) / f"{name}{FORMAT_SUFFIXES[fmt]}", fmt) for fmt in formats]


def output_names(videos: Sequence[Path]) -> list[str]:
    """Output base names: the file stem, plus a short hash of the path when stems collide."""
    stems = [v.stem for v in videos]
    counts: dict[str, int] = {}
    for stem in stems:
        counts[stem] = counts.get(stem, 0) + 1
    names = []
    for video, stem in zip(videos, stems):
        if counts[stem] > 1:
            tag = hashlib.sha256(str(video).encode()).hexdigest()[:8]
            stem = f"{stem}-{tag}"
        names.append(stem)
    return names


def is_disk_full(message: str) -> bool:
    """Whether a failure message says that the output disk is full."""
    return "No space left" in message or "free some space" in message


# --------------------------------------------------------------------------- the task
_PREDICTORS: dict[tuple, Any] = {}


def _predictor(
    model: bytes | str | os.PathLike,
    job: VideoJob,
    anchor: bytes | str | os.PathLike | None = None,
):
    """One predictor (or top-down pipeline) per models and settings per process (a worker
    loads its models once)."""
    from dpk.runtime.predictor import Predictor

    s = job.settings
    key = (job.model_sha256, job.anchor_sha256, s.device, s.batch_size, s.threads)
    if key not in _PREDICTORS:
        _PREDICTORS.clear()
        predictor = Predictor(
            model,
            device=s.device,
            batch_size=s.batch_size,
            threads=s.threads,
            name=job.model_name,
            cropped=anchor is not None,
        )
        _PREDICTORS[key] = predictor
        if anchor is not None:
            from dpk.runtime.topdown import TopDown

            _PREDICTORS[key] = TopDown(anchor, predictor, device=s.device, threads=s.threads)
    return _PREDICTORS[key]


def _predict(job: VideoJob, model, anchor):
    """The video's predictions: one animal per frame, or top-down with tracks."""
    s = job.settings
    if not job.anchor_sha256:
        return _predictor(model, job).predict_video(job.video, s.start, s.stop, s.step)
    if anchor is None:
        raise DpkError(f"{job.video}: the batch names an anchor model but none was given")
    tracking = dict(zip(("max_distance", "max_gap"), s.tracking or (), strict=False))
    return _predictor(model, job, anchor).predict_path(
        job.video, s.start, s.stop, s.step, batch_size=s.batch_size, **tracking
    )


def run_video(
    job: VideoJob,
    model: bytes | str | os.PathLike,
    hook: Hook | None = None,
    anchor: bytes | str | os.PathLike | None = None,
) -> VideoRecord:
    """Predict one video, write its outputs atomically, then its record.

    Runs anywhere dpk-runtime is installed (a Dask worker needs nothing else). Errors of
    the video or the outputs become a ``failed`` record, never an exception, so one bad
    video does not stop a batch; an interruption (Ctrl-C, SIGTERM, a killed process) leaves
    no output under its real name and no record.

    Args:
        job: The video and its outputs.
        model: The model file's bytes or path (the pose model, top-down).
        hook: Test hook, see :data:`Hook`.
        anchor: The anchor model file's bytes or path, when the job has one.

    Returns:
        The video's record (also written to the output folder when done).
    """
    from dpk.runtime.formats import save_predictions

    started = time.perf_counter()
    record = VideoRecord(
        video=job.video,
        name=job.name,
        identity=asdict(job.identity),
        model_sha256=job.model_sha256,
        anchor_sha256=job.anchor_sha256,
        settings=job.settings.recorded(),
        outputs=[str(path) for path, _ in job.outputs()],
        worker=_where(),
    )
    try:
        if not VideoIdentity.of(job.video).matches(job.identity):
            raise DpkError(f"{job.video}: changed since the batch started; rerun the batch")
        predictions = _predict(job, model, anchor)
        record.frames = predictions.n_frames
        record.unreadable = len(predictions.errors)
        if hook is not None:
            hook("predicted", job)
        for path, fmt in job.outputs():
            save_predictions(path, predictions, fmt)
        record.status = "done"
    except (DpkError, OSError) as error:
        record.status = "failed"
        record.error = str(error).splitlines()[0] if str(error) else type(error).__name__
    except MemoryError:
        record.status = "failed"
        record.error = "out of memory; use a smaller --batch-size"
    record.seconds = round(time.perf_counter() - started, 3)
    record.finished = now()
    try:
        write_record(job.out_dir, record)
    except DpkError as error:
        if record.status == "done":  # outputs without a record would be redone: say so
            record.status = "failed"
            record.error = str(error)
    if hook is not None and record.status == "done":
        hook("written", job)
    return record


def _where() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return here()


# --------------------------------------------------------------------------- planning
def _is_done(record: VideoRecord | None, job: VideoJob) -> bool:
    if record is None or record.status != "done":
        return False
    if record.video != job.video or record.model_sha256 != job.model_sha256:
        return False
    if record.anchor_sha256 != job.anchor_sha256:
        return False
    if record.settings != job.settings.recorded():
        return False
    if not VideoIdentity(**record.identity).matches(job.identity):
        return False
    return all(Path(p).is_file() for p in record.outputs)


def plan_batch(
    videos: Sequence[Path],
    out_dir: str | os.PathLike,
    settings: BatchSettings,
    model_sha256: str,
    model_name: str,
    *,
    with_hash: bool = False,
    anchor_sha256: str = "",
    anchor_name: str = "",
) -> tuple[list[VideoJob], list[VideoRecord]]:
    """Split the videos into jobs to run and records of videos already done.

    A video is done when its record says so for the same model (sha256), the same anchor
    model (sha256, or none), the same video (size and mtime, or hash), the same settings,
    and its outputs exist.

    Returns:
        ``(jobs, done)``.
    """
    jobs, done = [], []
    for video, name in zip(videos, output_names(videos)):
        job = VideoJob(
            video=str(video),
            name=name,
            out_dir=str(out_dir),
            settings=settings,
            identity=VideoIdentity.of(video, with_hash=with_hash),
            model_sha256=model_sha256,
            model_name=model_name,
            anchor_sha256=anchor_sha256,
            anchor_name=anchor_name,
        )
        record = read_record(out_dir, name)
        if record is not None and _is_done(record, job):
            done.append(record)
        else:
            jobs.append(job)
    return jobs, done


# --------------------------------------------------------------------------- running
class Runner(Protocol):
    """Runs jobs somewhere and yields their records as they finish."""

    description: str

    def results(
        self,
        jobs: Sequence[VideoJob],
        model: bytes | str,
        hook: Hook | None,
        anchor: bytes | str | None = None,
    ) -> Iterator[VideoRecord]:
        """Records of the jobs, in the order they finish (``anchor``: the anchor model)."""
        ...

    def cancel(self) -> None:
        """Stop: no new job starts; the generator ends."""
        ...


class LocalRunner:
    """Runs the jobs one after the other in this process (one predictor for all)."""

    description = "this process"

    def __init__(self) -> None:
        self._stop = False

    def results(
        self,
        jobs: Sequence[VideoJob],
        model: bytes | str,
        hook: Hook | None = None,
        anchor: bytes | str | None = None,
    ) -> Iterator[VideoRecord]:
        for job in jobs:
            if self._stop:
                return
            yield run_video(job, model, hook, anchor)

    def cancel(self) -> None:
        self._stop = True


@dataclass
class BatchReport:
    """What a batch run did.

    Attributes:
        records: Every video's record (done earlier, run now, failed, missing, pending).
        skipped: Names done by an earlier run.
        stopped: Why the batch stopped early ('' when it ran to the end).
        seconds: Wall time of the run.
        manifest_error: Why the manifest could not be written, if so.
    """

    records: list[VideoRecord] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)
    stopped: str = ""
    seconds: float = 0.0
    manifest_error: str = ""

    def count(self, status: str) -> int:
        """Videos with this status (``skipped`` counts the earlier-done ones)."""
        if status == "skipped":
            return len(self.skipped)
        if status == "done":
            return sum(r.status == "done" and r.name not in self.skipped for r in self.records)
        return sum(r.status == status for r in self.records)

    @property
    def ok(self) -> bool:
        """Every video is done (now or before)."""
        return not self.stopped and all(r.status == "done" for r in self.records)


def run_batch(
    jobs: Sequence[VideoJob],
    done: Sequence[VideoRecord],
    runner: Runner,
    model: bytes | str,
    out_dir: str | os.PathLike,
    model_info: dict[str, Any],
    *,
    missing: Sequence[tuple[str, str]] = (),
    hook: Hook | None = None,
    progress: bool = True,
    anchor: bytes | str | None = None,
) -> BatchReport:
    """Run the jobs, keeping the manifest up to date after every video.

    A full output disk stops the batch cleanly (no new video starts; the manifest says
    what is done). Ctrl-C and SIGTERM propagate after the manifest is written.

    Args:
        jobs: Videos to run.
        done: Records of videos done by earlier runs.
        runner: Where to run them.
        model: The model file's bytes (or path, for a local runner).
        out_dir: The output folder.
        model_info: The model's name and sha256 (and its anchor model's), for the manifest.
        missing: Inputs that named no file, with the reason.
        hook: Test hook, passed to :func:`run_video`.
        progress: Show one progress bar for the whole batch.
        anchor: The anchor model file's bytes (or path, for a local runner), for jobs
            with an ``anchor_sha256``.

    Returns:
        The report (see :class:`BatchReport`).
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    report = BatchReport(skipped={r.name for r in done})
    by_name: dict[str, VideoRecord] = {r.name: r for r in done}
    for job in jobs:
        by_name[job.name] = VideoRecord(
            video=job.video,
            name=job.name,
            identity=asdict(job.identity),
            model_sha256=job.model_sha256,
            anchor_sha256=job.anchor_sha256,
            settings=job.settings.recorded(),
        )
    for text, reason in missing:
        by_name[f"missing:{text}"] = VideoRecord(
            video=text, name="", status="missing", error=reason
        )
    report.records = list(by_name.values())

    def save_manifest() -> None:
        try:
            write_manifest(out_dir, list(by_name.values()), model_info)
        except DpkError as error:
            report.manifest_error = str(error)

    save_manifest()
    frames = 0
    bar = tqdm(
        total=len(jobs), unit="video", desc="batch", disable=not progress, dynamic_ncols=True
    )
    try:
        for record in runner.results(jobs, model, hook, anchor):
            by_name[record.name] = record
            frames += record.frames
            bar.update(1)
            elapsed = time.perf_counter() - started
            bar.set_postfix_str(f"{frames / elapsed:.1f} frames/s" if elapsed > 0 else "")
            if record.status == "failed" and is_disk_full(record.error):
                runner.cancel()
                report.stopped = f"the output folder is full ({record.error})"
            save_manifest()
            if report.stopped:
                break
    finally:
        bar.close()
        report.records = list(by_name.values())
        save_manifest()
        report.seconds = time.perf_counter() - started
    return report


def summary_table(report: BatchReport) -> str:
    """The batch as a plain-text table: one row per video, then the totals."""
    header = ("video", "status", "frames", "unreadable", "seconds", "frames/s", "note")
    rows = []
    for r in report.records:
        status = "skipped" if r.name in report.skipped else r.status
        rows.append(
            (
                r.name or r.video,
                status,
                str(r.frames) if r.frames else "-",
                str(r.unreadable) if r.frames else "-",
                f"{r.seconds:.1f}" if r.seconds and status != "skipped" else "-",
                f"{r.fps:.1f}" if r.fps and status != "skipped" else "-",
                r.error,
            )
        )
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths[:-1]) + "  ----")
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    counts = [
        f"{report.count(s)} {s}"
        for s in ("done", "skipped", "failed", "missing", "pending")
        if report.count(s)
    ]
    lines.append(f"{len(rows)} videos: {', '.join(counts) or 'nothing to do'}")
    return "\n".join(lines)

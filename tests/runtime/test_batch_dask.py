"""Batch prediction on a Dask LocalCluster of 2 worker processes (127.0.0.1 only).

One worker is killed (SIGKILL) while it holds a video between predicting and writing:
the video is redone by another worker, every video is written exactly once, and the
outputs are byte-identical to a run in one process. No timing: the task waits on a file.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from dpk.runtime.batch import BatchSettings, LocalRunner, VideoJob, plan_batch, run_batch
from tests.runtime.conftest import write_dot_video

pytest.importorskip("distributed")

HELD = "v1"
"""The video whose worker is killed."""


def hold_then_log(stage: str, job: VideoJob) -> None:
    """Test hook run in the workers: hold ``HELD`` until told to go; log every write."""
    control = Path(job.out_dir).parent / "control"
    if stage == "predicted" and job.name == HELD:
        (control / f"holding-{os.getpid()}").touch()
        while not (control / "go").exists():
            time.sleep(0.02)
    if stage == "written":
        with open(control / "written.log", "a", encoding="utf-8") as log:
            log.write(f"{job.name} {os.getpid()}\n")


def _wait_for(condition, what: str, limit: float = 180.0) -> None:
    deadline = time.monotonic() + limit  # a safety net only: the test waits on files
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.mark.timeout(600)
def test_killed_worker_video_redone_elsewhere_exactly_once(tmp_path, model_path):
    from dpk.runtime.dask_backend import DaskRunner

    folder = tmp_path / "videos"
    folder.mkdir()
    videos = []
    for i in range(4):
        videos.append(folder / f"v{i}.avi")
        write_dot_video(videos[-1], n=10 + 2 * i)
    model = model_path.read_bytes()
    sha = hashlib.sha256(model).hexdigest()
    settings = BatchSettings(formats=("csv", "h5"), device="cpu", threads=1)
    info = {"name": "fake", "sha256": sha}

    single = tmp_path / "single" / "out"
    single.mkdir(parents=True)
    jobs, _ = plan_batch(videos, single, settings, sha, "fake")
    report = run_batch(jobs, [], LocalRunner(), model, single, info, progress=False)
    assert report.ok

    out = tmp_path / "cluster" / "out"
    out.mkdir(parents=True)
    control = out.parent / "control"
    control.mkdir()
    jobs, _ = plan_batch(videos, out, settings, sha, "fake")
    result = {}
    with DaskRunner.local(2, device="cpu") as runner:
        addresses = runner.client.scheduler_info()["workers"]
        assert all(a.startswith("tcp://127.0.0.1:") for a in addresses)

        def batch():
            result["report"] = run_batch(
                jobs, [], runner, model, out, info, hook=hold_then_log, progress=False
            )

        thread = threading.Thread(target=batch)
        thread.start()
        try:
            _wait_for(lambda: list(control.glob("holding-*")), "a worker holding the video")
            victim = int(next(control.glob("holding-*")).name.split("-")[1])
            os.kill(victim, signal.SIGKILL)
            # the task comes back on another worker; let that one finish
            _wait_for(
                lambda: any(p.name != f"holding-{victim}" for p in control.glob("holding-*")),
                "the video to start again on another worker",
            )
        finally:
            (control / "go").touch()
            thread.join(timeout=300)
        assert not thread.is_alive()

    report = result["report"]
    assert report.ok, [(r.name, r.status, r.error) for r in report.records]
    written = (control / "written.log").read_text().split()
    names = written[0::2]
    assert sorted(names) == [v.stem for v in videos]  # every video written exactly once
    pids = dict(zip(names, map(int, written[1::2])))
    assert pids[HELD] != victim
    for video in videos:
        for suffix in (".csv", ".h5"):
            a = (out / f"{video.stem}{suffix}").read_bytes()
            b = (single / f"{video.stem}{suffix}").read_bytes()
            assert a == b, f"{video.stem}{suffix} differs from the single-process run"
    leftovers = [p.name for p in out.iterdir() if ".tmp" in p.name]
    assert not leftovers

"""The local Dask cluster of ``dpk predict --workers``: GPU pinning, threads, Dask upkeep.

The decisions are pure functions, tested without a GPU; one real 2-worker cluster on
127.0.0.1 shows that each worker process gets its own ``CUDA_VISIBLE_DEVICES``, the quiet
Dask settings, and an onnxruntime session of its share of the cores.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time

import pytest

from dpk.runtime.batch import BatchSettings, VideoJob, plan_batch
from dpk.runtime.local_cluster import (
    default_workers,
    gpus_from,
    pins_gpus,
    session_threads,
    worker_env,
)
from tests.runtime.conftest import write_dot_video

SMI = [
    "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaaa)",
    "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-bbbb)",
    "  MIG 1g.10gb Device 0: (UUID: MIG-cccc)",
]


def test_visible_gpus_come_from_cuda_visible_devices_first_then_nvidia_smi():
    assert gpus_from(None, SMI) == ["0", "1"]
    assert gpus_from(None, []) == []
    assert gpus_from("2, 3", SMI) == ["2", "3"]
    assert gpus_from("GPU-bbbb", SMI) == ["GPU-bbbb"]
    assert gpus_from("", SMI) == []
    assert gpus_from("-1", SMI) == []


@pytest.mark.parametrize(
    ("device", "gpus", "providers", "pinned"),
    [
        ("cuda", ["0"], [], True),
        ("tensorrt", ["0", "1"], [], True),
        ("auto", ["0"], ["CUDAExecutionProvider", "CPUExecutionProvider"], True),
        ("auto", ["0"], ["CPUExecutionProvider"], False),
        ("cpu", ["0"], ["CUDAExecutionProvider"], False),
        ("cuda", [], ["CUDAExecutionProvider"], False),
    ],
)
def test_workers_are_pinned_only_when_the_batch_runs_on_a_gpu(device, gpus, providers, pinned):
    assert pins_gpus(device, gpus, providers) is pinned


def test_each_worker_gets_one_device_round_robin():
    devices = ["0", "1", "2"]
    envs = [worker_env(devices, i) for i in range(5)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["0", "1", "2", "0", "1"]
    assert worker_env([], 0) == {}
    assert worker_env(["GPU-aaaa"], 3) == {"CUDA_VISIBLE_DEVICES": "GPU-aaaa"}


def test_default_workers_and_threads_share_the_machine():
    assert default_workers(["0", "1", "2", "3"], cores=64) == 4
    assert default_workers([], cores=2) == 2
    assert session_threads(cores=2, workers=2) == 1
    assert session_threads(cores=16, workers=4) == 4
    assert session_threads(cores=2, workers=4) == 1


def session_threads_in_worker(job: VideoJob, model: bytes) -> tuple[int, str | None]:
    """Run in a worker: the intra-op threads of its predictor's session, and its GPU."""
    from dpk.runtime.batch import _predictor

    options = _predictor(model, job).session.get_session_options()
    return options.intra_op_num_threads, os.environ.get("CUDA_VISIBLE_DEVICES")


@pytest.mark.timeout(300)
def test_local_cluster_workers_get_their_device_threads_and_quiet_dask(tmp_path, model_path):
    pytest.importorskip("distributed")
    from dpk.runtime.dask_backend import DaskRunner

    video = tmp_path / "v.avi"
    write_dot_video(video, n=4)
    model = model_path.read_bytes()
    settings = BatchSettings(device="cpu", threads=session_threads(cores=2, workers=2))
    jobs, _ = plan_batch(
        [video], tmp_path / "out", settings, hashlib.sha256(model).hexdigest(), "m"
    )
    with DaskRunner.local(2, device="cpu", devices=["7", "3"]) as runner:
        client = runner.client
        client.wait_for_workers(2, timeout=120)
        names = {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}
        seen = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
        assert {names[a]: v for a, v in seen.items()} == {0: "7", 1: "3"}
        assert "CUDA_VISIBLE_DEVICES 7, 3" in runner.description

        def upkeep() -> tuple:
            import dask

            return (
                dask.config.get("distributed.worker.profile.enabled"),
                dask.config.get("distributed.admin.tick.interval"),
                os.environ.get("MALLOC_TRIM_THRESHOLD_"),
            )

        assert set(client.run(upkeep).values()) == {(False, "1s", None)}
        saturation = client.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler.WORKER_SATURATION
        )
        assert saturation == 1.0  # one video per worker at a time, the rest queued
        for address in names:
            future = client.submit(
                session_threads_in_worker, jobs[0], model, workers=[address], pure=False
            )
            threads, gpu = future.result(timeout=120)
            assert threads == 1
            assert gpu == {0: "7", 1: "3"}[names[address]]

        # A worker killed outright is restarted by its nanny with the same device.
        pids = client.run(os.getpid)
        first = next(a for a, n in names.items() if n == 0)
        os.kill(pids[first], signal.SIGKILL)
        deadline = time.monotonic() + 120
        while True:
            workers = client.scheduler_info()["workers"]
            back = [a for a, w in workers.items() if w["name"] == 0 and a != first]
            if back and len(workers) == 2:
                break
            assert time.monotonic() < deadline, "the killed worker did not come back"
            time.sleep(0.1)
        seen = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"), workers=back)
        assert list(seen.values()) == ["7"]


def test_workers_option_takes_a_number_or_auto(monkeypatch):
    import argparse

    from dpk.runtime import commands, local_cluster

    assert commands._workers("3") == 3
    assert commands._workers("auto") == "auto"
    with pytest.raises(argparse.ArgumentTypeError):
        commands._workers("0")
    monkeypatch.setattr(local_cluster, "usable_cores", lambda: 6)
    monkeypatch.setattr(local_cluster, "visible_gpus", lambda: ["0", "1"])
    assert commands._local_workers(4, "cuda") == 4
    assert commands._local_workers("auto", "cuda") == 2  # one per GPU
    assert commands._local_workers("auto", "cpu") == 6  # one per core

"""Running a batch on a Dask cluster (``dask.distributed``): one video per task.

- ``--scheduler tcp://HOST:PORT`` joins a running cluster (``dask scheduler`` plus
  ``dask worker`` on each machine, or ``dask-jobqueue`` on SLURM/PBS: docs/batch.md).
- ``--workers N`` starts a local cluster of N worker processes on 127.0.0.1 (one thread
  each: one video at a time per worker; :mod:`dpk.runtime.local_cluster`).

The model's bytes are scattered once to every worker (``broadcast=True``); each worker
builds one predictor from them and keeps it for all its videos. Workers import only
``dpk.runtime`` (no TensorFlow) and write into the shared output folder themselves,
atomically. When a worker dies mid-video, the scheduler gives the task to another
worker; the half-done video left nothing behind, so it is redone once, cleanly.
A local cluster shares the machine as :mod:`dpk.runtime.local_cluster` says: with GPUs,
one worker per device (``CUDA_VISIBLE_DEVICES``), and little Dask upkeep.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from dpk.runtime.batch import Hook, VideoJob, run_video
from dpk.runtime.manifest import VideoRecord, now
from dpk.specs.errors import DpkError

__all__ = ["DaskRunner", "SchedulerError"]

_INSTALL = "install it with pip install 'dpk-runtime[dask]'"


class SchedulerError(DpkError):
    """The Dask scheduler cannot be reached, or Dask is not installed."""


def _distributed():
    try:
        import distributed
    except ImportError:
        raise SchedulerError(
            f"--scheduler and --workers need dask.distributed; {_INSTALL}"
        ) from None
    return distributed


class DaskRunner:
    """Runs batch jobs on a Dask cluster; see the module docstring.

    Use :meth:`connect` or :meth:`local`, and :meth:`close` (or ``with``) when done.
    """

    def __init__(self, client: Any, cluster: Any = None, description: str = "") -> None:
        self.client = client
        self.cluster = cluster
        self.description = description
        self._futures: list[Any] = []

    @classmethod
    def connect(cls, address: str, timeout: float = 10.0) -> DaskRunner:
        """Join the cluster whose scheduler listens at ``address`` (``tcp://HOST:PORT``).

        Raises:
            SchedulerError: No scheduler answers within ``timeout`` seconds.
        """
        distributed = _distributed()
        if "://" not in address:
            raise SchedulerError(
                f"{address}: not a scheduler address; give it as tcp://HOST:PORT (the address "
                "dask scheduler prints)"
            )
        try:
            client = distributed.Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
            raise SchedulerError(
                f"{address}: no Dask scheduler answers there ({reason[:160]}); start one "
                "(dask scheduler) or check the address, or use --workers N for a local cluster"
            ) from None
        n = len(client.scheduler_info().get("workers", {}))
        return cls(client, None, f"the Dask cluster at {address} ({n} workers now)")

    @classmethod
    def local(
        cls, n_workers: int, device: str = "auto", devices: Sequence[str] | None = None
    ) -> DaskRunner:
        """Start a local cluster of ``n_workers`` processes listening on 127.0.0.1 only.

        Args:
            n_workers: Worker processes (one video at a time each).
            device: ``--device``; on a GPU (see
                :func:`~dpk.runtime.local_cluster.gpu_devices`) each worker is pinned to one.
            devices: The GPU ids to pin the workers to, round-robin (None: the visible
                GPUs when ``device`` runs on them, else none).
        """
        distributed = _distributed()
        from dpk.runtime.local_cluster import gpu_devices, start_local_cluster

        ids = list(gpu_devices(device) if devices is None else devices)
        cluster = start_local_cluster(n_workers, ids)
        client = distributed.Client(cluster, set_as_default=False)
        where = f"a local Dask cluster of {n_workers} worker processes"
        if ids:
            where += f", one GPU each (CUDA_VISIBLE_DEVICES {', '.join(ids)})"
        return cls(client, cluster, where)

    def results(
        self,
        jobs: Sequence[VideoJob],
        model: bytes | str,
        hook: Hook | None = None,
        anchor: bytes | str | None = None,
    ) -> Iterator[VideoRecord]:
        """Submit one task per video; yield their records as they finish.

        Args:
            jobs: The videos.
            model: The model file's bytes (a path is read here: workers may not see it).
            hook: Test hook, passed on to :func:`~dpk.runtime.batch.run_video`.
            anchor: The anchor model file's bytes or path (top-down), scattered like
                ``model``; None for single-animal jobs.
        """
        distributed = _distributed()
        model = _read(model)
        if not jobs:
            return
        model_future = self.client.scatter(bytes(model), broadcast=True, hash=False)
        anchor_future = (
            None
            if anchor is None
            else self.client.scatter(_read(anchor), broadcast=True, hash=False)
        )
        token = jobs[0].model_sha256[:12] + jobs[0].anchor_sha256[:8]
        # One map call: the scheduler sees the whole batch as one group at once and queues
        # it, handing a video to each worker as it frees up (no video waits on a busy
        # worker while another worker idles at the end of the batch).
        mapped = self.client.map(
            run_video,
            list(jobs),
            model=model_future,
            hook=hook,
            anchor=anchor_future,
            key=[f"dpk-{token}-{job.name}" for job in jobs],
            pure=False,
        )
        futures = dict(zip(mapped, jobs))
        self._futures = list(futures)
        for future in distributed.as_completed(list(futures), loop=self.client.loop):
            job = futures[future]
            if future.cancelled():
                continue
            try:
                yield future.result()
            except distributed.client.FutureCancelledError:  # cancel() while waiting
                continue
            except Exception as error:  # KilledWorker, or a bug in the task
                yield _failed(job, error)

    def cancel(self) -> None:
        """Cancel the videos that have not finished (running ones are stopped)."""
        pending = [f for f in self._futures if not f.done()]
        if pending:
            self.client.cancel(pending)

    def close(self) -> None:
        """Close the client, and the local cluster if this runner started it."""
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    def __enter__(self) -> DaskRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read(model: bytes | bytearray | str) -> bytes:
    """A model file's bytes (a path is read here: workers may not see it)."""
    if isinstance(model, bytes | bytearray):
        return bytes(model)
    with open(model, "rb") as handle:
        return handle.read()


def _failed(job: VideoJob, error: BaseException) -> VideoRecord:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if type(error).__name__ == "KilledWorker":
        text = "the workers running this video kept dying (out of memory?); see the worker logs"
    return VideoRecord(
        video=job.video,
        name=job.name,
        status="failed",
        model_sha256=job.model_sha256,
        anchor_sha256=job.anchor_sha256,
        settings=job.settings.recorded(),
        error=text,
        finished=now(),
    )

"""``training.workers``: 0 prepares batches in the training loop, N >= 2 starts N threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from dpk.specs import ModelSpec, Preprocessing, Skeleton, Targets, Training


def _dataset(workers: int):
    from dpk.trainer.training.dataset import MapDataset

    spec = ModelSpec(
        skeleton=Skeleton(names=["a"]),
        preprocessing=Preprocessing(height=16, width=16),
        targets=Targets(sigma=2.0, downsample_factor=1, graph=False),
        training=Training(workers=workers),
    )
    images = np.zeros((4, 16, 16, 1), np.uint8)
    keypoints = np.full((4, 1, 2), 8.0, np.float32)
    return MapDataset(
        images,
        keypoints,
        spec,
        (8, 8),
        1,
        batch_size=2,
        augment=True,
        shuffle=True,
        workers=workers,
    )


def test_zero_workers_prepares_batches_in_the_training_loop():
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    dataset = _dataset(0)
    assert dataset.workers == 0
    adapter = PyDatasetAdapter(dataset)
    assert adapter.enqueuer is None  # Keras starts no thread pool
    before = threading.active_count()
    batches = list(adapter.get_numpy_iterator())
    assert len(batches) == 2
    assert threading.active_count() == before


@pytest.mark.parametrize("workers", [2, 3])
def test_two_or_more_workers_are_threads(workers):
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    dataset = _dataset(workers)
    assert dataset.workers == workers and not dataset.use_multiprocessing
    adapter = PyDatasetAdapter(dataset)
    assert adapter.enqueuer is not None


def test_the_spec_documents_threads_not_processes():
    text = " ".join((Training.model_fields["workers"].description or "").split())
    assert "thread" in text and "process" not in text.replace("training process", "")

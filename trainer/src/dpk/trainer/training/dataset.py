"""Batches of (images, target maps) for Keras, augmented on the fly in worker threads."""

from __future__ import annotations

import math

import keras
import numpy as np

from dpk.specs import ModelSpec
from dpk.trainer.augment import Augmenter
from dpk.trainer.targets import TargetLayout, draw_targets

__all__ = ["MapDataset"]


class MapDataset(keras.utils.PyDataset):
    """A ``keras.utils.PyDataset`` of images and confidence-map targets.

    Each batch is built from its own random generator seeded by (seed, epoch, batch), so
    the sequence of batches is the same whatever the number or order of worker threads.
    OpenCV and numpy release the GIL, so two threads keep both cores busy.

    Args:
        images: uint8 (N, H, W, C) at the model's input size.
        keypoints: float32 (N, K, 2), NaN where missing.
        spec: The model spec (targets, augmentation, skeleton).
        map_shape: (h, w) of the network's output maps.
        n_outputs: Outputs of the network; every output gets the same targets.
        batch_size: Images per batch.
        augment: Apply the spec's augmentation.
        shuffle: Reshuffle every epoch.
        seed: Base seed.
        steps: Batches per epoch (default: one pass over the images).
        workers: Threads that prepare batches ahead of the training step (Keras starts
            them only for 2 or more); 0 (or 1) = each batch is prepared in the training
            loop when it is needed, no thread.
        context: Optional larger crops around the same centres as ``images`` (N, H + 2m,
            W + 2m, C) that the augmentation warps from (:mod:`dpk.trainer.data.context`).
    """

    def __init__(
        self,
        images: np.ndarray,
        keypoints: np.ndarray,
        spec: ModelSpec,
        map_shape: tuple[int, int],
        n_outputs: int,
        *,
        batch_size: int,
        augment: bool,
        shuffle: bool,
        seed: int = 0,
        steps: int | None = None,
        workers: int = 0,
        context: np.ndarray | None = None,
    ):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=8)
        if len(images) == 0:
            raise ValueError("no images to train on")
        if context is not None and len(context) != len(images):
            raise ValueError(f"{len(context)} context images for {len(images)} images")
        self.images = images
        self.context = context
        self.keypoints = np.asarray(keypoints, dtype=np.float32)
        self.spec = spec
        self.map_shape = map_shape
        self.n_outputs = n_outputs
        self.batch_size = min(batch_size, len(images))
        skeleton = spec.skeleton
        if spec.targets.anchor is not None:  # one column per animal's anchor
            from dpk.trainer.anchors import anchor_skeleton

            skeleton = anchor_skeleton(spec.skeleton.names[0], self.keypoints.shape[1])
        self.augmenter = Augmenter(spec.augmentation, skeleton) if augment else None
        self.shuffle = shuffle
        self.seed = seed
        self.steps = steps
        self.layout = TargetLayout.from_skeleton(spec.skeleton, spec.targets.graph)
        self.epoch = 0
        self._order = self._permutation()

    def _permutation(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.images))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))

    def __len__(self) -> int:
        if self.steps:
            return self.steps
        return math.ceil(len(self.images) / self.batch_size)

    def batch_indices(self, index: int) -> np.ndarray:
        """Which images make up batch ``index`` of the current epoch."""
        start = (index * self.batch_size) % len(self.images)
        positions = (start + np.arange(self.batch_size)) % len(self.images)
        return self._order[positions]

    def __getitem__(self, index: int):
        chosen = self.batch_indices(index)
        rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        images = self.images[chosen].copy()
        keypoints = self.keypoints[chosen].copy()
        if self.augmenter is not None:
            for i, n in enumerate(chosen):
                context = None if self.context is None else self.context[n]
                images[i], keypoints[i] = self.augmenter(images[i], keypoints[i], rng, context)
        maps = np.stack(
            [draw_targets(k, self.layout, self.spec.targets, self.map_shape) for k in keypoints]
        )
        return images, tuple([maps] * self.n_outputs)

    def start_at_epoch(self, epoch: int) -> None:
        """Continue the sequence of shuffles and augmentations at ``epoch`` (``--resume``)."""
        self.epoch = int(epoch)
        self._order = self._permutation()

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._permutation()

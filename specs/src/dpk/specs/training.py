"""Targets (confidence maps), augmentation (the paper's Figure 2) and training settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dpk.specs._base import StrictModel

__all__ = [
    "AnchorTargets",
    "Augmentation",
    "Checkpointing",
    "EarlyStopping",
    "LearningRateSchedule",
    "Targets",
    "Training",
]


def _check_range(low: float, high: float, name: str) -> None:
    if low > high:
        raise ValueError(f"{name}: the lower bound {low} is above the upper bound {high}")


class AnchorTargets(StrictModel):
    """Make the model an anchor model: it finds one anchor point of every animal.

    An anchor model is trained on whole frames (fitted to its input) from the same labels
    as the pose model; its skeleton is the one anchor keypoint (for example ``thorax``),
    and its one map holds a Gaussian at that keypoint of every labelled animal. Its model
    file outputs ``anchors`` (N, max_animals, 3): x, y, confidence of the local maxima of
    the map above ``threshold``, at least ``min_distance`` apart, strongest first, refined
    to subpixel like keypoints; rows of absent animals are NaN.
    """

    max_animals: int = Field(default=2, ge=1, le=64)
    """Most animals reported per frame (the strongest maxima are kept)."""
    threshold: float = Field(default=0.3, ge=0, le=1)
    """Smallest map value of an anchor (maps peak at 1 on a labelled anchor)."""
    min_distance: float = Field(default=16.0, gt=0, le=4096)
    """Two anchors closer than this (model-input pixels) are one: the local-maximum
    window's half-side is ``max(1, round(min_distance / stride))`` map pixels."""
    crop_size: int | None = Field(default=None, ge=16, le=4096)
    """Side, in frame pixels, of the crop cut around each anchor for the pose model; None
    = the pose model's ``data.crop.size``. A pose model trained on another crop size is
    refused."""

    def nms_radius(self, stride: int) -> int:
        """Half-side of the local-maximum window in map pixels."""
        return max(1, round(self.min_distance / stride))


class Targets(StrictModel):
    """Confidence maps the network learns: keypoint Gaussians and the posture graph."""

    sigma: float = Field(default=5.0, gt=0, le=100)
    """Gaussian standard deviation in input pixels (divided by the stride on the maps)."""
    downsample_factor: int = Field(default=2, ge=0, le=5)
    """Output stride is 2**downsample_factor (2 = quarter resolution)."""
    graph: bool = False
    """Also predict the hierarchical posture graph (limb lines, limb groups, all edges,
    everything): 2K+2 maps in total instead of K. Off by default: with output heads that
    start near zero it no longer rescues training from flat maps, and the recipe without
    it measured better on the fly crops (docs/benchmarks.md, issue 9)."""
    graph_scale: float = Field(default=1.0, ge=0, le=10)
    """Multiplier of the posture-graph maps."""
    mask_missing: bool = True
    """Missing (NaN) keypoints get no target and no loss weight."""
    anchor: AnchorTargets | None = None
    """Train an anchor model (several animals per whole frame, one anchor keypoint) instead
    of a pose model; see :class:`AnchorTargets`."""

    @property
    def stride(self) -> int:
        """Output stride in input pixels."""
        return 2**self.downsample_factor


class Augmentation(StrictModel):
    """Random spatial and noise transforms applied to training images and keypoints.

    Every transform has a probability; a probability of 0 switches it off. Flips swap
    left/right keypoints by the skeleton's swap map.
    """

    enabled: bool = True
    """Switch all augmentation on or off."""
    flip_lr: float = Field(default=0.0, ge=0, le=1)
    """Probability of a left-right flip (with left/right keypoint swap). Off by default:
    a flip is only right when the skeleton names every left/right pair in ``swaps``."""
    flip_ud: float = Field(default=0.0, ge=0, le=1)
    """Probability of an up-down flip (with swap)."""
    affine: float = Field(default=0.75, ge=0, le=1)
    """Probability of a random affine transform (rotation, scale, translation, shear)."""
    rotation: float = Field(default=180.0, ge=0, le=180)
    """Maximum rotation in degrees, either way."""
    scale: tuple[float, float] = (0.9, 1.1)
    """Range of the zoom factor."""
    translation: float = Field(default=0.05, ge=0, le=0.5)
    """Maximum translation as a fraction of the image side."""
    shear: float = Field(default=0.0, ge=0, le=45)
    """Maximum shear in degrees, either way."""
    noise: float = Field(default=0.0, ge=0, le=1)
    """Probability of additive Gaussian noise."""
    noise_std: float = Field(default=0.03, ge=0, le=1)
    """Maximum standard deviation of the noise (0..1 intensity scale)."""
    dropout: float = Field(default=0.0, ge=0, le=1)
    """Probability of pixel dropout."""
    dropout_rate: float = Field(default=0.02, ge=0, le=0.5)
    """Fraction of pixels dropped when dropout is applied."""
    blur: float = Field(default=0.0, ge=0, le=1)
    """Probability of Gaussian blur."""
    blur_sigma: tuple[float, float] = (0.0, 1.5)
    """Range of the blur sigma in pixels."""
    contrast: float = Field(default=0.3, ge=0, le=1)
    """Probability of a contrast change."""
    contrast_range: tuple[float, float] = (0.75, 1.25)
    """Range of the contrast factor."""
    brightness: float = Field(default=0.3, ge=0, le=1)
    """Probability of a brightness shift."""
    brightness_range: float = Field(default=0.15, ge=0, le=1)
    """Maximum brightness shift (0..1 intensity scale), either way."""
    test_time: Literal["auto", "off", "quarter_turns"] = "auto"
    """Test-time augmentation of the exported model: ``quarter_turns`` runs each image at
    0, 90, 180 and 270 degrees and averages the maps turned back (four times the inference
    cost; measured on the fly crops: median and mean error 3-9% lower). ``auto`` turns it
    on when the training already rotates by up to 180 degrees (every quarter turn is a
    pose the model learnt) and the input is square with sides a multiple of the output
    stride (the map grid turns onto itself); ``ModelSpec.quarter_turns_at_test_time`` resolves it. The
    exporter stores the resolved value. Per-epoch validation runs without it."""

    @model_validator(mode="after")
    def _check(self) -> Augmentation:
        _check_range(*self.scale, "scale")
        _check_range(*self.blur_sigma, "blur_sigma")
        _check_range(*self.contrast_range, "contrast_range")
        if self.scale[0] <= 0:
            raise ValueError("scale: the zoom factors must be positive")
        if self.blur_sigma[0] < 0 or self.contrast_range[0] < 0:
            raise ValueError("blur_sigma and contrast_range must not be negative")
        return self


class LearningRateSchedule(StrictModel):
    """How the learning rate changes during training.

    ``cosine`` (the default) warms up linearly over ``warmup_steps``, then decays along a
    half cosine to zero at the end of training: at the end of the time budget when
    ``training.max_minutes`` is set (the decay follows the wall clock), otherwise after
    ``training.epochs`` epochs. ``plateau`` (the paper's schedule) multiplies the rate by
    ``factor`` when the monitored value stops improving. ``constant`` never changes it.
    The recipe measured in docs/benchmarks.md (issue 9) uses ``cosine``.
    """

    type: Literal["cosine", "plateau", "constant"] = "cosine"
    """``cosine`` warm-up then decay to zero; ``plateau`` reduces on a plateau;
    ``constant`` never changes it."""
    warmup_steps: int = Field(default=200, ge=0)
    """Steps of linear warm-up from zero (``cosine`` only)."""
    factor: float = Field(default=0.2, gt=0, lt=1)
    """Multiplier applied at each reduction (``plateau`` only)."""
    patience: int = Field(default=20, ge=1)
    """Epochs without improvement before a reduction (``plateau`` only)."""
    min_learning_rate: float = Field(default=1e-6, ge=0)
    """Lower bound of the learning rate (``plateau`` only)."""


class EarlyStopping(StrictModel):
    """Stop when the monitored value has stopped improving.

    Off by default: the default ``cosine`` schedule's last epochs, at the smallest rates,
    are meant to be the most precise. Turn it on with the ``plateau`` schedule.
    """

    enabled: bool = False
    """Switch early stopping on or off."""
    patience: int = Field(default=50, ge=1)
    """Epochs without improvement before stopping."""
    min_delta: float = Field(default=0.0, ge=0)
    """Smallest change that counts as an improvement."""


class Checkpointing(StrictModel):
    """Which weights are kept in the run folder."""

    monitor: Literal["val_loss", "val_error"] = "val_error"
    """Quantity that decides the best checkpoint (lower is better): ``val_error`` is the
    mean validation keypoint error in the labelled frames' pixels, ``val_loss`` the
    validation loss."""
    save_last: bool = True
    """Also keep the last epoch's weights (for ``--resume``)."""


class Training(StrictModel):
    """How the network is fitted."""

    epochs: int = Field(default=200, ge=1, le=100000)
    """Maximum number of epochs."""
    batch_size: int = Field(default=16, ge=1, le=4096)
    """Images per step."""
    steps_per_epoch: int | None = Field(default=None, ge=1)
    """Steps per epoch; None = one pass over the training set."""
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    """Optimiser (the paper uses Adam)."""
    learning_rate: float = Field(default=1e-3, gt=0, le=1)
    """Initial learning rate."""
    weight_decay: float = Field(default=0.0, ge=0, le=1)
    """Weight decay (``adamw`` only)."""
    schedule: LearningRateSchedule = LearningRateSchedule()
    """Learning-rate schedule."""
    loss: Literal["mse"] = "mse"
    """Loss on every output (the paper: mean squared error)."""
    loss_normalization: Literal["keypoints", "pixels"] = "keypoints"
    """How the squared error is averaged. ``keypoints``: summed over the pixels of every
    map, divided by the number of labelled keypoints in the batch, so each keypoint's
    peak keeps the same weight whatever the map size or the number of maps. ``pixels``:
    the mean over every pixel of every map (the paper's plain MSE), where one keypoint's
    signal is about ``1 / (height * width * maps)`` of the loss."""
    foreground_weight: float = Field(default=0.0, ge=0, le=1000)
    """Extra weight of the squared error where the target is high: each pixel counts
    ``1 + foreground_weight * target``. 0 (the default) with ``loss_normalization:
    pixels`` is the paper's plain MSE. A weight of 10 was needed while the output heads
    started with Keras' default initialisation (maps of noise that the loss first had to
    flatten); the heads now start near zero and the weight no longer helps (measured on
    the fly crops, docs/benchmarks.md, issue 9)."""
    validation_fraction: float = Field(default=0.1, ge=0, lt=1)
    """Fraction of frames held out for validation when the data section gives no split."""
    split: Literal["random", "blocks"] = "random"
    """``random`` frames, or contiguous ``blocks`` of frames (for labels from video)."""
    seed: int = 0
    """Seed for the split, the augmentation and the initial weights."""
    early_stopping: EarlyStopping = EarlyStopping()
    """Early stopping."""
    checkpointing: Checkpointing = Checkpointing()
    """Checkpoints."""
    max_minutes: float | None = Field(default=None, gt=0)
    """Wall-clock budget; training stops cleanly (with checkpoints) when it is spent."""
    workers: int = Field(default=2, ge=0, le=64)
    """Threads that prepare batches (augmentation and targets) while the model trains; 0
    = none: each batch is prepared in the training loop when it is needed. Keras starts
    threads only for 2 or more, so 1 behaves like 0."""

    @model_validator(mode="after")
    def _check(self) -> Training:
        if self.weight_decay and self.optimizer != "adamw":
            raise ValueError(f"weight_decay needs optimizer 'adamw', not {self.optimizer!r}")
        return self

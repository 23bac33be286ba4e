"""Training-time augmentation: the paper's Figure 2 (flips, affine, noise family).

Spatial transforms (left-right and up-down flips, rotation, scale, translation, shear)
are composed into ONE 2x3 affine matrix about the image centre ``((W-1)/2, (H-1)/2)``;
the image is warped once (bilinear) and the keypoints move by exactly the same matrix.
The coordinate convention is the project's (DESIGN.md section 2): the centre of the
top-left pixel is (0, 0), x to the right, y down, so a left-right flip maps
x -> W - 1 - x. After each flip, keypoints are relabelled by the skeleton's swap map:
``new[i] = old[skeleton.flip_permutation[i]]``. Keypoints that end outside the image
(x < -0.5 or x > W - 0.5, likewise for y) become NaN (missing); NaN stays NaN.

Intensity transforms act on the warped ``uint8`` image, in this order: Gaussian blur,
contrast (multiply around the image's mean intensity), brightness (add an offset),
additive Gaussian noise, pixel dropout (whole pixels set to 0). Contrast, brightness and
noise are fused into one pass that rounds and clips to 0..255 once.

Every random choice is drawn by :meth:`Augmenter.sample` into an :class:`AugmentParams`
record, and :meth:`Augmenter.apply` is deterministic given that record, so a run is
reproducible from the generator's state and a sampled transform can be inspected or
reused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from dpk.specs import Augmentation, Skeleton
from dpk.specs.errors import DpkError

__all__ = [
    "AffineParams",
    "AugmentParams",
    "Augmenter",
    "IntensityParams",
    "affine_matrix",
    "apply_affine_to_keypoints",
    "apply_intensity",
    "mark_outside",
    "permute_keypoints",
    "random_affine_matrix",
    "sample_affine_params",
    "sample_intensity_params",
    "transform_keypoints",
    "warp_image",
]


# --------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class AffineParams:
    """One sampled spatial transform.

    Attributes:
        flip_lr: Mirror left-right (x -> W - 1 - x) and swap left/right keypoints.
        flip_ud: Mirror up-down (y -> H - 1 - y) and swap left/right keypoints.
        rotation: Rotation in degrees, counter-clockwise as seen on screen.
        scale: Zoom factor (> 1 enlarges).
        translation: Shift ``(dx, dy)`` in pixels.
        shear: Horizontal shear angle in degrees (x += tan(shear) * y, about the centre).
    """

    flip_lr: bool = False
    flip_ud: bool = False
    rotation: float = 0.0
    scale: float = 1.0
    translation: tuple[float, float] = (0.0, 0.0)
    shear: float = 0.0

    @property
    def is_flip_only(self) -> bool:
        """True when the transform is flips at most (no resampling needed)."""
        return (
            self.rotation == 0.0
            and self.scale == 1.0
            and self.translation == (0.0, 0.0)
            and self.shear == 0.0
        )

    @property
    def is_identity(self) -> bool:
        """True when the transform changes nothing."""
        return self.is_flip_only and not self.flip_lr and not self.flip_ud

    def matrix(self, height: int, width: int) -> np.ndarray:
        """The (2, 3) float64 matrix mapping input pixel coordinates to output ones."""
        return affine_matrix(
            height,
            width,
            flip_lr=self.flip_lr,
            flip_ud=self.flip_ud,
            rotation=self.rotation,
            scale=self.scale,
            translation=self.translation,
            shear=self.shear,
        )


@dataclass(frozen=True)
class IntensityParams:
    """One sampled set of intensity transforms; neutral values switch a transform off.

    Attributes:
        blur_sigma: Gaussian blur sigma in pixels (0 = off).
        contrast: Factor applied around the image's mean intensity (1 = off).
        brightness: Offset on the 0..1 intensity scale (0 = off).
        noise_std: Standard deviation of additive Gaussian noise, 0..1 scale (0 = off).
        dropout_rate: Probability of each pixel being set to 0 (0 = off).
        pixel_seed: Seed of the per-pixel noise and dropout draws.
    """

    blur_sigma: float = 0.0
    contrast: float = 1.0
    brightness: float = 0.0
    noise_std: float = 0.0
    dropout_rate: float = 0.0
    pixel_seed: int = 0

    @property
    def is_identity(self) -> bool:
        """True when no intensity transform is on."""
        return (
            self.blur_sigma <= 0.0
            and self.contrast == 1.0
            and self.brightness == 0.0
            and self.noise_std <= 0.0
            and self.dropout_rate <= 0.0
        )


@dataclass(frozen=True)
class AugmentParams:
    """Everything :meth:`Augmenter.apply` needs to reproduce one augmentation."""

    spatial: AffineParams = field(default_factory=AffineParams)
    intensity: IntensityParams = field(default_factory=IntensityParams)


# ------------------------------------------------------------------------ spatial part
def affine_matrix(
    height: int,
    width: int,
    *,
    flip_lr: bool = False,
    flip_ud: bool = False,
    rotation: float = 0.0,
    scale: float = 1.0,
    translation: tuple[float, float] = (0.0, 0.0),
    shear: float = 0.0,
) -> np.ndarray:
    """Compose flips, shear, rotation, scale and translation about the image centre.

    With ``c = ((W-1)/2, (H-1)/2)`` and ``p`` a pixel coordinate, the output position is
    ``p' = scale * R(rotation) @ Shear(shear) @ Flip @ (p - c) + c + translation``.

    Args:
        height: Image height H in pixels.
        width: Image width W in pixels.
        flip_lr: Mirror x -> W - 1 - x.
        flip_ud: Mirror y -> H - 1 - y.
        rotation: Degrees, counter-clockwise on screen (y points down).
        scale: Zoom factor.
        translation: ``(dx, dy)`` in pixels.
        shear: Horizontal shear in degrees.

    Returns:
        A (2, 3) float64 matrix in OpenCV's ``warpAffine`` layout (source -> destination).
    """
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    flip = np.diag([-1.0 if flip_lr else 1.0, -1.0 if flip_ud else 1.0])
    shear_m = np.array([[1.0, math.tan(math.radians(shear))], [0.0, 1.0]])
    angle = math.radians(rotation)
    cos, sin = math.cos(angle), math.sin(angle)
    # y points down, so this is counter-clockwise on screen (as cv2.getRotationMatrix2D).
    rotate = np.array([[cos, sin], [-sin, cos]])
    linear = scale * rotate @ shear_m @ flip
    offset = centre + np.asarray(translation, dtype=np.float64) - linear @ centre
    return np.hstack([linear, offset[:, None]])


def sample_affine_params(
    spec: Augmentation, height: int, width: int, rng: np.random.Generator
) -> AffineParams:
    """Draw a spatial transform from the spec.

    Always consumes the same number of random numbers (whatever the probabilities), so
    the generator's stream does not depend on which transforms fire.
    """
    u = rng.random(3)  # flip_lr, flip_ud, affine coins
    rotation, zoom_u, tx, ty, shear = rng.uniform(-1.0, 1.0, size=5)
    flip_lr = bool(u[0] < spec.flip_lr)
    flip_ud = bool(u[1] < spec.flip_ud)
    if not u[2] < spec.affine:
        return AffineParams(flip_lr=flip_lr, flip_ud=flip_ud)
    low, high = spec.scale
    zoom = low + (high - low) * (zoom_u + 1.0) / 2.0  # uniform on [low, high]
    return AffineParams(
        flip_lr=flip_lr,
        flip_ud=flip_ud,
        rotation=float(rotation * spec.rotation),
        scale=float(zoom),
        translation=(float(tx * spec.translation * width), float(ty * spec.translation * height)),
        shear=float(shear * spec.shear),
    )


def random_affine_matrix(
    spec: Augmentation, height: int, width: int, rng: np.random.Generator
) -> tuple[np.ndarray, AffineParams]:
    """Draw a spatial transform and return its (2, 3) matrix and its parameters.

    The parameters' flip flags say how many times keypoints must be relabelled with the
    skeleton's swap map (see :func:`transform_keypoints`).
    """
    params = sample_affine_params(spec, height, width, rng)
    return params.matrix(height, width), params


def apply_affine_to_keypoints(matrix: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """Move keypoints by a (2, 3) affine matrix.

    Args:
        matrix: (2, 3) source -> destination matrix.
        keypoints: (..., D) array with D >= 2; columns 0 and 1 are x and y, any further
            columns (confidence) are copied unchanged. NaN stays NaN.

    Returns:
        A float32 array of the same shape.
    """
    keypoints = np.asarray(keypoints)
    if keypoints.ndim < 1 or keypoints.shape[-1] < 2:
        raise DpkError(
            f"keypoints must have x and y in their last axis, got shape {keypoints.shape}"
        )
    matrix = np.asarray(matrix, dtype=np.float64)
    out = keypoints.astype(np.float32, copy=True)
    xy = keypoints[..., :2].astype(np.float64)
    out[..., :2] = xy @ matrix[:, :2].T + matrix[:, 2]
    return out


def permute_keypoints(keypoints: np.ndarray, permutation: Sequence[int] | np.ndarray) -> np.ndarray:
    """Relabel keypoints after a flip: ``new[..., i, :] = old[..., permutation[i], :]``."""
    return np.asarray(keypoints)[..., np.asarray(permutation, dtype=np.intp), :]


def mark_outside(keypoints: np.ndarray, height: int, width: int) -> np.ndarray:
    """Set x and y to NaN where a keypoint lies outside the image.

    Inside means -0.5 <= x <= W - 0.5 and -0.5 <= y <= H - 0.5 (the image's pixel area).
    Works in place on a float array and returns it.
    """
    x, y = keypoints[..., 0], keypoints[..., 1]
    with np.errstate(invalid="ignore"):
        outside = (x < -0.5) | (x > width - 0.5) | (y < -0.5) | (y > height - 0.5)
    keypoints[..., :2][outside] = np.nan
    return keypoints


def transform_keypoints(
    keypoints: np.ndarray,
    params: AffineParams,
    height: int,
    width: int,
    flip_permutation: Sequence[int] | np.ndarray,
) -> np.ndarray:
    """Apply a spatial transform to keypoints: move, relabel after flips, drop outsiders.

    Args:
        keypoints: (..., K, D) with D >= 2 (x, y[, confidence]).
        params: The spatial transform.
        height: Image height.
        width: Image width.
        flip_permutation: The skeleton's ``flip_permutation`` (length K).

    Returns:
        float32 keypoints of the same shape, NaN where they left the image.
    """
    out = apply_affine_to_keypoints(params.matrix(height, width), keypoints)
    for flipped in (params.flip_lr, params.flip_ud):
        if flipped:
            out = permute_keypoints(out, flip_permutation)
    return mark_outside(np.ascontiguousarray(out), height, width)


def _with_channels(result: np.ndarray, like: np.ndarray) -> np.ndarray:
    """OpenCV drops a channel axis of length 1: put it back."""
    return result[..., None] if result.ndim != like.ndim else result


def warp_image(
    image: np.ndarray,
    matrix: np.ndarray,
    border_value: int = 0,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Warp a (H, W, C) uint8 image by a (2, 3) matrix: bilinear, constant border.

    ``size`` is the output's ``(height, width)`` (default: the input's).
    """
    height, width = size if size is not None else image.shape[:2]
    warped = cv2.warpAffine(
        image,
        np.asarray(matrix, dtype=np.float64),
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(border_value,) * 4,
    )
    return _with_channels(warped, image)


def _from_context(matrix: np.ndarray, context: np.ndarray, height: int, width: int) -> np.ndarray:
    """``matrix`` (about the centre of a ``height`` x ``width`` image) applied to the
    larger ``context`` image that has it at its centre."""
    margin_y = (context.shape[0] - height) / 2.0
    margin_x = (context.shape[1] - width) / 2.0
    if margin_x < 0 or margin_y < 0:
        raise DpkError(
            f"a context image ({context.shape[1]}x{context.shape[0]}) must be at least as "
            f"large as the image ({width}x{height})"
        )
    shifted = np.array(matrix, dtype=np.float64)
    shifted[:, 2] -= shifted[:, :2] @ np.array([margin_x, margin_y])
    return shifted


def _flip_image(image: np.ndarray, flip_lr: bool, flip_ud: bool) -> np.ndarray:
    rows = slice(None, None, -1) if flip_ud else slice(None)
    cols = slice(None, None, -1) if flip_lr else slice(None)
    return np.ascontiguousarray(image[rows, cols])


# ---------------------------------------------------------------------- intensity part
def sample_intensity_params(spec: Augmentation, rng: np.random.Generator) -> IntensityParams:
    """Draw the intensity transforms from the spec (a fixed count of random numbers)."""
    coins = rng.random(5)  # blur, contrast, brightness, noise, dropout
    values = rng.random(4)
    pixel_seed = int(rng.integers(0, 2**63 - 1))
    blur_low, blur_high = spec.blur_sigma
    c_low, c_high = spec.contrast_range
    return IntensityParams(
        blur_sigma=float(blur_low + (blur_high - blur_low) * values[0])
        if coins[0] < spec.blur
        else 0.0,
        contrast=float(c_low + (c_high - c_low) * values[1]) if coins[1] < spec.contrast else 1.0,
        brightness=float((2.0 * values[2] - 1.0) * spec.brightness_range)
        if coins[2] < spec.brightness
        else 0.0,
        noise_std=float(values[3] * spec.noise_std) if coins[3] < spec.noise else 0.0,
        dropout_rate=float(spec.dropout_rate) if coins[4] < spec.dropout else 0.0,
        pixel_seed=pixel_seed,
    )


def _gaussian_noise(shape: tuple[int, ...], std: float, seed: int) -> np.ndarray:
    """Gaussian noise, deterministic for a seed.

    OpenCV's generator is 4-5x faster than numpy's normal sampler. It is thread-local, so
    reseeding it (``cv2.setRNGSeed``) just before drawing is safe in a threaded loader.
    """
    noise = np.empty(shape, dtype=np.float32)
    cv2.setRNGSeed(seed % 2**31)
    # Drawn as one channel: OpenCV would apply a scalar std to the first channel only.
    cv2.randn(noise.reshape(shape[0], -1), 0.0, std)  # type: ignore[call-overload]  # scalars work
    return noise


def _kept_pixels(height: int, width: int, rate: float, seed: int) -> np.ndarray:
    """(H, W, 1) bool mask, False for a fraction ``rate`` of pixels (deterministic for a seed)."""
    draws = np.empty((height, width), dtype=np.uint16)
    cv2.setRNGSeed((seed + 1) % 2**31)  # a stream apart from the noise's
    cv2.randu(draws, 0, 65536)  # type: ignore[call-overload]  # scalars work
    return (draws >= round(rate * 65536))[:, :, None]


def apply_intensity(image: np.ndarray, params: IntensityParams) -> np.ndarray:
    """Blur, contrast, brightness, noise and dropout on a (H, W, C) uint8 image.

    Returns a new uint8 array of the same shape (the input is never modified).
    """
    out = image
    if params.blur_sigma > 0.0:
        blurred = cv2.GaussianBlur(
            out,
            (0, 0),
            sigmaX=params.blur_sigma,
            sigmaY=params.blur_sigma,
            borderType=cv2.BORDER_REFLECT_101,
        )
        out = _with_channels(blurred, image)
    if params.contrast != 1.0 or params.brightness != 0.0 or params.noise_std > 0.0:
        # One fused pass: saturate(round(gain * image + noise + offset)).
        mean = float(np.mean(cv2.mean(out)[: out.shape[2]]))
        offset = (1.0 - params.contrast) * mean + params.brightness * 255.0
        if params.noise_std > 0.0:
            noise = _gaussian_noise(out.shape, params.noise_std * 255.0, params.pixel_seed)
            mixed = cv2.addWeighted(out, params.contrast, noise, 1.0, offset, dtype=cv2.CV_8U)
            del noise  # lets the allocator reuse its pages for the next buffer
        else:
            mixed = cv2.addWeighted(out, params.contrast, out, 0.0, offset)
        out = _with_channels(mixed, image)
    if params.dropout_rate > 0.0:
        height, width = out.shape[:2]
        kept = _kept_pixels(height, width, params.dropout_rate, params.pixel_seed)
        out = out * kept if out is image else np.multiply(out, kept, out=out)
    return out.copy() if out is image else out


# ---------------------------------------------------------------------------- augmenter
class Augmenter:
    """Random augmentation of one training image and its keypoints, from the spec.

    Args:
        spec: The augmentation settings (probabilities and ranges).
        skeleton: Gives the left/right swap map used after flips.
        border_value: Intensity of the pixels a warp brings in from outside the image.

    Example:
        >>> augment = Augmenter(Augmentation(), skeleton)
        >>> image, keypoints = augment(image, keypoints, np.random.default_rng(0))
    """

    def __init__(self, spec: Augmentation, skeleton: Skeleton, *, border_value: int = 0):
        if not 0 <= int(border_value) <= 255:
            raise DpkError(f"border_value must be in 0..255 for uint8 images, got {border_value}")
        self.spec = spec
        self.skeleton = skeleton
        self.border_value = int(border_value)
        self._permutation = np.asarray(skeleton.flip_permutation, dtype=np.intp)

    def sample(self, height: int, width: int, rng: np.random.Generator) -> AugmentParams:
        """Draw one augmentation for an image of the given size."""
        if not self.spec.enabled:
            return AugmentParams()
        spatial = sample_affine_params(self.spec, height, width, rng)
        intensity = sample_intensity_params(self.spec, rng)
        return AugmentParams(spatial=spatial, intensity=intensity)

    def apply(
        self,
        image: np.ndarray,
        keypoints: np.ndarray,
        params: AugmentParams,
        context: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Apply a sampled augmentation (deterministic).

        Args:
            image: (H, W, C) uint8, C = 1 or 3.
            keypoints: (K, D) float, D >= 2 (x, y[, confidence]), K = the skeleton's size.
            params: From :meth:`sample`.
            context: Optional larger (H + 2m, W + 2m, C) image whose centre is ``image``
                (:mod:`dpk.trainer.data.context`): a rotation, zoom or shift is then
                warped from it, so the uncovered border shows the real surroundings.
                Keypoints stay in ``image``'s coordinates.

        Returns:
            New ``(image, keypoints)``: uint8 of the same shape, float32 of the same shape.
        """
        image = np.ascontiguousarray(image)
        keypoints = np.asarray(keypoints)
        self._check(image, keypoints)
        height, width = image.shape[:2]
        spatial = params.spatial
        if spatial.is_identity:
            out_image = image
            out_keypoints = keypoints.astype(np.float32, copy=True)
        else:
            if spatial.is_flip_only:
                out_image = _flip_image(image, spatial.flip_lr, spatial.flip_ud)
            elif context is not None:
                out_image = warp_image(
                    context,
                    _from_context(spatial.matrix(height, width), context, height, width),
                    self.border_value,
                    size=(height, width),
                )
            else:
                out_image = warp_image(image, spatial.matrix(height, width), self.border_value)
            out_keypoints = transform_keypoints(
                keypoints, spatial, height, width, self._permutation
            )
        out_image = apply_intensity(out_image, params.intensity)
        if out_image is image:
            out_image = image.copy()
        return out_image, out_keypoints

    def __call__(
        self,
        image: np.ndarray,
        keypoints: np.ndarray,
        rng: np.random.Generator,
        context: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Augment one image (H, W, C) uint8 and its keypoints (K, D); see :meth:`apply`."""
        image = np.asarray(image)
        self._check(image, keypoints)
        params = self.sample(image.shape[0], image.shape[1], rng)
        return self.apply(image, keypoints, params, context)

    def augment_batch(
        self, images: np.ndarray, keypoints: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Augment (N, H, W, C) uint8 images and (N, K, D) keypoints, each independently."""
        images = np.asarray(images)
        keypoints = np.asarray(keypoints)
        if images.ndim != 4 or keypoints.ndim != 3 or len(images) != len(keypoints):
            raise DpkError(
                "augment_batch needs images (N, H, W, C) and keypoints (N, K, D) with the same "
                f"N; got {images.shape} and {keypoints.shape}"
            )
        out_images = np.empty_like(images)
        out_keypoints = np.empty(keypoints.shape, dtype=np.float32)
        for n in range(len(images)):
            out_images[n], out_keypoints[n] = self(images[n], keypoints[n], rng)
        return out_images, out_keypoints

    def _check(self, image: np.ndarray, keypoints: np.ndarray) -> None:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
            raise DpkError(
                "augmentation needs a uint8 image of shape (H, W, C); got "
                f"{getattr(image, 'dtype', type(image).__name__)} {np.shape(image)} "
                "(convert with image.astype(np.uint8) and keep the channel axis)"
            )
        if image.shape[2] not in (1, 3):
            raise DpkError(f"images must have 1 or 3 channels, got {image.shape[2]}")
        shape = np.shape(keypoints)
        k = self.skeleton.n_keypoints
        if len(shape) != 2 or shape[0] != k or shape[1] < 2:
            raise DpkError(
                f"keypoints must have shape ({k}, 2) or ({k}, 3) for this skeleton of {k} "
                f"keypoints; got {shape}"
            )

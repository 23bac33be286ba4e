"""One animal in a large frame: follow it with a crop, search the frame when it is lost.

The crop of the pose model's training size is centred on the anchor keypoint of the last
pose (the keypoint the model's crops were centred on in training). When the pose's score
(mean keypoint confidence) drops below ``min_score``, or there is no last pose, the
anchor model searches the whole frame and the strongest anchor is used instead; a frame
where neither finds the animal is a NaN row, and the next frame searches again.
"""

from __future__ import annotations

import numpy as np

from dpk.runtime.crop_guard import CropMismatchError, crop_of
from dpk.runtime.predictor import Predictor
from dpk.runtime.preprocess import FrameOrder
from dpk.runtime.topdown import TopDown, pose_at

__all__ = ["DynamicCrop"]


class DynamicCrop:
    """Follow one animal through frames larger than the pose model's crops.

    Args:
        pipeline: A :class:`TopDown` (anchor model + crop-trained pose model); its anchor
            model is the fall-back search.
        min_score: Below this mean keypoint confidence the animal counts as lost.

    Attributes:
        searches: How many frames needed the whole-frame anchor search.
    """

    def __init__(self, pipeline: TopDown, min_score: float = 0.3):
        self.pipeline = pipeline
        self.pose: Predictor = pipeline.pose
        trained = crop_of(self.pose.spec)
        if trained is None:
            raise CropMismatchError(
                f"{self.pose.name}: not trained on crops (no data.crop), nothing to follow"
            )
        self.anchor_index = self.pose.skeleton.names.index(trained[0])
        self.min_score = float(min_score)
        self.searches = 0
        self._last: np.ndarray | None = None  # (x, y) of the anchor keypoint

    def reset(self) -> None:
        """Forget the last pose (the next frame searches the whole frame)."""
        self._last = None

    def _one(self, frame: np.ndarray, anchor: np.ndarray, frame_order: FrameOrder):
        keypoints, scores = pose_at(
            self.pose, [frame], anchor[None, None], self.pipeline.crop_size, frame_order
        )
        return keypoints[0, 0], float(scores[0, 0])

    def predict(self, frames, frame_order: FrameOrder = "bgr") -> np.ndarray:
        """float32 (N, K, 3) keypoints in frame pixels, one animal per frame, in order."""
        k = self.pose.model_file.n_keypoints
        out = np.full((len(frames), k, 3), np.nan, np.float32)
        for i, frame in enumerate(frames):
            frame = np.asarray(frame)
            score = -np.inf
            if self._last is not None:
                keypoints, score = self._one(frame, self._last, frame_order)
            if not score >= self.min_score:
                self.searches += 1
                best = self.pipeline.find_anchors([frame], frame_order)[0, 0]
                if not np.isfinite(best[:2]).all():
                    self._last = None
                    continue
                keypoints, score = self._one(frame, best[:2], frame_order)
                if not score >= self.min_score:
                    self._last = None
                    continue
            out[i] = keypoints
            centre = keypoints[self.anchor_index, :2]
            if np.isfinite(centre).all():
                self._last = centre.astype(np.float64)
        return out

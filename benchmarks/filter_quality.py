"""Does ``dpk filter`` clean trajectories without hurting accuracy? (issue 14's filter goals)

Run from the repository root::

    .venv/bin/python benchmarks/filter_quality.py [--threads 1]

Two checks, each method in a row (raw, kalman, median, savgol):

- mouse: ``stacked_densenet.mirror_mouse`` on the lightning-pose demo video
  (``lp-mirror-mouse/videos/test_vid.mp4``, 994 frames, unlabelled): the share of frames
  where any keypoint moves more than 50 px between consecutive frames (goal: the filter
  removes >= 80% of them).
- fly: ``stacked_densenet.fly13`` on 160x160 crops cut around the labelled thorax of each
  of the two flies in every frame of ``sleap-fly-clip/clip.mp4`` (1500 frames, all
  labelled): the mean and median error against the labels, per fly track (goal: the
  filtered mean is lower than the raw one, the median rises by no more than 0.05 px).

Raw predictions are cached in the temporary folder (``dpk-benchmark-cache``; delete it to
predict again).
Prints Markdown tables; writes ``benchmarks/results/filter_quality.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from _common import SHARED_DATA, print_table, save_json
from dpk.runtime.filtering import FilterSettings, filter_keypoints
from dpk.runtime.predictor import Predictor

MOUSE_VIDEO = SHARED_DATA / "lp-mirror-mouse" / "videos" / "test_vid.mp4"
FLY_VIDEO = SHARED_DATA / "sleap-fly-clip" / "clip.mp4"
FLY_LABELS = SHARED_DATA / "sleap-fly-clip" / "clip.slp"
CACHE = Path(tempfile.gettempdir()) / "dpk-benchmark-cache"
CROP = 160
METHODS = ("kalman", "median", "savgol")


def jump_share(keypoints: np.ndarray, limit: float = 50.0) -> float:
    """Share of frame pairs where any keypoint moves more than ``limit`` px."""
    step = np.linalg.norm(np.diff(keypoints[..., :2], axis=0), axis=-1)
    return float((np.nan_to_num(step, nan=0.0) > limit).any(axis=1).mean())


def mouse_raw(threads: int) -> np.ndarray:
    path = CACHE / "mouse_raw.npy"
    if not path.exists():
        predictor = Predictor.from_pretrained(
            "stacked_densenet.mirror_mouse", device="cpu", threads=threads
        )
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(path, predictor.predict_video(MOUSE_VIDEO, progress=True).keypoints)
    return np.load(path)


def fly_labels() -> tuple[list[str], np.ndarray]:
    """Track names and labels (2, 1500, 13, 2) in frame order."""
    import sleap_io as sio

    labels = sio.load_slp(str(FLY_LABELS))
    tracks = sorted({i.track.name for lf in labels.labeled_frames for i in lf.instances})
    n = max(lf.frame_idx for lf in labels.labeled_frames) + 1
    k = len(labels.skeletons[0].node_names)
    out = np.full((len(tracks), n, k, 2), np.nan)
    for lf in labels.labeled_frames:
        for instance in lf.instances:
            out[tracks.index(instance.track.name), lf.frame_idx] = instance.numpy()[:, :2]
    return tracks, out


def crop(frame: np.ndarray, cx: int, cy: int) -> np.ndarray:
    half = CROP // 2
    padded = cv2.copyMakeBorder(frame, half, half, half, half, cv2.BORDER_CONSTANT, value=0)
    return padded[cy : cy + CROP, cx : cx + CROP]


def fly_raw(threads: int, labels: np.ndarray) -> np.ndarray:
    """Predictions (2, N, 13, 3) in frame pixels from crops around the labelled thorax."""
    path = CACHE / "fly_raw.npy"
    if path.exists():
        return np.load(path)
    predictor = Predictor.from_pretrained("stacked_densenet.fly13", device="cpu", threads=threads)
    thorax = predictor.skeleton.names.index("thorax")
    n_tracks, n = labels.shape[:2]
    out = np.full((n_tracks, n, labels.shape[2], 3), np.nan, np.float32)
    capture = cv2.VideoCapture(str(FLY_VIDEO))
    started = time.perf_counter()
    for t in range(n):
        ok, frame = capture.read()
        if not ok:
            break
        crops, offsets, who = [], [], []
        for f in range(n_tracks):
            centre = labels[f, t, thorax]
            if not np.isfinite(centre).all():
                continue
            cx, cy = int(np.rint(centre[0])), int(np.rint(centre[1]))
            crops.append(crop(frame, cx, cy))
            offsets.append((cx - CROP // 2, cy - CROP // 2))
            who.append(f)
        if crops:
            found = predictor.predict(np.stack(crops))
            found[..., 0] += np.array([o[0] for o in offsets])[:, None]
            found[..., 1] += np.array([o[1] for o in offsets])[:, None]
            out[who, t] = found
        if t % 250 == 0:
            print(f"fly frame {t}/{n} ({time.perf_counter() - started:.0f} s)", flush=True)
    capture.release()
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


def errors(predicted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    distance = np.linalg.norm(predicted[..., :2] - labels, axis=-1)
    return distance[np.isfinite(distance)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    results: dict = {"mouse": {}, "fly": {}}

    raw = mouse_raw(args.threads)
    base = jump_share(raw)
    rows = [("raw", f"{base:.1%}", "-", "-")]
    results["mouse"]["raw"] = {"jump_share": base}
    for method in METHODS:
        started = time.perf_counter()
        filtered, _ = filter_keypoints(raw, FilterSettings(method=method))
        seconds = time.perf_counter() - started
        share = jump_share(filtered)
        drop = 1 - share / base
        rows.append((method, f"{share:.1%}", f"{drop:.0%}", f"{seconds:.2f}"))
        results["mouse"][method] = {"jump_share": share, "drop": drop, "seconds": seconds}
    print_table(
        ("mouse demo video", "frames with a jump > 50 px", "removed (goal >= 80%)", "seconds"),
        rows,
        title="Mouse demo video (994 frames, 17 keypoints)",
    )

    tracks, labels = fly_labels()
    raw = fly_raw(args.threads, labels)
    raw_errors = np.concatenate([errors(raw[f], labels[f]) for f in range(len(tracks))])
    raw_mean, raw_median = float(raw_errors.mean()), float(np.median(raw_errors))
    rows = [("raw", f"{raw_mean:.3f}", f"{raw_median:.3f}", "-", "-")]
    results["fly"]["raw"] = {"mean": raw_mean, "median": raw_median}
    for method in METHODS:
        per_track = [
            filter_keypoints(raw[f], FilterSettings(method=method))[0] for f in range(len(tracks))
        ]
        e = np.concatenate([errors(per_track[f], labels[f]) for f in range(len(tracks))])
        mean, median = float(e.mean()), float(np.median(e))
        goal = mean < raw_mean and median - raw_median <= 0.05
        rows.append(
            (method, f"{mean:.3f}", f"{median:.3f}", f"{median - raw_median:+.3f}",
             "yes" if goal else "no")
        )  # fmt: skip
        results["fly"][method] = {"mean": mean, "median": median, "goal_met": goal}
    print_table(
        ("fly clip", "mean error (px)", "median error (px)", "median change", "goal met"),
        rows,
        title="SLEAP fly clip (1500 frames x 2 flies, labels as truth; crops around the "
        "labelled thorax)",
    )
    save_json("filter_quality", results)


if __name__ == "__main__":
    main()

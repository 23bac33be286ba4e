"""Top-down inference on the SLEAP fly clip: anchors, pose per animal, identities, speed.

The pose model is the zoo's ``stacked_densenet.fly13`` (160 px thorax-centred crops,
trained on frames 0-1199); the anchor model is a dpk anchor model file trained on whole
frames 0-1199: ``--train`` trains one with ``dpk train examples/fly_anchor.yaml`` (for
``--max-minutes``, default the spec's) and exports it to
``benchmarks/results/fly_anchor.onnx``; ``--anchor-model FILE`` loads one. With
``--oracle-anchors`` the labelled thorax are the anchors, to measure the rest of the
pipeline alone (reported as such).
Evaluated on frames 1200-1499 (``--quick``: 1200-1229):

- anchor recall: labelled thoraxes with an anchor within 5 px (goal >= 99.5%);
- false animals: frames with an anchor farther than 20 px from every labelled thorax
  (goal <= 0.5% of frames);
- pose error per animal, instances matched to the labelled animals by least mean
  keypoint distance, in frame pixels (goal median <= 1.5 px, mean <= 4 px);
- identity switches of ``dpk.runtime.tracking`` against the two labelled tracks (goal
  <= 2 over 1500 frames);
- throughput of the whole pipeline (decode, anchor model, crops + pose model, tracking)
  with each stage's share (goal >= 60 frames/s on 2 CPU cores).

Prints a Markdown table; writes ``benchmarks/results/topdown_fly.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from _common import SHARED_DATA, print_table, save_json
from dpk.runtime.predictor import Predictor, resolve_model
from dpk.runtime.topdown import TopDown, pose_at
from dpk.runtime.tracking import assign, track_instances

FLY_VIDEO = SHARED_DATA / "sleap-fly-clip" / "clip.mp4"
FLY_LABELS = SHARED_DATA / "sleap-fly-clip" / "clip.slp"
POSE_MODEL = "stacked_densenet.fly13"
RECALL_PX = 5.0
FALSE_PX = 20.0


def fly_labels() -> tuple[list[str], np.ndarray]:
    """Track names and labels (T, 1500, 13, 2) in frame order."""
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


def read_frames(start: int, stop: int) -> tuple[np.ndarray, float]:
    capture = cv2.VideoCapture(str(FLY_VIDEO))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames, started = [], time.perf_counter()
    for _ in range(start, stop):
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return np.stack(frames), time.perf_counter() - started


def match(predicted: np.ndarray, truth: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (predicted row, labelled animal) of least mean keypoint distance."""
    cost = np.full((len(predicted), len(truth)), np.inf)
    for i, p in enumerate(predicted):
        for j, t in enumerate(truth):
            d = np.linalg.norm(p[:, :2] - t, axis=-1)
            if np.isfinite(d).any():
                cost[i, j] = np.nanmean(d)
    return assign(cost)


def evaluate(anchors, keypoints, ids, truth, thorax: int) -> dict:
    """Recall, false animals, matched pose errors and identity switches."""
    n, n_true = keypoints.shape[0], truth.shape[0]
    found = hits = false_frames = switches = 0
    errors: list[np.ndarray] = []
    last = {}
    for t in range(n):
        centres = truth[:, t, thorax]
        seen = anchors[t][np.isfinite(anchors[t, :, 0]), :2]
        for c in centres[np.isfinite(centres).all(axis=1)]:
            found += 1
            hits += bool(len(seen)) and np.linalg.norm(seen - c, axis=1).min() <= RECALL_PX
        if len(seen):
            nearest = np.nanmin(np.linalg.norm(seen[:, None] - centres[None], axis=-1), axis=1)
            false_frames += bool((~(nearest <= FALSE_PX)).any())
        for row, animal in match(keypoints[t], truth[:, t]):
            d = np.linalg.norm(keypoints[t, row, :, :2] - truth[animal, t], axis=-1)
            errors.append(d[np.isfinite(d)])
            track = int(ids[t, row])
            if animal in last and last[animal] != track:
                switches += 1
            last[animal] = track
    e = np.concatenate(errors) if errors else np.zeros(0)
    return {
        "frames": int(n),
        "labelled_animals": int(n_true),
        "anchor_recall": hits / found if found else float("nan"),
        "false_animal_frames": false_frames / n if n else float("nan"),
        "error_median_px": float(np.median(e)) if len(e) else float("nan"),
        "error_mean_px": float(np.mean(e)) if len(e) else float("nan"),
        "error_p95_px": float(np.percentile(e, 95)) if len(e) else float("nan"),
        "identity_switches": int(switches),
    }


def train_anchor_model(minutes: float | None, epochs: int | None) -> Path:
    """``dpk train examples/fly_anchor.yaml`` then ``dpk export``; returns the file."""
    root = Path(__file__).resolve().parent.parent
    dpk = [sys.executable, "-m", "dpk.runtime.cli"]
    run_dir = Path(tempfile.mkdtemp(prefix="dpk-fly-anchor-")) / "run"
    command = [*dpk, "train", str(root / "examples" / "fly_anchor.yaml"), "--run-dir", str(run_dir)]
    if minutes is not None:
        command += ["--max-minutes", str(minutes)]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    subprocess.run([*command, "--quiet"], check=True)
    out = root / "benchmarks" / "results" / "fly_anchor.onnx"
    subprocess.run([*dpk, "export", str(run_dir), "-o", str(out)], check=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--anchor-model", help="a dpk anchor model file (targets.anchor)")
    parser.add_argument(
        "--oracle-anchors", action="store_true", help="labelled thorax as anchors (no model)"
    )
    parser.add_argument("--train", action="store_true", help="train the anchor model first")
    parser.add_argument("--max-minutes", type=float, help="training budget (with --train)")
    parser.add_argument("--epochs", type=int, help="training epochs (with --train)")
    parser.add_argument("--quick", action="store_true", help="30 frames, to check the script")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16, help="frames per pipeline call")
    args = parser.parse_args()
    if args.train:
        args.anchor_model = str(train_anchor_model(args.max_minutes, args.epochs))
    if not args.anchor_model and not args.oracle_anchors:
        parser.error("give --train, --anchor-model FILE or --oracle-anchors")
    start, stop = 1200, 1230 if args.quick else 1500
    tracks, labels = fly_labels()
    truth = labels[:, start:stop]
    pose_path, _ = resolve_model(POSE_MODEL)
    pose = Predictor(pose_path, device="cpu", threads=args.threads, name=POSE_MODEL, cropped=True)
    thorax = pose.skeleton.names.index("thorax")
    crop = pose.spec.data.crop.size
    pipeline = (
        TopDown(args.anchor_model, pose, device="cpu", threads=args.threads)
        if args.anchor_model
        else None
    )
    frames, decode_s = read_frames(start, stop)
    n = len(frames)
    seconds = {"decode": decode_s, "anchor": 0.0, "pose": 0.0, "tracking": 0.0}
    all_anchors, all_keypoints = [], []
    for i in range(0, n, args.batch):
        batch = frames[i : i + args.batch]
        t0 = time.perf_counter()
        if pipeline is not None:
            anchors = pipeline.find_anchors(batch)
        else:
            centres = truth[:, i : i + len(batch), thorax].transpose(1, 0, 2)
            anchors = np.concatenate([centres, np.ones((*centres.shape[:2], 1))], axis=-1)
        t1 = time.perf_counter()
        keypoints, _ = pose_at(pose, batch, anchors, crop)
        t2 = time.perf_counter()
        seconds["anchor"] += t1 - t0
        seconds["pose"] += t2 - t1
        all_anchors.append(anchors)
        all_keypoints.append(keypoints)
    anchors = np.concatenate(all_anchors)
    keypoints = np.concatenate(all_keypoints)
    t0 = time.perf_counter()
    ids = track_instances(keypoints, np.arange(start, start + n), max_distance=40, max_gap=10)
    seconds["tracking"] = time.perf_counter() - t0
    result = evaluate(anchors, keypoints, ids, truth, thorax)
    total = sum(seconds.values())
    result.update(
        {
            "anchors": "model" if pipeline is not None else "oracle (labelled thorax)",
            "anchor_model": Path(args.anchor_model).name if args.anchor_model else None,
            "pose_model": POSE_MODEL,
            "frames_range": [start, start + n],
            "tracks": tracks,
            "frames_per_s": n / total if total else float("nan"),
            "stage_seconds": seconds,
            "stage_share": {k: v / total for k, v in seconds.items()} if total else {},
            "threads": args.threads,
            "quick": bool(args.quick),
        }
    )
    rows = [
        ("anchor recall (5 px)", f"{result['anchor_recall']:.2%}", ">= 99.5%"),
        ("frames with false animals", f"{result['false_animal_frames']:.2%}", "<= 0.5%"),
        ("pose error median (px)", f"{result['error_median_px']:.2f}", "<= 1.5"),
        ("pose error mean (px)", f"{result['error_mean_px']:.2f}", "<= 4"),
        ("identity switches", result["identity_switches"], "<= 2 / 1500 frames"),
        ("frames/s", f"{result['frames_per_s']:.1f}", ">= 60"),
    ]
    rows += [(f"share: {k}", f"{v:.0%}", "") for k, v in result["stage_share"].items()]
    print_table(
        ("measure", "value", "goal"),
        rows,
        title=f"Top-down fly clip, frames {start}-{start + n - 1}, anchors: {result['anchors']}",
    )
    save_json("topdown_fly_quick" if args.quick else "topdown_fly", result)


if __name__ == "__main__":
    main()

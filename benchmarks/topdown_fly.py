"""Top-down inference on the SLEAP fly clip: anchors, pose per animal, identities, speed.

The pose model is the zoo's ``unet.fly13`` (160 px thorax-centred crops, trained on
frames 0-1199; ``--pose-model`` takes another zoo name or a model file, e.g. an int8
variant); the anchor model is a dpk anchor model file trained on whole
frames 0-1199: ``--train`` trains one with ``dpk train examples/fly_anchor.yaml`` (for
``--max-minutes``, default the spec's) and exports it to
``benchmarks/results/fly_anchor.onnx``; ``--anchor-model FILE`` loads one. With
``--oracle-anchors`` the labelled thorax are the anchors, to measure the rest of the
pipeline alone (reported as such).
Evaluated on frames 1200-1499 (``--quick``: 1200-1229). ``--frames all`` runs the
pipeline on all 1500 frames (0-1499; ``--quick``: 1185-1214) and reports the measures
below on the training frames (0-1199) and the held-out frames (1200-1499) apart, and the
identity switches over all frames with the frame of each:

- anchor recall: labelled thoraxes with an anchor within 5 px (goal >= 99.5%);
- false animals: frames with an anchor farther than 20 px from every labelled thorax
  (goal <= 0.5% of frames);
- pose error per animal, instances matched to the labelled animals by least mean
  keypoint distance, in frame pixels (goal median <= 1.5 px, mean <= 4 px);
- identity switches of ``dpk.runtime.tracking`` against the two labelled tracks (goal
  <= 2 over 1500 frames): a labelled animal whose matched instance has another track id
  than at its last match is one switch (so two animals swapping tracks count 2), listed
  with the frame and the two track ids;
- throughput of the whole pipeline (decode, anchor model, crops + pose model, tracking)
  with each stage's share (goal >= 60 frames/s on 2 CPU cores).

Prints a Markdown table; writes ``benchmarks/results/topdown_fly.json`` (``--frames
all``: ``topdown_fly_all.json``).
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
POSE_MODEL = "unet.fly13"
"""The default pose model (``--pose-model``)."""
RECALL_PX = 5.0
FALSE_PX = 20.0
HELD_OUT = (1200, 1500)
"""Frames of the clip that neither model was trained on (both trained on 0-1199)."""


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


def read_batches(start: int, stop: int, size: int):
    """Frames ``start``..``stop - 1`` in batches of ``size``: yields (frames, decode seconds)."""
    capture = cv2.VideoCapture(str(FLY_VIDEO))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    try:
        for first in range(start, stop, size):
            frames, started = [], time.perf_counter()
            for _ in range(first, min(first + size, stop)):
                ok, frame = capture.read()
                if not ok:
                    break
                frames.append(frame)
            if frames:
                yield np.stack(frames), time.perf_counter() - started
            if len(frames) < min(size, stop - first):
                return
    finally:
        capture.release()


def match(predicted: np.ndarray, truth: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (predicted row, labelled animal) of least mean keypoint distance."""
    cost = np.full((len(predicted), len(truth)), np.inf)
    for i, p in enumerate(predicted):
        for j, t in enumerate(truth):
            d = np.linalg.norm(p[:, :2] - t, axis=-1)
            if np.isfinite(d).any():
                cost[i, j] = np.nanmean(d)
    return assign(cost)


def evaluate(anchors, keypoints, ids, truth, thorax: int, first_frame: int = 0) -> dict:
    """Recall, false animals, matched pose errors and identity switches.

    ``switch_at`` lists each switch as ``[frame, labelled animal, track before, track
    after]`` (frame numbers from ``first_frame``); ``matched_frames`` counts, per labelled
    animal, the frames where an instance was matched to it.
    """
    n, n_true = keypoints.shape[0], truth.shape[0]
    found = hits = false_frames = switches = 0
    errors: list[np.ndarray] = []
    last: dict[int, int] = {}
    switch_at: list[list[int]] = []
    matched = [0] * n_true
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
            matched[animal] += 1
            track = int(ids[t, row])
            if animal in last and last[animal] != track:
                switches += 1
                switch_at.append([first_frame + t, int(animal), last[animal], track])
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
        "switch_at": switch_at,
        "matched_frames": matched,
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


def run_pipeline(pipeline, pose, truth, thorax: int, start: int, stop: int, batch: int):
    """Anchors (N, A, 3), keypoints (N, A, K, 3) and seconds per stage over the frames.

    Frames are decoded batch by batch (memory stays flat over the 1500 frames); without an
    anchor model, the labelled thorax of each frame are the anchors.
    """
    crop = pose.spec.data.crop.size
    seconds = {"decode": 0.0, "anchor": 0.0, "pose": 0.0, "tracking": 0.0}
    all_anchors, all_keypoints = [], []
    i = 0
    for frames, decode_s in read_batches(start, stop, batch):
        seconds["decode"] += decode_s
        t0 = time.perf_counter()
        if pipeline is not None:
            anchors = pipeline.find_anchors(frames)
        else:
            centres = truth[:, i : i + len(frames), thorax].transpose(1, 0, 2)
            anchors = np.concatenate([centres, np.ones((*centres.shape[:2], 1))], axis=-1)
        t1 = time.perf_counter()
        keypoints, _ = pose_at(pose, frames, anchors, crop)
        t2 = time.perf_counter()
        seconds["anchor"] += t1 - t0
        seconds["pose"] += t2 - t1
        all_anchors.append(anchors)
        all_keypoints.append(keypoints)
        i += len(frames)
    return np.concatenate(all_anchors), np.concatenate(all_keypoints), seconds


def split_by_training(result: dict, anchors, keypoints, ids, truth, thorax, start) -> None:
    """``--frames all``: the measures of the training and held-out frames apart."""
    cut = min(max(HELD_OUT[0] - start, 0), len(keypoints))
    for key, part in (("training_frames", slice(0, cut)), ("held_out_frames", slice(cut, None))):
        found = evaluate(
            anchors[part], keypoints[part], ids[part], truth[:, part], thorax, start + part.start
        )
        for drop in ("identity_switches", "switch_at", "labelled_animals", "matched_frames"):
            found.pop(drop)
        found["frames_range"] = [start + part.start, start + part.start + found["frames"]]
        result[key] = found


def print_all_frames(result: dict, start: int, n: int) -> None:
    """The ``--frames all`` table: training and held-out frames apart, switches over all."""
    train, held = result["training_frames"], result["held_out_frames"]

    def both(key: str, fmt: str) -> list[str]:
        return [format(part[key], fmt) if part["frames"] else "-" for part in (train, held)]

    where = ", ".join(
        f"{frame} ({result['tracks'][animal]}: track {a} -> {b})"
        for frame, animal, a, b in result["switch_at"]
    )
    rows = [
        ("anchor recall (5 px)", *both("anchor_recall", ".2%"), ">= 99.5% (held out)"),
        ("frames with false animals", *both("false_animal_frames", ".2%"), "<= 0.5% (held out)"),
        ("pose error median (px)", *both("error_median_px", ".2f"), "<= 1.5 (held out)"),
        ("pose error mean (px)", *both("error_mean_px", ".2f"), "<= 4 (held out)"),
        (f"identity switches, frames {start}-{start + n - 1}", "", result["identity_switches"],
         "<= 2 / 1500 frames"),
        ("switches at frame", "", where or "none", ""),
        ("tracks made; frames matched per animal", "",
         f"{result['track_ids_made']}; {result['matched_frames']}", ""),
        ("frames/s (all frames)", "", f"{result['frames_per_s']:.1f}", ">= 60"),
    ]  # fmt: skip
    rows += [(f"share: {k}", "", f"{v:.0%}", "") for k, v in result["stage_share"].items()]
    print_table(
        (
            "measure",
            f"frames {train['frames_range'][0]}-{train['frames_range'][1] - 1} (training)",
            f"frames {held['frames_range'][0]}-{held['frames_range'][1] - 1} (held out)",
            "goal",
        ),
        rows,
        title=f"Top-down fly clip, all frames {start}-{start + n - 1} (only {HELD_OUT[0]}-"
        f"{HELD_OUT[1] - 1} held out), anchors: {result['anchors']}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--anchor-model", help="a dpk anchor model file (targets.anchor)")
    parser.add_argument(
        "--pose-model", default=POSE_MODEL, help=f"zoo name or model file (default {POSE_MODEL})"
    )
    parser.add_argument(
        "--oracle-anchors", action="store_true", help="labelled thorax as anchors (no model)"
    )
    parser.add_argument("--train", action="store_true", help="train the anchor model first")
    parser.add_argument("--max-minutes", type=float, help="training budget (with --train)")
    parser.add_argument("--epochs", type=int, help="training epochs (with --train)")
    parser.add_argument(
        "--frames",
        choices=("held-out", "all"),
        default="held-out",
        help="held-out: frames 1200-1499 (default); all: the 1500 frames of the clip, "
        "identity switches over all, the other measures for training and held-out frames apart",
    )
    parser.add_argument("--quick", action="store_true", help="30 frames, to check the script")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16, help="frames per pipeline call")
    args = parser.parse_args()
    if args.train:
        args.anchor_model = str(train_anchor_model(args.max_minutes, args.epochs))
    if not args.anchor_model and not args.oracle_anchors:
        parser.error("give --train, --anchor-model FILE or --oracle-anchors")
    every = args.frames == "all"
    if every:
        start, stop = (HELD_OUT[0] - 15, HELD_OUT[0] + 15) if args.quick else (0, HELD_OUT[1])
    else:
        start, stop = HELD_OUT[0], HELD_OUT[0] + 30 if args.quick else HELD_OUT[1]
    tracks, labels = fly_labels()
    truth = labels[:, start:stop]
    pose_path, pose_name = resolve_model(args.pose_model)
    pose = Predictor(pose_path, device="cpu", threads=args.threads, name=pose_name, cropped=True)
    thorax = pose.skeleton.names.index("thorax")
    pipeline = (
        TopDown(args.anchor_model, pose, device="cpu", threads=args.threads)
        if args.anchor_model
        else None
    )
    anchors, keypoints, seconds = run_pipeline(
        pipeline, pose, truth, thorax, start, stop, args.batch
    )
    n = len(keypoints)
    t0 = time.perf_counter()
    ids = track_instances(keypoints, np.arange(start, start + n), max_distance=40, max_gap=10)
    seconds["tracking"] = time.perf_counter() - t0
    result = evaluate(anchors, keypoints, ids, truth[:, :n], thorax, start)
    total = sum(seconds.values())
    result.update(
        {
            "anchors": "model" if pipeline is not None else "oracle (labelled thorax)",
            "anchor_model": Path(args.anchor_model).name if args.anchor_model else None,
            "pose_model": pose_name,
            "frames_range": [start, start + n],
            "held_out_range": list(HELD_OUT),
            "tracks": tracks,
            "tracking": {"max_distance": 40, "max_gap": 10},
            "track_ids_made": len(np.unique(ids[ids >= 0])),
            "frames_per_s": n / total if total else float("nan"),
            "stage_seconds": seconds,
            "stage_share": {k: v / total for k, v in seconds.items()} if total else {},
            "threads": args.threads,
            "quick": bool(args.quick),
        }
    )
    if every:
        split_by_training(result, anchors, keypoints, ids, truth[:, :n], thorax, start)
        print_all_frames(result, start, n)
        save_json("topdown_fly_all_quick" if args.quick else "topdown_fly_all", result)
        return
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

"""dpk predict -O DIR --anchor-model: top-down per video in a batch, locally and on Dask.

The tiny models and two-blob videos of test_topdown.py. Each video's outputs are those of
``dpk predict VIDEO --anchor-model ... -o FILE`` (instance axis, tracks); the manifest
holds both models' SHA-256, and another anchor model or other tracking options redo the
videos.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from dpk.runtime.formats import load_predictions
from dpk.runtime.manifest import MANIFEST_NAME, record_path
from tests.trainer.test_topdown import anchor_model, pose_model, write_two_blob_video

CPU = ("--device", "cpu", "--threads", "1", "--batch-size", "4", "--quiet")


@pytest.fixture
def two_videos(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    videos = [folder / "a.avi", folder / "b.avi"]
    for video, n in zip(videos, (10, 7)):
        write_two_blob_video(video, n)
    models = anchor_model(tmp_path / "anchor.onnx"), pose_model(tmp_path / "pose.onnx")
    return videos, models


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _same_as_one_video(run_cli, video, anchor, pose, batch_out, tmp_path) -> None:
    """The batch's outputs of ``video`` equal those of the one-video command."""
    one = tmp_path / f"one-{video.stem}"
    code, _, err = run_cli("predict", video, "--anchor-model", anchor, "--model", pose,
                           "-o", f"{one}.h5", "-o", f"{one}.csv", "--max-gap", "3", *CPU)  # fmt: skip
    assert code == 0, err
    for suffix in (".h5", ".csv"):
        found = load_predictions(batch_out / f"{video.stem}{suffix}")
        expected = load_predictions(f"{one}{suffix}")
        assert found.has_instances and found.track_names == ["track_0", "track_1"]
        np.testing.assert_array_equal(found.keypoints, expected.keypoints)
        np.testing.assert_array_equal(found.track_ids, expected.track_ids)
        np.testing.assert_array_equal(found.instance_scores, expected.instance_scores)
    csv = (batch_out / f"{video.stem}.csv").read_text()
    assert csv == one.with_suffix(".csv").read_text()


def test_batch_runs_top_down_per_video_and_records_both_models(run_cli, two_videos, tmp_path):
    videos, (anchor, pose) = two_videos
    out = tmp_path / "out"
    argv = ["predict", *videos, "--anchor-model", anchor, "--model", pose, "-O", out,
            "--format", "h5", "--format", "csv", "--max-gap", "3", *CPU]  # fmt: skip
    code, stdout, err = run_cli(*argv)
    assert code == 0, err
    assert "2 videos: 2 done" in stdout
    assert f"with anchor model anchor.onnx (sha256 {_sha(anchor)[:12]})" in err
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["model"]["sha256"] == _sha(pose)
    assert manifest["model"]["anchor"]["sha256"] == _sha(anchor)
    for entry, n in zip(manifest["videos"], (10, 7)):
        assert entry["status"] == "done" and entry["frames"] == n
        assert entry["anchor_sha256"] == _sha(anchor)
        assert entry["settings"]["max_gap"] == 3 and entry["settings"]["max_distance"] == 50
    for video in videos:
        _same_as_one_video(run_cli, video, anchor, pose, out, tmp_path)

    code, stdout, err = run_cli(*argv)  # the same models: nothing to redo
    assert code == 0 and "2 videos: 2 skipped" in stdout, err
    other = anchor_model(tmp_path / "anchor2.onnx", max_animals=2)  # another anchor model
    before = record_path(out, "a").read_text()
    code, stdout, err = run_cli(*[other if a == anchor else a for a in argv])
    assert code == 0 and "2 videos: 2 done" in stdout, err
    assert record_path(out, "a").read_text() != before
    assert load_predictions(out / "a.h5").keypoints.shape == (10, 2, 4, 3)
    entry = json.loads((out / MANIFEST_NAME).read_text())["videos"][0]
    assert entry["anchor_sha256"] == _sha(other)
    code, stdout, err = run_cli(*argv[:-len(CPU)], "--max-gap", "4", *CPU)  # fmt: skip
    assert code == 0 and "2 videos: 2 done" in stdout, err


def test_batch_refuses_a_bad_anchor_model_before_any_video(run_cli, two_videos, tmp_path):
    videos, (_, pose) = two_videos
    out = tmp_path / "out"
    code, _, err = run_cli("predict", *videos, "--anchor-model", pose, "--model", pose,
                                "-O", out, *CPU)  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "pose.onnx: not an anchor model" in err
    assert not (out / MANIFEST_NAME).exists() and not list(out.glob("*.h5"))


@pytest.mark.timeout(300)
def test_batch_top_down_on_two_dask_workers_matches_one_process(two_videos, tmp_path):
    pytest.importorskip("distributed")
    from dpk.runtime.batch import BatchSettings, LocalRunner, plan_batch, run_batch
    from dpk.runtime.dask_backend import DaskRunner

    videos, (anchor, pose) = two_videos
    settings = BatchSettings(
        formats=("h5", "csv"), device="cpu", batch_size=4, threads=1, tracking=(50.0, 3)
    )
    sha, anchor_sha = _sha(pose), _sha(anchor)
    info = {"name": "pose", "sha256": sha, "anchor": {"name": "anchor", "sha256": anchor_sha}}
    outs = {}
    for where in ("local", "dask"):
        out = tmp_path / where
        out.mkdir()
        jobs, _ = plan_batch(videos, out, settings, sha, "pose", anchor_sha256=anchor_sha)
        if where == "local":
            report = run_batch(jobs, [], LocalRunner(), str(pose), out, info,
                               progress=False, anchor=str(anchor))  # fmt: skip
        else:
            with DaskRunner.local(2, device="cpu") as runner:
                report = run_batch(jobs, [], runner, pose.read_bytes(), out, info,
                                   progress=False, anchor=anchor.read_bytes())  # fmt: skip
        assert report.ok, [(r.name, r.status, r.error) for r in report.records]
        outs[where] = out
    workers = {json.loads(record_path(outs["dask"], v.stem).read_text())["worker"] for v in videos}
    assert all(w.startswith("tcp://127.0.0.1:") for w in workers)
    for video in videos:
        local = load_predictions(outs["local"] / f"{video.stem}.h5")
        dask = load_predictions(outs["dask"] / f"{video.stem}.h5")
        assert dask.track_names == ["track_0", "track_1"]
        np.testing.assert_array_equal(dask.keypoints, local.keypoints)
        np.testing.assert_array_equal(dask.track_ids, local.track_ids)
        csv = (outs["dask"] / f"{video.stem}.csv").read_text()
        assert csv == (outs["local"] / f"{video.stem}.csv").read_text()

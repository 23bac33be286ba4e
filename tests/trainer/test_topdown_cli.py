"""dpk predict --anchor-model: several animals on whole frames, tracked, in every format.

Tiny models as in test_topdown.py: an anchor model that is its input's brightness, a pose
model trained on 32 px crops; a short video of two blobs moving past each other.
"""

from __future__ import annotations

import numpy as np
import pytest

from dpk.runtime.formats import load_predictions
from tests.trainer.test_topdown import H, W, anchor_model, pose_model, write_two_blob_video


@pytest.fixture
def two_blobs(tmp_path):
    path = tmp_path / "two.avi"
    truth = write_two_blob_video(path, 10)
    models = anchor_model(tmp_path / "anchor.onnx"), pose_model(tmp_path / "pose.onnx")
    return path, truth, models


def test_predict_with_anchor_model_writes_tracked_animals(run_cli, two_blobs, tmp_path):
    video, truth, (anchor, pose) = two_blobs
    outputs = [tmp_path / name for name in ("p.h5", "p.csv", "p.slp", "p.json")]
    argv = ["predict", video, "--anchor-model", anchor, "--model", pose, "--max-gap", "3"]
    for path in outputs:
        argv += ["-o", path]
    code, out, err = run_cli(*argv, "--device", "cpu", "--threads", "1", "--batch-size", "4")
    assert code == 0, err
    assert f"wrote {outputs[0]} (h5, 10 frames, 2 tracks)" in out
    assert "anchor model anchor.onnx (up to 3 animals)" in err
    for path in outputs:
        found = load_predictions(path)
        assert found.has_instances, path
        assert found.track_names == ["track_0", "track_1"], path
        tracked = found.by_track()
        for t, (a, b) in enumerate(truth):
            np.testing.assert_allclose(tracked.keypoints[t, 0, 0, :2], a, atol=1.0)
            np.testing.assert_allclose(tracked.keypoints[t, 1, 0, :2], b, atol=1.0)
    h5 = load_predictions(outputs[0])
    assert h5.keypoints.shape == (10, 3, 4, 3) and (h5.track_ids[:, 2] == -1).all()
    assert h5.source_info["fps"] == pytest.approx(25.0)


def test_render_and_plot_draw_each_track(run_cli, two_blobs, tmp_path):
    video, _, (anchor, pose) = two_blobs
    h5 = tmp_path / "p.h5"
    code, _, err = run_cli("predict", video, "--anchor-model", anchor, "--model", pose,
                           "-o", h5, "--device", "cpu", "--quiet")  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli("render", video, h5, "-o", tmp_path / "r.avi")
    assert code == 0, err
    assert (tmp_path / "r.avi").stat().st_size > 0
    pytest.importorskip("matplotlib")
    code, _, err = run_cli("plot", h5, "-o", tmp_path / "p.png")
    assert code == 0, err
    assert (tmp_path / "p.png").stat().st_size > 0
    code, out, err = run_cli("filter", h5, "-o", tmp_path / "f.h5")  # track by track
    assert code == 0, err
    assert "2 tracks" in out
    raw, clean = load_predictions(h5), load_predictions(tmp_path / "f.h5")
    assert clean.keypoints.shape == raw.keypoints.shape and clean.flags is not None
    np.testing.assert_array_equal(clean.track_ids, raw.track_ids)
    assert clean.track_names == raw.track_names == ["track_0", "track_1"]


def test_model_name_of_a_zoo_pipeline_runs_top_down(run_cli, two_blobs, tmp_path, monkeypatch):
    import hashlib
    import shutil

    import yaml

    from dpk.runtime.topdown import TopDown

    video, truth, (anchor, pose) = two_blobs
    folder = tmp_path / "zoo"
    (folder / "models").mkdir(parents=True)
    entries = []
    for name, path, keypoints, size in (
        ("leap.dots_anchor", anchor, ["nose"], (H, W)),
        ("leap.dots", pose, ["nose", "earL", "earR", "tail"], (32, 32)),
    ):
        shutil.copy(path, folder / "models" / path.name)
        data = path.read_bytes()
        entries.append(
            {
                "name": name,
                "file": path.name,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "packaged": True,
                "license": "MIT",
                "training_data": "synthetic",
                "data_license": "CC0-1.0",
                "input": {"height": size[0], "width": size[1], "channels": 1},
                "keypoints": keypoints,
            }
        )
    entries.append(
        {"name": "topdown.dots", "pipeline": {"anchor": "leap.dots_anchor", "pose": "leap.dots"}}
    )
    (folder / "registry.yaml").write_text(yaml.safe_dump(entries, sort_keys=False))
    monkeypatch.setenv("DPK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DPK_REGISTRIES", str(folder / "registry.yaml"))
    out_path = tmp_path / "p.slp"
    code, out, err = run_cli("predict", video, "--model", "topdown.dots", "-o", out_path,
                             "--device", "cpu", "--quiet")  # fmt: skip
    assert code == 0, err
    assert "anchor model leap.dots_anchor" in err and "2 tracks" in out
    found = load_predictions(out_path).by_track()
    np.testing.assert_allclose(found.keypoints[0, :, 0, :2], truth[0], atol=1.0)
    pipeline = TopDown.from_pretrained("topdown.dots", device="cpu")
    assert pipeline.max_animals == 3 and pipeline.crop_size == 32


def test_tracking_options_are_checked(run_cli, tmp_path):
    code, _, err = run_cli("predict", "v.mp4", "--anchor-model", "a.onnx", "--model", "p.onnx",
                           "--max-gap", "-1", "-o", tmp_path / "p.h5")  # fmt: skip
    assert code == 2 and "-1 must be 0 or more" in err
    code, _, err = run_cli("predict", "v.mp4", "--anchor-model", "a.onnx", "--model", "p.onnx",
                           "--max-distance", "0", "-o", tmp_path / "p.h5")  # fmt: skip
    assert code == 2 and "must be more than 0" in err

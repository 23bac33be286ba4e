"""Label projects: states round-trip through the .slp, atomic saves survive SIGKILL,
moved videos, sampling, outliers, merge, and the CLI verbs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from dpk.specs.skeleton import Skeleton
from dpk.trainer.labelling.merge import merge_projects
from dpk.trainer.labelling.outliers import find_outliers
from dpk.trainer.labelling.project import (
    LABELLED,
    MISSING,
    OCCLUDED,
    PREDICTED,
    Project,
    ProjectError,
)
from dpk.trainer.labelling.sample import kmeans, quotas, sample_video
from tests.runtime.conftest import write_dot_video, write_model

pytest.importorskip("sleap_io")

NAMES = ["nose", "earL", "earR", "tail"]


def skeleton() -> Skeleton:
    return Skeleton(
        names=NAMES, parents=[None, "nose", "nose", "nose"], swaps=[None, "earR", "earL", None]
    )


@pytest.fixture
def video(tmp_path) -> Path:
    path = tmp_path / "dots.avi"
    write_dot_video(path, n=40)
    return path


def project_with_frames(path: Path, video: Path, frames=(1, 5, 9)) -> Project:
    project = Project.new(path, skeleton())
    vid = project.video_id(video)
    for index in frames:
        project.add_frame(vid, index)
    return project


def test_states_round_trip_and_sleap_reads_it(tmp_path, video):
    project = project_with_frames(tmp_path / "p.slp", video)
    a, b, c = project.frames.values()
    a.update_from_json(
        {
            "x": [10.25, 20, None, None],
            "y": [5, 6.5, None, None],
            "state": ["labelled", "occluded", "occluded", "missing"],
            "done": True,
        }
    )
    b.xy[:] = [[1, 2], [3, 4], [5, 6], [7, 8]]
    b.state[:] = PREDICTED
    b.score[:] = [0.9, 0.8, 0.7, 0.6]
    c.update_from_json(
        {
            "x": [1, None, None, None],
            "y": [2, None, None, None],
            "state": ["labelled", "missing", "missing", "missing"],
        }
    )
    c.xy[3], c.state[3], c.score[3] = (30, 31), PREDICTED, 0.5
    project.save()
    back = Project.load(project.path)
    assert list(back.skeleton.names) == NAMES and back.skeleton.swap_indices == [-1, 2, 1, -1]
    a2, b2, c2 = back.frames.values()
    assert a2.state.tolist() == [LABELLED, OCCLUDED, OCCLUDED, MISSING] and a2.done
    np.testing.assert_array_equal(a2.xy[:2], [[10.25, 5], [20, 6.5]])
    assert np.isnan(a2.xy[2:]).all()
    assert b2.status == "predicted" and (b2.state == PREDICTED).all()
    np.testing.assert_allclose(b2.score, [0.9, 0.8, 0.7, 0.6], rtol=1e-6)
    assert c2.state.tolist() == [LABELLED, MISSING, MISSING, PREDICTED]
    assert back.summary() == {"new": 0, "predicted": 1, "labelled": 1, "done": 1}
    # the trainer's SLEAP reader sees the labelled points only (occluded: NaN)
    from dpk.trainer.labels.formats.sleap import load_slp

    sleap = load_slp(project.path)
    assert sleap.frame_indices.tolist() == [1, 9]
    first = sleap.instances[1][0]
    np.testing.assert_array_equal(first[0], [10.25, 5])
    assert np.isnan(first[1:]).all()


def test_save_is_atomic_under_sigkill(tmp_path, video):
    """SIGKILL while saving in a loop: the file always opens and holds the first save."""
    path = tmp_path / "p.slp"
    project = project_with_frames(path, video)
    first = next(iter(project.frames.values()))
    first.update_from_json({"x": [1, 2, 3, 4], "y": [5, 6, 7, 8], "state": ["labelled"] * 4})
    project.save()
    script = textwrap.dedent(f"""
        import sys
        from dpk.trainer.labelling.project import Project
        p = Project.load({str(path)!r})
        frames = list(p.frames.values())
        i = 0
        print("ready", flush=True)
        while True:
            f = frames[1 + i % 2]
            f.update_from_json({{"x": [i, 1, 1, 1], "y": [1, 1, 1, 1], "state": ["labelled"] * 4}})
            p.save()
            i += 1
    """)
    for delay in (0.3, 0.7, 1.1):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        back = Project.load(path)
        np.testing.assert_array_equal(next(iter(back.frames.values())).xy[:, 0], [1, 2, 3, 4])
        assert len(back.frames) == 3
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".p.slp")]
    assert len(leftovers) <= 3  # a killed save may leave its temporary file, never a broken project


def test_moved_video_says_how_to_relink(tmp_path, video):
    project = project_with_frames(tmp_path / "p.slp", video)
    project.save()
    moved = tmp_path / "elsewhere" / video.name
    moved.parent.mkdir()
    video.rename(moved)
    back = Project.load(project.path)
    with pytest.raises(ProjectError, match=r"not found .*--relink"):
        back.check_videos()
    back.relink([moved])
    back.check_videos()
    with pytest.raises(ProjectError, match="no video of"):
        back.relink(
            [write_dot_video(tmp_path / "other.avi") is not None and tmp_path / "other.avi"]
        )


def test_sampling_quotas_seed_and_duplicates(tmp_path):
    assert quotas(20, 3) == [7, 7, 6]
    x = np.random.default_rng(0).random((50, 4))
    np.testing.assert_array_equal(kmeans(x, 5, seed=1), kmeans(x, 5, seed=1))
    path = tmp_path / "v.avi"
    write_dot_video(path, n=40)
    picked = sample_video(path, 6, seed=0, progress=False)
    assert len(picked) == 6 and picked == sorted(set(picked))
    assert picked == sample_video(path, 6, seed=0, progress=False)
    again = sample_video(path, 6, seed=0, exclude=picked, progress=False)
    assert not set(again) & set(picked)
    # a still video: every frame a duplicate of the first pick
    still = tmp_path / "still.avi"
    import cv2

    writer = cv2.VideoWriter(str(still), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for _ in range(20):
        writer.write(np.full((48, 64, 3), 128, np.uint8))
    writer.release()
    assert len(sample_video(still, 5, progress=False)) == 1


def test_undecodable_video(tmp_path, run_cli):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    code, _out, err = run_cli(
        "sample", bad, "-n", "3", "-o", tmp_path / "p.slp", "--keypoints", "a,b", "-q"
    )
    assert code == 2 and "bad.mp4" in err
    assert not (tmp_path / "p.slp").exists()


def test_outliers_rank_jumps_low_confidence_and_bones():
    rng = np.random.default_rng(0)
    n, k = 100, 4
    base = np.array([[50, 50], [45, 40], [55, 40], [50, 70]], float)
    xy = base + rng.normal(0, 0.3, (n, k, 2))
    conf = np.full((n, k, 1), 0.9)
    xy[30, 3] += 40  # a jump (and a long tail bone)
    conf[60, 1] = 0.05  # a low confidence
    points = np.concatenate([xy, conf], axis=2)
    edges = list(skeleton().edges)
    picked = find_outliers(points, np.arange(n), edges, n=2, min_gap=3)
    assert {(o.frame, o.reason) for o in picked} == {(30, "jump"), (60, "confidence")}
    xy[80:, 1] = base[1] + [0, -15]  # a long ear from frame 80 on (no jump after 81)
    points = np.concatenate([xy, conf], axis=2)
    labelled = base[None] + rng.normal(0, 0.3, (20, k, 2))
    with_labels = find_outliers(points, np.arange(n), edges, labelled, n=30, min_gap=1)
    assert {o.reason for o in with_labels if o.frame > 85} == {"bones"}
    assert not find_outliers(points, np.arange(n), edges, n=5, exclude={30, 60}).__contains__(30)


def test_merge_keeps_every_label_and_reports_conflicts(tmp_path, video):
    a = project_with_frames(tmp_path / "a.slp", video, (1, 5))
    b = project_with_frames(tmp_path / "b.slp", video, (5, 9, 1))
    label = {"x": [1, 2, 3, 4], "y": [1, 2, 3, 4], "state": ["labelled"] * 4}
    a.frames[(0, 1)].update_from_json(label)
    b.frames[(0, 9)].update_from_json(label)
    b.frames[(0, 5)].update_from_json(label)
    b.frames[(0, 1)].update_from_json({**label, "x": [9, 9, 9, 9]})
    report = merge_projects(a, b)
    assert report.added == 1 and report.filled == 1 and report.conflicts == [(video.name, 1)]
    assert a.frames[(0, 1)].xy[0, 0] == 1  # ours kept
    assert a.frames[(0, 9)].n_labelled == 4 and a.frames[(0, 5)].n_labelled == 4
    merge_projects(a, b, prefer="other")
    assert a.frames[(0, 1)].xy[0, 0] == 9


def test_merge_refuses_another_skeleton(tmp_path, video, run_cli):
    a = project_with_frames(tmp_path / "a.slp", video)
    a.save()
    other = Project.new(tmp_path / "b.slp", Skeleton.from_names(["nose", "earL", "earR", "paw"]))
    other.add_frame(other.video_id(video), 3)
    other.save()
    code, _out, err = run_cli("merge", a.path, other.path)
    assert code == 2
    assert "only in a.slp: ['tail']" in err and "only in b.slp: ['paw']" in err
    assert len(Project.load(a.path).frames) == 3


def test_cli_sample_outliers_merge(tmp_path, video, run_cli):
    project = tmp_path / "p.slp"
    code, _out, err = run_cli(
        "sample", video, "-n", "5", "-o", project, "--keypoints", ",".join(NAMES), "-q"
    )
    assert code == 0, err
    assert len(Project.load(project).frames) == 5
    code, _out, err = run_cli("sample", video, "-n", "3", "-o", project, "-q")
    assert code == 0, err
    assert len(Project.load(project).frames) == 8
    model = write_model(tmp_path / "m.onnx")
    poses = tmp_path / "poses.h5"
    code, _out, err = run_cli("predict", "--model", model, video, "-o", poses, "--quiet")
    assert code == 0, err
    code, _out, err = run_cli("outliers", poses, video, "-p", project, "-n", "4")
    assert code == 0, err
    back = Project.load(project)
    outliers = [f for f in back.frames.values() if f.added.startswith("outlier")]
    assert len(outliers) == 4 and all(f.status == "predicted" for f in outliers)
    code, _out, err = run_cli("outliers", poses, tmp_path / "nope.avi", "-p", project)
    assert code == 2 and "nope.avi" in err


def test_prefill_marks_predictions_unreviewed(tmp_path, video):
    from dpk.trainer.labelling.server import prefill
    from tests.runtime.conftest import NAMES as MODEL_NAMES

    assert list(MODEL_NAMES) == NAMES
    model = write_model(tmp_path / "m.onnx")  # finds the brightest pixel (the dot)
    project = project_with_frames(tmp_path / "p.slp", video, (2, 10, 20))
    label = {"x": [1, 2, 3, 4], "y": [1, 2, 3, 4], "state": ["labelled"] * 4}
    project.frames[(0, 2)].update_from_json(label)
    assert prefill(project, str(model), progress=False) == 2
    assert project.frames[(0, 2)].state.tolist() == [LABELLED] * 4  # a person's labels stay
    track = write_dot_video(tmp_path / "same.avi", n=40)
    for index in (10, 20):
        frame = project.frames[(0, index)]
        assert (frame.state == PREDICTED).all() and frame.status == "predicted"
        np.testing.assert_allclose(frame.xy[0], track[index], atol=1.5)
    project.save()
    assert Project.load(project.path).frames[(0, 10)].status == "predicted"
    other = Project.new(tmp_path / "q.slp", Skeleton.from_names(["a", "b"]))
    other.add_frame(other.video_id(video), 1)
    with pytest.raises(ProjectError, match="not the project's"):
        prefill(other, str(model), progress=False)


def test_project_spec_trains_on_the_project(tmp_path, video, run_cli):
    project = project_with_frames(tmp_path / "p.slp", video)
    project.save()
    spec = tmp_path / "specs" / "p.yaml"
    spec.parent.mkdir()
    code, _out, err = run_cli("project", "spec", project.path, "-o", spec)
    assert code == 2 and "no labelled frames" in err and not spec.exists()
    label = {"x": [10, 20, 30, 40], "y": [10, 20, 30, 40], "state": ["labelled"] * 4}
    project.frames[(0, 1)].update_from_json(label)
    project.save()
    code, _out, err = run_cli("project", "spec", project.path, "-o", spec, "--minutes", "5")
    assert code == 0, err
    from dpk.specs.io import load_spec

    loaded = load_spec(spec)
    assert loaded.data.path == "../p.slp" and loaded.training.max_minutes == 5
    assert list(loaded.skeleton.names) == NAMES and loaded.augmentation.flip_lr == 0.5
    # the dot video's 60x80 frames are under the 256 px starter size: kept as they are
    assert (loaded.preprocessing.height, loaded.preprocessing.width) == (60, 80)
    assert loaded.architecture.type == "unet" and loaded.training.schedule.type == "cosine"
    assert loaded.preprocessing.channels == 1  # the dot video is grey
    code, _out, err = run_cli("spec", "check", spec, "--for", "training")
    assert code == 0, err

"""SLEAP analysis HDF5 (``.analysis.h5``): SLEAP's layout, round trips, the registry's
suffixes, and the real readers: movement's ``from_sleap_file`` (through ``load_dataset``)
and sleap-io's ``load_analysis_h5`` read what dpk writes, and dpk reads what sleap-io
writes from a real SLEAP project in both of its axis presets.
"""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from dpk.runtime.formats import (
    load_predictions,
    prediction_format,
    save_predictions,
)
from dpk.runtime.formats.predictions_h5 import save_predictions_h5
from dpk.runtime.formats.sleap_analysis import (
    is_sleap_analysis,
    load_predictions_analysis,
    save_predictions_analysis,
)
from dpk.specs import DpkError, Skeleton
from tests.runtime.test_formats_movement import dense, one_animal
from tests.runtime.test_predictions_instances import two_animals

sio = pytest.importorskip("sleap_io")
load_dataset = pytest.importorskip("movement.io").load_dataset


def test_single_animal_layout_is_sleaps(tmp_path):
    predictions = one_animal()  # frames 2, 3, 5 (5 unread), a missing point, 3 keypoints
    path = save_predictions_analysis(tmp_path / "poses.analysis.h5", predictions)
    assert list(tmp_path.iterdir()) == [path] and is_sleap_analysis(path)
    with h5py.File(path) as f:
        tracks = f["tracks"][()]
        assert tracks.shape == (1, 2, 3, 6) and tracks.dtype == np.float64  # track, xy, node, frame
        assert f["point_scores"].shape == (1, 3, 6) and f["instance_scores"].shape == (1, 6)
        assert f["track_occupancy"].shape == (6, 1)  # frames first: SLEAP's quirk
        assert f["track_occupancy"][:, 0].tolist() == [0, 0, 1, 1, 0, 0]
        assert json.loads(f["tracks"].attrs["dims"]) == ["track", "xy", "node", "frame"]
        assert f["track_names"].shape == (0,)  # one untracked animal: no name, as SLEAP
        assert [n.decode() for n in f["node_names"][()]] == ["nose", "ear", "tail"]
        assert f["edge_inds"][()].tolist() == [[0, 1], [0, 2]]
        assert f["edge_names"][()].tolist() == [[b"nose", b"ear"], [b"nose", b"tail"]]
        assert f["video_path"][()].decode() == "/data/video.mp4" and f["video_ind"][()] == 0
        np.testing.assert_array_equal(tracks[0, :, :, 3], predictions.keypoints[1, :, :2].T)
        assert np.isnan(tracks[..., [0, 1, 4, 5]]).all()
    back = load_predictions(path)
    assert back.frame_indices.tolist() == [2, 3] and not back.has_instances  # no point in 5
    np.testing.assert_array_equal(back.keypoints, predictions.keypoints[:2])
    assert back.source == "/data/video.mp4" and back.fps == 30.0
    assert back.skeleton.names == predictions.skeleton.names
    assert back.skeleton.parents == predictions.skeleton.parents


def test_tracks_round_trip(tmp_path):
    predictions = two_animals()  # rows swap at frame 3, bob absent in frame 2
    path = save_predictions_analysis(tmp_path / "pair.analysis.h5", predictions)
    with h5py.File(path) as f:
        assert [n.decode() for n in f["track_names"][()]] == ["alice", "bob"]
        assert f["tracks"].shape == (2, 2, 3, 16)
        assert (
            f["track_occupancy"][10:, :].tolist() == [[1, 1], [1, 1], [1, 0], [1, 1]] + [[1, 1]] * 2
        )
    back = load_predictions_analysis(path)
    tracked = predictions.by_track()
    assert back.track_names == ["alice", "bob"] and back.frame_indices.tolist() == list(
        range(10, 16)
    )
    np.testing.assert_array_equal(back.keypoints, tracked.keypoints)
    np.testing.assert_array_equal(back.track_ids, tracked.track_ids)
    np.testing.assert_array_equal(back.instance_scores, tracked.instance_scores)


def test_image_folder_and_sleaps_untransposed_files(tmp_path):
    names = ["a.png", "b.png", "c.png"]
    predictions = one_animal(image_names=names, source="/data/imgs", source_info={})
    path = save_predictions_analysis(tmp_path / "img.analysis.h5", predictions)
    with h5py.File(path) as f:
        assert f["video_path"][()].decode() == "/data/imgs/a.png"  # as SLEAP, the first image
    back = load_predictions(path)
    assert back.image_names == ["a.png", "b.png"] and back.source == "/data/imgs"
    assert back.frame_indices.tolist() == [0, 1]
    bare = tmp_path / "sleap.h5"  # what SLEAP itself writes: no dims, no attributes
    shutil.copy(path, bare)
    with h5py.File(bare, "a") as f:
        for name in list(f.attrs):
            del f.attrs[name]
        del f["dpk_image_names"]
        for dataset in f.values():
            dataset.attrs.pop("dims", None)
    old = load_predictions(bare)
    np.testing.assert_array_equal(old.keypoints, back.keypoints)
    assert old.image_names is None and old.source == "/data/imgs/a.png"


@pytest.mark.parametrize("animals", ["one", "two"])
def test_movement_reads_what_dpk_writes(tmp_path, animals):
    predictions = one_animal() if animals == "one" else two_animals()
    path = save_predictions_analysis(tmp_path / "poses.analysis.h5", predictions)
    ds = load_dataset(path, source_software="SLEAP", fps=predictions.fps)
    position, confidence = dense(predictions)  # frames 0 .. last, NaN where not predicted
    assert ds.individuals.values.tolist() == (["id_0"] if animals == "one" else ["alice", "bob"])
    assert ds.keypoints.values.tolist() == predictions.names
    assert ds.attrs["fps"] == predictions.fps and ds.sizes["time"] == len(position)
    np.testing.assert_array_equal(ds.position.values, position.astype(np.float32))
    np.testing.assert_array_equal(ds.confidence.values, confidence.astype(np.float32))


@pytest.mark.parametrize("animals", ["one", "two"])
def test_sleap_io_reads_what_dpk_writes(tmp_path, animals):
    predictions = one_animal() if animals == "one" else two_animals()
    path = save_predictions_analysis(tmp_path / "poses.analysis.h5", predictions)
    labels = sio.load_analysis_h5(str(path))
    tracked = predictions.by_track()
    assert [t.name for t in labels.tracks] == (tracked.track_names or [])
    expected = tracked.keypoints if tracked.has_instances else tracked.keypoints[:, None]
    rows = dict(zip(tracked.frame_indices.tolist(), expected, strict=True))
    seen = 0
    for frame in labels.labeled_frames:
        for instance in frame.instances:
            t = labels.tracks.index(instance.track) if instance.track is not None else 0
            points = instance.numpy(invisible_as_nan=False, scores=True)
            np.testing.assert_array_equal(points, rows[frame.frame_idx][t])
            seen += 1
    assert seen == np.isfinite(expected[..., :2]).any(axis=(2, 3)).sum()


@pytest.mark.parametrize("preset", ["matlab", "standard"])
def test_dpk_reads_what_sleap_io_writes_from_a_real_project(tmp_path, shared_data, preset):
    labels = sio.load_slp(str(shared_data / "sleap-fly-clip" / "clip.slp"), open_videos=False)
    path = tmp_path / f"clip.{preset}.analysis.h5"
    sio.save_analysis_h5(labels, str(path), preset=preset)
    back = load_predictions(path)
    expected = labels.numpy()  # (frames, tracks, nodes, 2) of the user instances
    assert back.track_names == [t.name for t in labels.tracks] == ["female", "male"]
    assert back.names == [n.name for n in labels.skeletons[0].nodes]
    assert back.frame_indices.tolist() == list(range(len(expected)))
    np.testing.assert_array_equal(back.keypoints[..., :2], expected.astype(np.float32))
    assert back.source == labels.videos[0].filename


def test_registry_keeps_analysis_and_dpk_h5_apart(tmp_path):
    assert prediction_format("poses.analysis.h5") == "analysis"
    assert prediction_format("poses.ANALYSIS.H5") == "analysis"
    assert prediction_format("poses.h5") == "h5" and prediction_format("a.hdf5") == "h5"
    assert prediction_format("poses.h5", "analysis") == "analysis"  # SLEAP also reads .h5
    assert prediction_format("poses.analysis.h5", "h5") == "h5"
    with pytest.raises(DpkError, match=r"writes \.analysis\.h5 or \.h5 files"):
        prediction_format("poses.hdf5", "analysis")
    predictions = two_animals()
    sleap, ours = tmp_path / "p.analysis.h5", tmp_path / "p.h5"
    save_predictions(sleap, predictions)
    save_predictions(ours, predictions)
    assert is_sleap_analysis(sleap) and not is_sleap_analysis(ours)
    assert load_predictions(ours).instance_scores.shape == (6, 3)  # dpk's own rows
    assert load_predictions(sleap).track_names == ["alice", "bob"]
    swapped = tmp_path / "renamed.h5"  # read by content, whatever the name
    shutil.copy(sleap, swapped)
    assert load_predictions(swapped).keypoints.shape == (6, 2, 3, 3)
    dpk_named_analysis = save_predictions_h5(tmp_path / "x.analysis.h5", predictions)
    assert load_predictions(dpk_named_analysis).keypoints.shape == (6, 3, 3, 3)
    (tmp_path / "other.h5").write_bytes(b"")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["tracks"] = np.zeros((1, 2, 3, 4))
    with pytest.raises(DpkError, match="not a SLEAP analysis file"):
        load_predictions_analysis(tmp_path / "other.h5")


def test_predict_writes_analysis_files(run_cli, shared_data, model_path, tmp_path):
    video = shared_data / "lp-mirror-mouse" / "videos" / "test_vid.mp4"
    out, h5 = tmp_path / "poses.analysis.h5", tmp_path / "poses.h5"
    code, _, err = run_cli(
        "predict", video, "-m", model_path, "-o", out, "-o", h5,
        "--start", "10", "--stop", "40", "--step", "3", "-q",
    )  # fmt: skip
    assert code == 0, err
    assert is_sleap_analysis(out) and not is_sleap_analysis(h5)
    back, reference = load_predictions(out), load_predictions(h5)
    assert back.frame_indices.tolist() == list(range(10, 40, 3))
    np.testing.assert_array_equal(back.keypoints, reference.keypoints)
    ds = load_dataset(out, source_software="SLEAP", fps=250.0)
    assert ds.sizes["time"] == 38  # frames 0 .. 37, NaN before --start and between steps
    np.testing.assert_array_equal(ds.position.values[10::3, :, :, 0].transpose(0, 2, 1),
                                  reference.keypoints[..., :2])  # fmt: skip


def test_left_right_swaps_travel_as_sleap_io_symmetries(tmp_path):
    skeleton = Skeleton(
        names=["nose", "earL", "earR"], parents=[None, "nose", "nose"], swaps=[None, "earR", "earL"]
    )
    path = save_predictions_analysis(tmp_path / "s.analysis.h5", one_animal(skeleton=skeleton))
    assert load_predictions(path).skeleton == skeleton
    symmetries = sio.load_analysis_h5(str(path)).skeletons[0].symmetries
    assert [sorted(n.name for n in s.nodes) for s in symmetries] == [["earL", "earR"]]

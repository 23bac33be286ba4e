"""NWB predictions: exact frame rates with --start/--step, equal-length series with NaN rows,
image folders, session/subject metadata, nwbinspector, and movement's NWB loader (the
real one; what movement reads of every format is in ``test_formats_movement.py``).
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from dpk.runtime.formats import load_predictions
from dpk.runtime.formats.nwb import frame_times, load_predictions_nwb, save_predictions_nwb
from dpk.runtime.formats.options import NwbMetadata, WriteOptions, load_nwb_metadata
from dpk.runtime.predictions import Predictions
from dpk.specs import DpkError, Skeleton

pynwb = pytest.importorskip("pynwb")
nwbinspector = pytest.importorskip("nwbinspector")
load_dataset = pytest.importorskip("movement.io").load_dataset

SKELETON = Skeleton(names=["a", "b", "c"], parents=[None, "a", "a"], swaps=[None, "c", "b"])


def make_predictions(**kwargs):
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(0, 100, (5, 3, 3)).astype(np.float32)
    keypoints[..., 2] = rng.uniform(0.1, 1, (5, 3))
    keypoints[1, 2] = np.nan  # one keypoint not found
    keypoints[3] = np.nan  # a frame that could not be read
    values = dict(
        keypoints=keypoints,
        frame_indices=np.array([4, 7, 10, 13, 16]),
        skeleton=SKELETON,
        source="/data/video.mp4",
        source_info={"fps": 29.97, "width": 640, "height": 480},
        model_name="fly.onnx",
    )
    values.update(kwargs)
    return Predictions(**values)


def serious(path):
    """nwbinspector findings of importance ERROR or CRITICAL."""
    from nwbinspector import Importance, inspect_nwbfile

    return [
        f"{m.importance.name}: {m.check_function_name}: {m.message}"
        for m in inspect_nwbfile(nwbfile_path=str(path))
        if m.importance in (Importance.ERROR, Importance.CRITICAL)
    ]


def test_frame_times_keep_the_exact_rate():
    assert frame_times(np.array([10, 13, 16]), 29.97) == {
        "rate": 29.97 / 3,
        "starting_time": 10 / 29.97,
    }
    assert frame_times(np.array([5]), 250.0) == {"rate": 250.0, "starting_time": 0.02}
    uneven = frame_times(np.array([0, 1, 5]), 10.0)
    np.testing.assert_allclose(uneven["timestamps"], [0.0, 0.1, 0.5])


def test_round_trip_keeps_every_row_and_the_float_rate(tmp_path):
    predictions = make_predictions()
    path = tmp_path / "poses.nwb"
    save_predictions_nwb(path, predictions)
    assert list(tmp_path.iterdir()) == [path]
    with h5py.File(path) as f:
        series = f["processing/behavior/PoseEstimation/b"]
        assert series["data"].shape == (5, 2)  # the unreadable frame keeps its (NaN) row
        assert series["starting_time"].attrs["rate"] == pytest.approx(29.97 / 3, abs=0)
        assert series["starting_time"][()] == pytest.approx(4 / 29.97, abs=0)
        assert np.isnan(series["data"][3]).all() and np.isnan(series["confidence"][3])
        assert (
            "frame_index /" not in f["processing/behavior/PoseEstimation/description"][()].decode()
        )
    back = load_predictions_nwb(path)
    assert back.frame_indices.tolist() == [4, 7, 10, 13, 16]
    assert back.source_info["fps"] == 29.97
    assert back.names == ["a", "b", "c"] and back.skeleton.parents == [None, "a", "a"]
    np.testing.assert_allclose(back.keypoints, predictions.keypoints, rtol=1e-6)
    assert load_predictions_nwb(path, skeleton=SKELETON).skeleton == SKELETON
    assert load_predictions(path).frame_indices.tolist() == [4, 7, 10, 13, 16]


def test_uneven_frames_get_timestamps_and_unknown_fps_means_frame_numbers(tmp_path):
    predictions = make_predictions(frame_indices=np.array([0, 1, 2, 3, 10]), source_info={})
    save_predictions_nwb(tmp_path / "poses.nwb", predictions)
    with h5py.File(tmp_path / "poses.nwb") as f:
        np.testing.assert_allclose(
            f["processing/behavior/PoseEstimation/a/timestamps"][()], [0, 1, 2, 3, 10]
        )
    assert load_predictions_nwb(tmp_path / "poses.nwb").frame_indices.tolist() == [0, 1, 2, 3, 10]


def test_metadata_options_and_file(tmp_path):
    meta = tmp_path / "session.yaml"
    meta.write_text(
        "subject_id: mouse7\nspecies: Mus musculus\nsex: F\nage: P90D\n"
        "session_start_time: 2024-05-01T09:30:00+02:00\nlab: Paninski\n"
    )
    metadata = load_nwb_metadata(meta)
    save_predictions_nwb(tmp_path / "p.nwb", make_predictions(), WriteOptions(nwb=metadata))
    with pynwb.NWBHDF5IO(str(tmp_path / "p.nwb"), mode="r") as io:
        nwbfile = io.read()
        assert nwbfile.subject.subject_id == "mouse7"
        assert nwbfile.subject.species == "Mus musculus" and nwbfile.subject.age == "P90D"
        assert nwbfile.session_start_time.isoformat() == "2024-05-01T09:30:00+02:00"
        assert nwbfile.identifier == "mouse7" and nwbfile.lab == "Paninski"
    (tmp_path / "bad.json").write_text(json.dumps({"subject": "x"}))
    with pytest.raises(DpkError, match=r"bad.json: unknown NWB metadata key\(s\) subject"):
        load_nwb_metadata(tmp_path / "bad.json")
    with pytest.raises(DpkError, match="not ISO 8601"):
        NwbMetadata(session_start_time="yesterday").start_time()


def test_real_video_with_start_and_step(run_cli, shared_data, model_path, tmp_path):
    video = shared_data / "lp-mirror-mouse" / "videos" / "test_vid.mp4"  # 250 fps
    nwb = tmp_path / "poses.nwb"
    code, _, err = run_cli(
        "predict", video, "-m", model_path, "-o", nwb, "-o", tmp_path / "poses.h5",
        "--start", "10", "--stop", "100", "--step", "3", "-q",
        "--subject-id", "mouse1", "--species", "Mus musculus", "--age", "P60D",
        "--session-description", "mirror-mouse test video",
    )  # fmt: skip
    assert code == 0, err
    with h5py.File(nwb) as f:
        first = f["processing/behavior/PoseEstimation/nose/starting_time"]
        assert first.attrs["rate"] == 250.0 / 3 and first[()] == 10 / 250.0
    ds = load_dataset(nwb, source_software="NWB")  # movement: rate as fps, time from 0
    assert ds.individuals.values.tolist() == ["mouse1"] and ds.attrs["fps"] == 83.333333
    assert ds.sizes["time"] == 30 and ds.attrs["source_software"] == "dpk"
    assert ((ds.confidence >= 0) & (ds.confidence <= 1)).all()
    assert serious(nwb) == []
    back = load_predictions(nwb)
    assert back.frame_indices.tolist() == list(range(10, 100, 3))
    np.testing.assert_allclose(
        back.keypoints, load_predictions(tmp_path / "poses.h5").keypoints, rtol=1e-6
    )


def test_real_image_folder_writes_nwb_and_the_outputs_after_it(
    run_cli, shared_data, model_path, tmp_path
):
    folder = shared_data / "lp-mirror-mouse" / "labeled-data"
    nwb, csv = tmp_path / "poses.nwb", tmp_path / "poses.csv"
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"subject_id": "m2", "species": "Mus musculus", "age": "P8W"}))
    code, _, err = run_cli(
        "predict", folder, "-m", model_path, "-o", nwb, "-o", csv, "--stop", "6", "-q",
        "--nwb-metadata", meta, "--sex", "M",
    )  # fmt: skip
    assert code == 0, err
    assert "Traceback" not in err and nwb.is_file() and csv.is_file()
    assert serious(nwb) == []
    with pynwb.NWBHDF5IO(str(nwb), mode="r") as io:
        nwbfile = io.read()
        assert nwbfile.subject.sex == "M" and nwbfile.subject.age == "P8W"
        images = nwbfile.acquisition["labeled-data"]
        assert len(images.external_file) == 6 and images.rate == 1.0
        assert nwbfile.processing["behavior"]["PoseEstimation"]["nose"].data.shape == (6, 2)
    assert load_predictions(nwb).frame_indices.tolist() == list(range(6))


def test_two_animals_keep_exact_frames_in_dpk_and_every_animal_in_movement(tmp_path):
    """Tracks of several animals: one PoseEstimation each. dpk reads the frame numbers of
    ``--start``/``--step`` back exactly; movement reads every animal with
    ``pose_estimation_key``, names each by the file's identifier and starts its time at 0
    (it drops ``starting_time``)."""
    from tests.runtime.test_predictions_instances import two_animals

    base = two_animals(n=6)
    predictions = Predictions(  # frames 10, 13, ..., 25 of a 25 fps video
        keypoints=base.keypoints,
        frame_indices=np.arange(10, 28, 3),
        skeleton=base.skeleton,
        source="/data/clip.mp4",
        source_info=base.source_info,
        track_ids=base.track_ids,
        track_names=base.track_names,
    )
    path = tmp_path / "pair.nwb"
    save_predictions_nwb(path, predictions, WriteOptions(nwb=NwbMetadata(age="P3D")))
    assert serious(path) == []
    back = load_predictions(path)
    tracked = predictions.by_track()
    assert back.frame_indices.tolist() == [10, 13, 16, 19, 22, 25]
    assert back.track_names == ["alice", "bob"] and back.fps == 25.0
    np.testing.assert_allclose(back.keypoints, tracked.keypoints, rtol=1e-6)
    np.testing.assert_array_equal(back.track_ids, tracked.track_ids)
    for t, name in enumerate(["alice", "bob"]):
        ds = load_dataset(path, source_software="NWB", pose_estimation_key=f"PoseEstimation_{name}")
        assert ds.individuals.values.tolist() == ["clip"] and ds.attrs["fps"] == round(25 / 3, 6)
        np.testing.assert_allclose(ds.time, np.arange(6) / round(25 / 3, 6))  # not from 10/25
        xy = ds.sel(keypoints=predictions.names).position.values[..., 0]  # time, space, kp
        np.testing.assert_allclose(xy.transpose(0, 2, 1), tracked.keypoints[:, t, :, :2])

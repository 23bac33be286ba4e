"""dpk's prediction files read by the real ``movement`` (neuroinformatics-unit) loaders.

movement is installed in the test environment without its dependencies (see
``requirements-nodeps.txt``): its I/O needs only packages the dev environment already
has, plus loguru. It is imported, not skipped when absent: these tests are the check that
movement users can read dpk's files. Each test writes tiny predictions with dpk's writer
and loads them with ``movement.io.load_dataset`` (what the deprecated
``load_poses.from_file`` calls), then checks positions, confidence, individuals, keypoint
names, fps and time exactly.

What movement makes of each file (movement 0.15):

- DeepLabCut ``.csv``/``.h5`` and SLEAP ``.slp``: one time row per frame from frame 0,
  ``time = row / fps`` (the fps the user passes); frames dpk did not predict are NaN.
  Single-animal DeepLabCut is ``individual_0`` (as :meth:`Predictions.to_movement`);
  single-animal SLEAP has no track, and movement names it ``id_0``. A ``.slp`` has no
  frame without an instance, so its rows end at the last frame with one. In SLEAP, points
  below the visibility threshold and missing points are invisible: movement reads NaN
  positions, and the score dpk stored (0 for a missing point).
- NWB: one row per series sample, ``fps = rate`` (fps / step) and ``time = row / rate``:
  movement ignores ``starting_time``, so with ``--start`` its times begin at 0; keypoints
  come sorted by name; the individual is the file's ``identifier``. It reads one
  ``PoseEstimation``: for several animals (``PoseEstimation_<track>``) pass
  ``pose_estimation_key``, and each comes back named by the identifier (movement's own
  writer makes one file per animal): renamed and concatenated, they are every animal.
- SLEAP analysis ``.analysis.h5`` (one row per frame from 0, tracks as individuals):
  ``test_formats_sleap_analysis.py``.
- :meth:`Predictions.to_movement` is identical to movement's ``from_numpy`` dataset of
  the same arrays, apart from dpk's ``frame`` coordinate and, with ``--start``, the time
  (dpk's is the frame's time in the video).

The other way, dpk reads the files movement's ``save_poses`` writes from
:meth:`Predictions.to_movement`: DeepLabCut (one file per animal; rows are movement's
rows, so frame numbers are kept only from frame 0) and NWB (one file per animal, with
timestamps and no video: the fps is the timestamps' step).
"""

from __future__ import annotations

import numpy as np
import pynwb
import pytest
import xarray as xr
from movement.io import load_dataset, load_poses, save_poses
from movement.validators.datasets import ValidPosesInputs

from dpk.runtime.formats import load_predictions
from dpk.runtime.formats.dlc_predictions import save_predictions_dlc
from dpk.runtime.formats.nwb import save_predictions_nwb
from dpk.runtime.formats.sleap import save_predictions_slp
from dpk.runtime.predictions import Predictions
from dpk.specs import Skeleton
from tests.runtime.test_predictions_instances import two_animals

SKELETON = Skeleton(names=["nose", "ear", "tail"], parents=[None, "nose", "nose"])


def one_animal(frames=(2, 3, 5), fps: float | None = 30.0, **kwargs) -> Predictions:
    """One animal in ``frames``: a missing keypoint, a low confidence, an unread frame."""
    n = len(frames)
    keypoints = np.zeros((n, 3, 3), np.float32)
    keypoints[..., 0] = np.arange(n * 3).reshape(n, 3) * 1.25 + 3
    keypoints[..., 1] = np.arange(n * 3).reshape(n, 3) * 0.5 + 7
    keypoints[..., 2] = np.linspace(0.3, 0.95, n * 3).reshape(n, 3)
    keypoints[0, 2] = np.nan  # not found
    keypoints[1, 1, 2] = 0.125  # below SLEAP's visibility threshold (0.2)
    if n > 2:
        keypoints[2] = np.nan  # a frame that could not be read
    info = {"width": 64, "height": 48, "n_frames": 10} | ({"fps": fps} if fps else {})
    values = dict(
        keypoints=keypoints,
        frame_indices=np.array(frames),
        skeleton=SKELETON,
        source="/data/video.mp4",
        source_info=info,
        model_name="m.onnx",
    )
    values.update(kwargs)
    return Predictions(**values)


def dense(predictions: Predictions) -> tuple[np.ndarray, np.ndarray]:
    """dpk's poses as movement lays out a frame-per-row file: position (frames 0 .. last,
    space, keypoints, individuals) and confidence, NaN in frames not predicted."""
    ds = predictions.to_movement()
    n = int(predictions.frame_indices.max()) + 1
    position = np.full((n, *ds.position.shape[1:]), np.nan)
    confidence = np.full((n, *ds.confidence.shape[1:]), np.nan)
    position[predictions.frame_indices] = ds.position.values
    confidence[predictions.frame_indices] = ds.confidence.values
    return position, confidence


def check_names_and_time(ds, names, individuals, fps, n_rows, software):
    ValidPosesInputs.validate(ds)
    assert ds.keypoints.values.tolist() == names
    assert ds.individuals.values.tolist() == individuals
    assert ds.space.values.tolist() == ["x", "y"]
    assert ds.attrs["fps"] == fps and ds.attrs["time_unit"] == "seconds"
    assert ds.attrs["source_software"] == software
    np.testing.assert_array_equal(ds.time.values, np.arange(n_rows) / fps)


@pytest.mark.parametrize("suffix", [".csv", ".h5"])
@pytest.mark.parametrize("animals", ["one", "two"])
def test_deeplabcut_files(tmp_path, suffix, animals):
    predictions = one_animal() if animals == "one" else two_animals()
    path = tmp_path / f"poses{suffix}"
    save_predictions_dlc(path, predictions)
    fps = predictions.fps
    ds = load_dataset(path, source_software="DeepLabCut", fps=fps)
    individuals = ["individual_0"] if animals == "one" else ["alice", "bob"]
    position, confidence = dense(predictions)
    check_names_and_time(ds, predictions.names, individuals, fps, len(position), "DeepLabCut")
    np.testing.assert_array_equal(ds.position.values, position)
    np.testing.assert_array_equal(ds.confidence.values, confidence)
    assert ds.attrs["source_file"] == path.as_posix()
    with pytest.warns(DeprecationWarning):  # the older entry point, same loader
        old = load_poses.from_file(path, source_software="DeepLabCut", fps=fps)
    xr.testing.assert_identical(old, ds)


def as_sleap_keeps(position, confidence):
    """What a ``.slp`` keeps of dense poses: points below the visibility threshold (0.2)
    and missing points are invisible (NaN position), a missing point's score is 0."""
    position, confidence = position.copy(), confidence.copy()
    present = np.isfinite(position).any(axis=(1, 2), keepdims=True)[:, 0]  # (T, 1, I)
    confidence[present & np.isnan(confidence)] = 0.0
    position[np.broadcast_to((confidence < 0.2)[:, None], position.shape)] = np.nan
    return position.astype(np.float32), confidence.astype(np.float32)


def test_sleap_one_animal(tmp_path):
    predictions = one_animal()
    save_predictions_slp(tmp_path / "poses.slp", predictions)
    ds = load_dataset(tmp_path / "poses.slp", source_software="SLEAP", fps=30.0)
    position, confidence = dense(predictions)
    position, confidence = position[:4], confidence[:4]  # no instance in unread frame 5
    check_names_and_time(ds, predictions.names, ["id_0"], 30.0, 4, "SLEAP")
    assert ds.position.dtype == np.float32
    position, confidence = as_sleap_keeps(position, confidence)
    assert np.isnan(position[3, :, 1]).all() and confidence[2, 2] == 0  # below 0.2, missing
    np.testing.assert_array_equal(ds.position.values, position)
    np.testing.assert_array_equal(ds.confidence.values, confidence)


def test_sleap_tracks_are_individuals(tmp_path):
    predictions = two_animals()
    save_predictions_slp(tmp_path / "poses.slp", predictions)
    ds = load_dataset(tmp_path / "poses.slp", source_software="SLEAP", fps=25.0)
    check_names_and_time(ds, predictions.names, ["alice", "bob"], 25.0, 16, "SLEAP")
    position, confidence = as_sleap_keeps(*dense(predictions))
    np.testing.assert_array_equal(ds.position.values, position)
    np.testing.assert_array_equal(ds.confidence.values, confidence)


def test_nwb_one_animal(tmp_path):
    predictions = one_animal(frames=(0, 1, 2, 3), fps=29.97)
    save_predictions_nwb(tmp_path / "poses.nwb", predictions)
    ds = load_dataset(tmp_path / "poses.nwb", source_software="NWB")
    names = predictions.names
    check_names_and_time(ds, sorted(names), ["video"], 29.97, 4, "dpk")  # sorted by name
    expected = predictions.to_movement()
    np.testing.assert_array_equal(ds.sel(keypoints=names).position, expected.position)
    np.testing.assert_array_equal(ds.sel(keypoints=names).confidence, expected.confidence)
    np.testing.assert_array_equal(ds.time, expected.time)


def test_nwb_with_start_and_step_starts_at_zero_in_movement(tmp_path):
    predictions = one_animal(frames=(4, 7, 10, 13), fps=29.97)
    save_predictions_nwb(tmp_path / "poses.nwb", predictions)
    ds = load_dataset(tmp_path / "poses.nwb", source_software="NWB")
    check_names_and_time(ds, sorted(predictions.names), ["video"], round(29.97 / 3, 6), 4, "dpk")
    expected = predictions.to_movement()
    np.testing.assert_array_equal(ds.sel(keypoints=predictions.names).position, expected.position)
    # movement drops starting_time (4 / 29.97): its times are dpk's minus the first
    np.testing.assert_allclose(ds.time + 4 / 29.97, expected.time, rtol=0, atol=1e-12)


def test_nwb_several_animals_one_pose_estimation_each(tmp_path):
    predictions = two_animals()
    save_predictions_nwb(tmp_path / "poses.nwb", predictions)
    with pytest.raises(KeyError, match="'PoseEstimation' not found"):
        load_dataset(tmp_path / "poses.nwb", source_software="NWB")
    names = predictions.names
    expected = predictions.to_movement()
    animals = []
    for name in ["alice", "bob"]:
        key = f"PoseEstimation_{name}"
        ds = load_dataset(tmp_path / "poses.nwb", source_software="NWB", pose_estimation_key=key)
        check_names_and_time(ds, sorted(names), ["clip"], 25.0, 6, "dpk")
        animal = expected.sel(individuals=[name]).drop_vars(["individuals", "frame"])
        np.testing.assert_array_equal(ds.sel(keypoints=names).position, animal.position)
        np.testing.assert_array_equal(ds.sel(keypoints=names).confidence, animal.confidence)
        animals.append(ds.assign_coords(individuals=[name]))  # movement names it "clip"
    # every animal in one dataset, the documented recipe (README, formats/nwb.py)
    merged = xr.concat(animals, dim="individuals").sel(keypoints=names)
    ValidPosesInputs.validate(merged)
    assert merged.individuals.values.tolist() == ["alice", "bob"]
    np.testing.assert_array_equal(merged.position, expected.position)
    np.testing.assert_array_equal(merged.confidence, expected.confidence)
    np.testing.assert_allclose(merged.time + 10 / 25.0, expected.time, rtol=0, atol=1e-12)


def movements_own(ds, predictions: Predictions):
    """movement's dataset (``from_numpy``, validated) of the arrays of ``ds``."""
    own = load_poses.from_numpy(
        ds.position.values,
        ds.confidence.values,
        individual_names=ds.individuals.values.tolist(),
        keypoint_names=predictions.names,
        fps=predictions.fps,
        source_software="dpk",
    )
    own.attrs["source_file"] = predictions.source
    return own


@pytest.mark.parametrize("fps", [30.0, None])
def test_to_movement_is_movements_own_dataset(fps):
    predictions = one_animal(frames=(0, 1, 2), fps=fps)
    ds = predictions.to_movement()
    ValidPosesInputs.validate(ds)
    assert ds.frame.values.tolist() == [0, 1, 2]
    xr.testing.assert_identical(ds.drop_vars("frame"), movements_own(ds, predictions))


def test_to_movement_of_tracks_keeps_the_video_time():
    predictions = two_animals()  # frames 10 .. 15 at 25 fps
    ds = predictions.to_movement()
    ValidPosesInputs.validate(ds)
    np.testing.assert_array_equal(ds.time, np.arange(10, 16) / 25.0)
    own = movements_own(ds, predictions)  # movement's time starts at 0
    xr.testing.assert_identical(ds.drop_vars("frame").assign_coords(time=own.time), own)


@pytest.mark.parametrize("suffix", [".csv", ".h5"])
def test_dpk_reads_deeplabcut_files_movement_writes(tmp_path, suffix):
    predictions = one_animal(frames=(0, 1, 2, 3))
    save_poses.to_dlc_file(predictions.to_movement(), tmp_path / f"m{suffix}")
    back = load_predictions(tmp_path / f"m_individual_0{suffix}")  # one file per animal
    assert back.names == predictions.names and back.frame_indices.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(back.keypoints, predictions.keypoints)


@pytest.mark.parametrize("animals", ["one", "two"])
def test_dpk_reads_nwb_files_movement_writes(tmp_path, animals):
    """movement writes one file per animal, with timestamps and no source video: dpk takes
    the fps from the timestamps' step."""
    predictions = one_animal(frames=(0, 1, 2, 3)) if animals == "one" else two_animals()
    ds = predictions.to_movement()
    files = save_poses.to_nwb_file(ds)
    for i, nwbfile in enumerate(files if isinstance(files, list) else [files]):
        path = tmp_path / f"m{i}.nwb"
        with pynwb.NWBHDF5IO(str(path), mode="w") as io:
            io.write(nwbfile)
        back = load_predictions(path)
        assert back.names == predictions.names and back.fps == predictions.fps
        np.testing.assert_array_equal(back.frame_indices, predictions.frame_indices)
        xy = ds.position.values[..., i].transpose(0, 2, 1)
        np.testing.assert_array_equal(back.keypoints[:, :, :2], xy)
        np.testing.assert_array_equal(back.keypoints[:, :, 2], ds.confidence.values[..., i])


def _run_with_home(home, code: str) -> None:
    """Run ``code`` in a fresh Python whose home folder is ``home``."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = os.environ | {"HOME": str(home), "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_dpks_movement_export_leaves_the_home_folder_alone(tmp_path, monkeypatch):
    """Importing movement writes ``~/.movement/movement.log`` (its ``__init__`` configures a
    loguru file sink, with no switch before import); dpk's export never imports movement."""
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    (tmp_path / "user").mkdir()
    _run_with_home(
        tmp_path / "user",
        "import sys\n"
        "from dpk.runtime.formats import load_predictions, save_predictions\n"
        "from tests.runtime.test_predictions_instances import two_animals\n"
        "p = two_animals()\n"
        f"save_predictions({str(tmp_path / 'p.analysis.h5')!r}, p)\n"
        f"load_predictions({str(tmp_path / 'p.analysis.h5')!r}).to_movement()\n"
        "p.to_movement()\n"
        "assert 'movement' not in sys.modules, 'dpk imported movement'\n",
    )
    assert list((tmp_path / "user").iterdir()) == []
    (tmp_path / "other").mkdir()
    _run_with_home(tmp_path / "other", "import movement.io")  # the fact documented
    assert (tmp_path / "other" / ".movement" / "movement.log").is_file()

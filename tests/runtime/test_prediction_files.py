"""dpk's prediction CSV and HDF5, the format dispatcher, and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from dpk.runtime.atomic import OutputError, atomic_output, check_writable
from dpk.runtime.formats import (
    FormatError,
    check_output,
    load_predictions,
    prediction_format,
    save_predictions,
)
from dpk.runtime.formats.predictions_h5 import load_predictions_h5, save_predictions_h5
from dpk.runtime.formats.table_csv import load_predictions_csv, save_predictions_csv
from dpk.runtime.predictions import Predictions
from dpk.specs import DpkError, Skeleton
from tests.runtime.conftest import make_spec

SKELETON = Skeleton(
    names=["nose", "ear,L", "earR"], parents=[None, "nose", "nose"], swaps=[None, "earR", "ear,L"]
)


def sample(n=6, images=False) -> Predictions:
    rng = np.random.default_rng(n)
    keypoints = rng.uniform(0, 300, (n, 3, 3)).astype(np.float32)
    keypoints[..., 2] = rng.uniform(0, 1, (n, 3))
    keypoints[2] = np.nan
    keypoints[4, 1] = np.nan
    return Predictions(
        keypoints=keypoints,
        frame_indices=np.arange(0, 3 * n, 3),
        skeleton=SKELETON,
        source="video.mp4",
        source_info={"fps": 30.0, "width": 320, "height": 240, "n_frames": 100, "codec": "h264"},
        image_names=[f"img {i},{i}.png" for i in range(n)] if images else None,
        model_spec=make_spec().model_dump_json(),
        model_name="fake.onnx",
        errors={6: "the frame could not be decoded"},
    )


def test_csv_columns_and_round_trip(tmp_path):
    predictions = sample()
    path = save_predictions_csv(tmp_path / "p.csv", predictions)
    lines = path.read_text().splitlines()
    assert lines[0] == (
        'frame,nose_x,nose_y,nose_conf,"ear,L_x","ear,L_y","ear,L_conf",earR_x,earR_y,earR_conf'
    )
    assert len(lines) == 7
    assert lines[3] == "6" + "," * 9  # an unreadable frame: empty cells
    back = load_predictions_csv(path)
    assert back.names == SKELETON.names
    assert back.frame_indices.tolist() == predictions.frame_indices.tolist()
    np.testing.assert_allclose(back.keypoints, predictions.keypoints, atol=1e-3)
    assert np.isnan(back.keypoints[2]).all() and np.isnan(back.keypoints[4, 1]).all()


def test_csv_with_image_names(tmp_path):
    predictions = sample(images=True)
    path = save_predictions_csv(tmp_path / "p.csv", predictions)
    assert path.read_text().splitlines()[1].startswith('0,"img 0,0.png",')
    back = load_predictions(path)
    assert back.image_names == predictions.image_names


def test_h5_keeps_everything(tmp_path):
    predictions = sample(images=True)
    path = save_predictions_h5(tmp_path / "p.h5", predictions)
    with h5py.File(path) as f:
        assert f["keypoints"].shape == (6, 3, 3) and f["keypoints"].dtype == np.float32
        assert f.attrs["dpk.kind"] == "predictions"
        assert f["skeleton/parents"][()].tolist() == [-1, 0, 0]
    back = load_predictions_h5(path)
    np.testing.assert_array_equal(back.keypoints, predictions.keypoints)
    assert back.frame_indices.tolist() == predictions.frame_indices.tolist()
    assert back.skeleton == SKELETON
    assert back.source == "video.mp4" and back.model_name == "fake.onnx"
    assert back.source_info == predictions.source_info
    assert back.image_names == predictions.image_names
    assert back.model_spec == predictions.model_spec
    assert back.errors == {6: "the frame could not be decoded"}


def test_dispatcher_by_suffix_and_format(tmp_path):
    predictions = sample()
    for name in ("a.csv", "a.h5", "a.hdf5"):
        path = save_predictions(tmp_path / name, predictions)
        np.testing.assert_allclose(
            load_predictions(path).keypoints, predictions.keypoints, atol=1e-3
        )
    assert prediction_format("x.CSV") == "csv"
    assert prediction_format("x.csv", "dlc") == "dlc"
    with pytest.raises(FormatError, match="cannot tell the format"):
        prediction_format("x.txt")
    with pytest.raises(FormatError, match="unknown format"):
        prediction_format("x.csv", "xls")
    with pytest.raises(FormatError, match=r"writes \.h5 or \.hdf5"):
        prediction_format("x.csv", "h5")


def test_dlc_format_through_the_dispatcher(tmp_path):
    path = save_predictions(tmp_path / "dlc.csv", sample(), fmt="dlc")
    assert path.read_text().startswith("scorer,")
    back = load_predictions(path)
    assert back.names == SKELETON.names
    assert back.frame_indices.tolist() == list(range(16))  # every frame from 0, NaN between
    np.testing.assert_allclose(back.keypoints[::3], sample().keypoints, atol=1e-3)
    assert np.isnan(back.keypoints[1::3]).all()


def test_loading_other_files_fails_clearly(tmp_path):
    with pytest.raises(DpkError, match="not found"):
        load_predictions(tmp_path / "none.csv")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    with pytest.raises(DpkError, match=r"other\.h5"):
        load_predictions_h5(other)
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DpkError, match="cannot read predictions"):
        load_predictions(tmp_path / "x.txt")
    (tmp_path / "bad.csv").write_text("frame,a_x,a_y\n1,2,3\n")
    with pytest.raises(DpkError, match="multiple of 3"):
        load_predictions(tmp_path / "bad.csv")


def test_missing_folder_is_refused_before_writing(tmp_path):
    target = tmp_path / "nowhere" / "p.csv"
    with pytest.raises(OutputError, match=r"does not exist; create it first"):
        save_predictions(target, sample())
    with pytest.raises(OutputError, match="does not exist"):
        check_output(target)
    assert not target.parent.exists()


def test_read_only_location_is_refused(tmp_path):
    with pytest.raises(OutputError, match="cannot write in /proc"):
        check_writable("/proc/dpk-test.csv")
    if os.geteuid() != 0:  # root writes anywhere; /proc covers it
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        try:
            with pytest.raises(OutputError, match="cannot write"):
                save_predictions(folder / "p.h5", sample())
        finally:
            folder.chmod(0o700)


def test_a_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.h5"
    target.write_text("the previous version")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        Path(tmp).write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "the previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]
    bad = sample()
    bad.errors = {"not a frame": "x"}  # fails after the keypoints are written
    with pytest.raises(ValueError):
        save_predictions(tmp_path / "new.h5", bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]


def test_output_that_is_a_folder(tmp_path):
    with pytest.raises(OutputError, match="is a folder"):
        check_writable(tmp_path)


# ------------------------------------------------------------- .h5 dispatch by content
@pytest.mark.realdata
def test_a_deepposekit_h5_is_told_by_its_content(shared_data, tmp_path):
    import shutil

    from dpk.runtime.formats import hdf5_kind, load_predictions

    original = shared_data / "dpk-fly-example" / "example_annotation_set.h5"
    renamed = tmp_path / "CollectedData_fly.h5"  # a name that says DeepLabCut
    shutil.copy(original, renamed)
    for path in (original, renamed):
        assert hdf5_kind(path) == "dpk_annotations"
        with pytest.raises(DpkError) as info:
            load_predictions(path)
        message = str(info.value)
        assert message.startswith(f"{path}: a DeepPoseKit annotation set")
        assert "DeepLabCut" not in message and "pandas" not in message and "\n" not in message


def test_an_unknown_h5_gets_a_clear_message(tmp_path):
    import h5py

    from dpk.runtime.formats import hdf5_kind, load_predictions

    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["weights"] = np.zeros(3)
    assert hdf5_kind(path) == "unknown"
    with pytest.raises(DpkError, match=r"other.h5: an HDF5 file dpk does not recognise .*weights"):
        load_predictions(path)
    path.write_bytes(b"not hdf5")
    with pytest.raises(DpkError, match="not a readable HDF5 file"):
        load_predictions(path)

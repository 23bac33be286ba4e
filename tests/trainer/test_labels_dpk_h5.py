"""DeepPoseKit annotation HDF5: the real example file, its skeleton typo, and bad files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from dpk.specs import DpkError, Skeleton, SpecError
from dpk.trainer.labels import Labels
from dpk.trainer.labels.formats import dpk_h5
from dpk.trainer.labels.formats.dpk_h5 import (
    is_dpk_h5,
    load_dpk_h5,
    save_dpk_h5,
    skeleton_table,
    stored_keypoint_names,
)


@pytest.fixture(scope="module")
def fly_file(shared_data):
    return shared_data / "dpk-fly-example" / "example_annotation_set.h5"


@pytest.fixture(scope="module")
def fly_csv(shared_data):
    return shared_data / "dpk-fly-example" / "skeleton.csv"


def small_labels(n=3, k=3, size=16):
    rng = np.random.default_rng(1)
    return Labels(
        images=rng.integers(0, 255, (n, size, size, 1), dtype=np.uint8),
        keypoints=rng.uniform(0, size - 1, (n, k, 2)),
        skeleton=Skeleton(names=["a", "b", "c"], parents=[None, "a", "a"], swaps=[None, "c", "b"]),
        sources=[f"img{i}.png" for i in range(n)],
        annotated=rng.random((n, k)) > 0.5,
    )


def write_raw(path, **datasets):
    with h5py.File(path, "w") as f:
        for name, value in datasets.items():
            f.create_dataset(name, data=value)


@pytest.mark.realdata
def test_real_file_reports_the_skeleton_table_typo_by_default(fly_file):
    with pytest.raises(SpecError) as error:
        load_dpk_h5(fly_file)
    text = str(error.value)
    assert str(fly_file) in text and "skeleton row 23 (kp23)" in text
    assert "on_asymmetric_swap" in text


@pytest.mark.realdata
def test_real_file_reads_with_generic_names(fly_file):
    with pytest.warns(UserWarning, match="asymmetric"):
        labels = load_dpk_h5(fly_file, on_asymmetric_swap="accept")
    assert labels.images.shape == (100, 192, 192, 1)
    assert labels.keypoints.shape == (100, 32, 2)
    assert labels.names[:3] == ["kp0", "kp1", "kp2"]
    assert labels.skeleton.parents[1] == "kp0"
    assert labels.annotated is not None and not labels.annotated.any()
    assert labels.sources[5] == f"{fly_file}#image=5"
    with h5py.File(fly_file, "r") as f:
        np.testing.assert_array_equal(labels.keypoints, f["annotations"][()].astype(np.float32))
        np.testing.assert_array_equal(skeleton_table(labels.skeleton), f["skeleton"][()])


@pytest.mark.realdata
def test_real_file_with_its_csv_skeleton_warns_about_differing_swaps(fly_file, fly_csv):
    with pytest.warns(UserWarning) as record:
        labels = load_dpk_h5(fly_file, fly_csv, on_asymmetric_swap="repair")
    messages = " ".join(str(w.message) for w in record)
    assert "midlegR3: midlegL2 -> midlegL3" in messages  # the CSV typo, repaired
    assert "midlegL2: file says midlegR3, skeleton says midlegR2" in messages
    assert labels.names[:4] == ["head", "eyeL", "eyeR", "neck"]
    assert labels.skeleton.swaps[labels.names.index("midlegR3")] == "midlegL3"
    with pytest.raises(SpecError, match="line 14 \\(midlegR3\\)"):
        load_dpk_h5(fly_file, fly_csv)


@pytest.mark.realdata
def test_real_file_round_trip_is_identical(fly_file, tmp_path):
    with pytest.warns(UserWarning):
        labels = load_dpk_h5(fly_file, on_asymmetric_swap="accept")
    out = tmp_path / "copy.h5"
    save_dpk_h5(out, labels)
    with h5py.File(fly_file, "r") as a, h5py.File(out, "r") as b:
        for name in ("images", "annotations", "annotated", "skeleton"):
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)
            assert a[name].shape == b[name].shape
        assert b["annotations"].dtype == np.float64 and b["annotated"].dtype == bool
    assert stored_keypoint_names(out) == labels.names
    with pytest.warns(UserWarning):
        again = load_dpk_h5(out, on_asymmetric_swap="accept")
    np.testing.assert_array_equal(again.images, labels.images)
    np.testing.assert_array_equal(again.keypoints, labels.keypoints)
    np.testing.assert_array_equal(again.annotated, labels.annotated)
    assert again.skeleton == labels.skeleton
    assert list(tmp_path.iterdir()) == [out]


def test_names_survive_a_round_trip(tmp_path):
    labels = small_labels()
    path = tmp_path / "set.h5"
    save_dpk_h5(path, labels, compression="gzip")
    back = load_dpk_h5(path)
    assert back.names == ["a", "b", "c"] and back.skeleton.swaps == [None, "c", "b"]
    np.testing.assert_array_equal(back.annotated, labels.annotated)
    assert is_dpk_h5(path) and not is_dpk_h5(tmp_path / "nothing.h5")


def test_missing_flags_are_written_from_present_keypoints(tmp_path):
    labels = small_labels()
    labels.annotated = None
    labels.keypoints[0, 1] = np.nan
    save_dpk_h5(tmp_path / "set.h5", labels)
    with h5py.File(tmp_path / "set.h5", "r") as f:
        assert f["annotated"][0].tolist() == [True, False, True]


def test_given_skeleton_must_fit_the_file(tmp_path):
    path = tmp_path / "set.h5"
    save_dpk_h5(path, small_labels())
    with pytest.raises(DpkError, match="the file has 3 keypoints but the given skeleton has 2"):
        load_dpk_h5(path, Skeleton.from_names(["x", "y"]))
    other_parents = Skeleton(names=["x", "y", "z"], parents=[None, None, "x"])
    with pytest.raises(DpkError) as error:
        load_dpk_h5(path, other_parents)
    assert str(path) in str(error.value) and "parents differ" in str(error.value)


def test_truncated_file(tmp_path):
    path = tmp_path / "set.h5"
    save_dpk_h5(path, small_labels(n=20, size=64))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(DpkError) as error:
        load_dpk_h5(path)
    assert str(path) in str(error.value)
    assert not is_dpk_h5(path)


def test_not_hdf5_and_missing_file(tmp_path):
    path = tmp_path / "labels.h5"
    path.write_text("scorer,me\n")
    with pytest.raises(DpkError, match="not a readable HDF5 file") as error:
        load_dpk_h5(path)
    assert str(path) in str(error.value)
    with pytest.raises(DpkError, match="file not found"):
        load_dpk_h5(tmp_path / "absent.h5")


def test_missing_dataset_is_named(tmp_path):
    path = tmp_path / "labels.h5"
    write_raw(path, images=np.zeros((2, 8, 8, 1), np.uint8))
    with pytest.raises(DpkError) as error:
        load_dpk_h5(path)
    assert str(path) in str(error.value) and "'annotations'" in str(error.value)


@pytest.mark.parametrize(
    ("datasets", "message"),
    [
        ({"images": np.zeros((2, 8, 8, 1), np.float32)}, "must be uint8"),
        ({"annotations": np.zeros((3, 2, 2))}, "'annotations' must have shape (2, K, 2)"),
        ({"annotated": np.zeros((2, 3), bool)}, "'annotated' must have shape (2, 2)"),
        ({"skeleton": np.zeros((2, 2), np.float32)}, "'skeleton' must be integers"),
    ],
)
def test_inconsistent_datasets(tmp_path, datasets, message):
    values = {
        "images": np.zeros((2, 8, 8, 1), np.uint8),
        "annotations": np.ones((2, 2, 2)),
        "annotated": np.ones((2, 2), bool),
        "skeleton": np.array([[-1, -1], [0, -1]]),
    }
    values.update(datasets)
    path = tmp_path / "labels.h5"
    write_raw(path, **values)
    with pytest.raises(DpkError) as error:
        load_dpk_h5(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_label_outside_the_image(tmp_path):
    annotations = np.ones((2, 2, 2))
    annotations[1, 1] = [3.0, 9.2]
    path = tmp_path / "labels.h5"
    write_raw(path, images=np.zeros((2, 8, 8, 1), np.uint8), annotations=annotations)
    with pytest.raises(DpkError) as error:
        load_dpk_h5(path)
    text = str(error.value)
    assert str(path) in text and "'kp1'" in text and "frame 1" in text


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "set.h5"

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(dpk_h5, "skeleton_table", broken)
    with pytest.raises(DpkError, match=r"set\.h5: could not be written \(disk full\)"):
        save_dpk_h5(path, small_labels())  # one line naming the file, not a traceback
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DpkError, match="does not exist"):
        save_dpk_h5(tmp_path / "no" / "set.h5", small_labels())

"""DeepLabCut prediction tables: written and read back, for video and images, and label
tables read as predictions. The table writers here are shared with the label tests
(``tests/trainer/test_labels_dlc.py``)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from dpk.runtime.formats.dlc_predictions import load_predictions_dlc, save_predictions_dlc
from dpk.runtime.predictions import Predictions
from dpk.specs import DpkError, Skeleton

BODYPARTS = ["snout", "earL", "earR", "tail"]


# ------------------------------------------------------------------------ helpers
def write_table_csv(path, index, values, bodyparts=BODYPARTS, scorer="me", index_columns=1):
    """A CollectedData CSV as DeepLabCut writes it; ``index`` entries are paths."""
    pad = [""] * (index_columns - 1)
    lines = [
        ",".join(["scorer", *pad] + [scorer] * (2 * len(bodyparts))),
        ",".join(["bodyparts", *pad] + [b for b in bodyparts for _ in range(2)]),
        ",".join(["coords", *pad] + ["x", "y"] * len(bodyparts)),
    ]
    for entry, row in zip(index, values, strict=True):
        parts = entry.split("/") if index_columns > 1 else [entry]
        cells = ["" if np.isnan(v) else repr(float(v)) for v in np.asarray(row).reshape(-1)]
        lines.append(",".join(parts + cells))
    path.write_text("\n".join(lines) + "\n")


def _text_attrs(node, values):
    """Attributes as PyTables writes Python strings: fixed-length UTF-8, not variable length."""
    for key, value in values.items():
        if isinstance(value, bytes):
            dtype = h5py.string_dtype("utf-8", max(len(value), 1))
            node.attrs.create(key, np.array(value, dtype=dtype))
        else:
            node.attrs[key] = value


def _strings(values):
    return np.array([v.encode() for v in values], dtype=f"S{max(len(v) for v in values)}")


def _write_index(group, key, entries):
    """A pandas fixed-format index node: one level, or levels + codes for tuples."""
    array_attrs = {"CLASS": b"ARRAY", "VERSION": b"2.4", "TITLE": b"", "FLAVOR": b"numpy"}
    if isinstance(entries[0], tuple):
        _text_attrs(group, {f"{key}_variety": b"multi"})
        group.attrs[f"{key}_nlevels"] = np.int64(len(entries[0]))
        for level in range(len(entries[0])):
            values = sorted({e[level] for e in entries})
            node = group.create_dataset(f"{key}_level{level}", data=_strings(values))
            _text_attrs(node, array_attrs | {"kind": b"string", "transposed": np.uint8(1)})
            codes = np.array([values.index(e[level]) for e in entries], dtype=np.int8)
            node = group.create_dataset(f"{key}_label{level}", data=codes)
            _text_attrs(node, array_attrs | {"transposed": np.uint8(1)})
    else:
        _text_attrs(group, {f"{key}_variety": b"regular"})
        node = group.create_dataset(key, data=_strings(entries))
        _text_attrs(node, array_attrs | {"kind": b"string", "transposed": np.uint8(1)})


def write_table_h5(path, index, values, bodyparts=BODYPARTS, scorer="me"):
    """A CollectedData HDF5 in the layout pandas' ``to_hdf`` (fixed format) writes.

    Checked against pandas 3.1 + PyTables 3.11: pandas reads these files back as the
    same DataFrame, and this layout matches what it writes.
    """
    columns = [(scorer, b, c) for b in bodyparts for c in ("x", "y")]
    with h5py.File(path, "w") as f:
        group = f.create_group("df_with_missing")
        _text_attrs(
            group,
            {
                "CLASS": b"GROUP",
                "VERSION": b"1.0",
                "TITLE": b"",
                "pandas_type": b"frame",
                "pandas_version": b"0.15.2",
                "encoding": b"UTF-8",
                "errors": b"strict",
                "ndim": np.int64(2),
                "nblocks": np.int64(1),
            },
        )
        _write_index(group, "axis0", columns)
        rows = [tuple(e.split("/")) for e in index] if "/" in index[0] else list(index)
        _write_index(group, "axis1", rows)
        _write_index(group, "block0_items", columns)
        data = np.asarray(values, dtype=np.float64).reshape(len(index), -1)
        node = group.create_dataset("block0_values", data=data)
        _text_attrs(node, {"CLASS": b"ARRAY", "VERSION": b"2.4", "transposed": np.uint8(1)})


# ------------------------------------------------------------------------ predictions
def make_predictions(image_names=None):
    rng = np.random.default_rng(3)
    keypoints = rng.uniform(0, 50, (4, 3, 3)).astype(np.float32)
    keypoints[1, 2] = np.nan
    keypoints[2] = np.nan
    return Predictions(
        keypoints=keypoints,
        frame_indices=np.array([0, 5, 6, 9]),
        skeleton=Skeleton(names=["nose", "earL", "earR"]),
        source="video.mp4",
        image_names=image_names,
    )


def test_predictions_round_trip_for_video(tmp_path):
    predictions = make_predictions()
    path = tmp_path / "poses.csv"
    save_predictions_dlc(path, predictions)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("scorer,dpk,dpk,dpk,")
    assert lines[1].startswith("bodyparts,nose,nose,nose,earL")
    assert lines[2].startswith("coords,x,y,likelihood,x,y,likelihood")
    assert len(lines) == 3 + 10  # one row per frame from 0 to the last
    assert lines[3 + 6] == "6" + ",NaN" * 9  # an unreadable frame
    assert lines[3 + 1] == "1" + ",NaN" * 9  # a frame not predicted
    back = load_predictions_dlc(path)
    assert back.frame_indices.tolist() == list(range(10))
    assert back.names == ["nose", "earL", "earR"] and back.image_names is None
    np.testing.assert_array_equal(back.keypoints[[0, 5, 6, 9]], predictions.keypoints)
    assert np.isnan(back.keypoints[[1, 2, 3, 4, 7, 8]]).all()
    assert list(tmp_path.iterdir()) == [path]


def test_predictions_round_trip_for_images(tmp_path):
    names = ["a.png", "b.png", "c.png", "d.png"]
    path = tmp_path / "poses.csv"
    save_predictions_dlc(path, make_predictions(image_names=names))
    back = load_predictions_dlc(path, skeleton=Skeleton(names=["nose", "earL", "earR"]))
    assert back.image_names == names and back.frame_indices.tolist() == [0, 1, 2, 3]
    with pytest.raises(DpkError, match="do not match"):
        load_predictions_dlc(path, skeleton=Skeleton(names=["x", "y", "z"]))


def test_label_tables_read_as_predictions_get_full_confidence(tmp_path):
    values = np.ones((2, 4, 2))
    values[1, 0] = np.nan
    write_table_csv(tmp_path / "labels.csv", ["7", "8"], values)
    back = load_predictions_dlc(tmp_path / "labels.csv")
    assert back.frame_indices.tolist() == [7, 8]
    assert back.keypoints[0, :, 2].tolist() == [1, 1, 1, 1]
    assert np.isnan(back.keypoints[1, 0]).all()

"""DeepLabCut analysis output: one row per frame from 0, likelihood in [0, 1], the .h5 in
DeepLabCut's pandas layout, a multi-animal header, round trips through pandas and dpk,
on a real video. (sleap_io.load_dlc reads DeepLabCut's labelled-frame tables, whose index
names images, not analysis output: it finds no frames in either file.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dpk.runtime.formats import load_predictions
from dpk.runtime.formats.dlc_predictions import H5_KEY, dlc_dataframe

pytest.importorskip("tables")


def test_real_video_with_start_and_step_as_csv_and_h5(run_cli, shared_data, model_path, tmp_path):
    video = shared_data / "sleap-fly-clip" / "clip.mp4"
    csv, h5, ref = tmp_path / "p.csv", tmp_path / "p.h5", tmp_path / "ref.h5"
    code, _, err = run_cli(
        "predict", video, "-m", model_path, "-o", csv, "-o", h5, "-o", ref,
        "--format", "dlc", "--format", "dlc", "--format", "h5",
        "--start", "5", "--stop", "40", "--step", "4", "-q",
    )  # fmt: skip
    assert code == 0, err
    expected = load_predictions(ref)  # dpk's own HDF5: frames 5, 9, ..., 37
    assert expected.frame_indices.tolist() == list(range(5, 40, 4))

    frame = pd.read_hdf(h5, key=H5_KEY)
    assert list(frame.columns.names) == ["scorer", "bodyparts", "coords"]
    assert frame.columns.get_level_values("coords")[:3].tolist() == ["x", "y", "likelihood"]
    assert frame.index.tolist() == list(range(38))  # one row per frame from 0
    values = frame.to_numpy().reshape(38, -1, 3)
    np.testing.assert_allclose(values[5::4], expected.keypoints, rtol=1e-6)
    assert np.isnan(np.delete(values, np.s_[5::4], axis=0)).all()
    likelihood = frame.xs("likelihood", axis=1, level="coords").to_numpy()
    assert np.nanmax(likelihood) <= 1 and np.nanmin(likelihood) >= 0

    table = pd.read_csv(csv, header=[0, 1, 2], index_col=0)
    assert table.shape == frame.shape
    np.testing.assert_allclose(table.to_numpy(), frame.to_numpy(), rtol=1e-6)

    for path in (csv, h5):
        back = load_predictions(path)
        assert back.frame_indices.tolist() == list(range(38))
        np.testing.assert_allclose(back.keypoints[5::4], expected.keypoints, rtol=1e-6)


def test_multi_animal_header():
    values = np.arange(2 * 2 * 3 * 3, dtype=float).reshape(2, 2, 3, 3)
    frame = dlc_dataframe(values, ["a", "b", "c"], individuals=["female", "male"])
    assert list(frame.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    assert frame[("dpk", "male", "b", "y")].tolist() == [values[0, 1, 1, 1], values[1, 1, 1, 1]]
    single = dlc_dataframe(values[:, 0], ["a", "b", "c"])
    assert single.columns.nlevels == 3 and single.shape == (2, 9)

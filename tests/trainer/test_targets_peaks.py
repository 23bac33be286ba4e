"""Targets and subpixel peaks share one coordinate convention (DESIGN.md, section 2)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from dpk.specs import ModelSpec, Preprocessing, Skeleton, Targets
from dpk.trainer.export.peaks_onnx import peak_finder_model
from dpk.trainer.peaks import find_peaks, fit_offsets
from dpk.trainer.targets import (
    TargetLayout,
    draw_targets,
    draw_targets_batch,
    input_to_map,
    map_to_input,
)

TREE = Skeleton(
    names=["head", "thorax", "abdomen", "wingL", "wingR", "tail"],
    parents=["thorax", None, "thorax", "thorax", "thorax", None],
    swaps=[None, None, None, "wingR", "wingL", None],
)


@pytest.mark.parametrize("downsample", [0, 1, 2, 3])
def test_round_trip_any_stride(downsample):
    """Draw at a random subpixel location, decode, get it back within 0.05 input px."""
    rng = np.random.default_rng(downsample)
    targets = Targets(sigma=5.0, downsample_factor=downsample, graph=False)
    stride = targets.stride
    layout = TargetLayout.from_skeleton(TREE, graph=False)
    height, width = 96, 136
    shape = (height // stride, width // stride)
    for _ in range(20):
        keypoints = np.column_stack([rng.uniform(0, width - 1, 6), rng.uniform(0, height - 1, 6)])
        maps = draw_targets(keypoints, layout, targets, shape)
        found = find_peaks(maps[None], stride, targets.sigma, 6)[0]
        inside = (input_to_map(keypoints, stride) >= -0.5).all(axis=1) & (
            input_to_map(keypoints, stride) <= np.array(shape[::-1]) - 0.5
        ).all(axis=1)
        error = np.abs(found[inside, :2] - keypoints[inside]).max()
        assert error < 0.05, error
        # confidence is the map's maximum: 1 at stride 1, a little less between pixels
        sigma_map = targets.sigma / stride
        floor = np.exp(-(0.5**2 + 0.5**2) / (2 * sigma_map**2))
        assert (found[inside, 2] <= 1.0 + 1e-6).all() and (found[inside, 2] >= floor - 1e-6).all()


def test_pixel_centre_convention():
    assert input_to_map(np.array([0.0]), 1)[0] == 0.0
    # stride 4: map pixel 0 covers input pixels 0..3, centre 1.5
    assert input_to_map(np.array([1.5]), 4)[0] == 0.0
    np.testing.assert_allclose(map_to_input(input_to_map(np.array([7.3]), 8), 8), [7.3])


def test_layout_and_map_count_match_spec():
    spec = ModelSpec(
        skeleton=TREE, preprocessing=Preprocessing(height=64, width=64), targets={"graph": True}
    )
    layout = TargetLayout.from_skeleton(TREE, graph=True)
    assert layout.n_maps == spec.n_output_maps == 6 + 1 + 4 + 1 + 1
    assert layout.groups == ((1, (0, 1, 2, 3)),)
    names = layout.map_names(TREE.names)
    assert names[6] == "group:thorax" and names[7] == "edge:head-thorax" and names[-1] == "global"
    maps = draw_targets_batch(np.full((2, 6, 2), 30.0), spec, (16, 16))
    assert maps.shape == (2, 16, 16, spec.n_output_maps) and maps.dtype == np.float32


def test_graph_maps_are_lines():
    targets = Targets(sigma=4.0, downsample_factor=0, graph=True, graph_scale=0.5)
    layout = TargetLayout.from_skeleton(TREE, graph=True)
    keypoints = np.array(
        [[10, 30], [40, 30], [70, 30], [40, 10], [40, 50], [5, 5]], dtype=np.float64
    )
    maps = draw_targets(keypoints, layout, targets, (64, 96))
    head_thorax = maps[..., 7]
    # on the segment between head (10, 30) and thorax (40, 30): full value (x graph_scale)
    assert head_thorax[30, 25] == pytest.approx(0.5, abs=1e-6)
    # beyond the end of the segment it falls off like a Gaussian of the distance
    assert head_thorax[30, 2] == pytest.approx(0.5 * np.exp(-(8**2) / 32), abs=1e-6)
    # the global map contains the isolated root 'tail' as a point
    assert maps[5, 5, -1] == pytest.approx(0.5)
    # keypoint maps are not scaled
    assert maps[30, 10, 0] == pytest.approx(1.0)
    # every map within [0, scale or 1]
    assert np.nanmax(maps[..., 6:]) <= 0.5 + 1e-6


def test_missing_keypoints_are_masked():
    targets = Targets(sigma=3.0, downsample_factor=1, graph=True)
    layout = TargetLayout.from_skeleton(TREE, graph=True)
    keypoints = np.array([[np.nan, np.nan], [20, 20], [30, 20], [20, 10], [20, 30], [5, 5]])
    maps = draw_targets(keypoints, layout, targets, (24, 24))
    assert np.isnan(maps[..., 0]).all()  # head map masked
    assert np.isnan(maps[..., 7]).all()  # edge head-thorax masked
    assert not np.isnan(maps[..., 8]).any()  # edge abdomen-thorax drawn
    unmasked = draw_targets(
        keypoints, layout, targets.model_copy(update={"mask_missing": False}), (24, 24)
    )
    assert (unmasked[..., 0] == 0).all() and (unmasked[..., 7] == 0).all()


def test_peak_at_map_edge_is_exact():
    """A truncated peak (keypoint on the border) is still found exactly."""
    targets = Targets(sigma=5.0, downsample_factor=2, graph=False)
    layout = TargetLayout.from_skeleton(Skeleton.from_names(["a"]), graph=False)
    for point in ([0.2, 30.0], [63.4, 0.0], [1.5, 62.9]):
        maps = draw_targets(np.array([point]), layout, targets, (16, 16))
        found = find_peaks(maps[None], 4, 5.0)[0, 0]
        np.testing.assert_allclose(found[:2], point, atol=0.01)


def test_fit_offsets_flat_and_dip_profiles_give_zero():
    assert fit_offsets(np.ones(5))[()] == 0.0
    assert abs(fit_offsets(np.array([1.0, 0.5, 0.2, 0.5, 1.0]))[()]) < 1e-6
    assert abs(fit_offsets(np.array([0.0, 0.0, 1.0, 0.0, 0.0]))[()]) < 1e-6


@pytest.mark.parametrize(
    "shape,stride", [((40, 40), 4), ((37, 53), 2), ((96, 80), 1), ((12, 13), 8)]
)
def test_onnx_peak_finder_equals_numpy(shape, stride):
    rng = np.random.default_rng(1)
    model = peak_finder_model(*shape, 9, n_keypoints=6, stride=stride, sigma=5.0)
    ops = {node.op_type for node in model.graph.node}
    assert not ops & {"DFT", "BitShift", "BitwiseAnd", "Bitcast"}
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    # random maps are the hardest case for the fit; peaked ones the usual
    maps = rng.random((4, *shape, 9)).astype(np.float32)
    maps[0] = draw_targets(
        rng.uniform(0, 30, (9, 2)),
        TargetLayout.from_skeleton(Skeleton.from_names([str(i) for i in range(9)]), False),
        Targets(sigma=5.0, downsample_factor={1: 0, 2: 1, 4: 2, 8: 3}[stride], graph=False),
        shape,
    )
    got = session.run(None, {"maps": maps})[0]
    want = find_peaks(maps, stride, 5.0, 6)
    assert got.shape == (4, 6, 3)
    np.testing.assert_allclose(got, want, atol=1e-3)

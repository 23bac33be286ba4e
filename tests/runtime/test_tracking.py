"""Tracks across frames: assignment with constant-velocity prediction, gaps, new animals."""

from __future__ import annotations

import numpy as np
import pytest

from dpk.runtime import tracking
from dpk.runtime.tracking import assign, track_instances


def two_animals(n: int = 40) -> np.ndarray:
    """(N, 2, 3, 2): animal 0 moves right, animal 1 left; their paths cross mid-clip."""
    t = np.arange(n, dtype=float)
    body = np.array([[0.0, 0.0], [5.0, 0.0], [10.0, 0.0]])
    a = np.stack([10 + 4 * t, 50 + 0 * t], axis=1)[:, None] + body
    b = np.stack([170 - 4 * t, 54 + 0 * t], axis=1)[:, None] + body
    return np.stack([a, b], axis=1)


def test_crossing_animals_keep_their_ids_when_rows_are_shuffled():
    points = two_animals()
    rng = np.random.default_rng(0)
    flip = rng.random(len(points)) < 0.5
    shuffled = points.copy()
    shuffled[flip] = points[flip][:, ::-1]
    ids = track_instances(shuffled, max_distance=20)
    truth = np.where(flip[:, None], [[1, 0]], [[0, 1]])
    assert ((ids == truth).all(axis=1) | (ids == 1 - truth).all(axis=1)).all()
    assert (ids == truth).all() or (ids == 1 - truth).all()


def test_absent_rows_get_minus_one_and_gaps_are_bridged():
    points = two_animals(30)
    points[10:14, 1] = np.nan  # animal 1 unseen for 4 frames
    ids = track_instances(points, max_distance=20, max_gap=5)
    assert (ids[10:14, 1] == -1).all()
    assert set(ids[:, 1][ids[:, 1] >= 0]) == {1}


def test_long_gap_and_new_animals_start_new_tracks():
    points = two_animals(30)
    points[10:20, 1] = np.nan
    ids = track_instances(points, max_distance=20, max_gap=3)
    assert ids[25, 1] == 2 and ids[25, 0] == 0


@pytest.mark.parametrize("scipy", [True, False])
def test_assignment_with_and_without_scipy(scipy, monkeypatch):
    if not scipy:
        import builtins

        real = builtins.__import__

        def no_scipy(name, *args, **kwargs):
            if name.startswith("scipy"):
                raise ImportError(name)
            return real(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", no_scipy)
    cost = np.array([[4.0, 1.0, np.inf], [2.0, 8.0, 3.0]])
    assert sorted(assign(cost)) == [(0, 1), (1, 0)]
    assert assign(np.full((2, 2), np.inf)) == []
    assert tracking.assign(np.zeros((0, 3))) == []

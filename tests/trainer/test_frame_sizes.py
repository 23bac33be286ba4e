"""Whole-frame examples of one video must share a size (pose models without crops, anchor
models): frames of another size give one line naming the file, the frame and the fix."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dpk.specs import DpkError
from dpk.trainer.data.formats.sleap import _check_same_size


def test_a_frame_of_another_size_names_file_frame_and_fix():
    sleap = SimpleNamespace(path=Path("flies.slp"), video_key="clip.mp4")
    images = [np.zeros((20, 30, 1), np.uint8)]
    _check_same_size(sleap, images, np.zeros((20, 30, 1), np.uint8), 1, "fix it")
    _check_same_size(sleap, [], np.zeros((5, 5, 1), np.uint8), 0, "fix it")  # the first frame
    with pytest.raises(DpkError) as info:
        _check_same_size(sleap, images, np.zeros((24, 32, 1), np.uint8), 7, "add data.crop")
    message = str(info.value)
    assert message.startswith("flies.slp: frames of clip.mp4 differ in size (30x20 and 32x24")
    assert "at frame 7" in message and message.endswith("add data.crop")
    assert "\n" not in message

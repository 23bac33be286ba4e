"""Test-time augmentation: the maps of an image averaged over its four quarter turns.

A model trained with rotations up to 180 degrees has learnt every quarter turn of an
image, and its errors at the four turns are partly independent, so the mean of the four
maps (each turned back) has a sharper, better-placed peak than any one of them. On a
square input whose side is a multiple of the output stride ``s`` the map grid turns onto
itself exactly: map pixel ``j`` is centred on input pixel ``s * j + (s - 1) / 2``, which a
quarter turn of the image maps onto the centre of map pixel ``h - 1 - j``. Rotations keep
left and right, so no keypoint swaps are involved (flips would need them, and a model
that never saw a mirrored animal does worse on one: measured, see docs/benchmarks.md).

The averaging is part of the model the exporter converts, so the ONNX file, ``dpk
evaluate`` and ``dpk predict`` all see the same maps; training and its per-epoch
validation run the plain network. When to use it is the spec's
``augmentation.test_time`` (``ModelSpec.quarter_turns_at_test_time``).
"""

from __future__ import annotations

import keras
from keras import ops

from dpk.specs import ModelSpec

__all__ = ["inference_model", "quarter_turn_average"]


def _turn(x, times: int):
    """``x`` (N, H, W, C) turned by ``times`` quarter turns counter-clockwise (np.rot90)."""
    for _ in range(times % 4):
        x = ops.flip(ops.transpose(x, (0, 2, 1, 3)), axis=1)
    return x


def quarter_turn_average(model: keras.Model, spec: ModelSpec) -> keras.Model:
    """A model whose one output is ``model``'s last maps averaged over four quarter turns.

    Args:
        model: A dpk model (uint8 input ``image``; its last output is the final maps).
        spec: Its spec; the input must be square, its side a multiple of the stride.

    Returns:
        A Keras model with the same input and one output, the averaged maps.
    """
    pre = spec.preprocessing
    if not spec.map_grid_turns_onto_itself:
        raise ValueError(
            f"quarter turns need a square input whose side is a multiple of the stride "
            f"{spec.targets.stride}, not {pre.height}x{pre.width}"
        )
    image = keras.Input((pre.height, pre.width, pre.channels), dtype="uint8", name="image")
    batch = ops.concatenate([_turn(image, t) for t in range(4)], axis=0)
    outputs = model(batch)
    maps = outputs[-1] if isinstance(outputs, list | tuple) else outputs
    turned = ops.split(maps, 4, axis=0)
    average = sum(_turn(m, -t) for t, m in enumerate(turned)) / 4.0
    return keras.Model(image, average, name=f"{model.name}_quarter_turns")


def inference_model(model: keras.Model, spec: ModelSpec) -> keras.Model:
    """The model as the exported file runs it: averaged over quarter turns when the spec
    asks for it (:attr:`ModelSpec.quarter_turns_at_test_time`), else ``model`` itself."""
    if spec.quarter_turns_at_test_time:
        return quarter_turn_average(model, spec)
    return model

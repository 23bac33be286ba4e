"""A short training run on real frames (the SLEAP fly clip) lowers the validation error."""

from __future__ import annotations

import numpy as np
import pytest

from dpk.specs import ModelSpec


@pytest.mark.slow
@pytest.mark.realdata
def test_short_real_training_lowers_validation_error(shared_data, tmp_path):
    from dpk.trainer.data import load_training_data
    from dpk.trainer.metrics import error_summary, euclidean_errors
    from dpk.trainer.models import build_model
    from dpk.trainer.training import train_arrays
    from dpk.trainer.training.callbacks import predict_keypoints

    spec = ModelSpec.model_validate(
        {
            "name": "fly_short",
            "skeleton": {
                "names": ["head", "thorax", "abdomen"],
                "parents": ["thorax", None, "thorax"],
            },
            "preprocessing": {"height": 96, "width": 96},
            "architecture": {"type": "stacked_densenet", "n_stacks": 1, "growth_rate": 8},
            "targets": {"sigma": 6.0, "downsample_factor": 3, "graph": False},
            "augmentation": {
                "flip_lr": 0.0,
                "affine": 0.0,
                "noise": 0.0,
                "dropout": 0.0,
                "blur": 0.0,
                "contrast": 0.0,
                "brightness": 0.0,
            },
            "data": {
                "path": str(shared_data / "sleap-fly-clip" / "clip.slp"),
                "crop": {"anchor": "thorax", "size": 96},
                "train_frames": {"start": 1000, "stop": 1150},
                "validation_frames": {"start": 1200, "stop": 1230},
            },
            "training": {
                "epochs": 6,
                "batch_size": 16,
                "learning_rate": 0.003,
                "workers": 2,
                "early_stopping": {"enabled": False},
                "schedule": {"type": "constant"},
            },
        }
    )
    train, validation = load_training_data(spec, tmp_path)
    assert train.images.shape == (300, 96, 96, 1) and validation.images.shape == (60, 96, 96, 1)
    import keras

    keras.utils.set_random_seed(0)
    model = build_model(spec)
    before = error_summary(
        euclidean_errors(predict_keypoints(model, spec, validation.images), validation.keypoints)
    )
    result = train_arrays(
        spec,
        train.images,
        train.keypoints,
        validation.images,
        validation.keypoints,
        tmp_path,
        model=model,
        verbose=0,
    )
    after = result.report["overall"]
    assert after["mean"] < 0.6 * before["mean"], (before, after)
    assert np.isfinite(after["median"]) and after["median"] < 10.0

"""``dpk evaluate``: run a trained model on labelled frames and write metrics and plots."""

from __future__ import annotations

from pathlib import Path

from dpk.specs import DpkError, load_spec
from dpk.trainer.evaluate import EvaluationResult, evaluate_arrays

__all__ = ["evaluate_model_file", "evaluate_run"]


def _frames_for(spec, run_dir: Path, data: Path | None):
    from dpk.trainer.data import load_training_data

    if data is None:
        _, validation = load_training_data(spec, run_dir)
        return validation
    if data.suffix.lower() in (".yaml", ".yml", ".json"):
        other = load_spec(data)
        if other.data is None:
            raise DpkError(f"{data}: the spec has no data section to evaluate on")
        if other.skeleton.names != spec.skeleton.names:
            raise DpkError(
                f"{data}: its keypoints ({', '.join(other.skeleton.names)}) differ from the "
                f"model's ({', '.join(spec.skeleton.names)})"
            )
        merged = spec.model_copy(update={"data": other.data})
        _, validation = load_training_data(merged, data.resolve().parent)
        return validation
    from dpk.specs import DataSpec

    merged = spec.model_copy(
        update={
            "data": DataSpec(path=str(data.resolve()), crop=spec.data.crop if spec.data else None)
        }
    )
    merged = merged.model_copy(
        update={"training": merged.training.model_copy(update={"validation_fraction": 0.0})}
    )
    everything, _ = load_training_data(merged, data.resolve().parent)
    return everything


def evaluate_run(
    run_dir: str | Path,
    *,
    data: str | Path | None = None,
    out_dir: str | Path | None = None,
    which: str = "best",
) -> EvaluationResult:
    """Evaluate a run folder's model.

    Args:
        run_dir: The run folder.
        data: None for the run's own validation frames; a spec file to use its data
            section's validation frames; or a labels file to use all its frames.
        out_dir: Where metrics.json and the plots go (default ``RUN/evaluation``).
        which: ``best`` or ``last`` checkpoint.

    An anchor model's errors are per animal: its anchors are matched to the labelled
    animals first, and a missed animal has no error (its share is the overall count's
    shortfall).
    """
    from dpk.trainer.training import load_run
    from dpk.trainer.training.callbacks import predict_keypoints

    run_dir = Path(run_dir)
    spec, model = load_run(run_dir, which)
    frames = _frames_for(spec, run_dir, Path(data) if data else None)
    if len(frames.images) == 0:
        raise DpkError("no labelled frames to evaluate on")
    from dpk.trainer.models.test_time import inference_model

    predicted = predict_keypoints(inference_model(model, spec), spec, frames.images)
    if spec.targets.anchor is not None:  # one column per animal: anchors matched to them
        from dpk.trainer.anchors import anchor_skeleton
        from dpk.trainer.training.callbacks import matched

        predicted = matched(predicted, frames.keypoints, spec)
        columns = anchor_skeleton(spec.skeleton.names[0], frames.keypoints.shape[1])
        spec = spec.model_copy(update={"skeleton": columns})
    return evaluate_arrays(
        spec,
        frames.images,
        predicted,
        frames.keypoints,
        Path(out_dir or run_dir / "evaluation"),
        frame_transform=frames.frame_transform,
    )


def evaluate_model_file(
    run_dir: str | Path, model_file: str | Path, *, out_dir: str | Path
) -> EvaluationResult:
    """Evaluate an exported model file (a float16 or int8 variant, say) on its run's
    held-out frames, with onnxruntime, exactly as :func:`evaluate_run` evaluates the
    Keras checkpoint.

    Args:
        run_dir: The run folder the file was exported from (its spec and data).
        model_file: The ``.onnx`` file.
        out_dir: Where metrics.json and the plots go.

    Raises:
        DpkError: An anchor model (its keypoints are per animal, not per keypoint), or no
            labelled frames.
    """
    from dpk.trainer.export.variants import run_keypoints

    run_dir = Path(run_dir)
    spec = load_spec(run_dir / "spec.yaml")
    if spec.targets.anchor is not None:
        raise DpkError(f"{model_file}: an anchor model; evaluate its run (dpk evaluate) instead")
    frames = _frames_for(spec, run_dir, None)
    if len(frames.images) == 0:
        raise DpkError(f"{run_dir}: no labelled frames to evaluate on")
    predicted = run_keypoints(str(model_file), frames.images)
    return evaluate_arrays(
        spec,
        frames.images,
        predicted,
        frames.keypoints,
        Path(out_dir),
        frame_transform=frames.frame_transform,
    )

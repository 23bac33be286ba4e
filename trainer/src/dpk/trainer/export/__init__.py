"""Export: one self-describing ONNX file per model, plus optional float16/int8 CPU variants."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dpk.trainer.export.exporter import ExportError, ExportReport, export_onnx
from dpk.trainer.export.variants import (
    VariantReport,
    compare_models,
    export_paths,
    to_float16,
    to_int8,
    variant_path,
)

__all__ = [
    "ExportError",
    "ExportReport",
    "VariantReport",
    "compare_models",
    "export_onnx",
    "export_paths",
    "export_run",
    "to_float16",
    "to_int8",
    "variant_path",
]


def export_run(
    run_dir: str | Path,
    output: str | Path,
    *,
    which: str = "best",
    include_maps: bool = True,
    precision: str = "fp32",
    quantize: str | None = None,
) -> list:
    """Export a run folder's model; returns the reports (the float32 file first).

    With ``precision="fp16"`` or ``quantize="int8"`` the float32 file is written to
    ``output`` and the variant beside it (``NAME.fp16.onnx`` / ``NAME.int8.onnx``), each
    compared with the float32 model on the run's held-out frames.
    """
    from dpk.trainer.models import count_flops
    from dpk.trainer.training import load_run

    run_dir = Path(run_dir)
    spec, model = load_run(run_dir, which)
    check = np.load(run_dir / "check_images.npz")
    validation = check["validation"] if len(check["validation"]) else check["train"]
    labels = check["validation_keypoints"] if "validation_keypoints" in check.files else None
    output = Path(output)
    reports: list = [
        export_onnx(
            model,
            spec,
            output,
            check_images=validation,
            include_maps=include_maps,
            flops=count_flops(model),
        )
    ]
    if precision == "fp16":
        target = variant_path(output, "fp16")
        to_float16(output, target)
        reports.append(compare_models(output, target, validation, labels))
    if quantize == "int8":
        target = variant_path(output, "int8")
        to_int8(output, target, check["train"])
        reports.append(compare_models(output, target, validation, labels))
    return reports

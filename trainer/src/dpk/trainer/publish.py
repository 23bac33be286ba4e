"""``dpk publish``: turn a trained run into a zoo model with a complete model card.

Exports the run (or takes an exported file), measures the held-out accuracy (the run's
evaluation) and the CPU speed (``dpk benchmark``), writes the card into the ONNX file's
metadata, and adds a checksummed entry to a registry (the shipped one for models that
ship inside ``dpk-zoo``).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import onnx

from dpk.runtime.model_file import META_CARD
from dpk.specs import DpkError, ModelCard, SpeedMeasurement, TrainingData, ZooEntry
from dpk.specs.files import check_writable, write_bytes_atomic
from dpk.specs.portable import portable_card
from dpk.trainer.version import __version__

__all__ = ["PublishResult", "publish_run", "target_registry"]

CARD_METRICS = (
    "median",
    "mean",
    "p95",
    "pck_2px",
    "pck_5px",
    "pck_10px",
    "mean_accuracy",
    "share_over_20px",
)


@dataclass
class PublishResult:
    """The entry written and where the model file is."""

    entry: ZooEntry
    model_file: Path
    registry: Path

    def summary(self) -> str:
        """Lines for the terminal."""
        m = self.entry.metrics
        speed = ", ".join(f"{k}: {v:.1f} fps" for k, v in self.entry.speed.items())
        return (
            f"published {self.entry.name} ({self.entry.size / 1e6:.1f} MB, sha256 {self.entry.sha256[:12]}...) "
            f"to {self.registry}\n"
            f"held-out error median {m.get('error_median_px', float('nan')):.2f} px, mean "
            f"{m.get('error_mean_px', float('nan')):.2f} px; speed {speed}"
        )


def publish_run(
    run_dir: str | Path,
    name: str,
    *,
    registry: str | Path | None = None,
    packaged: bool = False,
    urls: tuple[str, ...] = (),
    license: str = "MIT",
    training_data: str,
    data_source: str = "",
    data_license: str,
    description: str = "",
    threads: int | None = None,
    which: str = "best",
    quantize: Literal["int8"] | None = None,
) -> PublishResult:
    """Publish a run folder as a zoo model.

    Args:
        run_dir: The run folder (trained with ``dpk train``).
        name: Zoo name, ``architecture.dataset`` with an optional ``:tag``.
        registry: Registry file to add the entry to (default: the user's registry,
            ``$DPK_HOME/registry/registry.yaml``; with ``packaged``, the registry shipped
            inside the installed dpk-zoo package).
        packaged: Copy the model into the registry's ``models/`` folder (for the shipped
            registry: inside the installed package).
        urls: Download mirrors of the model file.
        license: Licence of the model weights.
        training_data: Name of the training data.
        data_source: Where the training data comes from.
        data_license: Licence of the training data.
        description: One line for ``dpk zoo list``.
        threads: CPU threads for the speed measurement.
        which: The checkpoint to publish, ``best`` or ``last`` (evaluated afresh when it
            is ``last``).
        quantize: ``"int8"`` publishes the int8 variant (``dpk export --quantize int8``)
            instead of the float32 file; its card's errors are measured on the int8 file
            itself, on the run's held-out frames.
    """
    from dpk.runtime.benchmark import benchmark_model, machine_description
    from dpk.trainer.evaluation_run import evaluate_model_file
    from dpk.trainer.export import export_run, variant_path
    from dpk.zoo import add_entry, make_entry

    run_dir = Path(run_dir)
    if not packaged and not urls:
        raise DpkError("give --url (where the file will be downloaded from) or --packaged")
    registry = target_registry(registry, packaged=packaged)
    file_name = name.replace(":", "_") + ".onnx"
    kept = run_dir / "export" / file_name
    check_writable(registry)  # before the slow evaluation, export and benchmark
    check_writable(kept if kept.parent.is_dir() else kept.parent)
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise DpkError(f"{run_dir}: no summary.json; finish training first (dpk train)")
    summary = json.loads(summary_path.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        exported = Path(tmp) / file_name
        export_report = export_run(run_dir, exported, which=which, quantize=quantize)
        if quantize is not None:  # the card's errors are the published file's own
            exported = variant_path(exported, "int8")
            report = evaluate_model_file(run_dir, exported, out_dir=Path(tmp) / "evaluation").report
        else:
            report = _checkpoint_report(run_dir, which, Path(tmp) / "evaluation")
        metrics = {
            f"error_{k}_px" if k in ("median", "mean", "p95") else k: float(report["overall"][k])
            for k in CARD_METRICS
        }
        model_file, results, _ = benchmark_model(
            exported, batch_sizes=(1, 100), devices=["cpu"], threads=threads
        )
        spec = model_file.spec
        machine = machine_description()
        speed = [
            SpeedMeasurement(
                provider=r.provider, batch_size=r.batch_size, fps=r.fps, machine=machine
            )
            for r in results
        ]
        card = ModelCard(
            description=description or f"{spec.architecture.type} on {training_data}",
            license=license,
            training_data=TrainingData(
                name=training_data,
                source=data_source,
                license=data_license,
                n_train=summary.get("n_train"),
                n_validation=summary.get("n_validation"),
                description=_data_description(spec),
            ),
            metrics=metrics,
            speed=speed,
            training={
                "architecture": spec.architecture.model_dump(mode="json"),
                "epochs": summary.get("epochs_done"),
                "minutes": round(float(summary.get("minutes", 0.0)), 1),
                "stopped": summary.get("stopped"),
                "machine": machine,
                "batch_size": spec.training.batch_size,
                "learning_rate": spec.training.learning_rate,
                "schedule": spec.training.schedule.type,
                "loss_normalization": spec.training.loss_normalization,
                "foreground_weight": spec.training.foreground_weight,
                "seed": spec.training.seed,
                "precision": quantize or "fp32",
            },
            created=date.today().isoformat(),
            dpk_version=__version__,
        )
        proto = onnx.load(str(exported))
        for prop in proto.metadata_props:
            if prop.key == META_CARD:
                prop.value = portable_card(card).model_dump_json()
        published = Path(tmp) / "publish" / file_name
        published.parent.mkdir()
        onnx.save(proto, str(published))
        entry = make_entry(
            published,
            name,
            urls=list(urls),
            packaged=packaged,
            license=license,
            training_data=training_data,
            data_license=data_license,
            input=spec.preprocessing,
            keypoints=spec.skeleton.names,
            metrics=metrics,
            speed={f"{_short(r.provider)}@{r.batch_size}": round(r.fps, 1) for r in results},
            description=description or card.description,
        )
        add_entry(registry, entry, model_file=published if packaged else None)
        kept.parent.mkdir(exist_ok=True)
        write_bytes_atomic(kept, published.read_bytes())
    del export_report
    return PublishResult(entry=entry, model_file=kept, registry=registry)


def target_registry(registry: str | Path | None, *, packaged: bool) -> Path:
    """The registry file ``dpk publish`` writes: the one given, else the user's registry
    (``$DPK_HOME/registry/registry.yaml``), or with ``packaged`` the registry shipped
    inside the installed dpk-zoo package (never written unless asked for)."""
    from dpk.zoo import SHIPPED_REGISTRY
    from dpk.zoo.settings import user_registry_path

    if registry:
        return Path(registry)
    return SHIPPED_REGISTRY if packaged else user_registry_path()


def _checkpoint_report(run_dir: Path, which: str, out_dir: Path) -> dict:
    """The evaluation report of a run's checkpoint: the run's own ``metrics.json`` for its
    best weights when it is in frame pixels, else a fresh evaluation (the best weights'
    goes to ``RUN/evaluation``, another checkpoint's to ``out_dir``)."""
    from dpk.trainer.evaluation_run import evaluate_run

    if which != "best":  # the run's evaluation is of its best weights
        return evaluate_run(run_dir, which=which, out_dir=out_dir).report
    metrics_path = run_dir / "evaluation" / "metrics.json"
    report = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    if "pixels" not in report:  # missing, or written before errors were in frame pixels
        report = evaluate_run(run_dir).report
    return report


def _short(provider: str) -> str:
    return provider.replace("ExecutionProvider", "").lower()


def _data_description(spec) -> str:
    data = spec.data
    if data is None:
        return ""
    parts = []
    if data.crop:
        parts.append(f"{data.crop.size}x{data.crop.size} crops centred on {data.crop.anchor}")
    if data.train_frames:
        parts.append(f"training frames {data.train_frames.start}-{data.train_frames.stop}")
    if data.validation_frames:
        parts.append(f"held out {data.validation_frames.start}-{data.validation_frames.stop}")
    elif spec.training.validation_fraction:
        parts.append(
            f"seeded {1 - spec.training.validation_fraction:.0%}/{spec.training.validation_fraction:.0%} split (seed {spec.training.seed})"
        )
    return "; ".join(parts)

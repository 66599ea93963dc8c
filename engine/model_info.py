"""What a model folder holds, in plain data: backbone, granularity, sizes, the phase adapters with
their base rates and validation metrics, and unfinished fine-tuning runs that can be resumed.

Read by the GUI's model manager (and anything else that wants to describe a model) without loading
any weights. `check_model_folder` also verifies every checksum, so a bad folder is refused with the
name of the file at fault before anyone tries to load it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import ModelError
from engine.model.checkpoint import ADAPTER_WEIGHTS, ADAPTERS, BASE_WEIGHTS, MODEL_JSON, ModelManifest, resumable_runs


@dataclass
class PhaseSummary:
    phase: str
    base_rate: float
    temperature: float
    validation: dict  # f1, pr_auc, roc_auc, prevalence on the validation trials
    best_epoch: int | None
    n_train: int | None
    n_valid: int | None
    trained_on: str
    adapter_bytes: int  # 0 when the adapter weights are missing


@dataclass
class UnfinishedRun:
    """A fine-tuning run that stopped early (cancelled, crashed): re-running it continues here."""

    phase: str
    epochs_done: int
    best_epoch: int
    folder: Path


@dataclass
class ModelSummary:
    folder: Path
    name: str
    description: str
    backbone: str
    granularity: str
    config: dict
    phases: list[PhaseSummary] = field(default_factory=list)
    unfinished: list[UnfinishedRun] = field(default_factory=list)
    size_bytes: int = 0
    pretraining: dict = field(default_factory=dict)

    @property
    def phase_names(self) -> list[str]:
        return [p.phase for p in self.phases]

    def architecture(self) -> str:
        c = self.config
        groups = "→".join(str(g) for g in c.get("group_sizes", ()))
        return (f"d_model {c.get('d_model')} × {c.get('n_heads')} heads, {c.get('enrich_layers')} enrichment "
                f"layers, groups {groups}, text width {c.get('text_dim')}")


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def unfinished_runs(folder: Path) -> list[UnfinishedRun]:
    """Fine-tuning runs with resumable state (engine/model/checkpoint.py: resume_progress)."""
    runs = []
    for phase, progress in resumable_runs(folder):
        try:
            data = json.loads(progress.read_text())
            runs.append(UnfinishedRun(phase, int(data["epoch"]), int(data["best_epoch"]), progress.parents[1]))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a torn progress file: the run starts afresh, nothing to show
    return runs


def summarize_model(folder: Path | str) -> ModelSummary:
    """Describe `folder` from its model.json (no weights read). Raises ModelError naming the file."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such folder")
    manifest = ModelManifest.read(folder)
    phases = []
    for phase, info in sorted(manifest.phases.items()):
        metrics = info.metrics or {}
        weights = folder / ADAPTERS / phase / ADAPTER_WEIGHTS
        phases.append(PhaseSummary(
            phase=phase, base_rate=info.base_rate, temperature=info.temperature,
            validation=dict(metrics.get("validation", {})), best_epoch=metrics.get("best_epoch"),
            n_train=metrics.get("n_train"), n_valid=metrics.get("n_valid"), trained_on=info.trained_on,
            adapter_bytes=weights.stat().st_size if weights.is_file() else 0))
    config = json.loads(manifest.config.to_json())
    return ModelSummary(folder=folder, name=manifest.name, description=manifest.description,
                        backbone=manifest.config.backbone, granularity=manifest.config.granularity, config=config,
                        phases=phases, unfinished=unfinished_runs(folder), size_bytes=_folder_bytes(folder),
                        pretraining=dict(manifest.extra.get("pretraining", {})))


def check_model_folder(folder: Path | str, need_phases: bool = True) -> ModelSummary:
    """`summarize_model` plus what loading needs: the base weights, every listed file with its
    checksum, an adapter for each phase, and (by default) at least one phase. ModelError names the file."""
    folder = Path(folder).expanduser()
    summary = summarize_model(folder)
    if not (folder / BASE_WEIGHTS).is_file():
        raise ModelError(f"{folder / BASE_WEIGHTS}: missing (the pre-trained network of the model)")
    ModelManifest.read(folder).verify(folder)
    for phase in summary.phases:
        if not phase.adapter_bytes:
            raise ModelError(f"{folder / ADAPTERS / phase.phase / ADAPTER_WEIGHTS}: phase {phase.phase} adapter "
                             f"weights missing (listed in {MODEL_JSON})")
    if need_phases and not summary.phases:
        raise ModelError(f"{folder / MODEL_JSON}: the model has no fine-tuned phase adapter yet; fine-tune it "
                         f"(Tools → Fine-tune, or `cladmop finetune`)")
    return summary

"""Contrastive pre-training (InfoNCE pair matching) on successful trials: docs/model.md, "Pre-training"."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine import distributed
from engine.device import resolve_device
from engine.features.types import TrialFeatures
from engine.model.batch import collate
from engine.model.cladmop import set_branch_dropout
from engine.model.checkpoint import BASE_WEIGHTS, ModelManifest, build_model, save_state
from engine.model.config import ModelConfig
from engine.tasks import TaskState
from engine.training.loop import EpochRecord, FitResult, batches, clear_resume, fit
from engine.training.config import PretrainConfig
from engine.errors import InputError


def pretrain(train: list[TrialFeatures], valid: list[TrialFeatures], model_config: ModelConfig,
             out_dir: Path, config: PretrainConfig | None = None, device: str = "auto",
             state: TaskState | None = None, on_epoch=None, description: str = "") -> FitResult:
    """Train the whole network on pair matching; the best epoch (lowest validation loss) is written to
    `out_dir` as a model folder without adapters."""
    config = config or PretrainConfig()
    if len(train) < 2 or len(valid) < 2:
        raise InputError(f"pre-training needs at least 2 training and 2 validation trials "
                         f"(got {len(train)} and {len(valid)})")
    dev = resolve_device(device)
    distributed.start(dev)  # under a launcher: data-parallel (engine/training/loop.py)
    torch.manual_seed(config.fit.seed)
    model = build_model(model_config)
    set_branch_dropout(model, config.dropout)
    model = model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.fit.weight_decay)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def train_loss(idx: np.ndarray) -> torch.Tensor:
        if len(idx) < 2:  # a one-pair batch has nothing to contrast with
            return torch.zeros((), device=dev, requires_grad=True)
        return model.contrastive_loss(collate([train[i] for i in idx]).to(dev))

    def validate() -> EpochRecord:
        losses, weights, accs = [], [], []
        for idx in batches(len(valid), config.fit.batch_size, None):
            if len(idx) < 2:
                continue
            b = collate([valid[i] for i in idx]).to(dev)
            logits = model.contrastive_logits(model(b))
            target = torch.arange(len(idx), device=dev)
            loss = 0.5 * (torch.nn.functional.cross_entropy(logits, target)
                          + torch.nn.functional.cross_entropy(logits.T, target))
            losses.append(float(loss)); weights.append(len(idx))
            accs.append(float((logits.argmax(1) == target).float().mean()))
        val_loss = float(np.average(losses, weights=weights))
        return EpochRecord(0, 0.0, val_loss, -val_loss,
                           {"pair_accuracy": float(np.average(accs, weights=weights)),
                            "chance": float(np.average([1 / w for w in weights], weights=weights))})

    def save_best(record: EpochRecord) -> None:
        save_state(model, out_dir / BASE_WEIGHTS)
        manifest = ModelManifest(config=model_config, name=out_dir.name, description=description,
                                 extra={"pretraining": {"epoch": record.epoch, "val_loss": record.val_loss,
                                                        **record.metrics, "n_train": len(train),
                                                        "n_valid": len(valid), "lr": config.lr}})
        manifest.write(out_dir)

    result = fit(model, opt, len(train), train_loss, validate, save_best, config.fit, out_dir,
                 state=state, on_epoch=on_epoch)
    if result.stopped != "cancelled":
        clear_resume(out_dir)
    return result

"""Pre-training from files to a model folder: what `cladmop pretrain` runs. (Fine-tuning from files is
engine.finetune_job, which the wizard and `cladmop finetune` share.)"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from engine.errors import CladmopError
from engine.tasks import TaskState, TqdmState
from engine.training.dataset import LabelledSet, featurize, load_labelled, make_featurizer
from engine.training.loop import FitResult
from engine.training.pretrain import pretrain
from engine.training.config import pretrain_settings

Echo = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _resolver():
    from engine.lookups.resolve import Resolver

    return Resolver.default()


def _featurize(data: LabelledSet, featurizer, state: TaskState | None, echo: Echo) -> LabelledSet:
    own = state is None
    state = state or TqdmState("featurizing")
    try:
        out = featurize(data, _resolver(), featurizer, state=state)
    finally:
        if own:
            state.close()
    unresolved = sum(bool(t.unresolved) for t in out.trials)
    echo(f"featurized {len(out)} trials ({unresolved} with unresolved drugs or conditions)")
    return out


def _epoch_echo(echo: Echo):
    def show(r):
        metrics = " ".join(f"{k}={v:.3f}" for k, v in r.metrics.items() if isinstance(v, float))
        echo(f"epoch {r.epoch:3d}  train {r.train_loss:.4f}  valid {r.val_loss:.4f}  {metrics}")
    return show


def run_pretraining(data: Sequence[str | Path], out: Path, backbone: str = "minilm",
                    granularity: str = "criterion", epochs: int | None = None, batch_size: int | None = None,
                    lr: float | None = None, seed: int = 0, valid_fraction: float = 0.1, device: str = "auto",
                    state: TaskState | None = None, echo: Echo = _quiet, featurizer=None,
                    model_overrides: dict | None = None) -> FitResult:
    """Contrastive pre-training on the successful trials of `data`; a setting left None is
    PretrainConfig's."""
    from engine.model.config import ModelConfig

    labelled, notes = load_labelled(data)
    for n in notes:
        echo(f"note: {n}")
    successes = labelled.subset(np.flatnonzero(labelled.labels == 1))
    if len(successes) < 8:
        raise CladmopError(f"pre-training needs successful trials (label 1); found {len(successes)}")
    featurizer = featurizer or make_featurizer(backbone, granularity, device)
    successes = _featurize(successes, featurizer, None if state is None else state, echo)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(successes))
    k = max(2, int(round(valid_fraction * len(order))))
    train, valid = successes.subset(order[k:]), successes.subset(order[:k])
    config = ModelConfig(text_dim=featurizer.text_dim, mol_dim=featurizer.mol_dim, icd_dim=featurizer.icd_dim,
                         backbone=backbone, granularity=granularity, **(model_overrides or {}))
    echo(f"pre-training on {len(train)} successful trials, validating on {len(valid)}")
    result = pretrain(train.features, valid.features, config, out, pretrain_settings(epochs, batch_size, lr, seed),
                      device=device, state=state, on_epoch=_epoch_echo(echo),
                      description=f"pre-trained on {len(train)} successful trials")
    echo(f"best epoch {result.best_epoch} ({result.stopped}); model written to {out}")
    return result

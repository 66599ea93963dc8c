"""Training from files to a model folder: what `cladmop pretrain/finetune` and the GUI wizard run."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from engine.errors import CladmopError
from engine.tasks import TaskState, TqdmState
from engine.training.dataset import LabelledSet, featurize, load_labelled, make_featurizer, stratified_split
from engine.training.finetune import FinetuneConfig, finetune
from engine.training.loop import FitConfig, FitResult
from engine.training.pretrain import PretrainConfig, pretrain

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
                    granularity: str = "criterion", epochs: int = 40, batch_size: int = 128,
                    lr: float = 1e-4, seed: int = 0, valid_fraction: float = 0.1, device: str = "auto",
                    state: TaskState | None = None, echo: Echo = _quiet, featurizer=None,
                    model_overrides: dict | None = None) -> FitResult:
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
    result = pretrain(train.features, valid.features, config, out,
                      PretrainConfig(FitConfig(epochs=epochs, batch_size=batch_size, seed=seed), lr=lr),
                      device=device, state=state, on_epoch=_epoch_echo(echo),
                      description=f"pre-trained on {len(train)} successful trials")
    echo(f"best epoch {result.best_epoch} ({result.stopped}); model written to {out}")
    return result


def run_finetuning(base: Path, phase: str, train: Sequence[str | Path], valid: Sequence[str | Path] | None = None,
                   out: Path | None = None, labels_csv: Path | None = None, epochs: int = 30,
                   batch_size: int = 128, seed: int = 0, device: str = "auto", valid_fraction: float = 0.15,
                   state: TaskState | None = None, echo: Echo = _quiet, featurizer=None,
                   config: FinetuneConfig | None = None, compare: bool = False) -> FitResult:
    """Fine-tune `phase` of `base`; `compare`: echo the new model beside the base model on the
    validation trials (the base scored first: without `out` the run writes into it)."""
    from engine.finetune_job import base_report, compare_trained
    from engine.model.checkpoint import ModelManifest

    manifest = ModelManifest.read(base)
    train_set, notes = load_labelled(train, labels_csv, phase=phase)
    for n in notes:
        echo(f"note: {n}")
    if valid:
        valid_set, notes = load_labelled(valid, labels_csv, phase=phase)
        for n in notes:
            echo(f"note: {n}")
    else:
        tr, va = stratified_split(train_set.labels, valid_fraction, seed)
        train_set, valid_set = train_set.subset(tr), train_set.subset(va)
    echo(f"phase {phase}: {len(train_set)} training trials (success {train_set.prevalence:.2f}), "
         f"{len(valid_set)} validation trials (success {valid_set.prevalence:.2f})")
    held_back = (valid_set.trials, valid_set.labels, "validation")
    before = base_report(base, phase, *held_back, device=device) if compare else None
    featurizer = featurizer or make_featurizer(manifest.config.backbone, manifest.config.granularity, device)
    train_set = _featurize(train_set, featurizer, state, echo)
    valid_set = _featurize(valid_set, featurizer, state, echo)
    config = config or FinetuneConfig()
    config.fit.epochs, config.fit.batch_size, config.fit.seed = epochs, batch_size, seed
    result = finetune(base, phase, train_set.features, train_set.labels, valid_set.features, valid_set.labels,
                      out_dir=out, config=config, device=device, state=state, on_epoch=_epoch_echo(echo),
                      trained_on=", ".join(str(p) for p in train))
    echo(f"best: {result.best_text} ({result.stopped}); adapter written to "
         f"{Path(out or base) / 'adapters' / phase}")
    if before is not None and result.stopped != "cancelled":
        for line in compare_trained(Path(out or base), base, phase, *held_back, before, device).lines():
            echo(line)
    return result

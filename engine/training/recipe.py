"""The recipe of the shipped default model, from `../shared/data` only: `cladmop train-default`.

1. Pre-training corpus ("SCT", DESIGN.md §2): the successful (label 1) rows of TOP's *training* files.
   Validation files are left out so that fine-tuning's validation never saw its own positives.
2. InfoNCE pre-training of the whole DM branch on the `minilm` backbone.
3. One LoRA adapter + head per phase. Phase I learns from `phase_I_train.csv` and validates on
   `phase_I_valid.csv`. Phases II and III have few recoverable training rows (399 and 19), so their
   adapters learn from those rows plus a stratified 70% of the phase's validation file and validate
   on the other 30% (seeded).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from engine.errors import CladmopError
from engine.tasks import TaskState
from engine.training.dataset import LabelledSet, featurize, load_labelled, stratified_split
from engine.training.finetune import FinetuneConfig, finetune
from engine.training.loop import FitConfig
from engine.training.pretrain import PretrainConfig, pretrain

TRAIN_FILES = {"I": ["phase_I_train.csv"], "II": ["phase_II_train_partial_rows.csv"],
               "III": ["phase_III_train_partial_rows.csv"]}
VALID_FILES = {"I": "phase_I_valid.csv", "II": "phase_II_valid.csv", "III": "phase_III_valid.csv"}


def _concat(sets: list[LabelledSet]) -> LabelledSet:
    return LabelledSet([t for s in sets for t in s.trials], np.concatenate([s.labels for s in sets]),
                       [f for s in sets for f in s.features])


def phase_sets(top: Path, phase: str, featurize_fn, seed: int = 0) -> tuple[LabelledSet, LabelledSet]:
    train = _concat([featurize_fn(load_labelled([top / f], phase=phase)[0]) for f in TRAIN_FILES[phase]])
    valid = featurize_fn(load_labelled([top / VALID_FILES[phase]], phase=phase)[0])
    if phase != "I":
        tr, va = stratified_split(valid.labels, 0.3, seed)
        train, valid = _concat([train, valid.subset(tr)]), valid.subset(va)
    return train, valid


def train_default(data_dir: Path, out: Path, granularity: str = "criterion", seed: int = 0,
                  pretrain_epochs: int = 40, finetune_epochs: int = 30, device: str = "auto",
                  echo=print, state: TaskState | None = None) -> dict:
    from engine.lookups.resolve import Resolver
    from engine.training.pipeline import make_featurizer

    top = Path(data_dir) / "top"
    if not (top / "phase_I_train.csv").is_file():
        raise CladmopError(f"{top}: TOP learning files not found (expected phase_I_train.csv there)")
    started = time.time()
    featurizer = make_featurizer("minilm", granularity, device)
    resolver = Resolver.default()
    feat = lambda s: featurize(s, resolver, featurizer)  # noqa: E731

    corpus = []
    for phase, files in TRAIN_FILES.items():
        for f in files:
            s, _ = load_labelled([top / f])
            corpus.extend(t for t, y in zip(s.trials, s.labels) if y == 1)
    seen, unique = set(), []
    for t in corpus:  # mixed-phase trials sit in two files
        if t.nct_id not in seen:
            seen.add(t.nct_id)
            unique.append(t)
    sct = feat(LabelledSet(unique, np.ones(len(unique), dtype=np.int64)))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sct))
    k = int(round(0.1 * len(order)))
    echo(f"pre-training corpus: {len(sct)} successful trials ({k} held out for validation)")
    from engine.model.config import ModelConfig

    config = ModelConfig(text_dim=featurizer.encoder.hidden_size, mol_dim=sct.features[0].mol_vectors.shape[1],
                         icd_dim=sct.features[0].icd_vectors.shape[1], backbone="minilm", granularity=granularity)
    show = lambda r: echo(f"  epoch {r.epoch:3d} train {r.train_loss:.4f} valid {r.val_loss:.4f} "  # noqa: E731
                          + " ".join(f"{a}={b:.3f}" for a, b in r.metrics.items()))
    pre = pretrain(sct.subset(order[k:]).features, sct.subset(order[:k]).features, config, out,
                   PretrainConfig(FitConfig(epochs=pretrain_epochs, batch_size=128, patience=5, seed=seed)),
                   device=device, state=state, on_epoch=show,
                   description="CLaDMoP default model (minilm backbone), trained on the TOP benchmark")
    summary = {"pretraining": {"best_epoch": pre.best_epoch, "stopped": pre.stopped, "n": len(sct)}, "phases": {}}
    for phase in ("I", "II", "III"):
        train, valid = phase_sets(top, phase, feat, seed)
        echo(f"phase {phase}: fine-tuning on {len(train)} trials (success {train.prevalence:.2f}), "
             f"validating on {len(valid)} (success {valid.prevalence:.2f})")
        # the paper's learning rates (5e-2 LoRA / 1e-2 head) did not learn here (validation ROC-AUC < 0.5)
        cfg = FinetuneConfig(fit=FitConfig(epochs=finetune_epochs, batch_size=64, patience=6, seed=seed),
                             lr_head=1e-3, lr_lora=1e-3)
        res = finetune(out, phase, train.features, train.labels, valid.features, valid.labels, config=cfg,
                       device=device, state=state, on_epoch=show,
                       trained_on=f"TOP {' + '.join(TRAIN_FILES[phase])}"
                                  + ("" if phase == "I" else f" + 70% of {VALID_FILES[phase]}"))
        summary["phases"][phase] = {"best_epoch": res.best_epoch, "stopped": res.stopped,
                                    "n_train": len(train), "n_valid": len(valid)}
    summary["minutes"] = round((time.time() - started) / 60, 1)
    (Path(out) / "training_summary.json").write_text(json.dumps(summary, indent=2))
    return summary

"""The recipe of the shipped default model, from `../shared/data` only: `cladmop train-default`.

1. Pre-training corpus ("SCT", DESIGN.md §2): public records of marketed drugs (a drug with an ATC
   code) started before 2014, from ctgov_xml/ and ctgov_json/ — none of them a TOP learning row
   (engine/training/corpus.py: pre-training on TOP's label-1 rows would leak held-out labels into
   cross-validation).
2. InfoNCE pre-training of the whole DM branch on the `minilm` backbone.
3. Fine-tuning on the TOP learning rows (all phases' train + valid files, one row per NCT id), with a
   stratified 15% (by phase set and label) held back for early stopping and calibration. `pooled`
   (the default: phases II and III have few rows of their own): one LoRA adapter + head learns from
   every phase's rows and serves all three phases, each with its own calibration; `per-phase`: the
   paper's one adapter per phase on that phase's rows. benchmarks/cv_model.py compares them (runs and
   results: resources/MODEL_CARD.md).
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
HELD_OUT = 0.15  # of the learning rows, for early stopping and calibration
VALID_FILES = {"I": "phase_I_valid.csv", "II": "phase_II_valid.csv", "III": "phase_III_valid.csv"}


def _concat(sets: list[LabelledSet]) -> LabelledSet:
    return LabelledSet([t for s in sets for t in s.trials], np.concatenate([s.labels for s in sets]),
                       [f for s in sets for f in s.features])


def top_folder(data_dir: Path) -> Path:
    """The TOP folder: `data_dir`/top, or `data_dir` itself when it holds the files; a clear error else."""
    data_dir = Path(data_dir)
    top = data_dir / "top" if (data_dir / "top").is_dir() else data_dir
    if not (top / "phase_I_train.csv").is_file():
        raise CladmopError(f"{top}: TOP learning files not found (expected phase_I_train.csv there)")
    return top


def learning_ids(top: Path) -> set[str]:
    """NCT ids of every TOP learning row (all phases, train and valid files)."""
    from engine.records.top_csv import read_top_csv

    return {t.nct_id for f in sorted(Path(top).glob("phase_*.csv")) for t in read_top_csv(f)}


def pretraining_corpus(data_dir: Path, state: TaskState | None = None):
    """Public records of marketed drugs started before 2014, none of them a TOP learning row
    (engine/training/corpus.py says why). Returns (trials, CorpusReport)."""
    from engine.records import load_records
    from engine.training.corpus import marketed_drug_trials, read_atc_names

    data_dir = Path(data_dir)
    folders = [data_dir / name for name in ("ctgov_xml", "ctgov_json") if (data_dir / name).is_dir()]
    atc = data_dir / "lookups" / "pytrial_atc_drug.csv"
    if not folders or not atc.is_file():
        raise CladmopError(f"{data_dir}: needs ctgov_xml/ (or ctgov_json/) and lookups/pytrial_atc_drug.csv")
    records = load_records(folders, state=state)
    return marketed_drug_trials(records.trials, read_atc_names(atc), learning_ids(data_dir / "top"))


PHASES = ("I", "II", "III")


def learning_rows(top: Path, state: TaskState | None = None) -> tuple[LabelledSet, list[frozenset[str]]]:
    """Every TOP learning row once (a mixed-phase trial sits in two phases' files), with its phases."""
    trials, labels, member, index = [], [], [], {}
    for phase in PHASES:
        s, _ = load_labelled(sorted(Path(top).glob(f"phase_{phase}_*.csv")), phase=phase, state=state)
        for t, y in zip(s.trials, s.labels):
            if t.nct_id in index:
                member[index[t.nct_id]] |= {phase}
                continue
            index[t.nct_id] = len(trials)
            trials.append(t); labels.append(int(y)); member.append({phase})
    return LabelledSet(trials, np.asarray(labels, dtype=np.int64)), [frozenset(m) for m in member]


def strata(labels: np.ndarray, member: list[frozenset[str]], min_count: int = 2) -> np.ndarray:
    """Phase set + label per row, for stratified splits; strata rarer than `min_count` are merged."""
    keys = np.array(["/".join(sorted(m)) + f":{y}" for m, y in zip(member, labels)])
    counts = {k: int((keys == k).sum()) for k in set(keys)}
    return np.array([k if counts[k] >= min_count else f"rare:{k[-1]}" for k in keys])


def learning_index(top: Path, featurizer, resolver, state: TaskState | None = None):
    """The learning index (engine/evidence/index.py) of every TOP learning row, embedded by
    `featurizer`'s language model: what similar past trials and novelty are read from."""
    from engine.evidence.index import build_index
    from engine.features.document import document_embeddings
    from engine.training.temporal import read_years

    rows, member = learning_rows(top, state)
    trials = [resolver.resolve(t) for t in rows.trials]
    years = read_years(top)
    embeddings = document_embeddings(trials, featurizer.encoder, featurizer.criteria.cache)
    return build_index(trials, rows.labels, ["/".join(p for p in PHASES if p in m) for m in member],
                       [years.get(t.nct_id, (None, None)) for t in trials], embeddings,
                       featurizer.encoder.backbone_id)


def add_learning_index(model: Path, top: Path, featurizer, resolver, state: TaskState | None = None):
    """Write the learning index into the model folder and list it in model.json (checksummed)."""
    from engine.model.checkpoint import ModelManifest

    index = learning_index(top, featurizer, resolver, state)
    index.save(model)
    manifest = ModelManifest.read(model)
    manifest.write(model)
    return index


def held_out_split(top: Path, seed: int = 0, state: TaskState | None = None):
    """The learning rows, their phases, and the recipe's train / held-out indices: 15% stratified by
    phase set and label. benchmarks/reproduce_default.py scores a model on the same held-out rows."""
    rows, member = learning_rows(top, state)
    tr, va = stratified_split(strata(rows.labels, member), HELD_OUT, seed)
    return rows, member, tr, va


def phase_sets(top: Path, phase: str, featurize_fn, seed: int = 0) -> tuple[LabelledSet, LabelledSet]:
    train = _concat([featurize_fn(load_labelled([top / f], phase=phase)[0]) for f in TRAIN_FILES[phase]])
    valid = featurize_fn(load_labelled([top / VALID_FILES[phase]], phase=phase)[0])
    if phase != "I":
        tr, va = stratified_split(valid.labels, 0.3, seed)
        train, valid = _concat([train, valid.subset(tr)]), valid.subset(va)
    return train, valid


RECIPE_VERSION = "v2"  # v1 early-stopped on the plain validation loss (MODEL_CARD.md)
#: what cross-validation kept (benchmarks/cv_model.py runs in MODEL_CARD.md): f_c as the paper's average over
#: the criteria's tokens, five averaged heads with dropout 0.3
MODEL_CHOICES = dict(crit_pool="token", head_members=5, head_dropout=0.3)


def finetune_choices(epochs: int = 3, seed: int = 0) -> FinetuneConfig:
    """FinetuneConfig's defaults (head first: 60 epochs on the frozen branch, AdamW 1e-4, weight decay 0.05;
    then LoRA + head at 1e-4 while the validation loss after calibration improves), at most `epochs` LoRA
    epochs, patience 1.
    LoRA + head at 1e-3 from a random head (the first CV) fell behind the linear probe."""
    return FinetuneConfig(fit=FitConfig(epochs=epochs, batch_size=64, patience=1, seed=seed))


def train_default(data_dir: Path, out: Path, granularity: str = "criterion", seed: int = 0,
                  pretrain_epochs: int = 12, finetune_epochs: int = 3, mode: str = "pooled",
                  pretrain_lr: float = 3e-4, device: str = "auto", echo=print,
                  state: TaskState | None = None) -> dict:
    from engine.lookups.resolve import Resolver
    from engine.model.config import ModelConfig
    from engine.training.finetune import adapter_logits, share_adapter
    from engine.training.pipeline import make_featurizer

    if mode not in ("pooled", "per-phase"):
        raise CladmopError(f"fine-tuning mode must be 'pooled' or 'per-phase', not {mode!r}")
    data_dir, out = Path(data_dir), Path(out)
    top = top_folder(data_dir)
    started = time.time()
    featurizer = make_featurizer("minilm", granularity, device)
    resolver = Resolver.default()
    feat = lambda s: featurize(s, resolver, featurizer)  # noqa: E731
    show = lambda r: echo(f"  epoch {r.epoch:3d} train {r.train_loss:.4f} valid {r.val_loss:.4f} "  # noqa: E731
                          + " ".join(f"{a}={b:.3f}" for a, b in r.metrics.items()))

    corpus, report = pretraining_corpus(data_dir, state)
    echo(f"pre-training corpus: {report}")
    sct = feat(LabelledSet(corpus, np.ones(len(corpus), dtype=np.int64)))
    order = np.random.default_rng(seed).permutation(len(sct))
    k = int(round(0.1 * len(order)))
    config = ModelConfig(text_dim=featurizer.text_dim, mol_dim=featurizer.mol_dim, icd_dim=featurizer.icd_dim,
                         backbone="minilm", granularity=granularity, **MODEL_CHOICES)
    pre = pretrain(sct.subset(order[k:]).features, sct.subset(order[:k]).features, config, out,
                   PretrainConfig(FitConfig(epochs=pretrain_epochs, batch_size=128, patience=5, seed=seed),
                                  lr=pretrain_lr),
                   device=device, state=state, on_epoch=show,
                   description="CLaDMoP default model (minilm backbone): pre-trained on public records of "
                               "marketed drugs, fine-tuned on the TOP benchmark's learning rows")
    summary = {"pretraining": {"best_epoch": pre.best_epoch, "stopped": pre.stopped, "corpus": str(report)},
               "mode": mode, "phases": {}}

    rows, member, tr, va = held_out_split(top, seed, state)
    rows = feat(rows)
    in_phase = {p: np.array([p in m for m in member]) for p in PHASES}
    cfg = finetune_choices(finetune_epochs, seed)
    groups = {"I": tr} if mode == "pooled" else {p: tr[in_phase[p][tr]] for p in PHASES}
    for phase, train_idx in groups.items():
        valid_idx = va if mode == "pooled" else va[in_phase[phase][va]]
        train, valid = rows.subset(train_idx), rows.subset(valid_idx)
        what = "all phases" if mode == "pooled" else f"phase {phase}"
        echo(f"fine-tuning on {len(train)} trials of {what} (success {train.prevalence:.2f}), "
             f"validating on {len(valid)} (success {valid.prevalence:.2f})")
        res = finetune(out, phase, train.features, train.labels, valid.features, valid.labels, config=cfg,
                       device=device, state=state, on_epoch=show,
                       trained_on=f"TOP learning rows of {what} (85%, stratified, seed {seed})")
        summary["phases"][phase] = {"best_epoch": res.best_epoch, "stopped": res.stopped,
                                    "n_train": len(train), "n_valid": len(valid)}
    if mode == "pooled":  # one adapter for all phases, calibrated on each phase's own validation rows
        logits = adapter_logits(out, "I", rows.subset(va).features, device)
        for phase in PHASES:
            sel = in_phase[phase][va]
            share_adapter(out, "I", phase, logits[sel], rows.labels[va][sel],
                          base_rate=float(rows.labels[tr][in_phase[phase][tr]].mean()),
                          trained_on=f"TOP learning rows of all phases (85%, stratified, seed {seed}); "
                                     f"calibrated on the phase {phase} validation rows")
    add_learning_index(out, top, featurizer, resolver, state)
    summary["minutes"] = round((time.time() - started) / 60, 1)
    (out / "training_summary.json").write_text(json.dumps(summary, indent=2))
    stamp_recipe(out, dict(seed=seed, pretrain_epochs=pretrain_epochs, pretrain_lr=pretrain_lr, mode=mode,
                           finetune_epochs=finetune_epochs, granularity=granularity))
    return summary


#: the packages whose versions can change what train-default computes (installs are not pinned)
NUMERIC_PACKAGES = ("torch", "numpy", "transformers", "peft", "rdkit", "deepchem", "scikit-learn")


def package_versions() -> dict[str, str]:
    """Python's and NUMERIC_PACKAGES' versions, so a re-run that differs can be told apart from drift."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in NUMERIC_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def stamp_recipe(folder: Path, settings: dict) -> None:
    """Name the model folder after the recipe and record its settings and the package versions that ran
    it in model.json (`extra.recipe`), so the folder itself says how it was made."""
    import dataclasses

    from engine.model.checkpoint import ModelManifest

    manifest = ModelManifest.read(folder)
    manifest.name = f"CLaDMoP default {RECIPE_VERSION}"
    manifest.extra["recipe"] = {"version": RECIPE_VERSION, "command": "cladmop train-default", **settings,
                                "finetune": dataclasses.asdict(finetune_choices(settings["finetune_epochs"],
                                                                                settings["seed"])),
                                "packages": package_versions()}
    manifest.write(folder)

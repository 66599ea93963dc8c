"""The recipe of the shipped default model, from `../shared/data` only: `cladmop train-default`.

1. Pre-training corpus ("SCT", docs/model.md): public records of marketed drugs (a drug with an ATC
   code) started before 2014, from ctgov_xml/ and ctgov_json/ — none of them a TOP learning row
   (engine/training/corpus.py: pre-training on TOP's label-1 rows would leak held-out labels into
   cross-validation). `--pretrained DIR` reuses a folder's pre-trained branch instead.
2. InfoNCE pre-training of the whole DM branch on the `minilm` backbone.
3. Fine-tuning on the TOP learning rows (all phases' train + valid files, one row per NCT id), forward in
   time (v3): the adapters learn from the trials completed before the latest year and are early-stopped
   and calibrated per phase on the trials completed in it, the way analysts use the model. `pooled`
   (the default: phases II and III have few rows of their own) serves one adapter for all three phases,
   each with its own calibration; `per-phase` is the paper's one adapter per phase.
4. The combined model (engine/model/ensemble.py, engine/training/ensemble_fit.py): CLaDMoP, the
   criteria-text probe, the drug/disease outcome history and (v5) the numeric eligibility thresholds,
   combined on the latest year. `refit_ensemble` refits this step alone into a trained folder.
5. The learning index (engine/evidence/): similar past trials and novelty.
Choices and figures: resources/MODEL_CARD.md, benchmarks/temporal.py.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from engine.errors import CladmopError
from engine.tasks import TaskState
from engine.training.dataset import LabelledSet, featurize, load_labelled, stratified_split
from engine.training.finetune import finetune
from engine.training.config import FinetuneConfig, finetune_settings, pretrain_settings
from engine.training.pretrain import pretrain

TRAIN_FILES = {"I": ["phase_I_train.csv"], "II": ["phase_II_train_partial_rows.csv"],
               "III": ["phase_III_train_partial_rows.csv"]}
HELD_OUT = 0.15  # v2: of the learning rows, for early stopping and calibration (reproduce_default.py)
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


def learning_index(top: Path, featurizer, resolver, state: TaskState | None = None, kind: str | None = None):
    """The learning index (engine/evidence/index.py) of every TOP learning row, embedded by
    `featurizer`'s language model (`kind`: engine/features/document.py, default the current one): what
    similar past trials and novelty are read from."""
    from engine.features.document import DEFAULT_EMBEDDING, trial_embeddings

    kind = kind or DEFAULT_EMBEDDING
    rows, member = learning_rows(top, state)
    rows = LabelledSet([resolver.resolve(t) for t in rows.trials], rows.labels)
    return index_of(rows, member, trial_embeddings(kind, rows.trials, featurizer), featurizer, kind)


def index_of(rows: LabelledSet, member, embeddings: np.ndarray, featurizer, kind: str):
    """The learning index of resolved `rows` with their phase sets and whole-text `embeddings` of `kind`."""
    from engine.evidence.index import build_index

    return build_index(rows.trials, rows.labels, ["/".join(p for p in PHASES if p in m) for m in member],
                       [(t.start_year, t.completion_year) for t in rows.trials], embeddings,
                       featurizer.encoder.backbone_id, kind)


def write_learning_index(model: Path, index) -> None:
    """The index into the model folder, listed in model.json (checksummed)."""
    from engine.model.checkpoint import ModelManifest

    index.save(model)
    ModelManifest.read(model).write(model)


def add_learning_index(model: Path, top: Path, featurizer, resolver, state: TaskState | None = None):
    """Build the learning index of a model folder (`cladmop index`), of the embedding kind its combined
    model reads when it has one (a v3 folder keeps reading whole-text embeddings)."""
    from engine.model.ensemble import Ensemble

    ensemble = Ensemble.load(model)
    index = learning_index(top, featurizer, resolver, state, ensemble.embedding if ensemble else None)
    write_learning_index(model, index)
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


#: v1 early-stopped on the plain validation loss, v2 on the calibrated one (random 15% held out); v3 validates
#: forward in time (the latest completion year) and serves CLaDMoP combined with the probe and the history; v4
#: is v3 with the probe and the learning index on the pooled-items embedding (engine/features/document.py); v5
#: is v4 with a fourth member on the criteria's numeric eligibility thresholds (engine/features/thresholds.py); v6
#: is v5 learnt from criteria items regrouped (engine/records/criteria.py: lead-ins joined, long paragraphs split)
RECIPE_VERSION = "v6"
#: what cross-validation kept (benchmarks/cv_model.py runs in MODEL_CARD.md): f_c as the paper's average over
#: the criteria's tokens, five averaged heads with dropout 0.3
MODEL_CHOICES = dict(crit_pool="token", head_members=5, head_dropout=0.3)
#: LoRA epochs after the head-first stage: none. In v1's and v2's runs no LoRA epoch improved on the head
#: (MODEL_CARD.md), and v3 was validated forward in time without them (benchmarks/temporal.py --epochs 0)
FINETUNE_EPOCHS = 0
#: how the combined model weighs its members (engine/training/ensemble_fit.py: COMBINATIONS); chosen on the
#: temporal validation (MODEL_CARD.md)
COMBINATION = "mean"
#: the combined model's fourth member, on the numeric eligibility thresholds (v5): the temporal validation found
#: the four members level with the three in every phase (MODEL_CARD.md), and the number then reads the thresholds
THRESHOLDS_MEMBER = True


def finetune_choices(epochs: int = 3, seed: int = 0) -> FinetuneConfig:
    """FinetuneConfig's defaults (head first: 60 epochs on the frozen branch, AdamW 1e-4, weight decay 0.05;
    then LoRA + head at 1e-4 while the validation loss after calibration improves), at most `epochs` LoRA
    epochs, patience 1.
    LoRA + head at 1e-3 from a random head (the first CV) fell behind the linear probe."""
    return finetune_settings(epochs=epochs, seed=seed, patience=1)


def train_default(data_dir: Path, out: Path, granularity: str = "criterion", seed: int = 0,
                  pretrain_epochs: int = 12, finetune_epochs: int = FINETUNE_EPOCHS, mode: str = "pooled",
                  pretrain_lr: float = 3e-4, device: str = "auto", echo=print,
                  state: TaskState | None = None, pretrained: Path | None = None) -> dict:
    """The whole recipe into `out`; `pretrained`: a model folder whose pre-trained branch is used instead
    of pre-training again (the same branch, whatever the installed packages compute today)."""
    from engine.lookups.resolve import Resolver
    from engine.training.dataset import make_featurizer

    if mode not in ("pooled", "per-phase"):
        raise CladmopError(f"fine-tuning mode must be 'pooled' or 'per-phase', not {mode!r}")
    data_dir, out = Path(data_dir), Path(out)
    top = top_folder(data_dir)
    started = time.time()
    steps = _Steps(make_featurizer("minilm", granularity, device), Resolver.default(), device, seed, echo, state)
    if pretrained is not None:
        summary = steps.reuse_branch(Path(pretrained), out)
    else:
        summary = steps.pretrain(data_dir, out, granularity, pretrain_epochs, pretrain_lr)
    summary["mode"] = mode
    summary["phases"] = steps.finetune(top, out, mode, finetune_epochs)
    summary["minutes"] = round((time.time() - started) / 60, 1)
    (out / "training_summary.json").write_text(json.dumps(summary, indent=2))
    stamp_recipe(out, dict(seed=seed, pretrain_epochs=pretrain_epochs, pretrain_lr=pretrain_lr, mode=mode,
                           finetune_epochs=finetune_epochs, granularity=granularity,
                           pretrained_from=str(pretrained) if pretrained else None, combination=COMBINATION,
                           thresholds_member=THRESHOLDS_MEMBER))
    return summary


class _Steps:
    """The recipe's steps, sharing one featurizer, resolver and device."""

    def __init__(self, featurizer, resolver, device, seed, echo, state):
        self.featurizer, self.resolver, self.device = featurizer, resolver, device
        self.seed, self.echo, self.state = seed, echo, state

    def featurize(self, rows: LabelledSet) -> LabelledSet:
        return featurize(rows, self.resolver, self.featurizer, self.state)

    def show(self, r) -> None:
        self.echo(f"  epoch {r.epoch:3d} train {r.train_loss:.4f} valid {r.val_loss:.4f} "
                  + " ".join(f"{a}={b:.3f}" for a, b in r.metrics.items()))

    def pretrain(self, data_dir: Path, out: Path, granularity: str, epochs: int, lr: float) -> dict:
        from engine.model.config import ModelConfig

        corpus, report = pretraining_corpus(data_dir, self.state)
        self.echo(f"pre-training corpus: {report}")
        sct = self.featurize(LabelledSet(corpus, np.ones(len(corpus), dtype=np.int64)))
        order = np.random.default_rng(self.seed).permutation(len(sct))
        k = int(round(0.1 * len(order)))
        f = self.featurizer
        config = ModelConfig(text_dim=f.text_dim, mol_dim=f.mol_dim, icd_dim=f.icd_dim, backbone="minilm",
                             granularity=granularity, **MODEL_CHOICES)
        pre = pretrain(sct.subset(order[k:]).features, sct.subset(order[:k]).features, config, out,
                       pretrain_settings(epochs=epochs, lr=lr, seed=self.seed),
                       device=self.device, state=self.state, on_epoch=self.show, description=DESCRIPTION)
        return {"pretraining": {"best_epoch": pre.best_epoch, "stopped": pre.stopped, "corpus": str(report)}}

    def reuse_branch(self, pretrained: Path, out: Path) -> dict:
        """`pretrained`'s branch (base weights and config) into `out`, without its phases or extras."""
        from engine.model.checkpoint import BASE_WEIGHTS, ModelManifest

        source = ModelManifest.read(pretrained)
        source.verify(pretrained, [BASE_WEIGHTS])
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(pretrained / BASE_WEIGHTS, out / BASE_WEIGHTS)
        ModelManifest(config=source.config, name=source.name, description=DESCRIPTION).write(out)
        self.echo(f"pre-trained branch from {pretrained} ({source.name})")
        return {"pretraining": {"reused_from": str(pretrained), "name": source.name}}

    def finetune(self, top: Path, out: Path, mode: str, epochs: int) -> dict:
        """Adapters learn from the years before the latest completion year and are early-stopped and
        calibrated on it; then the combined model and the learning index are fitted and written."""
        from engine.features.document import DEFAULT_EMBEDDING, trial_embeddings
        from engine.training.temporal import completion_years, latest_year_split

        rows, member = learning_rows(top, self.state)
        rows = self.featurize(rows)
        years = completion_years(rows.trials)
        learn, last = latest_year_split(years)
        self.echo(f"learning from {len(learn)} trials completed before {years.max()}, "
                  f"validating on the {len(last)} completed in {years.max()}")
        phases = self._adapters(out, rows, member, learn, last, mode, epochs)
        embeddings = trial_embeddings(DEFAULT_EMBEDDING, rows.trials, self.featurizer, rows.features)
        self._ensemble(out, rows, member, embeddings, learn, last, years.max(), DEFAULT_EMBEDDING)
        write_learning_index(out, index_of(rows, member, embeddings, self.featurizer, DEFAULT_EMBEDDING))
        return phases

    def _adapters(self, out, rows, member, learn, last, mode, epochs) -> dict:
        from engine.training.finetune import adapter_logits, share_adapter

        in_phase = {p: np.array([p in m for m in member]) for p in PHASES}
        groups = {"I": (learn, last)} if mode == "pooled" else {
            p: (learn[in_phase[p][learn]], last[in_phase[p][last]]) for p in PHASES}
        phases = {}
        for phase, (tr, va) in groups.items():
            what = "all phases" if mode == "pooled" else f"phase {phase}"
            res = finetune(out, phase, rows.subset(tr).features, rows.labels[tr], rows.subset(va).features,
                           rows.labels[va], config=finetune_choices(epochs, self.seed), device=self.device,
                           state=self.state, on_epoch=self.show,
                           trained_on=f"TOP learning rows of {what} completed before the latest year")
            phases[phase] = {"best_epoch": res.best_epoch, "stopped": res.stopped, "n_train": len(tr),
                             "n_valid": len(va)}
        if mode == "pooled":  # one adapter for all phases, calibrated on each phase's own rows of the latest year
            logits = adapter_logits(out, "I", rows.subset(last).features, self.device)
            for phase in PHASES:
                sel = in_phase[phase][last]
                share_adapter(out, "I", phase, logits[sel], rows.labels[last][sel],
                              base_rate=float(rows.labels[learn][in_phase[phase][learn]].mean()),
                              trained_on="TOP learning rows of all phases completed before the latest year; "
                                         f"calibrated on the phase {phase} rows of the latest year")
        return phases

    def _ensemble(self, out, rows, member, embeddings, learn, last, year, kind: str):
        from engine.features.thresholds import threshold_matrix
        from engine.model.checkpoint import ModelManifest
        from engine.model.ensemble import MEMBER_LABELS
        from engine.training.ensemble_fit import fit_ensemble
        from engine.training.finetune import adapter_logits

        logits = adapter_logits(out, "I", rows.subset(last).features, self.device)
        ensemble = fit_ensemble(rows.trials, rows.labels, member, embeddings, logits, learn, last, self.seed,
                                fitted_on=f"{COMBINATION} of the members' logits, standardized and calibrated on "
                                          f"the {len(last)} TOP learning trials completed in {year} as predicted "
                                          f"by members that learned from the earlier years", how=COMBINATION,
                                embedding=kind, thresholds=threshold_matrix(rows.trials) if THRESHOLDS_MEMBER else None)
        ensemble.save(out)
        ModelManifest.read(out).write(out)
        self.echo(f"combined model ({COMBINATION}): weights {np.round(ensemble.stack.coef, 3).tolist()} on the "
                  "standardized logits of " + ", ".join(MEMBER_LABELS[m] for m in ensemble.members))
        return ensemble


DESCRIPTION = ("CLaDMoP default model (minilm backbone): pre-trained on public records of marketed drugs, "
               "fine-tuned on the TOP benchmark's learning rows, combined with a criteria-text model, the "
               "drug/disease outcome history and the criteria's numeric eligibility thresholds")


def refit_ensemble(model: Path, data_dir: Path, seed: int = 0, device: str = "auto", echo=print,
                   state: TaskState | None = None):
    """Step 4 alone, into a folder `train-default` made: the combined model refitted on the TOP learning rows
    with the recipe's members (THRESHOLDS_MEMBER), CLaDMoP's adapters, branch and learning index unchanged.
    Its interval is then refitted forward in time by benchmarks/temporal.py --interval-into. Returns the
    Ensemble."""
    from engine.features.document import trial_embeddings
    from engine.lookups.resolve import Resolver
    from engine.model.checkpoint import ModelManifest
    from engine.model.ensemble import Ensemble
    from engine.training.dataset import make_featurizer
    from engine.training.temporal import completion_years, latest_year_split

    model = Path(model)
    old = Ensemble.load(model)
    if old is None:
        raise CladmopError(f"{model}: serves CLaDMoP alone (no ensemble.json); train-default makes the combined model")
    manifest = ModelManifest.read(model)
    steps = _Steps(make_featurizer(manifest.config.backbone, manifest.config.granularity, device),
                   Resolver.default(), device, seed, echo, state)
    rows, member = learning_rows(top_folder(data_dir), state)
    rows = steps.featurize(rows)
    years = completion_years(rows.trials)
    learn, last = latest_year_split(years)
    embeddings = trial_embeddings(old.embedding, rows.trials, steps.featurizer, rows.features)
    ensemble = steps._ensemble(model, rows, member, embeddings, learn, last, years.max(), old.embedding)
    manifest = ModelManifest.read(model)
    manifest.name = f"CLaDMoP default {RECIPE_VERSION}"
    manifest.description = DESCRIPTION
    recipe = manifest.extra.setdefault("recipe", {})
    recipe["version"], recipe["thresholds_member"] = RECIPE_VERSION, THRESHOLDS_MEMBER
    recipe["ensemble_refit"] = f"engine.training.recipe.refit_ensemble (seed {seed}) on the {RECIPE_VERSION} recipe"
    manifest.write(model)
    return ensemble


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

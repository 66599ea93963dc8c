"""Fine-tuning on in-house trials as one job in three steps:

1. `check_data(spec)`: read the trials (folder of XML/JSON or a TOP-format CSV) and the outcome
   labels, keep those of the phase, resolve drugs and conditions, split train/validation — and say
   what was read, what was skipped and why, the class balance, and what the lookups could not resolve.
2. `run_job(spec, check)`: featurize, fine-tune the phase adapter (`engine.training.finetune`: the
   head alone for `head_epochs`, then LoRA and head for at most `epochs`), reporting every epoch on
   one progress bar over all stages; cancel at any time (`JobResult.outcome_text` says where it
   stopped and what was kept); running the same spec again resumes from the last checkpoint.
3. The evaluation: the new model loaded as a `Predictor` (ready to use at once) scores the validation
   trials (or separate test trials); bootstrap metrics (the paper's 10 × 80%) and ROC / PR curves;
   and the base model scores the same trials (`Comparison`), so a worse new model is said to be worse.

This is the one fine-tuning pipeline: the wizard and `cladmop finetune` both run it (the CLI prints
what the wizard shows). The trials are selected with the rules of `engine.training.dataset`
(`select_labelled`, which evaluation and pre-training read with too); the check keeps the reasons.
"""
from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from engine.errors import Cancelled, CladmopError, InputError
from engine.model.checkpoint import ADAPTERS, resume_progress, training_folder
from engine.records.trial import Trial
from engine.tasks import TaskState

MIN_PER_CLASS = 2  # each outcome needs a trial in training and one in validation
MIN_EVALUATION = 5  # bootstrap metrics need at least this many scored trials
_DRUG_LINE = re.compile(r"^drug '(.+?)':")
_CONDITION_LINE = re.compile(r"^condition '(.+?)':")


@dataclass
class FinetuneSpec:
    """One fine-tuning run, as the wizard and `cladmop finetune` ask for it. A setting left None is the
    recipe's (engine.training.config owns every default)."""

    base: Path  # model folder to start from (pre-trained, possibly with other phases)
    phase: str  # "I" | "II" | "III"
    data: list[Path]  # record files, folders or TOP-format CSVs
    labels_csv: Path | None = None  # nct_id,label for records that carry no label
    out: Path | None = None  # model folder to write (default: the base itself)
    epochs: int | None = None  # stage 2 (LoRA and head), at most: early stopping may end it sooner
    head_epochs: int | None = None  # stage 1 (the head alone)
    batch_size: int | None = None
    seed: int = 0
    valid_fraction: float = 0.15  # of `data`, stratified, unless `valid_data` is given
    valid_data: list[Path] = field(default_factory=list)  # validation trials read from their own files
    device: str = "auto"
    test_data: list[Path] = field(default_factory=list)  # optional held-out trials for the evaluation

    @property
    def out_dir(self) -> Path:
        return Path(self.out or self.base)

    def config(self):
        """The recipe's FinetuneConfig with this run's settings where given."""
        from engine.training.config import finetune_settings

        return finetune_settings(self.epochs, self.head_epochs, self.batch_size, self.seed)


@dataclass
class DataCheck:
    """What `check_data` found. `problems` block training; `warnings` do not."""

    phase: str
    files: int = 0
    records: int = 0
    read_errors: list[tuple[str, str]] = field(default_factory=list)  # (path, problem)
    #: reason -> NCT ids (or paths) of the trials left out for it
    skipped: dict[str, list[str]] = field(default_factory=dict)
    record_ids: set[str] = field(default_factory=set)
    labels_without_record: list[str] = field(default_factory=list)
    trials: list[Trial] = field(default_factory=list)  # kept, lookups resolved
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    train_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    valid_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    unresolved_drugs: Counter = field(default_factory=Counter)
    unresolved_conditions: Counter = field(default_factory=Counter)
    trials_with_unresolved: int = 0
    not_scorable: list[tuple[str, str]] = field(default_factory=list)  # (NCT id, why) — trained as they are
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def successes(self) -> int:
        return int(self.labels.sum())

    @property
    def failures(self) -> int:
        return int(len(self.labels) - self.labels.sum())

    @property
    def n_train(self) -> int:
        return len(self.train_index)

    @property
    def n_valid(self) -> int:
        return len(self.valid_index)

    def prevalence(self, index: np.ndarray | None = None) -> float:
        y = self.labels if index is None else self.labels[index]
        return float(y.mean()) if len(y) else float("nan")

    def subset(self, index) -> tuple[list[Trial], np.ndarray]:
        return [self.trials[i] for i in index], self.labels[index]

    def summary_lines(self) -> list[str]:
        lines = [f"{self.files} file(s) read: {self.records} trial record(s)"
                 + (f", {len(self.read_errors)} file(s) could not be read" if self.read_errors else "")]
        lines.append(f"phase {self.phase}: {len(self.trials)} labelled trial(s) — {self.successes} success, "
                     f"{self.failures} failure (success rate {self.prevalence():.2f})" if len(self.trials)
                     else f"phase {self.phase}: no labelled trials")
        if self.n_train:
            lines.append(f"training {self.n_train} (success {self.prevalence(self.train_index):.2f}), "
                         f"validation {self.n_valid} (success {self.prevalence(self.valid_index):.2f})")
        for reason, ids in self.skipped.items():
            lines.append(f"skipped {len(ids)}: {reason}")
        if self.trials_with_unresolved:
            lines.append(f"{self.trials_with_unresolved} trial(s) with unresolved items: "
                         f"{sum(self.unresolved_drugs.values())} drug mention(s), "
                         f"{sum(self.unresolved_conditions.values())} condition mention(s)")
        return lines


def check_data(spec: FinetuneSpec, resolver=None, state: TaskState | None = None) -> DataCheck:
    """Read, select, resolve and split the trials of `spec`; never raises for bad records (they are
    listed), only for an unreadable label file (CladmopError naming it)."""
    from engine.training.dataset import read_labels

    state = state or TaskState()
    check = DataCheck(phase=spec.phase.upper())
    labels = read_labels(Path(spec.labels_csv)) if spec.labels_csv else {}
    seen: set[str] = set()
    train = _select(spec.data, labels, check, seen, state)
    valid = _select(spec.valid_data, labels, check, seen, state) if spec.valid_data else []
    check.labels_without_record = sorted(set(labels) - check.record_ids)
    check.labels = np.asarray([t.label for t in train + valid], dtype=np.int64)
    _resolve(check, train + valid, resolver, state)
    _judge(check, spec)
    if check.ok:
        _split(check, spec, len(train))
    state.progress(1, 1, "checked")
    return check


def _select(paths: Sequence[Path], labels: dict, check: DataCheck, seen: set, state: TaskState) -> list[Trial]:
    """The labelled trials of the phase in `paths` (engine.training.dataset.select_labelled's rules),
    keeping the reason each left-out trial was left out."""
    from engine.records import load_records
    from engine.training.dataset import select_labelled

    state.progress(0, 0, "reading the trials")
    loaded = load_records([str(p) for p in paths], state=state)
    check.files, check.records = check.files + loaded.files, check.records + len(loaded.trials)
    check.read_errors += [(e.path, e.problem) for e in loaded.errors]
    check.record_ids |= {t.nct_id for t in loaded.trials}
    kept, left_out = select_labelled(loaded.trials, labels, check.phase, seen)
    for reason, trials in left_out.items():
        check.skipped.setdefault(reason, []).extend(t.nct_id or t.source_path for t in trials)
    return kept


def _resolve(check: DataCheck, trials: list[Trial], resolver, state: TaskState) -> None:
    """Drugs and conditions looked up, and what the lookups or the model could not use counted."""
    from engine.records.scorable import scorable_problem

    if resolver is None:
        from engine.lookups.resolve import Resolver

        state.progress(0, 0, "preparing the drug and disease lookups")
        resolver = Resolver.default()
    for i, trial in enumerate(trials):
        state.progress(i, len(trials), f"looking up drugs and conditions of {trial.nct_id}")
        trial = resolver.resolve(trial)
        check.trials.append(trial)
        drugs = [m.group(1) for m in map(_DRUG_LINE.match, trial.unresolved) if m]
        conditions = [m.group(1) for m in map(_CONDITION_LINE.match, trial.unresolved) if m]
        check.unresolved_drugs.update(drugs)
        check.unresolved_conditions.update(conditions)
        check.trials_with_unresolved += bool(drugs or conditions)
        if problem := scorable_problem(trial):
            check.not_scorable.append((trial.nct_id, problem))


def _split(check: DataCheck, spec: FinetuneSpec, n_train: int) -> None:
    """Training and validation rows: the files given for each, else a stratified split of the data."""
    from engine.training.dataset import stratified_split

    if spec.valid_data:
        train, valid = np.arange(n_train), np.arange(n_train, len(check.trials))
    else:
        train, valid = stratified_split(check.labels, spec.valid_fraction, spec.seed)
    check.train_index, check.valid_index = train, valid
    if len(valid) < MIN_EVALUATION and not spec.test_data:
        check.warnings.append(f"only {len(valid)} validation trial(s): early stopping and the evaluation "
                              f"report rest on very few trials")


def _judge(check: DataCheck, spec: FinetuneSpec) -> None:
    n = len(check.trials)
    if n == 0:
        check.problems.append(f"no labelled phase {check.phase} trials in the data"
                              + (" (check the label file's NCT ids)" if spec.labels_csv else
                                 " (give an outcome-label CSV for records without labels)"))
        return
    for name, count in (("successful", check.successes), ("failed", check.failures)):
        if count < MIN_PER_CLASS:
            check.problems.append(f"only {count} {name} trial(s): training needs at least {MIN_PER_CLASS} of "
                                  f"each outcome (one for training, one for validation)")
    rate = check.prevalence()
    if 0 < rate < 1 and min(rate, 1 - rate) < 0.1:
        check.warnings.append(f"unbalanced outcomes (success rate {rate:.2f}): the loss is class-weighted, "
                              f"but the minority class has few examples")
    if check.labels_without_record:
        check.warnings.append(f"{len(check.labels_without_record)} label(s) for trials not in the data "
                              f"(e.g. {', '.join(check.labels_without_record[:3])})")
    if check.not_scorable:
        check.warnings.append(f"{len(check.not_scorable)} trial(s) the model could not score for prediction "
                              f"(no drug or no criteria); they are trained on as they are")
    if spec.epochs is not None and spec.epochs < 1:
        check.problems.append("the number of epochs must be at least 1")
    if spec.head_epochs is not None and spec.head_epochs < 0:
        check.problems.append("the number of head-stage epochs must be 0 (no head stage) or more")


# -- training ----------------------------------------------------------------------------------------
@dataclass
class EvaluationReport:
    """Bootstrap metrics and curves of the fine-tuned model on `n` labelled trials."""

    source: str  # "validation" (also used for early stopping and calibration) | "test"
    n: int
    metrics: dict | None  # engine.training.metrics.bootstrap_metrics, None with too few trials
    point: dict  # point metrics on all of them
    roc: tuple[np.ndarray, np.ndarray] | None  # (false-positive rate, true-positive rate)
    pr: tuple[np.ndarray, np.ndarray] | None  # (recall, precision)
    predictions: list[dict] = field(default_factory=list)  # nct_id, label, probability
    notes: list[str] = field(default_factory=list)


#: what the wizard says when a run was cancelled before any training began
CANCELLED_BEFORE_TRAINING = ("Cancelled before training began (while encoding the trials or scoring them with the base "
                             "model); nothing was trained.")


@dataclass
class JobResult:
    model_dir: Path
    phase: str
    fit: object  # engine.training.loop.FitResult
    cancelled: bool = False
    evaluation: EvaluationReport | None = None
    predictor: object | None = None  # the new model, loaded, ready to use
    comparison: "Comparison | None" = None  # the base model on the same trials
    epochs: int = 0  # the LoRA stage's setting (at most)
    head_epochs: int = 0  # the head stage's setting
    #: where a cancelled run stopped: "head" (stage 1), "lora" (stage 2) or "evaluation" (training done)
    cancelled_in: str = ""
    head_epochs_done: int = 0

    @property
    def epochs_done(self) -> int:
        return len(self.fit.history)

    @property
    def last_epoch(self) -> int:
        """The last LoRA epoch completed (0: none), counting the epochs of a run this one resumed."""
        return self.fit.history[-1].epoch if self.fit.history else 0

    def outcome_text(self) -> str:
        """What the run did and what was kept, in words (the wizard's status, the CLI's last line)."""
        fit = self.fit
        if self.cancelled_in == "head":
            return (f"Cancelled in stage 1 (the head alone) at epoch {self.head_epochs_done + 1} of "
                    f"{self.head_epochs}; this stage keeps no checkpoint, so training again starts it over.")
        if self.cancelled_in == "lora":
            at = self.last_epoch + 1
            kept = f"after epoch {self.last_epoch}" if self.last_epoch else "after stage 1 (the head alone)"
            best = f"; the best so far ({fit.best_text}) is saved" if fit.best_epoch >= 0 else ""
            return (f"Cancelled at epoch {at} of {self.epochs}; checkpoint kept ({kept}){best}. "
                    f"Train again (resume) continues from epoch {at}.")
        stop = "stopped early: no better validation score" if fit.stopped == "patience" else "all epochs run"
        done = (f"Training finished: epoch {self.last_epoch} of {self.epochs} ({stop}), best: {fit.best_text}. "
                f"Model written to {self.model_dir}.")
        if self.cancelled_in == "evaluation":
            return done + " Cancelled during the evaluation: no comparison with the base model."
        return done


def previous_history(out: Path, phase: str) -> list[dict]:
    """The epochs an interrupted run of `phase` in `out` already did (what a re-run continues from)."""
    path = resume_progress(out, phase)
    try:
        return list(json.loads(path.read_text()).get("history", []))
    except (OSError, ValueError, AttributeError):
        return []


def prepare_output(spec: FinetuneSpec) -> Path:
    """Make `spec.out` a copy of the base model (once: a re-run keeps what the first run wrote, so it can
    resume). Training then happens in place in the copy. Returns the folder trained in."""
    from engine.model.checkpoint import BASE_WEIGHTS, MODEL_JSON, ModelManifest

    base, out = Path(spec.base), spec.out_dir
    if out.resolve() == base.resolve() or (out / MODEL_JSON).is_file():
        return out
    if out.exists() and any(out.iterdir()):
        raise CladmopError(f"{out}: the output folder is not empty and is not a model folder; choose another")
    out.mkdir(parents=True, exist_ok=True)
    for name in (BASE_WEIGHTS, MODEL_JSON):
        if not (base / name).is_file():
            raise CladmopError(f"{base / name}: missing; the base model folder is incomplete")
        shutil.copy2(base / name, out / name)
    if (base / ADAPTERS).is_dir():
        shutil.copytree(base / ADAPTERS, out / ADAPTERS, ignore=shutil.ignore_patterns(".*"))
    manifest = ModelManifest.read(out)
    manifest.name = out.name
    manifest.description = (f"{manifest.description}; " if manifest.description else "") + \
        f"copied from {base.name} for phase {spec.phase.upper()} fine-tuning"
    manifest.write(out)
    return out


def checkpoint_epoch(out: Path, phase: str) -> int | None:
    """The LoRA epoch an interrupted run of `phase` in `out` can resume after (0: after the head
    stage), or None when there is nothing to resume."""
    path = resume_progress(out, phase)
    try:
        return int(json.loads(path.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _plan(state: TaskState, spec: FinetuneSpec, check: DataCheck, config, n_eval: int, resuming: bool):
    """The job's stages, weighted by their expected seconds. Measured on the shipped model, CPU, 80
    phase I trials + 40 test trials: encoding 0.6 s a trial; scoring a held-back trial (its criteria
    encoded for the first time) 2 s with the base model, 0.8 s with the new one; the head stage one
    branch forward, 0.4 s a trial; a LoRA epoch 0.2 s a training trial. Early stopping ends LoRA
    sooner, and the bar then jumps ahead: never back, and full only at the end."""
    from engine.training.progress import Stage, StagePlan

    n, n_train = len(check.trials), check.n_train
    epochs_left = max(config.fit.epochs - (checkpoint_epoch(spec.out_dir, spec.phase) or 0), 0)
    head = 0 if resuming else config.head_epochs
    return StagePlan(state, [
        Stage("encode", "encoding the trials", 0.6 * n + 10),
        Stage("base", "the base model on the held-back trials", 2.0 * n_eval + 20),
        Stage("head", f"the head alone, {head} epochs", (0.4 * n + 0.002 * head * n_train) if head else 0),
        Stage("lora", f"LoRA and head, at most {config.fit.epochs} epochs",
              epochs_left * (0.2 * n_train + 0.05 * check.n_valid)),
        Stage("evaluate", "the new model on the same trials", 0.8 * n_eval + 10)])


def run_job(spec: FinetuneSpec, check: DataCheck, featurizer=None, resolver=None, state: TaskState | None = None,
            on_epoch: Callable | None = None, compare: bool = True) -> JobResult:
    """Fine-tune `spec.phase` on the checked trials; unless cancelled or `compare` is False, load the new
    model and judge it beside the base model on the same held-back trials.

    `on_epoch(EpochRecord)` is called after every epoch (on the worker thread). Cancelling through
    `state` stops at the next batch; the result says where (`outcome_text`). Before training began it
    raises Cancelled."""
    if not check.ok:
        raise InputError("the data check found problems: " + "; ".join(check.problems))
    out, config = prepare_output(spec), spec.config()
    held_back = _held_back(spec, check) if compare else ([], np.zeros(0), "", [])
    plan = _plan(state or TaskState(), spec, check, config, len(held_back[0]),
                 resuming=checkpoint_epoch(out, spec.phase) is not None)
    features = _encode(out, check, featurizer, spec.device, plan.state("encode"))
    # the base model first: a run into the base folder itself would change it
    before = base_report(spec.base, spec.phase.upper(), *held_back, spec.device, resolver, plan.state("base")) \
        if compare else None
    result = _train(spec, check, out, features, config, plan, on_epoch)
    if result.cancelled or not compare:
        return result
    try:
        _evaluate_job(spec, result, held_back, before, resolver, plan.state("evaluate"))
    except Cancelled:
        result.cancelled, result.cancelled_in = True, "evaluation"
        return result
    plan.finish(result.outcome_text())
    return result


def finetune_from_files(base: Path, phase: str, data: Sequence[Path], featurizer=None, resolver=None,
                        state: TaskState | None = None, on_epoch: Callable | None = None, compare: bool = False,
                        **settings) -> JobResult:
    """`check_data` then `run_job` in one call, for scripts and benchmarks; `settings`: FinetuneSpec's
    fields. A data check that finds problems raises InputError naming them."""
    spec = FinetuneSpec(base=Path(base), phase=phase, data=list(data), **settings)
    return run_job(spec, check_data(spec, resolver, state), featurizer, resolver, state, on_epoch, compare)


def _encode(out: Path, check: DataCheck, featurizer, device: str, state: TaskState) -> list:
    """The checked trials' features (with the model's own language model unless `featurizer` is given)."""
    if featurizer is None:
        from engine.model.checkpoint import ModelManifest
        from engine.training.dataset import make_featurizer

        manifest = ModelManifest.read(out)
        state.progress(0, 0, f"loading the language model ({manifest.config.backbone})")
        featurizer = make_featurizer(manifest.config.backbone, manifest.config.granularity, device)
    return featurizer.featurize_many(check.trials, state=state)


def _train(spec: FinetuneSpec, check: DataCheck, out: Path, features, config, plan, on_epoch) -> JobResult:
    """Both stages in `out` (engine.training.finetune), and where a cancel stopped them."""
    from engine.training.finetune import finetune

    train, valid = check.train_index, check.valid_index
    fit = finetune(out, spec.phase.upper(), [features[i] for i in train], check.labels[train],
                   [features[i] for i in valid], check.labels[valid], out_dir=out, config=config, device=spec.device,
                   state=plan.state("lora"), on_epoch=on_epoch, trained_on=", ".join(str(p) for p in spec.data),
                   head_state=plan.state("head"))
    cancelled = fit.stopped == "cancelled"
    return JobResult(model_dir=out, phase=spec.phase.upper(), fit=fit, cancelled=cancelled, epochs=config.fit.epochs,
                     head_epochs=config.head_epochs, cancelled_in=(fit.cancelled_in or "lora") if cancelled else "",
                     head_epochs_done=plan.state("head").done)


def _held_back(spec: FinetuneSpec, check: DataCheck) -> tuple[list[Trial], np.ndarray, str, list[str]]:
    """(trials, labels, source, notes) the models are judged on: the test trials, else the validation ones."""
    if spec.test_data:
        from engine.training.dataset import load_labelled

        test, notes = load_labelled(spec.test_data, spec.labels_csv, phase=spec.phase.upper())
        return test.trials, test.labels, "test", notes
    trials, labels = check.subset(check.valid_index)
    return trials, labels, "validation", []


def _evaluate_job(spec: FinetuneSpec, result: JobResult, held_back, before, resolver, state: TaskState) -> None:
    """The new model loaded and scored on the held-back trials, set beside the base model's scores."""
    from engine.predict import Predictor

    trials, labels, source, notes = held_back
    state.progress(0, 0, "loading the fine-tuned model")
    result.predictor = Predictor.load(result.model_dir, device=spec.device, resolver=resolver)
    result.evaluation = evaluate(result.predictor, trials, labels, result.phase, source, state=state)
    result.evaluation.notes[:0] = notes
    result.comparison = Comparison.of(result.evaluation, before[0], Path(spec.base).name, before[1])


def evaluate(predictor, trials: Sequence[Trial], labels, phase: str, source: str = "validation",
             state: TaskState | None = None) -> EvaluationReport:
    """Score `trials` with `predictor` (phase model `phase`) and measure them against `labels`."""
    from engine.training.metrics import bootstrap_metrics, point_metrics

    state = state or TaskState()
    state.progress(0, len(trials), f"evaluating on the {source} trials")
    scored = predictor.predict_many(list(trials), phase=phase, ablate=False, state=state)
    probs, ys, kept, notes = [], [], [], []
    for trial, y, prediction in zip(trials, labels, scored):
        if isinstance(prediction, Exception):
            notes.append(f"{trial.nct_id}: not scored ({prediction})")
            continue
        probs.append(prediction.probability)
        ys.append(int(y))
        kept.append(trial.nct_id)
    y, p = np.asarray(ys, dtype=int), np.asarray(probs, dtype=float)
    report = EvaluationReport(source=source, n=len(y), metrics=None, point=point_metrics(y, p) if len(y) else {},
                              roc=None, pr=None, notes=notes,
                              predictions=[{"nct_id": n, "label": int(a), "probability": float(b)}
                                           for n, a, b in zip(kept, y, p)])
    if len(y) >= MIN_EVALUATION:
        report.metrics = bootstrap_metrics(y, p)
    else:
        report.notes.append(f"only {len(y)} scored trial(s): no bootstrap (needs {MIN_EVALUATION})")
    if 0 < y.sum() < len(y):
        from sklearn.metrics import precision_recall_curve, roc_curve

        fpr, tpr, _ = roc_curve(y, p)
        precision, recall, _ = precision_recall_curve(y, p)
        report.roc, report.pr = (fpr, tpr), (recall, precision)
    else:
        report.notes.append("one outcome only among the evaluated trials: no ROC or PR curve")
    if source == "validation":
        report.notes.append("measured on the validation trials, which also chose the best epoch and the "
                            "calibration: an optimistic estimate; give separate test trials for an unbiased one")
    state.progress(len(trials), len(trials), "evaluated")
    return report


#: (label, key) of the metrics compared; the first decides whether the new model is worse
COMPARED = (("ROC-AUC", "roc_auc"), ("PR-AUC", "pr_auc"), ("F1 (threshold 0.5)", "f1"))


@dataclass
class Comparison:
    """The new model and the base model, on the same held-back trials (those both could score)."""

    source: str  # "validation" | "test"
    n: int
    base_name: str
    new: dict  # point metrics
    base: dict | None  # None: the base model could not score these trials (`problem` says why)
    problem: str = ""

    @classmethod
    def of(cls, new: EvaluationReport, base: EvaluationReport | None, base_name: str, problem: str = ""):
        """Both reports restricted to the trials both scored, so the figures compare like with like."""
        from engine.training.metrics import point_metrics

        if base is None or not base.n:
            return cls(new.source, new.n, base_name, new.point, None, problem or "it scored none of them")
        both = {r["nct_id"] for r in new.predictions} & {r["nct_id"] for r in base.predictions}

        def on_both(report):
            rows = [r for r in report.predictions if r["nct_id"] in both]
            return point_metrics([r["label"] for r in rows], [r["probability"] for r in rows]) if rows else {}
        return cls(new.source, len(both), base_name, on_both(new), on_both(base))

    def change(self, key: str) -> float | None:
        if self.base is None or not np.isfinite(self.base.get(key, np.nan)) or \
                not np.isfinite(self.new.get(key, np.nan)):
            return None
        return float(self.new[key] - self.base[key])

    @property
    def worse(self) -> bool:
        """The new model ranks the held-back trials worse than the base model (lower ROC-AUC)."""
        change = self.change(COMPARED[0][1])
        return change is not None and change < 0

    def rows(self) -> list[tuple[str, float | None, float | None, float | None]]:
        """(metric, base, new, change) for the side-by-side table."""
        base = self.base or {}
        return [(label, base.get(key), self.new.get(key), self.change(key)) for label, key in COMPARED]

    def warning(self) -> str:
        """"" unless the new model is worse; then what to weigh before using it."""
        if not self.worse:
            return ""
        label, key = COMPARED[0]
        return (f"The new model is worse than the base model “{self.base_name}” on the same {self.n} {self.source} "
                f"trials: {label} {self.new[key]:.3f} vs {self.base[key]:.3f}. Keep the base model unless you have "
                f"a reason to prefer the new one.")

    def lines(self) -> list[str]:
        """The comparison as text (the CLI prints it; the wizard shows the same figures in a table)."""
        head = f"new model vs base model “{self.base_name}” on the same {self.n} {self.source} trial(s):"
        if self.base is None:
            return [head, f"  the base model could not be compared: {self.problem}"]
        fmt = lambda v, sign="": "–" if v is None or not np.isfinite(v) else f"{v:{sign}.3f}"  # noqa: E731
        table = [f"  {'metric':<20}{'base':>8}{'new':>8}{'change':>9}"]
        table += [f"  {label:<20}{fmt(b):>8}{fmt(n):>8}{fmt(c, '+'):>9}" for label, b, n, c in self.rows()]
        caveat = ["  (the validation trials also chose the new model's best epoch and calibration: "
                  "the comparison leans towards the new model)"] if self.source == "validation" else []
        return [head, *table, *caveat] + ([f"  WARNING: {self.warning()}"] if self.worse else [])


def base_report(base_dir: Path, phase: str, trials, labels, source: str, notes=(), device: str = "auto",
                resolver=None, state: TaskState | None = None) -> tuple[EvaluationReport | None, str]:
    """The base model in `base_dir` on the held-back trials, scored before training changes anything
    (a run may write into the base folder itself); (None, why) when it cannot score them."""
    from engine.predict import Predictor

    state = state or TaskState()
    state.progress(0, 0, "loading the base model")
    try:
        base = Predictor.load(base_dir, device=device, resolver=resolver)
    except CladmopError as exc:
        return None, f"it could not be loaded: {exc}"
    report = evaluate(base, trials, labels, phase, source, state=state)
    return report, "; ".join(report.notes[:1])


def discard_unfinished(out: Path, phase: str) -> None:
    """Forget an interrupted run of `phase` in `out`, so the next run starts from epoch 1."""
    shutil.rmtree(training_folder(out, phase), ignore_errors=True)

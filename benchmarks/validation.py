"""The validation protocol for all model selection on TOP (the test splits are not here): docs/validation.md.

Per phase, the learning rows of that phase (I: phase_I_train + phase_I_valid; II and III: the
recoverable train rows + the valid file), one row per NCT id, are evaluated two ways:

- `fixed`: the split the shipped model uses (`engine.training.recipe.phase_sets`, reused as is): phase I
  train file -> valid file; II/III: train rows + 70% of the valid file -> the other 30% (stratified, seed 0);
- `cv`: stratified k-fold cross-validation (seeded); the out-of-fold predictions are pooled.

Each gets the paper's 10 x 80% bootstrap (`engine.training.metrics.bootstrap_metrics`) on its held-out
predictions, with the prevalence. Mixed-phase trials sit in two phases' files; inside one phase each NCT
id is one row, so a trial is never in train and held-out of the same phase at once (checked).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.published import PHASE_II_MEASURED_NOTE, PHASES, PUBLISHED, TEST_PREVALENCE  # noqa: E402
from engine.errors import CladmopError  # noqa: E402
from engine.records.errors import RecordError  # noqa: E402
from engine.records.trial import Trial  # noqa: E402
from engine.training.metrics import bootstrap_metrics, format_table  # noqa: E402

#: fit on (X_train, y_train), return success probabilities for X_heldout; `seed` makes it repeatable
FitPredict = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]
#: trials -> {variant name: feature matrix (n_trials, d)}
Featurize = Callable[[list[Trial]], dict[str, np.ndarray]]
PROTOCOLS = {"fixed": "fixed split", "cv": "k-fold CV"}


@dataclass
class PhaseRows:
    """The learning rows of one phase and the fixed split of the shipped model over them."""

    phase: str
    trials: list[Trial]
    labels: np.ndarray  # int (n,)
    fixed_train: np.ndarray  # indices into `trials`
    fixed_heldout: np.ndarray
    notes: list[str]

    def __len__(self) -> int:
        return len(self.trials)

    @property
    def nct_ids(self) -> list[str]:
        return [t.nct_id for t in self.trials]

    @property
    def prevalence(self) -> float:
        return float(self.labels.mean())

    def sample(self, max_rows: int, seed: int = 0) -> "PhaseRows":
        """A stratified subsample of about `max_rows` rows that keeps each row's side of the fixed
        split (for smoke tests; numbers on it mean nothing)."""
        from engine.training.dataset import stratified_split

        if max_rows >= len(self):
            return self
        fraction = max_rows / len(self)
        keep = []
        for side in (self.fixed_train, self.fixed_heldout):
            _, picked = stratified_split(self.labels[side], fraction, seed)
            keep.extend(side[picked])
        keep = np.sort(np.asarray(keep))
        position = {int(old): new for new, old in enumerate(keep)}
        return PhaseRows(self.phase, [self.trials[i] for i in keep], self.labels[keep],
                         np.array([position[int(i)] for i in self.fixed_train if int(i) in position]),
                         np.array([position[int(i)] for i in self.fixed_heldout if int(i) in position]),
                         self.notes + [f"subsample of {len(keep)} of {len(self)} rows"])


def top_dir(data_dir: str | Path | None = None) -> Path:
    """The TOP folder: `data_dir`/top, else `engine.paths.shared_data_dir()`/top; a clear error if absent."""
    from engine.paths import shared_data_dir

    base = Path(data_dir) if data_dir is not None else shared_data_dir()
    if base is None:
        raise CladmopError("no data folder: pass --data DIR (the folder holding top/) "
                           "or set CLADMOP_SHARED_DATA")
    from engine.training.recipe import top_folder

    return top_folder(base)


def phase_rows(top: Path, phase: str, seed: int = 0) -> PhaseRows:
    """The learning rows of `phase`, one per NCT id, with the shipped model's fixed split.

    The split comes from `engine.training.recipe.phase_sets` itself (without featurizing), so these
    numbers and the default model's validation numbers are measured on the same rows.
    """
    from engine.training.dataset import LabelledSet
    from engine.training.recipe import phase_sets

    if phase not in PHASES:
        raise CladmopError(f"phase must be one of {', '.join(PHASES)}, not {phase!r}")
    train, heldout = phase_sets(Path(top), phase, lambda s: LabelledSet(s.trials, s.labels, [None] * len(s)),
                                seed)
    heldout_ids = {t.nct_id for t in heldout.trials}
    if len(heldout_ids) != len(heldout):
        raise CladmopError(f"phase {phase}: the held-out rows repeat an NCT id")
    notes, seen = [], set(heldout_ids)
    keep_train = []
    for i, t in enumerate(train.trials):
        if t.nct_id in seen:  # in held-out (or twice in train): it must not be learned from
            continue
        seen.add(t.nct_id)
        keep_train.append(i)
    if len(keep_train) < len(train):
        notes.append(f"{len(train) - len(keep_train)} training row(s) dropped: their NCT id is "
                     "already held out or repeated")
    trials = [train.trials[i] for i in keep_train] + list(heldout.trials)
    labels = np.concatenate([train.labels[keep_train], heldout.labels]).astype(np.int64)
    n_train = len(keep_train)
    rows = PhaseRows(phase, trials, labels, np.arange(n_train), np.arange(n_train, len(trials)), notes)
    check_disjoint(rows.nct_ids, rows.fixed_train, rows.fixed_heldout)
    return rows


def check_disjoint(ids: Sequence[str], train_idx, heldout_idx) -> None:
    """Raise when an NCT id is on both sides of a split (a mixed-phase trial leaking)."""
    both = {ids[i] for i in train_idx} & {ids[i] for i in heldout_idx}
    if both:
        raise CladmopError(f"{len(both)} trial(s) both trained on and held out, e.g. {sorted(both)[0]}")


def cv_folds(labels: np.ndarray, n_folds: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified, shuffled (seeded) k-fold splits: (train indices, held-out indices) per fold."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels)
    smallest = int(np.bincount(labels).min()) if len(np.unique(labels)) == 2 else 0
    if smallest < n_folds:
        raise CladmopError(f"{n_folds}-fold cross-validation needs at least {n_folds} trials of each "
                           f"outcome, the rows have {smallest} of the rarer one")
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in splitter.split(np.zeros(len(labels)), labels)]


def evaluate_phase(rows: PhaseRows, features: np.ndarray, fit_predict: FitPredict, n_folds: int = 5,
                   seed: int = 0) -> dict:
    """{"fixed": bootstrap result, "cv": bootstrap result on the pooled out-of-fold predictions, ...}."""
    X = np.asarray(features)
    y = rows.labels
    if len(X) != len(y):
        raise ValueError(f"{len(X)} feature rows for {len(y)} trials")
    tr, ho = rows.fixed_train, rows.fixed_heldout
    fixed = bootstrap_metrics(y[ho], fit_predict(X[tr], y[tr], X[ho], seed), seed=seed)
    out_of_fold = np.full(len(y), np.nan)
    ids = rows.nct_ids
    for tr_k, te_k in cv_folds(y, n_folds, seed):
        check_disjoint(ids, tr_k, te_k)
        out_of_fold[te_k] = fit_predict(X[tr_k], y[tr_k], X[te_k], seed)
    cv = bootstrap_metrics(y, out_of_fold, seed=seed)
    return {"fixed": fixed, "cv": cv, "n_rows": len(y), "prevalence": rows.prevalence,
            "n_fixed_train": int(len(tr)), "n_fixed_heldout": int(len(ho)), "folds": n_folds,
            "notes": rows.notes}


# -- printing --------------------------------------------------------------------------------------------
def ours_table(results: dict[str, dict], n_folds: int = 5) -> str:
    """One baseline variant: phase x {fixed split, k-fold CV}, `mean ± sd` cells, held-out prevalence."""
    rows = {}
    for phase, r in results.items():
        rows[f"{phase} fixed"] = r["fixed"]
        rows[f"{phase} {n_folds}-fold CV"] = r["cv"]
    return format_table(rows)


def published_table() -> str:
    """The published TOP test numbers (docs/validation.md, "Published"), one line per model, '-' where none is given."""
    cell = lambda v: f"{v:.3f}" if v is not None else "  -  "  # noqa: E731
    head = f"{'':<14}{'PR-AUC  I':>10}{'II':>7}{'III':>7}   {'ROC-AUC  I':>11}{'II':>7}{'III':>7}   how"
    lines = [head, "-" * 100]
    for r in PUBLISHED:
        pr = "".join(f"{cell(r.pr_auc.get(p)):>7}" for p in PHASES)
        roc = "".join(f"{cell(r.roc_auc.get(p)):>7}" for p in PHASES)
        lines.append(f"{r.model:<14}   {pr}       {roc}   {r.how}")
    prev = "".join(f"{TEST_PREVALENCE[p]:>7.3f}" for p in PHASES)
    lines.append(f"{'prevalence':<14}   {prev}       (test splits; {PHASE_II_MEASURED_NOTE})")
    return "\n".join(lines)


def report(title: str, results: dict[str, dict[str, dict]], n_folds: int = 5) -> str:
    """The whole printout: ours (validation) per variant, then the published numbers, clearly labelled."""
    parts = [f"== {title} ==", ""]
    for variant, per_phase in results.items():
        parts += [f"ours, validation (TOP learning rows, not the test split): {variant}",
                  ours_table(per_phase, n_folds), ""]
    parts += ["published, official test split (not comparable one-to-one: other rows, other prevalence)",
              published_table()]
    return "\n".join(parts)


# -- the command line shared by the baseline scripts -----------------------------------------------------
def parse_args(description: str, argv: Sequence[str] | None = None,
               extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", type=Path, default=None,
                    help="folder holding top/ (default: ../shared/data or $CLADMOP_SHARED_DATA)")
    ap.add_argument("--phases", nargs="+", default=list(PHASES), choices=PHASES)
    ap.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None,
                    help="stratified subsample of at most N rows per phase (smoke runs; numbers mean nothing)")
    ap.add_argument("--json", type=Path, default=None, metavar="OUT", help="save the results as JSON")
    if extra is not None:
        extra(ap)
    return ap.parse_args(argv)


def run_baseline(title: str, args: argparse.Namespace, featurize: Featurize, fit_predict: FitPredict,
                 settings: dict | None = None, echo=print) -> dict:
    """Featurize each phase's learning rows, evaluate every variant with both protocols, print the
    report and (with --json) save it. Returns the results dict that is saved."""
    started = time.time()
    top = top_dir(args.data)
    results: dict[str, dict[str, dict]] = {}
    timings = {}
    for phase in args.phases:
        t0 = time.time()
        rows = phase_rows(top, phase, seed=0)  # the shipped model's split is always seed 0
        if args.limit:
            rows = rows.sample(args.limit, args.seed)
        variants = featurize(rows.trials)
        t1 = time.time()
        for variant, X in variants.items():
            results.setdefault(variant, {})[phase] = evaluate_phase(rows, X, fit_predict, args.folds, args.seed)
        timings[phase] = {"featurize_s": round(t1 - t0, 1), "evaluate_s": round(time.time() - t1, 1)}
        echo(f"phase {phase}: {len(rows)} rows (success {rows.prevalence:.3f}), fixed split "
             f"{len(rows.fixed_train)} -> {len(rows.fixed_heldout)}; features {t1 - t0:.0f} s, "
             f"fits {time.time() - t1:.0f} s" + "".join(f"; {n}" for n in rows.notes))
    echo("")
    echo(report(title, results, args.folds))
    seconds = round(time.time() - started, 1)
    echo(f"\n{seconds:.0f} s in all")
    saved = {"baseline": title, "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
             "seconds": seconds, "timings": timings, "settings": settings or {},
             "protocol": {"folds": args.folds, "seed": args.seed, "limit": args.limit,
                          "bootstrap": "10 samples of 80% without replacement",
                          "fixed_split": "engine.training.recipe.phase_sets (seed 0)"},
             "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
             "results": results,
             "published": [{"model": r.model, "how": r.how, "pr_auc": r.pr_auc, "roc_auc": r.roc_auc}
                           for r in PUBLISHED],
             "published_test_prevalence": TEST_PREVALENCE}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(saved, indent=2))
        echo(f"results saved to {args.json}")
    return saved


def main_guard(main: Callable[[], None]) -> None:
    """Run a benchmark's `main`, turning the engine's readable errors into one line and exit code 2."""
    try:
        main()
    except (CladmopError, RecordError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None

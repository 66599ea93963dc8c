"""Labelled trials for training and evaluation: read, resolve, featurize — the same path as prediction.

Training rows are featurized from drug and disease *names* through the application's own lookups (TOP's
SMILES and ICD columns are noisy; see the data README), so training and inference see the same input.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.errors import CladmopError
from engine.features.types import TrialFeatures
from engine.records.trial import Trial
from engine.tasks import TaskState


@dataclass
class LabelledSet:
    trials: list[Trial]
    labels: np.ndarray  # int (n,)
    features: list[TrialFeatures] | None = None

    def __len__(self) -> int:
        return len(self.trials)

    def subset(self, idx) -> "LabelledSet":
        idx = list(idx)
        return LabelledSet([self.trials[i] for i in idx], self.labels[idx],
                           None if self.features is None else [self.features[i] for i in idx])

    @property
    def prevalence(self) -> float:
        return float(self.labels.mean()) if len(self.labels) else float("nan")


def read_labels(path: Path) -> dict[str, int]:
    """An outcome-label CSV: columns `nct_id` (or `nctid`) and `label` (1 success / 0 failure)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise CladmopError(f"{path}: cannot read the label file ({e})") from e
    if not rows:
        raise CladmopError(f"{path}: the label file is empty")
    id_col = next((c for c in ("nct_id", "nctid", "NCT", "id") if c in rows[0]), None)
    if id_col is None or "label" not in rows[0]:
        raise CladmopError(f"{path}: needs columns 'nct_id' and 'label' (found: {', '.join(rows[0])})")
    labels = {}
    for n, row in enumerate(rows, start=2):
        value = (row["label"] or "").strip().lower()
        if value in ("1", "success", "true", "yes"):
            labels[row[id_col].strip()] = 1
        elif value in ("0", "failure", "false", "no"):
            labels[row[id_col].strip()] = 0
        else:
            raise CladmopError(f"{path}, line {n}: label {row['label']!r} is not 1/0 (success/failure)")
    return labels


#: why a trial read for training is left out
DUPLICATE = "duplicate NCT id (read once)"  # mixed-phase TOP trials sit in two phases' files
NO_LABEL = "no outcome label (not in the label file, none in the record)"


def other_phase(phase: str) -> str:
    return f"not a phase {phase} trial"


def select_labelled(trials: Sequence[Trial], labels: dict, phase: str | None,
                    seen: set[str] | None = None) -> tuple[list[Trial], dict[str, list[Trial]]]:
    """The trials to learn from (each once, with a label, of `phase` when given; the label file's
    label first), and the others by the reason they were left out. `seen`: NCT ids already kept."""
    seen = set() if seen is None else seen
    kept, left_out = [], {}
    for t in trials:
        y = labels.get(t.nct_id, t.label)
        reason = (DUPLICATE if t.nct_id and t.nct_id in seen else NO_LABEL if y is None
                  else other_phase(phase) if phase and phase not in t.phases else "")
        if reason:
            left_out.setdefault(reason, []).append(t)
            continue
        seen.add(t.nct_id)
        kept.append(t.replace(label=int(y)))
    return kept, left_out


def load_labelled(paths: Sequence[str | Path], labels_csv: Path | None = None, phase: str | None = None,
                  state: TaskState | None = None) -> tuple[LabelledSet, list[str]]:
    """Trials with a label (from the record, e.g. TOP CSV, or from `labels_csv`), optionally of one phase.
    Returns the set and human-readable notes on what was skipped and why."""
    from engine.records import load_records

    result = load_records(list(paths), state=state)
    labels = read_labels(labels_csv) if labels_csv else {}
    trials, left_out = select_labelled(result.trials, labels, phase)
    notes = [str(e) for e in result.errors]
    notes += [f"{len(skipped)} trial(s) skipped: {reason}" for reason, skipped in left_out.items()]
    return LabelledSet(trials, np.asarray([t.label for t in trials], dtype=np.int64)), notes


def make_featurizer(backbone: str, granularity: str, device: str = "auto", cache=None):
    """The featurizer training and evaluation share; `backbone` may name a backbone in the model store."""
    from engine.features.featurizer import Featurizer
    from engine.features.icd import IcdTable
    from engine.model_store import open_backbone

    return Featurizer(open_backbone(backbone, device=device), IcdTable.load(), granularity=granularity,
                      cache=cache)


def featurize(data: LabelledSet, resolver, featurizer, state: TaskState | None = None) -> LabelledSet:
    resolved = [resolver.resolve(t) for t in data.trials]
    feats = featurizer.featurize_many(resolved, state=state)
    return LabelledSet(resolved, data.labels, feats)


def stratified_split(labels: np.ndarray, valid_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train, valid = [], []
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        k = max(1, int(round(valid_fraction * len(idx))))
        valid.extend(idx[:k]); train.extend(idx[k:])
    return np.sort(np.array(train)), np.sort(np.array(valid))

"""Drug and condition outcome history: how the labelled trials that share a trial's names turned out.

HINT's drug and disease risk, read from labelled rows only: for each drug and each condition name of a
trial, the smoothed success rate of the learning trials that name it, and how many there are.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

#: pseudo-count of the smoothed success rate: a name seen in k learning trials weighs k / (k + 5)
HISTORY_PRIOR_WEIGHT = 5.0


def trial_names(trial) -> tuple[set[str], set[str]]:
    """The drug names (placebo left out) and condition names of a trial, lower-cased."""
    drugs = {d.name.strip().lower() for d in trial.drugs if d.kind != "placebo" and d.name.strip()}
    conditions = {c.name.strip().lower() for c in trial.conditions if c.name.strip()}
    return drugs, conditions


def outcome_history(names: list[set[str]], labels: np.ndarray, train: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(len(rows), 2): the mean smoothed success rate of each row's names among the `train` trials, and
    log(1 + the number of training trials sharing a name, summed over the names). A row that is itself in
    `train` is left out of its own counts, so training rows see what held-out rows see."""
    prior = float(labels[train].mean())
    wins, seen = defaultdict(float), defaultdict(float)
    for i in train:
        for name in names[i]:
            wins[name] += labels[i]
            seen[name] += 1
    in_train = np.zeros(len(labels), bool)
    in_train[train] = True
    out = np.zeros((len(rows), 2))
    for r, i in enumerate(rows):
        rates, count = [], 0.0
        for name in names[i]:
            w, n = wins[name] - (labels[i] if in_train[i] else 0), seen[name] - in_train[i]
            if n > 0:
                rates.append((w + HISTORY_PRIOR_WEIGHT * prior) / (n + HISTORY_PRIOR_WEIGHT))
                count += n
        out[r] = (np.mean(rates) if rates else prior, np.log1p(count))
    return out

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


class OutcomeHistory:
    """Success counts per drug and condition name of labelled trials, asked per trial."""

    def __init__(self, names: list[set[str]], labels):
        labels = np.asarray(labels, dtype=np.float64)
        self.prior = float(labels.mean())
        self.wins, self.seen = defaultdict(float), defaultdict(float)
        for row, label in zip(names, labels):
            for name in row:
                self.wins[name] += label
                self.seen[name] += 1

    def features(self, names: set[str], own_label: float | None = None) -> tuple[float, float]:
        """(mean smoothed success rate of the names, log(1 + learning trials sharing a name, summed));
        `own_label`: the trial is itself one of the labelled ones and is left out of its own counts."""
        rates, count = [], 0.0
        for name in names:
            w = self.wins[name] - (own_label or 0.0)
            n = self.seen[name] - (own_label is not None)
            if n > 0:
                rates.append((w + HISTORY_PRIOR_WEIGHT * self.prior) / (n + HISTORY_PRIOR_WEIGHT))
                count += n
        return (float(np.mean(rates)) if rates else self.prior, float(np.log1p(count)))


def outcome_history(names: list[set[str]], labels: np.ndarray, train: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(len(rows), 2): OutcomeHistory features of each row among the `train` trials. A row that is itself
    in `train` is left out of its own counts, so training rows see what held-out rows see."""
    history = OutcomeHistory([names[i] for i in train], labels[train])
    in_train = set(np.asarray(train).tolist())
    return np.array([history.features(names[i], float(labels[i]) if i in in_train else None) for i in rows])


def history_matrix(drugs: OutcomeHistory, conditions: OutcomeHistory, trials) -> np.ndarray:
    """(n, 4) drug and condition history features of new trials (not among the labelled ones)."""
    rows = []
    for trial in trials:
        d, c = trial_names(trial)
        rows.append(drugs.features(d) + conditions.features(c))
    return np.array(rows, dtype=np.float64).reshape(len(rows), 4)

"""Fit the combined model (engine/model/ensemble.py) forward in time, and its interval.

The combination of the members' logits (an equal-weight mean or a fitted stack) must be learnt from
predictions made the way analysts get them: by members that learned only from earlier trials. So the
probe and the history learn from the trials completed before the latest year and predict that year;
CLaDMoP's adapter must have been fine-tuned the same way (the v3 recipe: early-stopped and calibrated on
that year). The combination is fitted on those predictions, each phase calibrates it on its rows of that
year, and the probe and the history are then refitted on every learning trial for serving.
"""
from __future__ import annotations

import numpy as np

from engine.evidence.history import outcome_history, trial_names
from engine.model.calibration import fit_calibration
from engine.model.ensemble import Ensemble, LinearModel
from engine.training.linear import fit_linear


def history_inputs(trials, labels: np.ndarray, train: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(len(rows), 4) drug and condition history of `rows` among the `train` trials (own label left out)."""
    drugs, conditions = zip(*(trial_names(t) for t in trials))
    return np.hstack([outcome_history(list(names), labels, train, rows) for names in (drugs, conditions)])


#: how the members' logits are combined. `mean`: each standardized on the latest year, then averaged (no
#: fitted weights); `stack`: logistic regression on them. Temporal validation (benchmarks/temporal.py,
#: MODEL_CARD.md) ranked `mean` ahead in phases II and III and level in phase I: v3 serves it.
COMBINATIONS = ("mean", "stack")


def combine(members: np.ndarray, labels: np.ndarray, how: str, seed: int) -> LinearModel:
    """The stack over the members' logits (rows of the latest year), as a LinearModel."""
    if how == "stack":
        return fit_linear(members, labels, seed)
    if how != "mean":
        raise ValueError(f"combination must be one of {', '.join(COMBINATIONS)}, not {how!r}")
    k = members.shape[1]
    return LinearModel(members.mean(axis=0).tolist(), (members.std(axis=0) + 1e-9).tolist(), [1 / k] * k, 0.0)


def fit_ensemble(trials, labels: np.ndarray, member: list, embeddings: np.ndarray, cladmop_logits: np.ndarray,
                 learn: np.ndarray, last: np.ndarray, seed: int = 0, fitted_on: str = "",
                 how: str = "mean", embedding: str = "document", thresholds: np.ndarray | None = None) -> Ensemble:
    """`trials` (resolved), their `labels`, phase sets (`member`) and whole-text `embeddings` (of kind
    `embedding`, engine/features/document.py);
    `cladmop_logits` of the `last`-year rows from an adapter that learned from the `learn` rows;
    `thresholds` (engine/features/thresholds.py: threshold_matrix of `trials`), when given, adds the
    eligibility-thresholds member, fitted as the history is."""
    every = np.arange(len(labels))
    probe = fit_linear(embeddings[learn], labels[learn], seed)
    history = fit_linear(history_inputs(trials, labels, learn, learn), labels[learn], seed)
    columns = [cladmop_logits, probe.logit(embeddings[last]),
               history.logit(history_inputs(trials, labels, learn, last))]
    if thresholds is not None:
        columns.append(fit_linear(thresholds[learn], labels[learn], seed).logit(thresholds[last]))
    members = np.column_stack(columns)
    stack = combine(members, labels[last], how, seed)
    stacked = stack.logit(members)
    calibration = {}
    for phase in ("I", "II", "III"):
        rows = np.array([phase in member[i] for i in last])
        calibration[phase] = list(fit_calibration(stacked[rows], labels[last][rows]))
    return Ensemble(probe=fit_linear(embeddings, labels, seed),
                    history=fit_linear(history_inputs(trials, labels, every, every), labels, seed),
                    stack=stack, calibration=calibration, fitted_on=fitted_on, embedding=embedding,
                    thresholds=None if thresholds is None else fit_linear(thresholds, labels, seed))


#: share of trials whose interval should hold the success rate observed among similarly scored trials
INTERVAL_LEVEL = 0.8
#: the observed success rate of a trial's neighbours in score: bins of at least this many trials
MIN_BIN_ROWS = 40


def observed_rates(probs: np.ndarray, labels: np.ndarray, min_rows: int = MIN_BIN_ROWS) -> np.ndarray:
    """Each trial's observed success rate among the trials in its bin of served probability (equal-count
    bins of at least `min_rows`): what the number claims to be, measured."""
    order = np.argsort(probs, kind="stable")
    rates = np.empty(len(probs))
    for chunk in np.array_split(order, max(1, len(probs) // min_rows)):
        rates[chunk] = labels[chunk].mean()
    return rates


def interval_scores(probs, labels, spreads, floor: float) -> np.ndarray:
    """Nonconformity: the distance from the number to its bin's observed rate, per unit of spread."""
    return np.abs(observed_rates(probs, labels) - probs) / (np.asarray(spreads) + floor)


def conformal_scale(scores: np.ndarray, level: float = INTERVAL_LEVEL) -> float:
    """The split-conformal quantile: the ceil((n + 1) level)-th smallest score (the largest when n is small)."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    k = min(len(ordered), int(np.ceil((len(ordered) + 1) * level)))
    return float(ordered[k - 1])


def fit_interval(by_phase: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], level: float = INTERVAL_LEVEL,
                 floor: float | None = None) -> dict:
    """{phase: (served probabilities, labels, member spreads)} of trials later than the learning data ->
    the Ensemble's `interval`."""
    from engine.model.ensemble import INTERVAL_FLOOR

    floor = INTERVAL_FLOOR if floor is None else floor
    scale = {p: conformal_scale(interval_scores(probs, y, spread, floor), level)
             for p, (probs, y, spread) in by_phase.items()}
    return {"level": level, "floor": floor, "scale": scale}

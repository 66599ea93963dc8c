"""The served number of a combined model: CLaDMoP with the whole-text probe and the outcome history
(and, where the model has one, the eligibility-thresholds member).

On trials later than its learning data, CLaDMoP alone ranked no better than a logistic regression on a
sentence embedding (MODEL_CARD.md). Each of the three sees something the others miss, so each gives a
logit and a logistic stack weighs them. The stack is fitted *out of time*: on the latest learning year's
predictions of members that learned from the years before (engine/training/ensemble_fit.py). Each phase
calibrates the stacked logit (temperature + bias). CLaDMoP stays the explanation: attention maps are its
own, and every member's probability is kept on the Prediction (`members`).

    <model>/ensemble.json    members, their linear models, the stack, per-phase calibration, interval

The interval around the number is conformal on the temporal validation: it widens with the members'
disagreement, scaled per phase so that the success rate observed among trials given similar numbers,
on trials later than the model's learning data, fell inside it for the stated share of trials
(engine/training/ensemble_fit.py: fit_interval; coverage printed by benchmarks/temporal.py).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import ModelError

ENSEMBLE_JSON = "ensemble.json"
MEMBERS = ("cladmop", "probe", "history")
#: the optional fourth member, after MEMBERS: logistic regression on the criteria's numeric eligibility
#: thresholds (engine/features/thresholds.py), which the sentence encoder barely reads
THRESHOLDS = "thresholds"
#: how each member is named to the analyst
MEMBER_LABELS = {"cladmop": "CLaDMoP", "probe": "criteria-text model", "history": "drug/disease history",
                 THRESHOLDS: "eligibility thresholds"}


#: added to the members' spread, so members that agree still leave the calibration's own uncertainty
INTERVAL_FLOOR = 0.05


def member_spread(members: dict[str, float]) -> float:
    """The standard deviation of the members' probabilities: how much the three ways of reading the trial
    disagree (the interval widens with it)."""
    return float(np.std(list(members.values()))) if members else 0.0


@dataclass
class LinearModel:
    """Standardized logistic regression: logit = ((x - mean) / scale) . coef + intercept."""

    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.coef) + self.intercept

    @classmethod
    def from_pipeline(cls, pipeline) -> "LinearModel":
        """From a fitted sklearn make_pipeline(StandardScaler(), LogisticRegression[CV]())."""
        scaler, lr = pipeline[0], pipeline[-1]
        return cls(scaler.mean_.tolist(), scaler.scale_.tolist(), lr.coef_[0].tolist(), float(lr.intercept_[0]))


@dataclass
class Ensemble:
    probe: LinearModel  # on the whole-text embedding (engine/features/document.py)
    history: LinearModel  # on the drug and condition outcome history (engine/evidence/history.py)
    stack: LinearModel  # on the members' logits, in `members` order
    calibration: dict[str, list[float]] = field(default_factory=dict)  # phase -> [temperature, bias]
    fitted_on: str = ""
    #: the interval around the served probability (engine/training/ensemble_fit.py: fit_interval):
    #: {"level": 0.8, "floor": 0.05, "scale": {phase: q}}; {} when none was fitted
    interval: dict = field(default_factory=dict)
    #: the kind of whole-text embedding the probe reads (engine/features/document.py); before v4 "document"
    embedding: str = "document"
    #: on the numeric eligibility thresholds (engine/features/thresholds.py); None: three members, as
    #: every model before it (their ensemble.json has no "thresholds" and serves exactly as it did)
    thresholds: LinearModel | None = None

    @property
    def members(self) -> tuple[str, ...]:
        """The members' names in the stack's order."""
        return MEMBERS + (THRESHOLDS,) if self.thresholds is not None else MEMBERS

    def interval_for(self, probability: float, members: dict[str, float], phase: str) -> tuple[float, float] | None:
        """(low, high): probability -/+ q x (the members' spread + floor), within [0, 1]; None without one."""
        scale = self.interval.get("scale", {}).get(phase)
        if scale is None:
            return None
        half = scale * (member_spread(members) + self.interval.get("floor", INTERVAL_FLOOR))
        return max(0.0, probability - half), min(1.0, probability + half)

    def member_logits(self, cladmop: np.ndarray, embeddings: np.ndarray, history: np.ndarray,
                      thresholds: np.ndarray | None = None) -> np.ndarray:
        """(n, len(members)) logits in `members` order: CLaDMoP's raw adapter logits, the probe's, the
        history's, and with a thresholds member its logits of `thresholds` (engine/features/thresholds.py:
        threshold_matrix), which such an ensemble needs."""
        columns = [np.asarray(cladmop, dtype=np.float64), self.probe.logit(embeddings), self.history.logit(history)]
        if self.thresholds is not None:
            if thresholds is None:
                raise ValueError("this ensemble has an eligibility-thresholds member: pass the trials' thresholds")
            columns.append(self.thresholds.logit(thresholds))
        return np.column_stack(columns)

    def probabilities(self, member_logits: np.ndarray, phase: str) -> np.ndarray:
        from engine.model.calibration import apply_calibration

        temperature, bias = self.calibration.get(phase, (1.0, 0.0))
        return apply_calibration(self.stack.logit(member_logits), temperature, bias)

    def save(self, folder: Path) -> None:
        from engine.atomic import atomic_write_text

        data = asdict(self)
        if self.thresholds is None:  # a three-member ensemble writes the file it always wrote
            del data["thresholds"]
        atomic_write_text(Path(folder) / ENSEMBLE_JSON, json.dumps(data, indent=1))

    @classmethod
    def load(cls, folder: Path) -> "Ensemble | None":
        """The folder's ensemble; None for a model that serves CLaDMoP alone."""
        path = Path(folder) / ENSEMBLE_JSON
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            return cls(**{k: LinearModel(**data[k]) for k in ("probe", "history", "stack")},
                       calibration=data.get("calibration", {}), fitted_on=data.get("fitted_on", ""),
                       interval=data.get("interval", {}), embedding=data.get("embedding", "document"),
                       thresholds=LinearModel(**data["thresholds"]) if data.get("thresholds") else None)
        except (ValueError, KeyError, TypeError) as e:
            raise ModelError(f"{path}: unreadable ensemble description ({e})") from e

"""What a prediction returns: probability, attention by source and level, ablation deltas.

Plain data (numpy + dataclasses) so the CLI prints it, the GUI draws it and the workspace stores it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.evidence.novelty import Novelty
from engine.evidence.similar import SimilarTrial, success_rate
from engine.features.types import MoleculeSegment

LEVELS = ("coarse", "medium", "fine")


@dataclass
class LevelAttention:
    """Rolled-out grouping attention of one level, split by source; each array sums to its share."""

    level: str
    criteria: np.ndarray  # (n_active_criteria,) weight per criterion item
    molecules: np.ndarray  # (n_molecule_tokens,) weight per molecule segment / drug token
    diseases: np.ndarray  # (n_disease_tokens,) weight per ICD code token
    previous: float = 0.0  # weight on the previous block's output (not an input of the record)


@dataclass
class Ablation:
    """Exact leave-one-out effect: probability without the item minus the full probability."""

    kind: str  # "criterion" | "drug" | "disease"
    index: int  # into trial.active_criteria / trial.drugs / trial.conditions
    label: str
    delta: float
    #: the item carries no eligibility content ("Please contact site for information"): its effect is the
    #: model reacting to words, not to who may enrol (engine/evidence/novelty.py: is_vacuous)
    content_free: bool = False


@dataclass
class Prediction:
    nct_id: str
    trial_hash: str
    phase: str  # the phase model used ("I", "II", "III")
    probability: float
    base_rate: float  # success prevalence of that phase's training data
    model_name: str
    attention: list[LevelAttention] = field(default_factory=list)
    ablations: list[Ablation] = field(default_factory=list)
    molecule_tokens: list[MoleculeSegment | None] = field(default_factory=list)
    molecule_labels: list[str] = field(default_factory=list)
    disease_labels: list[str] = field(default_factory=list)
    criteria_labels: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    #: what the model left out, for the user to see ("the model read 256 of 2,000 criteria items ...");
    #: "" when it read the whole record. Set by `engine.predict` (limit: `MAX_MODEL_CRITERIA`).
    notice: str = ""
    criteria_read: int = 0  # active criteria items the model read (= len(criteria_labels))
    criteria_total: int = 0  # active criteria items the record holds
    #: the most similar labelled past trials (engine/evidence/similar.py); empty when the model has no index
    similar: list[SimilarTrial] = field(default_factory=list)
    #: how unlike the learning trials this one is (engine/evidence/novelty.py); None without an index
    novelty: Novelty | None = None
    #: each member's own probability when the model is a combination (engine/model/ensemble.py):
    #: {"cladmop": ..., "probe": ..., "history": ...}; {} when CLaDMoP alone is served
    members: dict[str, float] = field(default_factory=dict)
    #: (low, high) around `probability` at `interval_level` (engine/model/ensemble.py); None without one
    interval: tuple[float, float] | None = None
    interval_level: float = 0.0

    @property
    def interval_text(self) -> str:
        """"80%: 0.48–0.74" ("" without an interval)."""
        if self.interval is None:
            return ""
        return f"{self.interval_level:.0%}: {self.interval[0]:.2f}–{self.interval[1]:.2f}"

    @property
    def members_text(self) -> str:
        """"combined from: CLaDMoP 0.712, criteria-text model 0.640, ..." ("" for CLaDMoP alone)."""
        from engine.model.ensemble import MEMBER_LABELS

        return ("combined from: " + ", ".join(f"{MEMBER_LABELS.get(k, k)} {v:.3f}" for k, v in self.members.items())
                if self.members else "")

    @property
    def neighbour_success_rate(self) -> float | None:
        """The share of successes among the similar past trials, shown beside the model's number."""
        return success_rate(self.similar)

    @property
    def truncated(self) -> bool:
        """True when the model read only part of the record's criteria (`notice` says how much)."""
        return self.criteria_total > self.criteria_read

    def top_criteria_by_attention(self, k: int = 5, level: str = "fine") -> list[tuple[int, float]]:
        att = next(a for a in self.attention if a.level == level)
        order = np.argsort(-att.criteria)[:k]
        return [(int(i), float(att.criteria[i])) for i in order]

    def top_by_ablation(self, k: int = 5, kind: str | None = None) -> list[Ablation]:
        items = [a for a in self.ablations if kind is None or a.kind == kind]
        return sorted(items, key=lambda a: -abs(a.delta))[:k]


def has_ablation(prediction) -> bool:
    """True for a prediction with its leave-one-out ablation. Every scorable trial has a drug, so a
    complete prediction always holds at least one ablation; an empty list means stage one only."""
    return prediction is not None and bool(getattr(prediction, "ablations", None))

"""The labelled past trials most like the one at hand: the analyst's reference class, with what they share.

Ranked by the cosine similarity of the whole-text criteria embeddings, raised by shared drug and
condition names (a trial of the same drug in the same disease is a closer precedent than one whose
criteria merely read alike). Their success rate is shown beside the model's number: when the two
disagree, the analyst knows to look closer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: weight of the Jaccard overlap of drug names and of condition names beside the text similarity
NAME_WEIGHT = 0.15
NEIGHBOURS = 5
#: SimilarTrial.source of a trial from the model's learning index; the analyst's own are marked otherwise
LEARNING_SOURCE = "learning data"


@dataclass
class SimilarTrial:
    nct_id: str
    label: int  # 1 = success
    phases: str
    completion_year: int  # 0 = unknown
    similarity: float  # the ranking score: text similarity + NAME_WEIGHT x name overlaps
    text_similarity: float  # cosine of the whole-text embeddings
    shared_drugs: list[str] = field(default_factory=list)
    shared_conditions: list[str] = field(default_factory=list)
    source: str = LEARNING_SOURCE

    @property
    def is_own(self) -> bool:
        """One of the analyst's own labelled trials, not of the model's learning data."""
        return self.source != LEARNING_SOURCE

    @property
    def outcome(self) -> str:
        return "success" if self.label == 1 else "failure"

    @property
    def shares(self) -> str:
        """What it has in common with the trial, in words ("drug: aspirin; condition: asthma")."""
        parts = [f"drug: {', '.join(self.shared_drugs)}"] if self.shared_drugs else []
        parts += [f"condition: {', '.join(self.shared_conditions)}"] if self.shared_conditions else []
        return "; ".join(parts) or "similar criteria"


class NamePostings:
    """Which learning trials name each drug (or condition): one trial's Jaccard overlap with all of them
    in a few array operations, instead of a set intersection per learning trial (4 ms of a what-if)."""

    def __init__(self, names_per_trial: list[list[str]]):
        self.sizes = np.array([len(set(names)) for names in names_per_trial], dtype=np.float64)
        self.trials: dict[str, list[int]] = {}
        for i, names in enumerate(names_per_trial):
            for name in set(names):
                self.trials.setdefault(name, []).append(i)

    def jaccard(self, names: set[str]) -> np.ndarray:
        """(n,) the Jaccard overlap |names ∩ trial's names| / |names ∪ trial's names| of every learning
        trial (0 when either is empty)."""
        shared = np.zeros(len(self.sizes))
        for name in names:
            shared[self.trials.get(name, [])] += 1
        union = self.sizes + len(names) - shared
        return np.divide(shared, union, out=np.zeros_like(shared), where=shared > 0)


def similar_trials(index, embedding: np.ndarray, drugs: set[str], conditions: set[str],
                   k: int = NEIGHBOURS, exclude: str = "") -> list[SimilarTrial]:
    """The `k` most similar trials of `index` (a LearningIndex) to a trial with this whole-text
    `embedding` and these lower-cased names; `exclude`: its own NCT id, when it is a learning trial."""
    text = index.embeddings @ np.asarray(embedding, dtype=np.float32)
    drug_postings, condition_postings = index.name_postings
    names = drug_postings.jaccard(drugs) + condition_postings.jaccard(conditions)
    score = text + NAME_WEIGHT * names
    if exclude:
        score[[i for i, n in enumerate(index.nct_ids) if n == exclude]] = -np.inf
    order = np.argsort(-score, kind="stable")[:k]
    return [SimilarTrial(index.nct_ids[i], int(index.labels[i]), index.phases[i], int(index.completion_years[i]),
                         float(score[i]), float(text[i]), sorted(drugs & set(index.drugs[i])),
                         sorted(conditions & set(index.conditions[i])))
            for i in order if np.isfinite(score[i])]


def success_rate(similar: list[SimilarTrial]) -> float | None:
    """The share of successes among `similar`; None when there are none."""
    return float(np.mean([s.label for s in similar])) if similar else None

"""A model's learning index, loaded once and asked per trial: similar past trials and novelty."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.evidence.history import trial_names
from engine.evidence.index import LearningIndex
from engine.evidence.novelty import Novelty, assess
from engine.evidence.similar import SimilarTrial, similar_trials


class EvidenceReader:
    def __init__(self, index: LearningIndex):
        from engine.evidence.history import OutcomeHistory

        self.index = index
        self.reference = index.nearest_similarity  # once: an n x n product
        self.drug_history = OutcomeHistory([set(d) for d in index.drugs], index.labels)
        self.condition_history = OutcomeHistory([set(c) for c in index.conditions], index.labels)

    @classmethod
    def load(cls, model_folder: Path) -> "EvidenceReader | None":
        """None when the model folder has no learning index (an older model, or an analyst's own)."""
        index = LearningIndex.load(model_folder)
        return cls(index) if index is not None else None

    def read(self, trial, embedding: np.ndarray) -> tuple[list[SimilarTrial], Novelty]:
        """Similar past trials and novelty of a *resolved* `trial` with this whole-text embedding."""
        drugs, conditions = trial_names(trial)
        similar = similar_trials(self.index, embedding, drugs, conditions, exclude=trial.nct_id)
        return similar, assess(self.index, trial, embedding, self.reference)

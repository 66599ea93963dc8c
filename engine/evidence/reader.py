"""A model's learning index, loaded once and asked per trial: similar past trials and novelty."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.evidence.history import trial_names
from engine.evidence.index import LearningIndex
from engine.evidence.novelty import Novelty, assess
from engine.evidence.similar import NEIGHBOURS, SimilarTrial, similar_trials

#: how a similar trial from the analyst's own labelled records is marked (SimilarTrial.source)
OWN_SOURCE = "your trials"


class EvidenceReader:
    def __init__(self, index: LearningIndex):
        from engine.evidence.history import OutcomeHistory

        self.index = index
        self.reference = index.nearest_similarity  # once: an n x n product
        self.drug_history = OutcomeHistory([set(d) for d in index.drugs], index.labels)
        self.condition_history = OutcomeHistory([set(c) for c in index.conditions], index.labels)
        self.own: LearningIndex | None = None  # the analyst's own labelled trials, searched beside the index

    @classmethod
    def load(cls, model_folder: Path) -> "EvidenceReader | None":
        """None when the model folder has no learning index (an older model, or an analyst's own)."""
        index = LearningIndex.load(model_folder)
        return cls(index) if index is not None else None

    def read(self, trial, embedding: np.ndarray) -> tuple[list[SimilarTrial], Novelty]:
        """Similar past trials and novelty of a *resolved* `trial` with this whole-text embedding."""
        drugs, conditions = trial_names(trial)
        similar = similar_trials(self.index, embedding, drugs, conditions, exclude=trial.nct_id)
        if self.own is not None:  # the most similar of both, the analyst's own marked as such
            own = similar_trials(self.own, embedding, drugs, conditions, exclude=trial.nct_id)
            for s in own:
                s.source = OWN_SOURCE
            similar = sorted(similar + own, key=lambda s: -s.similarity)[:NEIGHBOURS]
        return similar, assess(self.index, trial, embedding, self.reference)

    def use_own_trials(self, trials, embeddings: np.ndarray) -> None:
        """The analyst's labelled trials (resolved, `label` set) join the search for similar past trials;
        novelty and the outcome history stay those of the model's learning data."""
        from engine.evidence.index import build_index

        self.own = build_index(trials, [t.label for t in trials], [t.phase_label for t in trials],
                               [(t.start_year, t.completion_year) for t in trials],
                               embeddings, self.index.backbone, self.index.embedding) if trials else None

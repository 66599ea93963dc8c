"""How unlike its learning trials a trial is: a score and the reasons, in plain words.

A model is least reliable where it learned nothing alike. The score is the share of learning trials
whose own nearest learning neighbour is closer than this trial's nearest one (0: as typical as they
come, 1: further out than every learning trial). Reasons are added for what the score cannot see:
a disease chapter no learning trial had, a criteria count or length outside what was learned, and
criteria that carry no eligibility content at all. Any reason flags the trial as unusual.

Drugs the lookups could not resolve are a note, not a reason. Forward in time (v6's temporal rows,
MODEL_CARD "Novelty"), the 335 of 859 later trials whose only reason was an unresolved drug were
predicted no worse than the unflagged ones by Brier score (.212 against .218), while the 64 flagged for
their criteria were near chance (Brier .279, ROC-AUC .52). A warning on two trials in five was one analysts
learnt to ignore.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

#: a trial is flagged as unusual when its nearest-neighbour score reaches this (the outer 10%)
UNUSUAL_SCORE = 0.90
#: the learned range of criteria counts and lengths: these quantiles of the learning trials
RANGE = (0.01, 0.99)
#: criteria text that says nothing about eligibility ("Please contact site for information")
_VACUOUS = re.compile(r"^\W*(?:please\s+)?(?:contact|see|refer|call|ask)\b.{0,80}$|^\W*(?:n/?a|none|tbd|-+)\W*$",
                      re.IGNORECASE | re.DOTALL)


@dataclass
class Novelty:
    score: float  # 0..1, see the module doc
    nearest_similarity: float  # cosine similarity to the nearest learning trial
    reasons: list[str] = field(default_factory=list)  # why the trial is unusual
    notes: list[str] = field(default_factory=list)  # worth knowing, not a reason to trust the number less

    @property
    def unusual(self) -> bool:
        return bool(self.reasons)

    @property
    def summary(self) -> str:
        said = ("unlike the learning data: " + "; ".join(self.reasons) if self.reasons
                else "typical of the learning data")
        return said + "".join(f"; note: {n}" for n in self.notes)


def is_vacuous(text: str) -> bool:
    """True for criteria text that carries no eligibility content."""
    text = " ".join(text.split())
    return not text or bool(_VACUOUS.match(text))


def assess(index, trial, embedding: np.ndarray, reference: np.ndarray | None = None) -> Novelty:
    """Novelty of a *resolved* `trial` against `index` (a LearningIndex); `reference`: the index's
    nearest_similarity, passed in when assessed many times (it costs an n x n product)."""
    from engine.evidence.index import criteria_text

    reference = index.nearest_similarity if reference is None else reference
    nearest = float(np.max(index.embeddings @ np.asarray(embedding, dtype=np.float32)))
    score = float(np.mean(reference > nearest))
    reasons = []
    if score >= UNUSUAL_SCORE:
        reasons.append(f"its criteria read unlike the learning trials (nearest similarity {nearest:.2f}, "
                       f"closer for {score:.0%} of learning trials)")
    reasons += _new_chapters(index, trial) + _out_of_range(index, trial, criteria_text(trial))
    return Novelty(score, nearest, reasons, _unresolved(trial))


def _unresolved(trial) -> list[str]:
    """The lookups' own lines ("drug 'TD-1211': no structure found"), three at most."""
    lines = list(dict.fromkeys(trial.unresolved))
    return lines[:3] + ([f"{len(lines) - 3} more not recognised"] if len(lines) > 3 else [])


def _new_chapters(index, trial) -> list[str]:
    from engine.lookups.icd_chapters import chapter_label, icd10_chapter

    seen = index.learned_chapters
    new = sorted({c for cond in trial.conditions for code in cond.icd10
                  if (c := icd10_chapter(code)) is not None and c not in seen})
    return [f"a disease chapter no learning trial had ({', '.join(chapter_label(c) for c in new)})"] if new else []


def _out_of_range(index, trial, text: str) -> list[str]:
    reasons = []
    if is_vacuous(text):
        reasons.append("the criteria carry no eligibility content")
    for what, value, learned in (("criteria items", len(trial.active_criteria), "n_items"),
                                 ("characters of criteria", len(text), "text_chars")):
        low, high = index.learned_range(learned, RANGE)
        if not low <= value <= high:
            reasons.append(f"{what}: {value:,}, outside the learned range {low:,.0f}-{high:,.0f}")
    return reasons

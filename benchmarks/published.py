"""Published TOP test numbers (docs/validation.md, "Published") as data, for printing beside our validation numbers.

These are measured on the official TOP *test* splits, which this project does not have: they are a
reference, never comparable one-to-one with our validation figures (other rows, other prevalence).
Only the metrics the sources report are filled; a missing value is absent, not zero.
"""
from __future__ import annotations

from dataclasses import dataclass, field

PHASES = ("I", "II", "III")
#: success prevalence of the official test splits (a constant predictor's PR-AUC)
TEST_PREVALENCE = {"I": 0.55, "II": 0.56, "III": 0.75}
#: the "measured" rows of phase II (HINT's predictions, the probe) used the recoverable part of the test split
PHASE_II_MEASURED_NOTE = "measured rows of phase II: the 262 recoverable test rows, prevalence .61"


@dataclass(frozen=True)
class PublishedResult:
    model: str
    how: str  # "as reported" or how it was measured
    pr_auc: dict[str, float] = field(default_factory=dict)
    roc_auc: dict[str, float] = field(default_factory=dict)
    f1: dict[str, float] = field(default_factory=dict)


PUBLISHED: tuple[PublishedResult, ...] = (
    PublishedResult("HINT", "its published predictions, measured with the 10 x 80% bootstrap",
                    pr_auc={"I": 0.640, "III": 0.868}, roc_auc={"I": 0.566, "III": 0.717}),
    PublishedResult("HINT (re-run)", "the CLaDMoP paper's re-run, as reported (read as PR-AUC)",
                    pr_auc={"I": 0.581, "II": 0.607, "III": 0.603}),
    PublishedResult("MEXA-CTP", "as reported", pr_auc={"I": 0.605, "II": 0.635, "III": 0.771}),
    PublishedResult("CLaDMoP", "as reported", pr_auc={"I": 0.680, "II": 0.683, "III": 0.860}),
    PublishedResult("LIFTED", "as reported", pr_auc={"I": 0.707, "II": 0.698, "III": 0.883}),
    PublishedResult("MiniLM probe", "logistic regression on mean-pooled all-MiniLM-L6-v2 criteria, "
                    "measured with the 10 x 80% bootstrap",
                    pr_auc={"I": 0.683, "II": 0.667, "III": 0.846}, roc_auc={"I": 0.622, "II": 0.566, "III": 0.662}),
)


def published_for(phase: str) -> list[tuple[PublishedResult, dict[str, float | None]]]:
    """The published results that have a number for `phase`, with {metric: value or None}."""
    out = []
    for r in PUBLISHED:
        values = {"f1": r.f1.get(phase), "pr_auc": r.pr_auc.get(phase), "roc_auc": r.roc_auc.get(phase)}
        if any(v is not None for v in values.values()):
            out.append((r, values))
    return out

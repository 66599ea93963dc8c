"""Gradient-boosted trees on simple, readable trial features: what structure alone predicts.

    installer/dev.sh python benchmarks/baseline_gbt.py [--phases I II III] [--folds 5] [--seed 0]
        [--limit N] [--json OUT]

sklearn's HistGradientBoostingClassifier (fixed, small-data settings: `GBT_PARAMS`) on per-trial counts
and flags, the drugs and conditions resolved by the application's own `Resolver` (as for any new
record; TOP's own SMILES/ICD columns are never read), never `status` or `why_stop`:

- criteria: inclusion / exclusion item counts, text length (characters, words);
- drugs (distinct names) by kind: small molecule, biologic, placebo, unresolved; conditions: count,
  count without an ICD-10 code, one flag per ICD-10-CM chapter any of their codes falls in;
- mixed-phase flag ("phase 1/phase 2");
- keyword flags on the criteria text (`KEYWORDS`: age limits, pregnancy, prior therapy, ...).

Protocol and printout: benchmarks/validation.py; numbers: docs/validation.md.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.validation import main_guard, parse_args, run_baseline  # noqa: E402
from engine.evidence.index import criteria_text  # noqa: E402
from engine.lookups.icd_chapters import ICD10_CHAPTERS, icd10_chapter  # noqa: E402
from engine.records.trial import Trial  # noqa: E402

GBT_PARAMS = dict(learning_rate=0.05, max_iter=200, max_leaf_nodes=8, min_samples_leaf=20,
                  l2_regularization=1.0, early_stopping=False)
DRUG_KINDS = ("small_molecule", "biologic", "placebo", "unresolved")
KEYWORDS = {
    "age_limit": r"\bage[ds]?\b|years? (?:of age|old)|\b\d+\s*(?:years|yrs)\b",
    "pregnancy": r"pregnan|lactat|breast[- ]?feed|nursing",
    "contraception": r"contracept|birth control",
    "prior_therapy": r"\bprior\b|previous(?:ly)? (?:treat|therap|receiv)|pre-?treated|refractory|relapsed",
    "performance_status": r"\becog\b|karnofsky|performance status",
    "measurable_disease": r"measurable (?:disease|lesion)|\brecist\b",
    "organ_function": r"creatinine|bilirubin|transaminase|\b(?:alt|ast)\b|neutrophil|platelet",
    "brain_metastases": r"(?:brain|cns|central nervous system) metasta",
    "infection_screen": r"\bhiv\b|hepatitis",
    "healthy_volunteers": r"healthy (?:volunteer|subject|male|female|adult|participant)",
    "life_expectancy": r"life expectancy",
    "informed_consent": r"informed consent",
}
_KEYWORD_PATTERNS = {name: re.compile(p, re.IGNORECASE) for name, p in KEYWORDS.items()}


def feature_names() -> list[str]:
    return (["n_inclusion", "n_exclusion", "criteria_chars", "criteria_words"]
            + [f"n_drugs_{k}" for k in DRUG_KINDS]
            + ["n_conditions", "n_conditions_without_icd"]
            + [f"icd_chapter_{i + 1}" for i in range(len(ICD10_CHAPTERS))]
            + ["mixed_phase"] + [f"mentions_{k}" for k in KEYWORDS])


def trial_features(trial: Trial) -> list[float]:
    """The feature row of one *resolved* trial, in `feature_names()` order."""
    items = trial.active_criteria
    text = criteria_text(trial)
    kinds = {k: set() for k in DRUG_KINDS}
    for d in trial.drugs:
        kinds[d.kind if d.kind in kinds else "unresolved"].add(d.name.strip().lower())
    chapters = np.zeros(len(ICD10_CHAPTERS))
    for c in trial.conditions:
        for code in c.icd10:
            chapter = icd10_chapter(code)
            if chapter is not None:
                chapters[chapter] = 1
    return ([sum(c.kind == "inclusion" for c in items), sum(c.kind == "exclusion" for c in items),
             len(text), len(text.split())]
            + [len(kinds[k]) for k in DRUG_KINDS]
            + [len(trial.conditions), sum(not c.icd10 for c in trial.conditions)]
            + chapters.tolist()
            + [float(len(trial.phases) > 1)]
            + [float(bool(p.search(text))) for p in _KEYWORD_PATTERNS.values()])


def feature_matrix(trials: list[Trial], resolver) -> np.ndarray:
    return np.asarray([trial_features(resolver.resolve(t)) for t in trials], dtype=np.float64)


def fit_predict(X_train: np.ndarray, y_train: np.ndarray, X_heldout: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    model = HistGradientBoostingClassifier(**GBT_PARAMS, random_state=seed)
    with threadpool_limits(1):  # a few hundred rows: OpenMP threads only contend on a shared machine
        model.fit(X_train, y_train)
        return model.predict_proba(X_heldout)[:, 1]


def main(argv=None) -> dict:
    args = parse_args(__doc__.split("\n")[0], argv)
    from engine.lookups.resolve import Resolver

    resolver = Resolver.default()
    settings = {"gbt": GBT_PARAMS, "features": feature_names(), "keywords": KEYWORDS}
    return run_baseline("Gradient-boosted trees on simple trial features", args,
                        lambda trials: {"gradient-boosted trees": feature_matrix(trials, resolver)},
                        fit_predict, settings)


if __name__ == "__main__":
    main_guard(main)

"""Whether the model can score a trial, and the refusal when it cannot.

Readers read observational and non-drug records too (the GUI shows them, with a warning), so that
a folder of mixed records loads whole; prediction and training call `require_drug_trial` and refuse
the others with `NotADrugTrial`, whose message says why.
"""
from __future__ import annotations

from engine.records.errors import NotADrugTrial
from engine.records.trial import Trial


def scorable_problem(trial: Trial) -> str | None:
    """Why the model cannot score `trial` (observational study, no drug, no criteria), or None."""
    kind = (trial.study_type or "").strip().lower()
    if kind and kind != "interventional":
        return f"it is an {trial.study_type} study; the model scores interventional drug trials"
    if not trial.drugs:
        return "it lists no drug or biological intervention; the model scores drug trials"
    if not trial.active_criteria:
        return "it has no eligibility criteria, which the model reads"
    return None


def require_drug_trial(trial: Trial) -> Trial:
    """`trial` itself, or NotADrugTrial naming the record and the reason."""
    problem = scorable_problem(trial)
    if problem:
        raise NotADrugTrial(trial.source_path or trial.nct_id, f"{trial.nct_id} cannot be scored: {problem}")
    return trial

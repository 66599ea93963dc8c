"""Batch scoring: many trials through one `Predictor`, each with its phase model, one failure never
stopping the others. What `cladmop export` and the GUI's "Score all open trials" run.

A `ScoredTrial` keeps the trial as scored, its `Prediction` (or why it could not be scored), and,
when the analyst edited it, the what-if version with its own prediction — so a report can show the
record as recorded beside the what-if.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

from engine.errors import Cancelled, CladmopError
from engine.prediction import Prediction
from engine.records.errors import RecordError
from engine.records.trial import Trial
from engine.tasks import TaskState

#: a function giving the phase model for a trial (None: the predictor's own choice)
PhaseChooser = Callable[[Trial], "str | None"]


@dataclass
class ScoredTrial:
    trial: Trial  # as given
    prediction: Prediction | None = None
    error: str = ""  # why it could not be scored (then `prediction` is None)
    what_if: Trial | None = None  # the analyst's edited version, when there is one
    what_if_prediction: Prediction | None = None
    what_if_error: str = ""
    #: the trial with its lookups filled as the predictor saw it (drug indices of the prediction's
    #: molecule segments refer to its drugs); None when unavailable
    resolved: Trial | None = None

    @property
    def ok(self) -> bool:
        return self.prediction is not None

    @property
    def what_if_change(self) -> float | None:
        if self.prediction is None or self.what_if_prediction is None:
            return None
        return self.what_if_prediction.probability - self.prediction.probability


def score_one(predictor, trial: Trial, phase: str | None = None, ablate: bool = True,
              state: TaskState | None = None) -> tuple[Prediction | None, str]:
    """(prediction, "") or (None, the reason it cannot be scored). Only the user's errors (a record
    that is not a drug trial, no phase, no model of that phase) are caught; bugs propagate."""
    try:
        return predictor.predict(trial, phase=phase, ablate=ablate, state=state), ""
    except Cancelled:
        raise
    except (CladmopError, RecordError) as exc:
        return None, str(exc) or type(exc).__name__


def _resolved(predictor, trial: Trial) -> Trial | None:
    prepare = getattr(predictor, "prepare", None)
    if prepare is None:
        return None
    try:
        return prepare(trial)
    except (CladmopError, RecordError):
        return None


def score_trials(predictor, trials: Sequence[Trial], phase: str | PhaseChooser | None = None,
                 what_ifs: Sequence[Trial | None] | None = None, ablate: bool = True,
                 state: TaskState | None = None) -> list[ScoredTrial]:
    """Score every trial (and its what-if, if given at the same position) with `predictor`.

    `phase`: one phase for all, a function choosing per trial, or None (each record's own phase; a
    mixed-phase record uses the later phase's model). Progress goes to `state`, which may cancel
    (`engine.errors.Cancelled` propagates; nothing partial is returned)."""
    state = state or TaskState()
    what_ifs = list(what_ifs) if what_ifs is not None else [None] * len(trials)
    if len(what_ifs) != len(trials):
        raise ValueError(f"{len(trials)} trials but {len(what_ifs)} what-if versions")
    total = len(trials) + sum(w is not None for w in what_ifs)
    done = 0
    out: list[ScoredTrial] = []
    for trial, what_if in zip(trials, what_ifs):
        state.progress(done, total, f"scoring {trial.nct_id or trial.source_path}")
        chosen = phase(trial) if callable(phase) else phase
        prediction, error = score_one(predictor, trial, chosen, ablate)
        done += 1
        scored = ScoredTrial(trial, prediction, error, resolved=_resolved(predictor, trial) if prediction else None)
        if what_if is not None:
            state.progress(done, total, f"scoring the what-if of {trial.nct_id}")
            scored.what_if = what_if
            scored.what_if_prediction, scored.what_if_error = score_one(predictor, what_if, chosen, ablate)
            done += 1
        out.append(scored)
    state.progress(total, total, f"scored {sum(s.ok for s in out)} of {len(out)} trials")
    return out


def stream_scores(predictor, trials: Iterable[Trial], phase: str | PhaseChooser | None = None,
                  ablate: bool = False) -> Iterator[ScoredTrial]:
    """Score trials one at a time as they come (e.g. from `engine.records.iter_records`), yielding each
    `ScoredTrial` for the caller to write and drop: memory stays flat whatever the number of records.
    `resolved` is left None (the HTML report needs it; the CSV does not)."""
    for trial in trials:
        chosen = phase(trial) if callable(phase) else phase
        prediction, error = score_one(predictor, trial, chosen, ablate)
        yield ScoredTrial(trial, prediction, error)

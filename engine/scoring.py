"""Batch scoring: many trials through one `Predictor`, each with its phase model, one failure never
stopping the others. What `cladmop export` and the GUI's "Score all open trials" run.

A `ScoredTrial` keeps the trial as scored, its `Prediction` (or why it could not be scored), and,
when the analyst edited it, the what-if version with its own prediction — so a report can show the
record as recorded beside the what-if.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

from engine.errors import CladmopError
from engine.predict import PhaseChoice, phases_of
from engine.prediction import Prediction
from engine.records.errors import RecordError
from engine.records.trial import Trial
from engine.tasks import TaskState




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
    #: the analyst's saved scenarios: (name, prediction or None, why not scored)
    scenarios: list[tuple[str, Prediction | None, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.prediction is not None

    @property
    def what_if_change(self) -> float | None:
        if self.prediction is None or self.what_if_prediction is None:
            return None
        return self.what_if_prediction.probability - self.prediction.probability


def _resolved(predictor, trial: Trial) -> Trial | None:
    prepare = getattr(predictor, "prepare", None)
    if prepare is None:
        return None
    try:
        return prepare(trial)
    except (CladmopError, RecordError):
        return None


def score_trials(predictor, trials: Sequence[Trial], phase: PhaseChoice = None,
                 what_ifs: Sequence[Trial | None] | None = None, ablate: bool = True,
                 state: TaskState | None = None) -> list[ScoredTrial]:
    """Score every trial (and its what-if, if given at the same position) with `predictor`, in batches.

    `phase`: one phase for all, a function choosing per trial, or None (each record's own phase; a
    mixed-phase record uses the later phase's model). Progress goes to `state`, which may cancel
    (`engine.errors.Cancelled` propagates; nothing partial is returned)."""
    state = state or TaskState()
    what_ifs = list(what_ifs) if what_ifs is not None else [None] * len(trials)
    if len(what_ifs) != len(trials):
        raise ValueError(f"{len(trials)} trials but {len(what_ifs)} what-if versions")
    chosen = phases_of(trials, phase)
    edited = [i for i, w in enumerate(what_ifs) if w is not None]
    batch = list(trials) + [what_ifs[i] for i in edited]
    phases = chosen + [chosen[i] for i in edited]
    results = predictor.predict_many(batch, phase=phases, ablate=ablate, state=state)
    out = [ScoredTrial(t, *_outcome(r)) for t, r in zip(trials, results)]
    for i, result in zip(edited, results[len(trials):]):
        out[i].what_if = what_ifs[i]
        out[i].what_if_prediction, out[i].what_if_error = _outcome(result)
    for scored in out:
        scored.resolved = _resolved(predictor, scored.trial) if scored.ok else None
    state.progress(len(batch), len(batch), f"scored {sum(s.ok for s in out)} of {len(out)} trials")
    return out


@dataclass
class OpenTrial:
    """A trial open in a session, what it is to be scored with, and what is scored already."""

    key: str
    trial: Trial  # the record as loaded (corrections included)
    phase: str | None  # the phase model chosen for it
    phase_problem: str = ""  # why no phase model fits (then it is not scored)
    prediction: Prediction | None = None  # already scored (current), else None
    what_if: Trial | None = None
    what_if_prediction: Prediction | None = None
    scenarios: list[tuple[str, Trial]] = field(default_factory=list)  # (name, criteria as saved), scored too


def score_missing(predictor, items: Sequence[OpenTrial], ablate: bool = True,
                  state: TaskState | None = None) -> list[ScoredTrial]:
    """A ScoredTrial per item, in order; only what is not scored yet is predicted, all of it in one
    batched run (`Predictor.predict_many`: progress, and a cancel between batches). What the window's
    Score all and Export run."""
    state = state or TaskState()
    out = [ScoredTrial(i.trial, i.prediction, i.phase_problem, what_if=i.what_if,
                       what_if_prediction=i.what_if_prediction) for i in items]
    todo = [(k, "prediction", i.trial, i.phase) for k, i in enumerate(items)
            if not i.phase_problem and i.prediction is None]
    todo += [(k, "what_if_prediction", i.what_if, i.phase) for k, i in enumerate(items)
             if not i.phase_problem and i.what_if is not None and i.what_if_prediction is None]
    for (k, role, _, _), result in zip(todo, _predict(predictor, todo, ablate, state)):
        prediction, error = _outcome(result)
        setattr(out[k], role, prediction)
        setattr(out[k], "error" if role == "prediction" else "what_if_error", error)
    saved = [(k, name, t, i.phase) for k, i in enumerate(items) if not i.phase_problem for name, t in i.scenarios]
    for (k, name, _, _), result in zip(saved, _predict(predictor, saved, False, state)):  # the number only
        out[k].scenarios.append((name, *_outcome(result)))
    for scored in out:
        scored.resolved = _resolved(predictor, scored.trial) if scored.ok else None
    state.progress(len(todo), len(todo), f"scored {sum(s.ok for s in out)} of {len(out)} trial(s)")
    return out


def stream_scores(predictor, trials: Iterable[Trial], phase: PhaseChoice = None,
                  ablate: bool = False, batch_size: int = 32) -> Iterator[ScoredTrial]:
    """Score trials as they come (e.g. from `engine.records.iter_records`), `batch_size` at a time,
    yielding each `ScoredTrial` for the caller to write and drop: memory stays flat whatever the number
    of records. `resolved` is left None (the HTML report needs it; the CSV does not)."""
    for chunk in _chunks(trials, batch_size):
        phases = phases_of(chunk, phase)
        for trial, result in zip(chunk, predictor.predict_many(chunk, phase=phases, ablate=ablate)):
            yield ScoredTrial(trial, *_outcome(result))


def _predict(predictor, todo: list[tuple], ablate: bool, state: TaskState) -> list:
    """Predictions of the trials in `todo` rows (key, role, trial, phase), in one batched run."""
    if not todo:
        return []
    return predictor.predict_many([t for _, _, t, _ in todo], phase=[p for *_, p in todo], ablate=ablate, state=state)


def _outcome(result: Prediction | Exception) -> tuple[Prediction | None, str]:
    if isinstance(result, Exception):
        return None, str(result) or type(result).__name__
    return result, ""


def _chunks(items: Iterable[Trial], size: int) -> Iterator[list[Trial]]:
    chunk: list[Trial] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk

"""Batch scoring and export for the window, on a worker (Qt-free): score what the open trials still
lack — each with its phase model, what-ifs included — through `engine.scoring`, then write the
report with `engine.export` (the code behind `cladmop export`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.records.trial import Trial
from engine.scoring import ScoredTrial, score_one
from engine.tasks import TaskState


@dataclass
class BatchItem:
    key: str
    trial: Trial  # the record as loaded (corrections included)
    phase: str | None  # the phase model chosen for it
    phase_problem: str = ""  # why no phase model fits (then it is not scored)
    prediction: object | None = None  # already scored (current), else None
    what_if: Trial | None = None
    what_if_prediction: object | None = None


def score_items(predictor, items: list[BatchItem], ablate: bool = True,
                state: TaskState | None = None) -> list[ScoredTrial]:
    """A ScoredTrial per item, in order; only what is missing is predicted. Cancellable between trials."""
    state = state or TaskState()
    todo = sum((i.prediction is None and not i.phase_problem) + (i.what_if is not None and i.what_if_prediction is None
                                                                  and not i.phase_problem) for i in items)
    done = 0
    out = []
    for item in items:
        scored = ScoredTrial(item.trial, item.prediction, what_if=item.what_if,
                             what_if_prediction=item.what_if_prediction)
        if item.phase_problem:
            scored.error = item.phase_problem
        elif scored.prediction is None:
            state.progress(done, todo, f"scoring {item.trial.nct_id}")
            scored.prediction, scored.error = score_one(predictor, item.trial, item.phase, ablate)
            done += 1
        if item.what_if is not None and scored.what_if_prediction is None and not item.phase_problem:
            state.progress(done, todo, f"scoring the what-if of {item.trial.nct_id}")
            scored.what_if_prediction, scored.what_if_error = score_one(predictor, item.what_if, item.phase, ablate)
            done += 1
        if scored.prediction is not None and hasattr(predictor, "prepare"):
            try:
                scored.resolved = predictor.prepare(item.trial)
            except Exception:  # noqa: BLE001 — drawings then use the trial as loaded
                scored.resolved = None
        out.append(scored)
        state.check()
    state.progress(todo, todo, f"scored {sum(s.ok for s in out)} of {len(out)} trial(s)")
    return out


def export_report(scored: list[ScoredTrial], html_path: Path, csv_path: Path, model_name: str = "",
                  state: TaskState | None = None) -> tuple[Path, Path]:
    from engine.export import write_csv, write_html

    state = state or TaskState()
    state.progress(0, 2, "writing the CSV")
    write_csv(scored, csv_path)
    state.progress(1, 2, f"drawing {len(scored)} trial(s) into the HTML report")
    write_html(scored, html_path, model_name=model_name)
    state.progress(2, 2, "report written")
    return Path(html_path), Path(csv_path)

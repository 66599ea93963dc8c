"""A workspace as the analyst sees it, without a window: its trials with their edits, scenarios and phase
choice. What `cladmop workspace list/show` prints, read from the same file the window saves
(engine/workspace.py), so the CLI and the window agree; the list Score all / Export works through is the
studio's (engine/studio.py, `Studio.to_score`).
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.records.trial import Trial
from engine.workspace import StoredTrial, Workspace


def search_text(trial: Trial) -> str:
    """What a filter matches a trial on, lower-cased: id, title, conditions with their ICD-10 codes (dotted
    and undotted, so "E11" finds E11.9), drugs."""
    codes = [c for cond in trial.conditions for code in cond.icd10 for c in (code, code.replace(".", ""))]
    return " ".join([trial.nct_id, trial.title, *(c.name for c in trial.conditions), *codes,
                     *(d.name for d in trial.drugs)]).lower()


def matches(trial: Trial, words: str) -> bool:
    """Every word of `words` is in the trial's search text (`workspace list --filter`, the window's filter bar)."""
    return words_in(search_text(trial), words)


def words_in(haystack: str, words: str) -> bool:
    return all(word in haystack for word in words.lower().split())


@dataclass
class TrialRow:
    key: str
    nct_id: str
    phase: str  # the record's phases, and the analyst's choice when there is one
    title: str
    edits: str  # "2 edited, 1 added" or "as recorded"
    scenarios: list[str]

    def line(self) -> str:
        scenarios = f"  scenarios: {', '.join(self.scenarios)}" if self.scenarios else ""
        return f"{self.key:<16} {self.nct_id:<12} {self.phase:<14} {self.edits:<24} {self.title[:60]}{scenarios}"


def rows(workspace: Workspace, words: str = "") -> list[TrialRow]:
    return [_row(workspace, stored) for stored in workspace.load_trials() if matches(stored.record, words)]


def _row(workspace: Workspace, stored: StoredTrial) -> TrialRow:
    chosen = workspace.phase_choice(stored.key)
    phase = stored.record.phase_label + (f" (model {chosen})" if chosen else "")
    edits = stored.draft.diff().summary() if stored.draft.is_modified else "as recorded"
    return TrialRow(stored.key, stored.record.nct_id, phase, stored.record.title or "", edits,
                    stored.draft.scenario_names())

"""What-if edits of a trial's drugs and conditions from the trial view: the view asks (signals), this
turns the request into the draft's undoable command, so Undo, scenarios and the prediction refresh work
as for criteria edits (the session hears the draft's stack; the main window re-predicts).

Names typed here are resolved as a record's are (`engine.whatif.resolved_drugs`: a regimen such as
FOLFOX adds its drugs; NAME=SMILES and NAME=ICD-10 are the analyst's own). The methods that do the
work (`add_drug`, `remove_drug`, ...) take the text directly; the dialogs are thin wrappers over them.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QInputDialog, QLineEdit

from engine.errors import CladmopError
from engine.whatif import name_value, resolved_condition, resolved_drugs


def ask_text(parent, title: str, label: str, text: str = "") -> str | None:
    """A one-line dialog; None when cancelled or left empty."""
    value, ok = QInputDialog.getText(parent, title, label, QLineEdit.EchoMode.Normal, text)
    return value.strip() if ok and value.strip() else None


class InterventionEdits:
    """Wires a TrialView's what-if requests to the draft in view. `draft()`: the draft shown (or None);
    `resolver()`: the lookups (None when unavailable: names stay unresolved); `report(title, message)`."""

    def __init__(self, view, draft: Callable, resolver: Callable, report: Callable, ask: Callable = ask_text):
        self.view, self.draft, self.resolver, self.report, self.ask = view, draft, resolver, report, ask
        view.drugAddRequested.connect(self._ask_add_drug)
        view.drugRemoveRequested.connect(self.remove_drug)
        view.drugReplaceRequested.connect(self._ask_replace_drug)
        view.conditionAddRequested.connect(self._ask_add_condition)
        view.conditionRemoveRequested.connect(self.remove_condition)

    # -- the work (tests call these)
    def add_drug(self, text: str) -> bool:
        name, smiles = name_value(text)
        return self._run("Add drug", lambda d: d.add_drugs(resolved_drugs(self.resolver(), name, smiles), name))

    def replace_drug(self, index: int, text: str) -> bool:
        name, smiles = name_value(text)
        return self._run("Replace drug",
                         lambda d: d.replace_drug(index, resolved_drugs(self.resolver(), name, smiles), name))

    def remove_drug(self, index: int) -> bool:
        return self._run("Remove drug", lambda d: d.remove_drugs([index]))

    def add_condition(self, text: str) -> bool:
        name, code = name_value(text)
        return self._run("Add condition", lambda d: d.add_condition(resolved_condition(self.resolver(), name, code)))

    def remove_condition(self, index: int) -> bool:
        return self._run("Remove condition", lambda d: d.remove_conditions([index]))

    def _run(self, title: str, change: Callable) -> bool:
        """Do `change(draft)`; a refused edit (bad SMILES, code, index) is reported, nothing changes."""
        draft = self.draft()
        if draft is None:
            return False
        try:
            change(draft)
        except (CladmopError, ValueError, IndexError) as exc:
            self.report(title, str(exc))
            return False
        return True

    # -- the dialogs
    def _ask_add_drug(self) -> None:
        text = self.ask(self.view, "Add drug", "Drug name (a regimen such as FOLFOX adds its drugs), or NAME=SMILES:")
        if text:
            self.add_drug(text)

    def _ask_replace_drug(self, index: int) -> None:
        draft = self.draft()
        if draft is None or not 0 <= index < len(draft.edited.drugs):
            return
        old = draft.edited.drugs[index].name
        text = self.ask(self.view, "Replace drug", f"Replace {old} by (a name, or NAME=SMILES):")
        if text:
            self.replace_drug(index, text)

    def _ask_add_condition(self) -> None:
        text = self.ask(self.view, "Add condition", "Condition name, or NAME=ICD-10 code (e.g. Asthma=J45.909):")
        if text:
            self.add_condition(text)

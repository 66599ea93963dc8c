"""An in-house protocol typed in rather than read from a file: File > New trial in the window,
`cladmop workspace add` on the command line. Both build the same `Trial` here.

Drugs come by name (the lookups find their structure) or with a SMILES the analyst gives, which is kept as
theirs; conditions by name, or with the ICD-10 code they choose; the criteria are pasted as one block and
split into items as a record's are (engine/records/criteria.py).
"""
from __future__ import annotations

import hashlib
import re

from engine.records.criteria import split_criteria
from engine.records.errors import RecordError
from engine.records.trial import PHASES, Condition, Drug, Trial

#: what a typed-in trial's `source_path` says (it has no file)
TYPED_IN = "typed in"
USER_SOURCE = "user"  # as the trial view's corrections mark what the analyst set
_ROMAN = {"1": "I", "2": "II", "3": "III", "4": "IV"}
_ICD10 = re.compile(r"^[A-TV-Z][0-9][0-9AB](\.?[0-9A-Z]{1,4})?$", re.IGNORECASE)


def typed_trial(title: str, phase: str, drugs: list[tuple[str, str]], conditions: list[tuple[str, str]],
                criteria_text: str, nct_id: str = "") -> Trial:
    """The trial, or a RecordError naming the field at fault. `drugs`: (name, SMILES or ""); `conditions`:
    (name, ICD-10 code or "")."""
    title, criteria_text = title.strip(), criteria_text.strip()
    if not title:
        raise RecordError(TYPED_IN, "the trial needs a title")
    phases = _phases(phase)
    trial = Trial(nct_id.strip() or _in_house_id(title, criteria_text), title=title, phases=phases,
                  drugs=[typed_drug(n, s) for n, s in drugs if n.strip()],
                  conditions=[typed_condition(n, c) for n, c in conditions if n.strip()],
                  criteria=split_criteria(criteria_text), criteria_text=criteria_text, source_path=TYPED_IN)
    if not trial.drugs:
        raise RecordError(TYPED_IN, "name at least one drug (the model scores drug trials)")
    if not trial.criteria:
        raise RecordError(TYPED_IN, "paste the eligibility criteria (inclusion and exclusion)")
    return trial


def _phases(text: str) -> tuple[str, ...]:
    """("II", "III") for "II/III", "2/3" or "Phase 2/Phase 3"."""
    parts = [p for p in re.split(r"[/,+\s]+", text.upper().replace("PHASE", " ")) if p]
    phases = tuple(dict.fromkeys(_ROMAN.get(p, p) for p in parts))
    if not phases or not set(phases) <= set(PHASES):
        raise RecordError(TYPED_IN, f"phase {text!r} is not one of I, II, III, IV, I/II or II/III")
    return tuple(p for p in PHASES if p in phases)


def typed_drug(name: str, smiles: str) -> Drug:
    """A drug by name (the lookups find its structure), or with the analyst's SMILES, kept as theirs; a
    what-if's added drug is typed the same way (engine/whatif.py, the trial view)."""
    smiles = smiles.strip()
    if not smiles:
        return Drug(name.strip())
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        raise RecordError(TYPED_IN, f"drug '{name.strip()}': not a valid SMILES: {smiles!r}")
    return Drug(name.strip(), smiles=smiles, kind="small_molecule", source=USER_SOURCE)


def typed_condition(name: str, code: str) -> Condition:
    """A condition by name (looked up), or with the ICD-10 code the analyst chose."""
    code = code.strip().upper()
    if not code:
        return Condition(name.strip())
    if not _ICD10.match(code):
        raise RecordError(TYPED_IN, f"condition '{name.strip()}': {code!r} is not an ICD-10 code (e.g. E11.9)")
    return Condition(name.strip(), icd10=[code], match=USER_SOURCE)


def _in_house_id(title: str, criteria_text: str) -> str:
    """A stable id for a trial without an NCT number: the same text gives the same id."""
    return "INHOUSE-" + hashlib.sha256(f"{title}\0{criteria_text}".encode()).hexdigest()[:8].upper()

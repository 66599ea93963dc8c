"""Trials for the feature tests and benchmark, read from the TOP files of `tests.data_sources.data_dir()`:
the development data's when it is beside the clone (never copied), else the suite's own tests/data/top.

The records readers are written elsewhere; this helper keeps the feature tests independent of them
with a small TOP-row parser: criteria split by `engine.records.criteria.split_criteria` (or, without it, a
plain legacy-layout split), drugs resolved from the file's own SMILES column.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

from engine.records.trial import Condition, Criterion, Drug, Trial
from tests.data_sources import top_csv

_HEADER = re.compile(r"^\s*(inclusion|exclusion)\s+criteria\b[^:]*:?\s*(.*)$", re.I)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+(.*)$")


def top_file(name: str = "phase_I_valid.csv") -> Path:
    return top_csv(name)


def split_legacy_criteria(text: str) -> list[Criterion]:
    try:
        from engine.records.criteria import split_criteria
    except ImportError:
        pass
    else:
        return split_criteria(text)
    items: list[Criterion] = []
    kind, current, blank = "inclusion", None, True
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            kind, current = header.group(1).lower(), None
            line = header.group(2)
            if not line.strip():
                continue
        if not line.strip():
            blank = True
            continue
        bullet = _BULLET.match(line)
        if bullet or current is None or blank:
            current = Criterion((bullet.group(1) if bullet else line).strip(), kind)
            items.append(current)
        else:
            current.text += " " + line.strip()
        blank = False
    return [c for c in items if c.text.strip()]


def _literal_list(value) -> list:
    try:
        out = ast.literal_eval(value) if isinstance(value, str) else []
    except (ValueError, SyntaxError):
        return []
    return out if isinstance(out, list) else []


def load_top_trials(name: str = "phase_I_valid.csv", limit: int | None = None) -> list[Trial]:
    import pandas as pd

    frame = pd.read_csv(top_file(name))
    if limit is not None:
        frame = frame.head(limit)
    trials = []
    for row in frame.itertuples(index=False):
        drugs = []
        for name_, smiles in zip(_literal_list(row.drugs), _literal_list(row.smiless)):
            if "placebo" in name_.lower():
                drugs.append(Drug(name_, None, "placebo"))
            else:
                drugs.append(Drug(name_, smiles or None, "small_molecule" if smiles else "unresolved"))
        code_lists = [_literal_list(c) for c in _literal_list(row.icdcodes)]
        conditions = [Condition(d, list(codes) if i < len(code_lists) else [])
                      for i, (d, codes) in enumerate(zip(_literal_list(row.diseases),
                                                         code_lists + [[]] * 100))]
        trials.append(Trial(nct_id=row.nctid, phases=("I",), conditions=conditions, drugs=drugs,
                            criteria=split_legacy_criteria(str(row.criteria)),
                            criteria_text=str(row.criteria), label=int(row.label)))
    return trials


def criteria_lines(name: str = "phase_I_train.csv", n: int = 400) -> list[str]:
    """The first `n` criteria items of a TOP file, as plain lines (tokenizer training text)."""
    lines: list[str] = []
    for trial in load_top_trials(name, limit=max(10, n // 5)):
        lines.extend(c.text for c in trial.criteria)
        if len(lines) >= n:
            break
    return lines[:n]

"""Forward-in-time validation: learn from trials completed before a year, validate on that year.

Analysts score trials that start after everything the model learned from. Random folds mix the years
and flattered earlier models (resources/MODEL_CARD.md), so every model choice is made on these splits:
rolling origins, each learning from the trials completed before its year and validated on the trials
completed in it. The completion dates come from TOP's `nctid_date.tsv` (engine/records/top_csv.py).
"""
from __future__ import annotations

import numpy as np

from engine.errors import CladmopError

#: validation years of the rolling origins: 2011-2013 hold 577 / 362 / 125 learning rows of phases I / II / III
ORIGINS = (2011, 2012, 2013)


def completion_years(trials) -> np.ndarray:
    """Completion year of each trial (TOP rows carry theirs from `nctid_date.tsv` beside the CSVs); a clear
    error naming the first trial that has none."""
    missing = [t.nct_id for t in trials if t.completion_year is None]
    if missing:
        raise CladmopError(f"no completion date for {len(missing)} learning trial(s), e.g. {missing[0]}: "
                           f"temporal validation splits on it (TOP's nctid_date.tsv beside the CSV files)")
    return np.array([t.completion_year for t in trials])


def rolling_origins(years: np.ndarray, origins=ORIGINS) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(year, learning indices: completed before it, validation indices: completed in it) per origin."""
    years = np.asarray(years)
    return [(y, np.flatnonzero(years < y), np.flatnonzero(years == y)) for y in origins]


def latest_year_split(years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(learning, validation) indices: the latest completion year is validated on, the earlier learned
    from. What the recipe early-stops and calibrates on, so its choices look forward in time too."""
    years = np.asarray(years)
    last = years.max()
    return np.flatnonzero(years < last), np.flatnonzero(years == last)

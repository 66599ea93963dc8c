"""Forward-in-time validation: learn from trials completed before a year, validate on that year.

Analysts score trials that start after everything the model learned from. Random folds mix the years
and flattered earlier models (resources/MODEL_CARD.md), so every model choice is made on these splits:
rolling origins, each learning from the trials completed before its year and validated on the trials
completed in it. The completion dates come from TOP's `nctid_date.tsv`.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from engine.errors import CladmopError

DATES_FILE = "nctid_date.tsv"
#: validation years of the rolling origins: 2011-2013 hold 577 / 362 / 125 learning rows of phases I / II / III
ORIGINS = (2011, 2012, 2013)
_YEAR = re.compile(r"(19|20)\d\d")


def year_of(date_text: str) -> int | None:
    """The year of a ClinicalTrials.gov date such as "March 1999" or "2004-01"; None when it has none."""
    match = _YEAR.search(date_text or "")
    return int(match.group(0)) if match else None


def read_years(top: Path) -> dict[str, tuple[int | None, int | None]]:
    """NCT id -> (start year, completion year) from `top`/nctid_date.tsv."""
    path = Path(top) / DATES_FILE
    if not path.is_file():
        raise CladmopError(f"{path}: trial dates not found (TOP's {DATES_FILE} gives the completion years "
                           f"that temporal validation splits on)")
    with path.open(newline="", encoding="utf-8") as f:
        return {row["nctid"]: (year_of(row["start_date"]), year_of(row["completion_date"]))
                for row in csv.DictReader(f, delimiter="\t")}


def completion_years(top: Path, nct_ids: list[str]) -> np.ndarray:
    """Completion year of each trial; a clear error naming the first trial that has none."""
    years = read_years(top)
    missing = [n for n in nct_ids if years.get(n, (None, None))[1] is None]
    if missing:
        raise CladmopError(f"{Path(top) / DATES_FILE}: no completion date for {len(missing)} learning "
                           f"trial(s), e.g. {missing[0]}")
    return np.array([years[n][1] for n in nct_ids])


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

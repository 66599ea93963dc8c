"""Which novelty reasons mark trials that are predicted worse, forward in time?

    installer/dev.sh python benchmarks/novelty_reasons.py --run benchmarks/results/2026-12-07/temporal_v6.json

Reads a temporal run's saved predictions (benchmarks/temporal.py --json), recomputes every validated
row's novelty with an index of its origin's learning rows (the rows completed before its year), and
prints the Brier score and ROC-AUC of the served model by reason: which reasons deserve a warning
(engine/evidence/novelty.py) and which only a note.
"""
from __future__ import annotations

import argparse
import json
import sys
import types
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SERVED = "combined + thresholds, mean"


def kind(reason: str) -> str:
    """A reason's kind, by the words it starts with (engine/evidence/novelty.py writes them)."""
    for start, name in (("its criteria read", "criteria read unlike the learning trials"),
                        ("a disease chapter", "a disease chapter never learned"),
                        ("criteria items", "criteria count outside the learned range"),
                        ("characters of criteria", "criteria length outside the learned range"),
                        ("the criteria carry", "criteria without eligibility content")):
        if reason.startswith(start):
            return name
    return reason


def assessed(run: dict, data: Path) -> list[dict]:
    from benchmarks.temporal import Rows, novelty_of

    args = types.SimpleNamespace(data=data, limit=None, seed=run["seed"], base=Path(run["base"]), device="cpu")
    if not args.base.exists():
        args.base = Path("resources/models/default")  # only its backbone and granularity are read
    rows = Rows(args, print)
    saved = {r["nct_id"]: r for r in run["rows"]}
    out = []
    for year in run["origins"]:
        learn, test = np.flatnonzero(rows.years < year), np.flatnonzero(rows.years == year)
        for i, novelty in zip(test, novelty_of(rows, learn, test)):
            row = saved.get(rows.trials[i].nct_id)
            if row is not None and SERVED in row:
                kinds = {kind(r) for r in novelty.reasons} | ({"unresolved drug"} if novelty.notes else set())
                out.append({"y": row["label"], "p": row[SERVED], "kinds": kinds})
    return out


def line(rows: list[dict], name: str) -> None:
    from sklearn.metrics import roc_auc_score

    y, p = np.array([r["y"] for r in rows]), np.array([r["p"] for r in rows])
    auc = roc_auc_score(y, p) if 0 < y.sum() < len(y) else float("nan")
    print(f"{name:<58} n {len(rows):4d}  Brier {np.mean((p - y) ** 2):.3f}  ROC-AUC {auc:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, required=True, help="a temporal.py --json output")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = ap.parse_args()
    rows = assessed(json.loads(args.run.read_text()), args.data)
    print(f"{SERVED}, by novelty reason ({len(rows)} validated rows)")
    print("reasons:", dict(Counter(k for r in rows for k in r["kinds"])))
    line(rows, "all")
    line([r for r in rows if not r["kinds"]], "no reason")
    for k in sorted({k for r in rows for k in r["kinds"]}):
        line([r for r in rows if k in r["kinds"]], k)
        line([r for r in rows if r["kinds"] == {k}], f"  {k}, nothing else")
    line([r for r in rows if r["kinds"] - {"unresolved drug"}], "any reason besides an unresolved drug")
    line([r for r in rows if not r["kinds"] - {"unresolved drug"}], "no reason, or an unresolved drug only")


if __name__ == "__main__":
    main()

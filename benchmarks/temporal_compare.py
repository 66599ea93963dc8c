"""Two temporal.py runs on the same rows, compared per phase: each run's bootstrap figures and the
paired difference (B - A) over the same resampled rows.

    installer/dev.sh python benchmarks/temporal_compare.py A.json B.json [--models CLaDMoP "combined, stack"]

The runs' own tables (10 x 80% samples) give each model's spread; the difference of two models scored on
the same rows is sharper when paired: here 1,000 resamples of the rows with replacement, the same for A and
B, give the difference's mean, sd and 95% interval.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PHASES = ("I", "II", "III")
MODELS = ("CLaDMoP", "combined, mean", "combined, stack", "pooled-items probe", "items probe")


def paired(y, a, b, n=1000, seed=0):
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(seed)
    out = {"pr_auc": [], "roc_auc": []}
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() == y[idx].max():
            continue
        out["pr_auc"].append(average_precision_score(y[idx], b[idx]) - average_precision_score(y[idx], a[idx]))
        out["roc_auc"].append(roc_auc_score(y[idx], b[idx]) - roc_auc_score(y[idx], a[idx]))
    return {m: (float(np.mean(v)), float(np.std(v, ddof=1)), *np.percentile(v, [2.5, 97.5]).tolist())
            for m, v in out.items()}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    args = p.parse_args(argv)
    a, b = (json.loads(path.read_text()) for path in (args.a, args.b))
    rows_a = {r["nct_id"]: r for r in a["rows"]}
    rows_b = {r["nct_id"]: r for r in b["rows"]}
    common = sorted(set(rows_a) & set(rows_b))
    print(f"A: {args.a}\nB: {args.b}\n{len(common)} rows in both ({len(rows_a)} in A, {len(rows_b)} in B)\n")
    for phase in PHASES:
        ids = [i for i in common if phase in rows_a[i]["phases"]]
        y = np.array([rows_a[i]["label"] for i in ids])
        print(f"phase {phase} ({len(ids)} rows)")
        print(f"  {'model':<20} {'PR-AUC A':>14} {'PR-AUC B':>14} {'paired B-A (95%)':>26}"
              f" {'ROC-AUC A':>14} {'ROC-AUC B':>14} {'paired B-A (95%)':>26}")
        for model in args.models:
            if model not in a["results"][phase] or model not in b["results"][phase]:
                continue
            ra, rb = a["results"][phase][model], b["results"][phase][model]
            d = paired(y, np.array([rows_a[i][model] for i in ids]), np.array([rows_b[i][model] for i in ids]))
            cell = lambda r, m: f"{r[m]['mean']:.3f} ± {r[m]['sd']:.3f}"  # noqa: E731
            diff = lambda m: f"{d[m][0]:+.3f} ± {d[m][1]:.3f} [{d[m][2]:+.3f}, {d[m][3]:+.3f}]"  # noqa: E731
            print(f"  {model:<20} {cell(ra, 'pr_auc'):>14} {cell(rb, 'pr_auc'):>14} {diff('pr_auc'):>26}"
                  f" {cell(ra, 'roc_auc'):>14} {cell(rb, 'roc_auc'):>14} {diff('roc_auc'):>26}")
        print()


if __name__ == "__main__":
    main()

"""Evaluation as the paper reports it: F1 at 0.5, PR-AUC, ROC-AUC; mean ± sd over 10 bootstrap
samples of 80% of the test set; with the prevalence (a constant predictor's PR-AUC) beside PR-AUC."""
from __future__ import annotations

import numpy as np

from engine.errors import InputError

METRICS = ("f1", "pr_auc", "roc_auc")


def point_metrics(labels, probs, threshold: float = 0.5) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    y = np.asarray(labels, dtype=int)
    p = np.asarray(probs, dtype=float)
    out = {"f1": float(f1_score(y, p >= threshold, zero_division=0)), "prevalence": float(y.mean())}
    two_classes = 0 < y.sum() < len(y)
    out["pr_auc"] = float(average_precision_score(y, p)) if two_classes else float("nan")
    out["roc_auc"] = float(roc_auc_score(y, p)) if two_classes else float("nan")
    return out


def bootstrap_metrics(labels, probs, n: int = 10, fraction: float = 0.8, seed: int = 0) -> dict:
    """{metric: {"mean", "sd"}} over `n` samples of `fraction` of the rows (drawn without replacement,
    the paper's protocol), plus the point values on all rows and the prevalence."""
    y = np.asarray(labels, dtype=int)
    p = np.asarray(probs, dtype=float)
    if len(y) != len(p):
        raise InputError(f"{len(y)} labels but {len(p)} predictions")
    if len(y) < 5:
        raise InputError(f"need at least 5 labelled trials to evaluate, got {len(y)}")
    if n < 1:
        raise InputError(f"the bootstrap needs at least 1 sample, got {n}")
    rng = np.random.default_rng(seed)
    k = max(2, int(round(fraction * len(y))))
    samples = [point_metrics(y[idx], p[idx]) for idx in (rng.choice(len(y), k, replace=False) for _ in range(n))]
    result = {m: {"mean": float(np.nanmean([s[m] for s in samples])),
                  "sd": float(np.nanstd([s[m] for s in samples], ddof=1)) if n > 1 else 0.0}
              for m in METRICS + ("prevalence",)}
    result["all_rows"] = point_metrics(y, p)
    result["n"] = int(len(y))
    result["bootstrap"] = {"samples": n, "fraction": fraction, "seed": seed}
    return result


def format_table(results: dict[str, dict]) -> str:
    """Rows like the paper's tables: one line per phase/model, `mean ± sd` cells."""
    header = f"{'':<14}{'n':>6}  {'F1':>13}  {'PR-AUC':>13}  {'(prevalence)':>12}  {'ROC-AUC':>13}"
    lines = [header, "-" * len(header)]
    for name, r in results.items():
        cell = lambda m: f"{r[m]['mean']:.3f} ± {r[m]['sd']:.3f}"  # noqa: E731
        lines.append(f"{name:<14}{r['n']:>6}  {cell('f1'):>13}  {cell('pr_auc'):>13}  "
                     f"{r['prevalence']['mean']:>12.3f}  {cell('roc_auc'):>13}")
    return "\n".join(lines)


def reliability(labels, probs, bins: int = 10) -> dict:
    """Calibration as analysts read it: per equal-width probability bin, how many trials, their mean
    predicted probability and the share that succeeded; the expected calibration error (ECE: the
    count-weighted mean gap) and the Brier score."""
    y = np.asarray(labels, dtype=float)
    p = np.asarray(probs, dtype=float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        sel = which == b
        if sel.any():
            rows.append({"bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}", "n": int(sel.sum()),
                         "predicted": float(p[sel].mean()), "observed": float(y[sel].mean())})
    ece = sum(r["n"] * abs(r["predicted"] - r["observed"]) for r in rows) / max(len(y), 1)
    return {"bins": rows, "ece": float(ece), "brier": float(np.mean((p - y) ** 2))}


def format_reliability(named: dict[str, dict]) -> str:
    """Side-by-side reliability tables (e.g. raw vs temperature-scaled)."""
    lines = []
    for name, r in named.items():
        lines.append(f"{name}: ECE {r['ece']:.3f}, Brier {r['brier']:.3f}")
        lines.append(f"  {'bin':<9}{'n':>5}{'predicted':>11}{'observed':>10}")
        lines += [f"  {b['bin']:<9}{b['n']:>5}{b['predicted']:>11.3f}{b['observed']:>10.3f}" for b in r["bins"]]
    return "\n".join(lines)

"""Temporal validation: every model learns from earlier completion years and is scored on a later one.

    CLADMOP_CACHE=/work/runs/cache installer/dev.sh python benchmarks/temporal.py \
        --base resources/models/default [--origins 2011 2012 2013] [--seed 0] [--limit N] \
        [--recipes temporal v2] [--json OUT] [--work DIR]

The way analysts use the model: it predicts trials later than everything it learned from. For each
origin year Y (engine.training.temporal.ORIGINS), the models learn from the TOP learning rows completed
before Y and predict the rows completed in Y; the predictions of all origins are pooled per phase and
scored with the paper's 10 x 80% bootstrap. Random-fold CV (benchmarks/cv_model.py) is reported beside
it, never instead.

Models, each fitted afresh per origin on the rows before Y:
- `CLaDMoP`: the recipe's fine-tuning from `--base`'s pre-trained branch (head first, then LoRA + head).
  Recipe `temporal` (v3): early stopping and per-phase calibration on the latest year before Y (Y - 1),
  learning from the years before that; recipe `v2`: a random stratified 15% of the rows before Y.
- `linear probe`: logistic regression on the whole-text MiniLM embedding of the record's criteria text
  (the baseline); `items probe`: the same on the enabled items as the model reads them (v3's probe
  member); `pooled-items probe`: on the token-weighted mean of the items' own states (v4's member and
  learning index; engine/features/document.py); `gbt`: gradient-boosted trees on simple features;
  `history`: logistic regression on the drug and condition outcome history (benchmarks/frozen_inputs.py);
  `thresholds`: logistic regression on the criteria's numeric eligibility thresholds
  (engine/features/thresholds.py), fitted as the history is.
- combinations of CLaDMoP (temporal recipe), the pooled-items probe and the history, fitted by the shipped
  model's own code (engine/training/ensemble_fit.py) on the rows before Y and served as the Predictor
  serves them: `combined, mean` (each member's logit standardized on year Y - 1, then averaged; what v3
  serves) and `combined, stack` (logistic regression on the members' logits, fitted on year Y - 1's
  predictions of members that learned before Y - 1, so its weights too are fitted out of time); and
  `combined + thresholds, mean|stack`: the same with the thresholds member as a fourth.

It also checks the novelty warning (are flagged rows predicted worse?) and the coverage of v3's interval
(engine/model/ensemble.py): each origin's rows judged by the scale fitted on the other origins' rows;
`--interval-into MODEL` fits the scale on all of them and writes it into that model's ensemble.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cv_model import calibrated, finetune_config, inner_split, union_rows  # noqa: E402
from engine.evidence.history import trial_names  # noqa: E402
from engine.features.document import POOLED_ITEMS  # noqa: E402
from benchmarks.validation import PHASES, main_guard, top_dir  # noqa: E402
from engine.training.metrics import bootstrap_metrics, format_table  # noqa: E402
from engine.training.ensemble_fit import COMBINATIONS  # noqa: E402
from engine.training.temporal import ORIGINS, completion_years  # noqa: E402

#: words that tell novelty's reasons apart (engine/evidence/novelty.py), for counting them
REASON_KINDS = ("read unlike", "not recognised", "disease chapter", "no eligibility content",
                "criteria items:", "characters of criteria:")


class Rows:
    """The learning rows and what every model reads of them, computed once."""

    def __init__(self, args, echo):
        from benchmarks import baseline_gbt
        from engine.features.document import document_embeddings, pooled_item_embeddings, raw_text
        from engine.features.encoder_cache import EncoderCache
        from engine.lookups.resolve import Resolver
        from engine.model.checkpoint import ModelManifest
        from engine.training.dataset import LabelledSet, featurize
        from engine.training.pipeline import make_featurizer
        from engine.features.thresholds import threshold_matrix

        top = top_dir(args.data)
        trials, self.y, self.member = union_rows(top, limit=args.limit, seed=args.seed)
        self.years = completion_years(trials)
        config = ModelManifest.read(args.base).config
        featurizer = make_featurizer(config.backbone, config.granularity, args.device)
        resolver = Resolver.default()
        data = featurize(LabelledSet(trials, self.y), resolver, featurizer)
        self.features, self.trials = data.features, data.trials
        cache = EncoderCache()
        self.text = document_embeddings(self.trials, featurizer.encoder, cache, text_of=raw_text)
        self.items = document_embeddings(self.trials, featurizer.encoder, cache)  # what v3 and its index read
        self.pooled = pooled_item_embeddings(self.features)  # v4's: composed of CLaDMoP's item states
        self.gbt = baseline_gbt.feature_matrix(self.trials, resolver)
        self.thresholds = threshold_matrix(self.trials)
        self.in_phase = {p: np.array([p in m for m in self.member]) for p in PHASES}
        echo(f"{len(self.y)} learning rows featurized; completion years {self.years.min()}-{self.years.max()}")

    def history(self, train: np.ndarray, rows: np.ndarray) -> np.ndarray:
        from engine.training.ensemble_fit import history_inputs

        return history_inputs(self.trials, self.y, train, rows)


def baseline_predictions(rows: Rows, train: np.ndarray, test: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The probe (on the record's text, the baseline; on the items as the model reads them, v3's member),
    the GBT and the history model fitted on `train`, predicting `test`."""
    from benchmarks import baseline_gbt, baseline_linear_probe

    y = rows.y
    return {"linear probe": baseline_linear_probe.fit_predict(rows.text[train], y[train], rows.text[test], seed),
            "items probe": baseline_linear_probe.fit_predict(rows.items[train], y[train], rows.items[test], seed),
            "pooled-items probe": baseline_linear_probe.fit_predict(rows.pooled[train], y[train],
                                                                    rows.pooled[test], seed),
            "gbt": baseline_gbt.fit_predict(rows.gbt[train], y[train], rows.gbt[test], seed),
            "history": baseline_linear_probe.fit_predict(rows.history(train, train), y[train],
                                                         rows.history(train, test), seed),
            "thresholds": baseline_linear_probe.fit_predict(rows.thresholds[train], y[train],
                                                            rows.thresholds[test], seed)}


def cladmop_predictions(rows: Rows, args, work: Path, name: str, train: np.ndarray, valid: np.ndarray,
                        targets: list[np.ndarray], echo) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fine-tune on `train`, early-stop on `valid`; for each of `targets`: (raw logits, probabilities
    calibrated per phase on `valid`)."""
    from engine.training.finetune import adapter_logits, finetune

    cfg = finetune_config(args)
    out = work / name
    started = time.time()
    feats, y = rows.features, rows.y
    done = out / "temporal_fit.json"  # written last: a folder without it was not finished
    if done.is_file():
        echo(f"    {name}: fitted by an earlier run in this --work folder, reused")
    else:
        res = finetune(args.base, "I", [feats[i] for i in train], y[train], [feats[i] for i in valid], y[valid],
                       out_dir=out, config=cfg, device=args.device)
        echo(f"    {name}: {len(train)} learning, {len(valid)} validation rows, best epoch {res.best_epoch} "
             f"({res.stopped}), {time.time() - started:.0f} s")
        done.write_text(json.dumps({"best_epoch": res.best_epoch, "stopped": res.stopped}))
    valid_logits = adapter_logits(out, "I", [feats[i] for i in valid], args.device)
    results = []
    for target in targets:
        logits = adapter_logits(out, "I", [feats[i] for i in target], args.device)
        probs = np.full(len(target), np.nan)
        for p in PHASES:  # a mixed-phase row takes its later phase's calibration
            sel, fit_sel = rows.in_phase[p][target], rows.in_phase[p][valid]
            if sel.any() and fit_sel.any() and 0 < y[valid][fit_sel].sum() < fit_sel.sum():
                probs[sel] = calibrated(logits[sel], y[valid][fit_sel], valid_logits[fit_sel])
        results.append((logits, probs))
    return results


def combined(rows: Rows, year: int, inner_logits: np.ndarray, test_logits: np.ndarray, seed: int,
             how: str, thresholds: bool = False) -> np.ndarray:
    """The shipped combined model, fitted as the recipe fits it (engine/training/ensemble_fit.py) on the rows
    before `year` (the stack on year - 1), and served as the Predictor serves it, for the `year` rows;
    `thresholds`: with the eligibility-thresholds member."""
    from engine.evidence.history import OutcomeHistory, history_matrix
    from engine.training.ensemble_fit import fit_ensemble

    before, test = np.flatnonzero(rows.years < year), np.flatnonzero(rows.years == year)
    trials, labels = [rows.trials[i] for i in before], rows.y[before]
    last_year = rows.years[before] == year - 1
    ensemble = fit_ensemble(trials, labels, [rows.member[i] for i in before], rows.pooled[before], inner_logits,
                            np.flatnonzero(~last_year), np.flatnonzero(last_year), seed, how=how,
                            embedding=POOLED_ITEMS, thresholds=rows.thresholds[before] if thresholds else None)
    drugs, conditions = zip(*(trial_names(t) for t in trials))
    history = history_matrix(OutcomeHistory(list(drugs), labels), OutcomeHistory(list(conditions), labels),
                             [rows.trials[i] for i in test])
    member_logits = ensemble.member_logits(test_logits, rows.pooled[test], history,
                                           rows.thresholds[test] if thresholds else None)
    probs = np.full(len(test), np.nan)
    for p in PHASES:  # a mixed-phase row takes its later phase's calibration
        sel = rows.in_phase[p][test]
        probs[sel] = ensemble.probabilities(member_logits[sel], p)
    return probs


def run_origin(rows: Rows, args, work: Path, year: int, echo) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every model's predictions for the rows completed in `year`, learning from the years before it."""
    years, y = rows.years, rows.y
    learn, test = np.flatnonzero(years < year), np.flatnonzero(years == year)
    early, inner = np.flatnonzero(years < year - 1), np.flatnonzero(years == year - 1)
    echo(f"origin {year}: {len(learn)} learning rows, {len(test)} validated")
    preds = baseline_predictions(rows, learn, test, args.seed)
    if "temporal" in args.recipes:
        (inner_logits, _), (test_logits, test_probs) = cladmop_predictions(
            rows, args, work, f"{year}-temporal", early, inner, [inner, test], echo)
        preds["CLaDMoP"] = test_probs
        for how in COMBINATIONS:
            preds[f"combined, {how}"] = combined(rows, year, inner_logits, test_logits, args.seed, how)
        for how in COMBINATIONS:
            preds[f"{WITH_THRESHOLDS}, {how}"] = combined(rows, year, inner_logits, test_logits, args.seed, how,
                                                          thresholds=True)
    if "v2" in args.recipes:
        tr, va = inner_split(y[learn], args.seed)
        ((_, probs),) = cladmop_predictions(rows, args, work, f"{year}-v2", learn[tr], learn[va], [test], echo)
        preds["CLaDMoP v2 recipe"] = probs
    return test, preds


def novelty_of(rows: Rows, learn: np.ndarray, test: np.ndarray) -> list:
    """Novelty (engine/evidence/novelty.py) of each `test` row against an index of the `learn` rows."""
    from engine.evidence.index import build_index
    from engine.evidence.novelty import assess

    phases = ["/".join(p for p in PHASES if p in rows.member[i]) for i in learn]
    index = build_index([rows.trials[i] for i in learn], rows.y[learn], phases, [(0, 0)] * len(learn),
                        rows.pooled[learn], "benchmark", POOLED_ITEMS)
    reference = index.nearest_similarity
    return [assess(index, rows.trials[i], rows.pooled[i], reference) for i in test]


def novelty_check(rows: Rows, predictions: dict[str, np.ndarray], novelty: dict[int, object], echo) -> dict:
    """Are the trials flagged as unusual predicted worse? Brier score and ROC-AUC of each model's
    probabilities on flagged and unflagged validation rows, and by thirds of the novelty score."""
    from sklearn.metrics import roc_auc_score

    idx = np.array(sorted(novelty))
    flagged = np.array([novelty[i].unusual for i in idx])
    score_ = np.array([novelty[i].score for i in idx])
    thirds = np.quantile(score_, [1 / 3, 2 / 3])
    groups = {"flagged": flagged, "not flagged": ~flagged, "score, lowest third": score_ <= thirds[0],
              "score, middle third": (score_ > thirds[0]) & (score_ <= thirds[1]),
              "score, highest third": score_ > thirds[1]}
    out = {}
    echo(f"novelty: {flagged.sum()} of {len(idx)} validation rows flagged as unusual")
    for name, pred in predictions.items():
        out[name] = {}
        for group, sel in groups.items():
            y, p = rows.y[idx[sel]], pred[idx[sel]]
            ok = ~np.isnan(p)
            y, p = y[ok], p[ok]
            roc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")
            out[name][group] = {"n": int(len(y)), "brier": float(np.mean((p - y) ** 2)) if len(y) else float("nan"),
                                "roc_auc": roc}
        echo(f"  {name:<18} " + "  ".join(f"{g}: n {v['n']}, Brier {v['brier']:.3f}, ROC {v['roc_auc']:.3f}"
                                          for g, v in out[name].items() if g in ("flagged", "not flagged")))
    reasons = {kind: sum(any(kind in r for r in novelty[i].reasons) for i in idx) for kind in REASON_KINDS}
    out["reasons"] = reasons
    echo("  rows with each reason: " + "; ".join(f"{k}: {v}" for k, v in reasons.items()))
    return out


SERVED, MEMBER_COLUMNS = "combined, mean", ("CLaDMoP", "pooled-items probe", "history")
WITH_THRESHOLDS = "combined + thresholds"


def served(with_thresholds: bool) -> tuple[str, tuple[str, ...]]:
    """(the served combination's row, its members' rows): what the interval is fitted and judged on."""
    if with_thresholds:
        return f"{WITH_THRESHOLDS}, {SERVED.split(', ')[1]}", MEMBER_COLUMNS + ("thresholds",)
    return SERVED, MEMBER_COLUMNS


def interval_inputs(rows: Rows, predictions: dict[str, np.ndarray], sel: np.ndarray, with_thresholds: bool = False):
    """(served probabilities, labels, member spreads) of the rows `sel`."""
    name, columns = served(with_thresholds)
    members = np.column_stack([predictions[m][sel] for m in columns])
    return predictions[name][sel], rows.y[sel], members.std(axis=1)


def interval_check(rows: Rows, predictions: dict[str, np.ndarray], echo, with_thresholds: bool = False) -> dict:
    """Coverage of v3's interval forward in time: each origin's trials judged by the scale fitted on the
    other origins' trials; a trial is covered when its bin's observed success rate lies inside."""
    from engine.model.ensemble import INTERVAL_FLOOR
    from engine.training.ensemble_fit import INTERVAL_LEVEL, conformal_scale, interval_scores

    out = {}
    name, _ = served(with_thresholds)
    if len(np.unique(rows.years[~np.isnan(predictions[name])])) < 2:
        echo("  interval: its coverage needs two origins or more (each judged by the others' scale)")
        return out
    for p in PHASES:
        sel = np.flatnonzero(rows.in_phase[p] & ~np.isnan(predictions[name]))
        probs, y, spread = interval_inputs(rows, predictions, sel, with_thresholds)
        scores = interval_scores(probs, y, spread, INTERVAL_FLOOR)
        years = rows.years[sel]
        covered, widths = np.zeros(len(sel), bool), np.zeros(len(sel))
        for year in np.unique(years):
            q = conformal_scale(scores[years != year])
            covered[years == year] = scores[years == year] <= q
            widths[years == year] = 2 * q * (spread[years == year] + INTERVAL_FLOOR)
        out[p] = {"coverage": float(covered.mean()), "nominal": INTERVAL_LEVEL, "n": int(len(sel)),
                  "median_width": float(np.median(widths))}
        echo(f"  interval of {name}, phase {p}: coverage {covered.mean():.3f} (nominal {INTERVAL_LEVEL:.2f}, "
             f"each origin judged by the others' scale), median width {np.median(widths):.3f}, n {len(sel)}")
    return out


def write_interval(rows: Rows, predictions: dict[str, np.ndarray], model: Path, echo,
                   with_thresholds: bool = False) -> None:
    """Fit the interval on every origin's trials and store it in `model`'s ensemble.json."""
    from engine.model.checkpoint import ModelManifest
    from engine.model.ensemble import Ensemble
    from engine.training.ensemble_fit import fit_interval

    ensemble = Ensemble.load(model)
    if ensemble is None:
        raise SystemExit(f"{model}: no ensemble.json to add the interval to")
    name, _ = served(with_thresholds)
    if with_thresholds != (ensemble.thresholds is not None):
        raise SystemExit(f"{model}: its ensemble {'has' if ensemble.thresholds is not None else 'has no'} "
                         "thresholds member; --served-with-thresholds must say the same")
    by_phase = {p: interval_inputs(rows, predictions, np.flatnonzero(rows.in_phase[p] & ~np.isnan(predictions[name])),
                                   with_thresholds) for p in PHASES}
    ensemble.interval = fit_interval(by_phase)
    ensemble.save(model)
    ModelManifest.read(model).write(model)
    echo(f"interval written into {model}: {ensemble.interval}")


def score(rows: Rows, predictions: dict[str, np.ndarray], seed: int, echo) -> dict:
    results = {}
    for p in PHASES:
        sel = rows.in_phase[p] & ~np.isnan(predictions["linear probe"])
        results[p] = {name: bootstrap_metrics(rows.y[sel], pred[sel], seed=seed)
                      for name, pred in predictions.items()}
        echo(f"phase {p} (validated on completion years {sorted(set(rows.years[sel].tolist()))})\n"
             + format_table(results[p]))
        for name in predictions:
            if name in ("linear probe", "gbt"):
                continue
            for m in ("pr_auc", "roc_auc"):
                margins = [results[p][name][m]["mean"] - results[p][b][m]["mean"] for b in ("linear probe", "gbt")]
                echo(f"  {m:<8} {name:<18} - probe {margins[0]:+.3f}, - gbt {margins[1]:+.3f}")
        for how in COMBINATIONS:  # the thresholds member's effect: 4 members against 3, same bootstrap samples
            four, three = results[p].get(f"{WITH_THRESHOLDS}, {how}"), results[p].get(f"combined, {how}")
            if four is None or three is None:
                continue
            for m in ("pr_auc", "roc_auc"):
                delta = four[m]["mean"] - three[m]["mean"]
                verdict = "worse beyond the 3-member sd" if delta < -three[m]["sd"] else "not worse beyond it"
                echo(f"  {m:<8} 4 - 3 members, {how:<5} {delta:+.3f} (sd 3 members {three[m]['sd']:.3f}, "
                     f"4 members {four[m]['sd']:.3f}): {verdict}")
    return results


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", type=Path, required=True, help="model folder whose pre-trained branch is fine-tuned")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--origins", type=int, nargs="+", default=list(ORIGINS))
    ap.add_argument("--recipes", nargs="+", choices=("temporal", "v2"), default=["temporal", "v2"])
    ap.add_argument("--epochs", type=int, default=3, help="stage 2 (LoRA + head) epochs at most (v3: 0)")
    ap.add_argument("--head-epochs", type=int, default=None, help="stage 1: the head alone (default: the recipe's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="subsample (smoke runs only)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--interval-into", type=Path, default=None,
                    help="fit v3's interval on every origin's trials and write it into this model's ensemble.json")
    ap.add_argument("--work", type=Path, default=None, help="where the origins' models go (default: a temp folder)")
    ap.add_argument("--served-with-thresholds", action="store_true",
                    help="the interval (its check and --interval-into) is the 4-member combination's (the default "
                         "when --interval-into's model has a thresholds member)")
    args = ap.parse_args(argv)
    args.patience, args.lr, args.monitor, args.head_lr = 1, None, None, None
    from engine.device import resolve_device

    args.device = str(resolve_device(args.device))
    if args.interval_into:
        from engine.model.ensemble import Ensemble

        target = Ensemble.load(args.interval_into)
        args.served_with_thresholds |= target is not None and target.thresholds is not None
    echo = lambda s: print(s, flush=True)  # noqa: E731
    started = time.time()
    rows = Rows(args, echo)
    work = Path(args.work or tempfile.mkdtemp(prefix="cladmop-temporal-"))
    predictions: dict[str, np.ndarray] = {}
    novelty = {}
    for year in args.origins:
        test, preds = run_origin(rows, args, work, year, echo)
        for name, values in preds.items():
            predictions.setdefault(name, np.full(len(rows.y), np.nan))[test] = values
        novelty.update(zip(test.tolist(), novelty_of(rows, np.flatnonzero(rows.years < year), test)))
    results = score(rows, predictions, args.seed, echo)
    novelty_results = novelty_check(rows, predictions, novelty, echo)
    interval_results = interval_check(rows, predictions, echo, args.served_with_thresholds) \
        if "temporal" in args.recipes else {}
    if args.interval_into:
        write_interval(rows, predictions, args.interval_into, echo, args.served_with_thresholds)
    summary = {"command": "temporal.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               "origins": args.origins, "recipes": args.recipes, "seed": args.seed, "base": str(args.base),
               "finetune": dataclasses.asdict(finetune_config(args)), "n_rows": len(rows.y),
               "minutes": round((time.time() - started) / 60, 1), "results": results, "novelty": novelty_results,
               "interval": interval_results,
               "rows": [{"nct_id": rows.trials[i].nct_id, "year": int(rows.years[i]), "label": int(rows.y[i]),
                         "phases": sorted(rows.member[i]), "novelty": round(novelty[i].score, 4),
                         "unusual": novelty[i].unusual,
                         **{name: round(float(pred[i]), 6) for name, pred in predictions.items()}}
                        for i in sorted(novelty)]}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main_guard(main)

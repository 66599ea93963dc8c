"""Model selection for the default model: k-fold CV of the full CLaDMoP model beside its baselines.

    CLADMOP_CACHE=/work/runs/cache installer/dev.sh python benchmarks/cv_model.py \
        --base resources/models/default --mode pooled|per-phase [--folds 5] [--epochs 10] \
        [--limit N] [--device auto] [--json OUT] [--work DIR]

The folds are drawn once over the union of all TOP learning rows (one row per NCT id, stratified by
phase set and label, seeded), so a mixed-phase trial is held out of every phase at the same time and
the pooled model never learns a trial it is scored on. In every fold, on the same rows:

- `CLaDMoP`: LoRA + head fine-tuned from `--base` (the pre-trained model folder, whose backbone and
  granularity the rows are featurized with), early-stopped on a stratified 15% of the fold's training
  rows; `per-phase`: one adapter per phase on that phase's rows (the paper's setting), `pooled`: one
  adapter on the rows of all phases (more data for II and III);
- `linear probe`: logistic regression on the whole-text MiniLM embedding (benchmarks/baseline_linear_probe.py);
- `gbt`: gradient-boosted trees on simple features (benchmarks/baseline_gbt.py).

Out-of-fold predictions are pooled per phase and scored with the paper's 10 x 80% bootstrap; the table
prints each model's mean ± sd and the full model's margin over each baseline. Numbers: MODEL_CARD.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.validation import PHASES, main_guard, phase_rows, published_table, top_dir  # noqa: E402
from engine.training.config import MONITORS  # noqa: E402
from engine.training.metrics import (bootstrap_metrics, format_reliability, format_table,  # noqa: E402
                                     reliability)

INNER_VALID = 0.15


def union_rows(top: Path, phases=PHASES, limit: int | None = None, seed: int = 0):
    """All learning rows once: trials, labels, and for each the set of phases whose files hold it."""
    trials, labels, member = [], [], []
    index: dict[str, int] = {}
    for phase in phases:
        rows = phase_rows(top, phase, seed)
        for t, y in zip(rows.trials, rows.labels):
            if t.nct_id in index:
                member[index[t.nct_id]].add(phase)
                continue
            index[t.nct_id] = len(trials)
            trials.append(t); labels.append(int(y)); member.append({phase})
    labels = np.asarray(labels)
    if limit and limit < len(trials):  # smoke runs only: numbers on a subsample mean nothing
        keep = np.sort(np.random.default_rng(seed).choice(len(trials), limit, replace=False))
        trials, labels, member = [trials[i] for i in keep], labels[keep], [member[i] for i in keep]
    return trials, labels, member


def union_folds(labels: np.ndarray, member: list[set], n_folds: int, seed: int):
    from sklearn.model_selection import StratifiedKFold

    from engine.training.recipe import strata

    keys = strata(labels, member, min_count=n_folds)
    return list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(np.zeros(len(labels)), keys))


def inner_split(labels: np.ndarray, seed: int):
    from engine.training.dataset import stratified_split

    return stratified_split(labels, INNER_VALID, seed)


def calibrated(logits, labels_for_fit, logits_for_fit) -> np.ndarray:
    from engine.model.calibration import apply_calibration, fit_calibration

    return apply_calibration(logits, *fit_calibration(logits_for_fit, labels_for_fit))


def finetune_config(args):
    """The recipe's fine-tuning settings (engine.training.recipe.finetune_choices), with the command
    line's changes."""
    from engine.training.recipe import finetune_choices

    cfg = finetune_choices(args.epochs, args.seed)
    cfg.fit.patience = args.patience
    changes = {k: v for k, v in dict(lr_head=args.lr, lr_lora=args.lr, monitor=args.monitor,
                                     head_epochs=args.head_epochs, head_lr=args.head_lr).items() if v is not None}
    return dataclasses.replace(cfg, **changes)


def train_cladmop(base: Path, work: Path, name: str, feats, y, cfg, device: str, echo):
    """Fine-tune one adapter on (feats, y) with an inner stratified validation; returns (folder, valid idx).
    A fold finished by an earlier run in the same `--work` folder is reused; an interrupted one resumes."""
    from engine.training.finetune import ADAPTERS, finetune

    tr, va = inner_split(y, cfg.fit.seed)
    out = work / name
    if (out / ADAPTERS / "I").is_dir() and not (out / ADAPTERS / ".I.training").exists():
        echo(f"    {name}: done in an earlier run, reused")
        return out, va
    started = time.time()
    res = finetune(base, "I", [feats[i] for i in tr], y[tr], [feats[i] for i in va], y[va], out_dir=out,
                   config=cfg, device=device,
                   on_epoch=lambda r: echo(f"    {name} epoch {r.epoch} train {r.train_loss:.4f} "
                                           f"valid {r.val_loss:.4f} roc {r.metrics['roc_auc']:.3f}"))
    echo(f"    {name}: best epoch {res.best_epoch} ({res.stopped}), {time.time() - started:.0f} s")
    return out, va


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", type=Path, required=True, help="pre-trained model folder (base.safetensors)")
    ap.add_argument("--mode", choices=("pooled", "per-phase"), default="pooled")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3, help="stage 2 (LoRA + head) epochs at most")
    ap.add_argument("--patience", type=int, default=1)
    ap.add_argument("--lr", type=float, default=None, help="LoRA and head learning rate (stage 2)")
    ap.add_argument("--monitor", choices=MONITORS, default=None,
                    help="early stopping criterion of both stages (engine.training.config.MONITORS)")
    ap.add_argument("--head-epochs", type=int, default=None, help="stage 1: head alone on the frozen branch")
    ap.add_argument("--head-lr", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="subsample (smoke runs only)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=None,
                    help="where fold models go and stay, so an interrupted run resumes (default: a temp folder)")
    args = ap.parse_args(argv)
    echo = lambda s: print(s, flush=True)  # noqa: E731

    from benchmarks import baseline_gbt, baseline_linear_probe
    from engine.device import resolve_device
    from engine.features.document import document_embeddings, raw_text
    from engine.features.encoder_cache import EncoderCache
    from engine.lookups.resolve import Resolver
    from engine.model.checkpoint import ModelManifest
    from engine.training.dataset import LabelledSet, featurize
    from engine.training.finetune import adapter_logits
    from engine.training.pipeline import make_featurizer

    started = time.time()
    device = str(resolve_device(args.device))
    trials, y, member = union_rows(top_dir(args.data), limit=args.limit, seed=args.seed)
    echo(f"{len(trials)} learning rows (one per NCT id), prevalence {y.mean():.3f}; "
         + ", ".join(f"phase {p}: {sum(p in m for m in member)}" for p in PHASES))
    base = ModelManifest.read(Path(args.base)).config  # the folds read criteria as the base model does
    featurizer = make_featurizer(base.backbone, base.granularity, device)
    resolver = Resolver.default()
    data = featurize(LabelledSet(trials, y), resolver, featurizer)
    feats, trials = data.features, data.trials
    probe_x = document_embeddings(trials, featurizer.encoder, EncoderCache(), text_of=raw_text)
    gbt_x = baseline_gbt.feature_matrix(trials, resolver)
    echo(f"featurized in {time.time() - started:.0f} s")

    in_phase = {p: np.array([p in m for m in member]) for p in PHASES}
    oof = {name: np.full(len(y), np.nan) for name in ("CLaDMoP", "linear probe", "gbt")}
    oof_cladmop = {p: np.full(len(y), np.nan) for p in PHASES}
    oof_raw = {p: np.full(len(y), np.nan) for p in PHASES}  # sigmoid(logit): before temperature scaling
    work = Path(args.work or tempfile.mkdtemp(prefix="cladmop-cv-"))
    for k, (tr, te) in enumerate(union_folds(y, member, args.folds, args.seed)):
        echo(f"fold {k + 1}/{args.folds}: {len(tr)} training rows, {len(te)} held out")
        oof["linear probe"][te] = baseline_linear_probe.fit_predict(probe_x[tr], y[tr], probe_x[te], args.seed)
        oof["gbt"][te] = baseline_gbt.fit_predict(gbt_x[tr], y[tr], gbt_x[te], args.seed)
        groups = {"pooled": tr} if args.mode == "pooled" else {p: tr[in_phase[p][tr]] for p in PHASES}
        for name, rows in groups.items():
            folder, va = train_cladmop(args.base, work, f"fold{k + 1}-{name}", [feats[i] for i in rows], y[rows],
                                       finetune_config(args), device, echo)
            inner = rows[va]
            test = te if name == "pooled" else te[in_phase[name][te]]
            logits = adapter_logits(folder, "I", [feats[i] for i in test], device)
            inner_logits = adapter_logits(folder, "I", [feats[i] for i in inner], device)
            for p in PHASES:  # calibration per phase on the inner validation rows of that phase
                sel, fit_sel = in_phase[p][test], in_phase[p][inner]
                if not sel.any() or name not in ("pooled", p):
                    continue
                oof_cladmop[p][test[sel]] = calibrated(logits[sel], y[inner][fit_sel], inner_logits[fit_sel])
                oof_raw[p][test[sel]] = 1 / (1 + np.exp(-logits[sel]))
            if args.work is None:
                shutil.rmtree(folder, ignore_errors=True)

    results, calibration, lines = {}, {}, []
    for p in PHASES:
        rows = in_phase[p]
        calibration[p] = {"uncalibrated": reliability(y[rows], oof_raw[p][rows]),
                          "temperature-scaled": reliability(y[rows], oof_cladmop[p][rows])}
        lines.append(f"phase {p} reliability of the out-of-fold probabilities (CLaDMoP)\n"
                     + format_reliability(calibration[p]))
        res = {"CLaDMoP": bootstrap_metrics(y[rows], oof_cladmop[p][rows], seed=args.seed),
               "linear probe": bootstrap_metrics(y[rows], oof["linear probe"][rows], seed=args.seed),
               "gbt": bootstrap_metrics(y[rows], oof["gbt"][rows], seed=args.seed)}
        results[p] = res
        lines.append(f"phase {p}\n" + format_table(res))
        for base_name in ("linear probe", "gbt"):
            for m in ("pr_auc", "roc_auc"):
                a, b = res["CLaDMoP"][m], res[base_name][m]
                margin = a["mean"] - b["mean"]
                sd = max(a["sd"], b["sd"])
                verdict = "beats" if margin > sd else "does not beat"
                lines.append(f"  {m:<8} CLaDMoP - {base_name:<12} {margin:+.3f} (sd {sd:.3f}): {verdict}")
    lines += ["", "published, official test split (not comparable one-to-one: other rows, other prevalence)",
              published_table()]
    echo("\n".join(lines))
    summary = {"command": "cv_model.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               "mode": args.mode, "folds": args.folds, "epochs": args.epochs, "seed": args.seed,
               "finetune": dataclasses.asdict(finetune_config(args)),
               "base": str(args.base), "granularity": base.granularity, "n_rows": len(y), "minutes": round((time.time() - started) / 60, 1),
               "results": results, "calibration": calibration}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main_guard(main)

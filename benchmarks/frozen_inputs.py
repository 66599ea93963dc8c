"""What each input of the model carries on its own: logistic regression per input, on cv_model's folds.

    CLADMOP_CACHE=/work/runs/cache installer/dev.sh python benchmarks/frozen_inputs.py \
        --base resources/models/default [--folds 5] [--seed 0] [--limit N] [--device auto] [--json OUT]

The shipped recipe's LoRA stage never improved on its head-only start (MODEL_CARD.md), so the model's
prediction is a head on two frozen vectors of the pre-trained branch: f_c (the criteria) and f_dm (the
drug/disease fusion). This script asks how much outcome signal each vector, and each rival input,
holds. Every input gets the linear probe's classifier (standardized logistic regression, C by inner CV;
benchmarks/baseline_linear_probe.py), trained on all phases' rows of a fold and scored per phase with
the paper's 10 x 80% bootstrap:

- `f_c`, `f_dm`, `f_c + f_dm`: the base model's head input, split and whole;
- `whole text`: the linear probe itself (the frozen MiniLM's whole-text embedding);
- `history`: for each drug and each condition name of a trial, the smoothed success rate
  of the fold's training trials that share it, and how many there are (HINT's drug and disease risk,
  read from these rows only; a training trial's own label is left out of its own rate);
- `text + history`: the whole text and the history together.

When rival inputs reach the same figures as the model's, and adding one to another gains nothing, the
ceiling is more likely in the learning rows than in what the model reads. The folds are cv_model.py's
(same seed, same rows).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cv_model import union_folds, union_rows  # noqa: E402
from benchmarks.validation import PHASES, main_guard, top_dir  # noqa: E402
from engine.evidence.history import outcome_history, trial_names  # noqa: E402
from engine.training.metrics import bootstrap_metrics, format_table  # noqa: E402

def branch_inputs(base: Path, features, device) -> np.ndarray:
    """(n, text_dim + d_model): concat(f_c, f_dm) of the base model's pre-trained branch, no adapter."""
    from engine.model.checkpoint import load_base
    from engine.training.finetune import branch_head_inputs

    model, _ = load_base(base)
    return branch_head_inputs(model.to(device), features, device).float().cpu().numpy()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", type=Path, required=True, help="model folder whose pre-trained branch is read")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="subsample (smoke runs only)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from benchmarks import baseline_linear_probe
    from engine.device import resolve_device
    from engine.features.document import document_embeddings, raw_text
    from engine.features.encoder_cache import EncoderCache
    from engine.lookups.resolve import Resolver
    from engine.model.checkpoint import ModelManifest
    from engine.training.dataset import LabelledSet, featurize
    from engine.training.pipeline import make_featurizer

    started = time.time()
    device = resolve_device(args.device)
    trials, y, member = union_rows(top_dir(args.data), limit=args.limit, seed=args.seed)
    config = ModelManifest.read(args.base).config
    featurizer = make_featurizer(config.backbone, config.granularity, str(device))
    data = featurize(LabelledSet(trials, y), Resolver.default(), featurizer)
    branch = branch_inputs(args.base, data.features, device)
    text_dim = config.text_dim
    whole_text = document_embeddings(data.trials, featurizer.encoder, EncoderCache(), text_of=raw_text)
    drugs, conditions = zip(*(trial_names(t) for t in data.trials))
    print(f"{len(y)} learning rows featurized in {time.time() - started:.0f} s", flush=True)

    fixed = {"f_c": branch[:, :text_dim], "f_dm": branch[:, text_dim:], "f_c + f_dm": branch,
             "whole text": whole_text}
    inputs = list(fixed) + ["history", "text + history"]
    oof = {name: np.full(len(y), np.nan) for name in inputs}
    for tr, te in union_folds(y, member, args.folds, args.seed):
        history = {rows_name: np.hstack([outcome_history(list(names), y, tr, rows) for names in (drugs, conditions)])
                   for rows_name, rows in (("train", tr), ("test", te))}
        for name in inputs:
            if name in fixed:
                x_tr, x_te = fixed[name][tr], fixed[name][te]
            else:
                x_tr, x_te = history["train"], history["test"]
                if name == "text + history":
                    x_tr, x_te = np.hstack([whole_text[tr], x_tr]), np.hstack([whole_text[te], x_te])
            oof[name][te] = baseline_linear_probe.fit_predict(x_tr, y[tr], x_te, args.seed)

    results = {}
    for p in PHASES:
        rows = np.array([p in m for m in member])
        results[p] = {name: bootstrap_metrics(y[rows], oof[name][rows], seed=args.seed) for name in inputs}
        print(f"phase {p}\n" + format_table(results[p]), flush=True)
    summary = {"base": str(args.base), "folds": args.folds, "seed": args.seed, "n_rows": len(y),
               "minutes": round((time.time() - started) / 60, 1), "results": results}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main_guard(main)

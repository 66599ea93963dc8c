"""Score default-model folders on the recipe's own held-out rows, with the paper's 10 x 80% bootstrap:
does a re-run of `cladmop train-default` reproduce the shipped validation metrics within their sd?

    installer/dev.sh python benchmarks/reproduce_default.py --data ../shared/data \\
        --models resources/models/default /tmp/rerun

The held-out rows are the 15% of the TOP learning rows that `train-default` keeps back (stratified by
phase set and label, seed from the first model's `extra.recipe`). Each phase is scored with that phase's
adapter and calibration, as the application serves it. With two or more models, each later one is
compared with the first: the difference per metric, and whether it is within the first model's sd.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METRICS = ("f1", "pr_auc", "roc_auc")


def score(folder: Path, held_out, member, device: str) -> dict:
    """{phase: bootstrap metrics} of `folder` on the held-out rows of each phase it serves."""
    from engine.model.checkpoint import ModelManifest
    from engine.model.calibration import apply_calibration
    from engine.training.finetune import adapter_logits
    from engine.training.metrics import bootstrap_metrics

    manifest = ModelManifest.read(folder)
    out = {}
    for phase, info in sorted(manifest.phases.items()):
        idx = np.flatnonzero([phase in m for m in member])
        z = adapter_logits(folder, phase, [held_out.features[i] for i in idx], device)
        out[phase] = bootstrap_metrics(held_out.labels[idx], apply_calibration(z, info.temperature, info.bias))
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="the shared data folder (holds top/)")
    ap.add_argument("--models", type=Path, nargs="+", required=True, help="model folders; the first is the reference")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--limit", type=int, help="score only this many held-out rows (a quick check)")
    args = ap.parse_args(argv)
    from engine.lookups.resolve import Resolver
    from engine.model.checkpoint import ModelManifest
    from engine.training.dataset import featurize
    from engine.training.metrics import format_table
    from engine.training.pipeline import make_featurizer
    from engine.training.recipe import held_out_split

    first = ModelManifest.read(args.models[0])
    recipe = first.extra.get("recipe", {})
    seed, granularity = int(recipe.get("seed", 0)), recipe.get("granularity", first.config.granularity)
    resolver, featurizer = Resolver.default(), make_featurizer("minilm", granularity, args.device)
    rows, member, _, va = held_out_split(args.data / "top", seed)
    if args.limit:
        va = np.sort(np.random.default_rng(seed).permutation(va)[:args.limit])
    held_out = featurize(rows.subset(va), resolver, featurizer)
    results = {str(m): score(m, held_out, [member[i] for i in va], args.device) for m in args.models}
    ref = results[str(args.models[0])]
    for name, res in results.items():
        print(f"\n{name}")
        print(format_table({f"phase {p}": r for p, r in res.items()}))
        if res is ref:
            continue
        for phase, r in res.items():
            diffs = [f"{m} {r[m]['mean'] - ref[phase][m]['mean']:+.3f} (sd {ref[phase][m]['sd']:.3f})"
                     for m in METRICS]
            within = all(abs(r[m]["mean"] - ref[phase][m]["mean"]) <= ref[phase][m]["sd"] for m in METRICS)
            print(f"  phase {phase} vs {args.models[0]}: {', '.join(diffs)}: "
                  f"{'within' if within else 'NOT within'} the reference's sd")
    if args.json:
        args.json.write_text(json.dumps({"seed": seed, "results": results}, indent=2))
    return results


if __name__ == "__main__":
    main()

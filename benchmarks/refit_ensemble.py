"""Refit a trained model folder's combined model (ensemble.json) with the recipe's members, nothing else.

    CLADMOP_CACHE=/work/runs/cache installer/dev.sh python benchmarks/refit_ensemble.py --model DIR \
        [--data ../shared/data] [--seed 0] [--device cpu]

`cladmop train-default` step 4 alone (engine/training/recipe.py: refit_ensemble): CLaDMoP's adapters, its
branch and the learning index stay byte for byte; the members, the combination and its per-phase calibration
are refitted on the TOP learning rows (members on the years before the latest, the combination on the latest).
The interval is not: refit it forward in time with benchmarks/temporal.py --interval-into DIR (v5:
--served-with-thresholds). How v5's folder was made from v4's: resources/MODEL_CARD.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=None, help="the development data (default: ../shared/data)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    from engine.paths import shared_data_dir
    from engine.training.recipe import refit_ensemble

    started = time.time()
    ensemble = refit_ensemble(args.model, args.data or shared_data_dir(), args.seed, args.device)
    print(f"{args.model}: members {', '.join(ensemble.members)}; calibration {ensemble.calibration}; "
          f"{time.time() - started:.0f} s (interval left out: benchmarks/temporal.py --interval-into)")


if __name__ == "__main__":
    main()

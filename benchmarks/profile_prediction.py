"""Where a what-if and a cold batch spend their time: cProfile of the engine, beside the bare encoder.

    OMP_NUM_THREADS=1 installer/dev.sh python benchmarks/profile_prediction.py [--records 20] [--top 30]

bench_predict.py gives the ratios; this says what is behind them. On the first N drug trials of
`../shared/data/ctgov_xml` (fresh cache folder, the shipped model, CPU, one thread):
- what-if: each trial's first criterion edited and re-predicted, p50 beside the bare encoder on that
  item (the fastest of 3), then the cumulative profile of one more round of edits;
- cold batch: predict_many over the trials with the encoder cache empty, beside the bare encoder on
  all their items at once, then its cumulative profile.
The lookups' fuzzy index is built first, as the window's start-up worker does.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.bench_predict import best_of, drug_trials, first_item_edited  # noqa: E402


def profiled(fn, top: int) -> float:
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.runcall(fn)
    seconds = time.perf_counter() - start
    pstats.Stats(profile).sort_stats("cumulative").print_stats(top)
    return seconds


def whatif(predictor, trials, top: int) -> None:
    import numpy as np

    crit, enc = predictor.featurizer.criteria, predictor.featurizer.encoder
    engine, bare = [], []
    for trial, item in (first_item_edited(t, "timed edit") for t in trials):
        engine.append(best_of(1, lambda: predictor.predict(trial, ablate=False)))
        bare.append(best_of(3, enc.encode, crit.texts_of([item])))
    print(f"what-if p50 {np.median(engine) * 1000:.1f} ms, bare item p50 {np.median(bare) * 1000:.1f} ms, "
          f"ratio {np.median(engine) / np.median(bare):.2f}")
    pairs = [first_item_edited(t, "profiled edit") for t in trials]
    profiled(lambda: [predictor.predict(t, ablate=False) for t, _ in pairs], top)


def cold_batch(predictor, trials, top: int) -> None:
    crit, enc = predictor.featurizer.criteria, predictor.featurizer.encoder
    texts = [x for t in trials for x in crit.texts_of(t.active_criteria)]
    engine = profiled(lambda: predictor.predict_many(trials, ablate=False), top)
    bare = best_of(1, enc.encode, texts)
    print(f"cold batch {engine:.2f} s (under the profiler), bare encoder {bare:.2f} s for {len(texts)} items "
          f"({len(set(texts))} distinct), ratio {bare / engine:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20)
    ap.add_argument("--top", type=int, default=30, help="profile lines printed")
    args = ap.parse_args()
    os.environ["CLADMOP_CACHE"] = tempfile.mkdtemp(prefix="profile-cache-")
    import torch

    from engine.predict import Predictor

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    trials = drug_trials(args.records)
    predictor = Predictor.load(None, device="cpu")
    predictor.resolver.prepare()
    predictor.predict(trials[0], ablate=True)  # the model's first call, out of both figures
    print(f"== cold batch ({len(trials)} trials)")
    cold_batch(predictor, trials[1:], args.top)
    print(f"== what-if ({len(trials)} trials, one item edited each)")
    whatif(predictor, trials, args.top)


if __name__ == "__main__":
    main()

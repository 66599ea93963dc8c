"""Prediction cost beside the bare language-model forward on the same text.

    installer/dev.sh python benchmarks/bench_predict.py [--model DIR] [--records N] [--device auto]

Prints, for the records in `../shared/data/ctgov_xml` (the first N drug trials):
- cold: Predictor.load + the first prediction (fresh process state, empty caches), and Predictor.load of a
  fresh process once the caches exist (an everyday start);
- warm single-record latency with and without leave-one-out ablation (p50 / p95), encoder cache warm;
- what-if: one criterion edited, re-predicted (only that item is re-encoded at criterion granularity);
- batch throughput (trials/s) through predict_many without ablation, cache cold and warm;
- the bare encoder forward on the same criteria texts (items or whole text, as the model's granularity
  encodes them), trial by trial (the fastest of 3): the ratio of the p50s over the same 20 trials shows
  what the engine adds on top of the language model;
- peak resident memory (ru_maxrss) of the process.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values, q):
    import numpy as np

    return float(np.percentile(values, q)) * 1000


def best_of(repeats: int, fn, *args) -> float:
    """The fastest of `repeats` calls, s: the bare encoder's own cost, without the machine's noise."""
    times = []
    for _ in range(repeats):
        s = time.perf_counter(); fn(*args); times.append(time.perf_counter() - s)
    return min(times)


def drug_trials(n: int) -> list:
    """The first `n` scorable drug trials with a phase among the records in ../shared/data/ctgov_xml."""
    from engine.paths import shared_data_dir
    from engine.records import load_records
    from engine.records.scorable import scorable_problem

    root = shared_data_dir()
    if root is None:
        sys.exit("needs ../shared/data (set CLADMOP_SHARED_DATA)")
    files = sorted((root / "ctgov_xml").glob("NCT*.xml"))
    trials = []
    for t in load_records(files[: n * 3]).trials:
        if scorable_problem(t) is None and t.phases:
            trials.append(t)
        if len(trials) == n:
            break
    return trials


def first_item_edited(trial, tag: str = "what-if edit"):
    """A copy of `trial` with its first enabled criterion changed, and that criterion: a what-if."""
    edited = trial.replace()
    first = next(c for c in edited.criteria if c.enabled and c.text.strip())
    first.text = first.text + f" ({tag})"
    return edited, first


def warm_start_seconds(model: Path | None, device: str, repeats: int = 3) -> float:
    """Median `Predictor.load` (imports included) of fresh processes once the caches exist: an everyday start."""
    import statistics
    import subprocess

    code = ("import sys, time; s = time.perf_counter(); from engine.predict import Predictor; "
            "Predictor.load(sys.argv[1] or None, device=sys.argv[2]); print(time.perf_counter() - s)")
    runs = [float(subprocess.run([sys.executable, "-c", code, str(model or ""), device], check=True, text=True,
                                 capture_output=True, cwd=Path(__file__).resolve().parents[1]).stdout.split()[-1])
            for _ in range(repeats)]
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path)
    ap.add_argument("--records", type=int, default=40)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    os.environ["CLADMOP_CACHE"] = tempfile.mkdtemp(prefix="bench-cache-")

    trials = drug_trials(args.records)

    t0 = time.perf_counter()
    from engine.predict import Predictor

    predictor = Predictor.load(args.model, device=args.device)
    t_load = time.perf_counter() - t0
    t1 = time.perf_counter()
    predictor.predict(trials[0], ablate=True)
    t_first = time.perf_counter() - t1
    t4 = time.perf_counter()
    predictor.resolver.prepare()  # as the window does at start-up: the batch below measures the encoder cache
    t_prepare = time.perf_counter() - t4
    mem_loaded = peak_mb()

    t2 = time.perf_counter()
    predictor.predict_many(trials, ablate=False)
    batch_cold = len(trials) / (time.perf_counter() - t2)
    t3 = time.perf_counter()
    predictor.predict_many(trials, ablate=False)
    batch_warm = len(trials) / (time.perf_counter() - t3)

    crit = predictor.featurizer.criteria
    enc = predictor.featurizer.encoder
    plain, ablated, whatif, bare_one, bare_item = [], [], [], [], []
    for t in trials[:20]:  # each engine figure beside the bare encoder on the same trial's texts
        s = time.perf_counter(); predictor.predict(t, ablate=False); plain.append(time.perf_counter() - s)
        s = time.perf_counter(); predictor.predict(t, ablate=True); ablated.append(time.perf_counter() - s)
        edited, first = first_item_edited(t)
        s = time.perf_counter(); predictor.predict(edited, ablate=False); whatif.append(time.perf_counter() - s)
        bare_one.append(best_of(3, enc.encode, crit.texts_of(t.active_criteria)))
        bare_item.append(best_of(3, enc.encode, crit.texts_of([first])))

    # the bare encoder on exactly what the model's granularity encodes
    texts = [x for t in trials for x in crit.texts_of(t.active_criteria)]
    s = time.perf_counter()
    enc.encode(texts)
    per_trial_bare = (time.perf_counter() - s) / len(trials)
    load_warm = warm_start_seconds(args.model, args.device)

    print(f"model: {predictor.model_name}  device: {predictor.device_name}  records: {len(trials)} "
          f"(drug trials from ctgov_xml)  granularity: {crit.granularity}")
    print(f"{'figure':<58}{'engine':>12}{'bare encoder':>15}{'ratio':>8}")
    rows = [
        ("cold: load model + first prediction (with ablation), s", t_load + t_first, None),
        ("  then the condition fuzzy-search index, once per process, s", t_prepare, None),
        ("  of which Predictor.load, s (first start: lookups cached anew)", t_load, None),
        ("Predictor.load in a fresh process, caches warm, median of 3, s", load_warm, None),
        ("warm single prediction, no ablation, p50 ms", pct(plain, 50), pct(bare_one, 50)),
        ("warm single prediction, no ablation, p95 ms", pct(plain, 95), pct(bare_one, 95)),
        ("warm single prediction + full ablation, p50 ms", pct(ablated, 50), pct(bare_one, 50)),
        ("what-if re-prediction (one item edited), p50 ms", pct(whatif, 50), pct(bare_item, 50)),
        ("what-if re-prediction (one item edited), p95 ms", pct(whatif, 95), pct(bare_item, 95)),
        ("batch throughput, cold cache, trials/s", batch_cold, 1 / per_trial_bare),
        ("batch throughput, warm cache, trials/s", batch_warm, 1 / per_trial_bare),
    ]
    for name, value, bare in rows:
        ratio = "" if bare is None else f"{value / bare:8.2f}"
        bare_s = "" if bare is None else f"{bare:15.2f}"
        print(f"{name:<58}{value:12.2f}{bare_s:>15}{ratio}")
    print(f"peak resident memory after load + first prediction: {mem_loaded:.0f} MB; at the end: {peak_mb():.0f} MB")


if __name__ == "__main__":
    main()

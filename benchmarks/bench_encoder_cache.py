"""Criteria-encoding cost: building the encoder-state cache vs the bare encoder forward, per granularity.

    installer/dev.sh python benchmarks/bench_encoder_cache.py [--rows 100] [--file phase_I_train.csv]
        [--backbone minilm] [--device auto] [--repeat 1]

For each granularity, on the criteria of the first N rows of a TOP file:
- bare: `TextEncoder.encode` on exactly the texts the cache would hold (model forward + tokenizer);
- build: `build_cache` into an empty SQLite cache (adds pooling, float16, hashing, SQLite writes);
- warm: the same trials again, every text read from the cache (what a second run or a what-if pays);
and the ratio build / bare (overhead of caching on top of the model), items/s and trials/s, and the
cache size. Reads TOP data from the shared data folder; writes its cache to a temporary folder.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.features.encoder_cache import EncoderCache  # noqa: E402
from engine.features.text_encoder import (  # noqa: E402
    GRANULARITIES, MAX_ITEM_TOKENS, MAX_TOTAL_TOKENS, CriteriaEncoder, build_cache,
)
from engine.model_store import open_backbone  # noqa: E402
from engine.paths import shared_data_dir  # noqa: E402


def load_trials(file_name: str, rows: int):
    from engine.records.top_csv import read_top_csv

    root = shared_data_dir()
    if root is None or not (root / "top" / file_name).is_file():
        sys.exit(f"TOP file {file_name} not found under the shared data folder (set CLADMOP_SHARED_DATA)")
    return read_top_csv(root / "top" / file_name)[:rows]


def file_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20  # + -wal, -shm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--file", default="phase_I_train.csv")
    parser.add_argument("--backbone", default="minilm")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time bare and build this many times and keep the fastest (noisy machines)")
    args = parser.parse_args()

    import torch

    trials = load_trials(args.file, args.rows)
    lists = [t.active_criteria for t in trials]
    n_items = sum(len(c) for c in lists)
    encoder = open_backbone(args.backbone, args.device)
    encoder.encode(["Inclusion: warm-up pass"] * 8)
    print(f"{encoder}\n{len(trials)} trials of {args.file}, {n_items} criteria items; "
          f"torch threads {torch.get_num_threads()}\n")

    header = (f"{'granularity':<11} {'texts':>6} {'bare s':>7} {'build s':>8} {'build/bare':>10} "
              f"{'items/s':>8} {'trials/s':>8} {'warm s':>7} {'warm trials/s':>13} {'cache MB':>8}")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for granularity in GRANULARITIES:
            crit = CriteriaEncoder(encoder, granularity, EncoderCache.in_memory())
            texts = sorted({t for c in lists for t in crit.texts_of(c)}, key=len)
            cap = MAX_ITEM_TOKENS if granularity == "criterion" else MAX_TOTAL_TOKENS
            chunk = 256 if granularity == "criterion" else 16  # as CriteriaEncoder hands them over
            bare, build = float("inf"), float("inf")
            for attempt in range(args.repeat):
                start = time.perf_counter()
                for i in range(0, len(texts), chunk):
                    encoder.encode(texts[i:i + chunk], max_tokens=cap)
                bare = min(bare, time.perf_counter() - start)

                path = Path(tmp) / f"{granularity}-{attempt}.sqlite"
                cache = EncoderCache(path)
                report = build_cache(trials, encoder, granularity, cache=cache)
                cache.close()
                build = min(build, report.seconds)

            cache = EncoderCache(path)
            start = time.perf_counter()
            CriteriaEncoder(encoder, granularity, cache).encode_many(lists)
            warm = time.perf_counter() - start
            cache.close()  # the last connection folds the WAL back into the file
            print(f"{granularity:<11} {report.texts:>6} {bare:>7.2f} {build:>8.2f} "
                  f"{build / bare:>10.2f} {n_items / build:>8.1f} "
                  f"{len(trials) / build:>8.2f} {warm:>7.3f} {len(trials) / warm:>13.0f} "
                  f"{file_mb(path):>8.2f}")


if __name__ == "__main__":
    main()

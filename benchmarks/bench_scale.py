"""Scale (issue 20.9): `cladmop export --csv --no-ablation` over 1,000 and 10,000 records, and a resumed run.

Each size is scored in a fresh child process (the shipped model, CPU): its peak RSS and trials/s are
printed; memory should stay flat with the number of records. Then the largest size is run again to a
second CSV, SIGKILLed once `--kill-at` (default half) of its records are in its journal (OUT.csv.partial),
and run once more: the run says how many records it took over from the journal and scores only the
rest; its CSV is compared row for row with the uninterrupted run's (`scored_at` aside: a resumed row
keeps the time it was first scored).

    OMP_NUM_THREADS=1 installer/dev.sh python benchmarks/bench_scale.py [--sizes 1000 10000] [--kill-at 0.5]

Records are real drug trials of ../shared/data (`--distinct` of them, cycled, each copy with its own
NCT id: benchmarks/bench_stream.py). Every size starts with an empty encoder cache of its own, so each
run encodes the distinct records' criteria once (the language model loaded, as for new records) and
finds the repeats cached: the sizes differ in their number of records only. The killed run and its
resumed run share one cache, as they would on a user's machine.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stream import CHILD, ROOT, real_drug_records, write_records  # noqa: E402


def cache_env(folder: Path) -> dict:
    """The environment of a child whose encoder cache is `folder` (empty at first)."""
    return dict(os.environ, CLADMOP_CACHE=str(folder))


def export_command(folder: Path, out_csv: Path) -> list[str]:
    return [sys.executable, "-c", CHILD, "export", str(folder), "--csv", str(out_csv), "--no-ablation",
            "--device", "cpu"]


def run_export(folder: Path, out_csv: Path, env: dict) -> tuple[float, float, str, str]:
    """(peak RSS MB, seconds, the "wrote" line, the "resuming" line or "") of one export child."""
    started = time.perf_counter()
    done = subprocess.run(export_command(folder, out_csv), capture_output=True, text=True, cwd=ROOT, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"scoring failed ({done.returncode}): {done.stderr[-2000:]}")
    peak = float(re.search(r"PEAK_RSS_MB ([\d.]+)", done.stdout).group(1))
    wrote = next(line for line in done.stdout.splitlines() if line.startswith("wrote"))
    resuming = re.search(r"cladmop: resuming: [^\r\n]*", done.stderr)
    return peak, seconds, wrote, resuming.group(0) if resuming else ""


def killed_export(folder: Path, out_csv: Path, env: dict, rows_wanted: int) -> tuple[int, float, bool]:
    """Start an export child and SIGKILL it once its journal holds `rows_wanted` rows:
    (rows in its journal, seconds, killed? False when it finished first)."""
    started = time.perf_counter()
    with open(out_csv.with_suffix(".killed.log"), "w") as log:
        child = subprocess.Popen(export_command(folder, out_csv), stdout=log, stderr=log, cwd=ROOT, env=env)
        while child.poll() is None and journal_rows(out_csv) < rows_wanted:
            time.sleep(1.0)
        if child.poll() is not None:
            return 0, time.perf_counter() - started, False
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    return journal_rows(out_csv), time.perf_counter() - started, True


def journal_rows(out_csv: Path) -> int:
    """Whole rows in the journal of `out_csv` so far (0 before it exists)."""
    journal = out_csv.with_name(out_csv.name + ".partial")
    if not journal.exists():
        return 0
    with journal.open("rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return max(0, lines - 1)  # the first line describes the run


def csv_rows(path: Path):
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            row.pop("scored_at")
            yield row


def same_rows(a: Path, b: Path) -> tuple[bool, int]:
    """(every row equal, scored_at aside; how many rows) of two CSVs."""
    left, right = list(csv_rows(a)), list(csv_rows(b))
    return left == right, len(left)


def print_size(n: int, peak: float, seconds: float, wrote: str) -> None:
    print(f"{n:>8} {peak:>12.0f} {seconds:>8.1f} {n / seconds:>9.1f}   ({wrote})", flush=True)


def demonstrate_resume(folder: Path, n: int, reference: Path, work: Path, env: dict, kill_at: float,
                       uninterrupted_s: float) -> None:
    """Kill a run of `folder` once `kill_at` of its records are journaled, run it again, and compare its
    CSV with the uninterrupted one's."""
    out = work / f"resumed-{n}.csv"
    journaled, killed_s, killed = killed_export(folder, out, env, round(n * kill_at))
    if not killed:
        print(f"resume: the run ended before {kill_at:.0%} of its records were journaled")
        return
    print(f"resume: {n} records, SIGKILLed after {killed_s:.1f} s with {journaled} rows journaled", flush=True)
    peak, seconds, wrote, resuming = run_export(folder, out, env)
    now = re.search(r", (\d+) now$", wrote)
    fresh = int(now.group(1)) if now else n
    print(f"resume: run again: {resuming!r}")
    print(f"resume: {wrote}; {seconds:.1f} s, {fresh} scored ({fresh / seconds:.1f} trials/s with the model load), "
          f"peak RSS {peak:.0f} MB")
    equal, rows = same_rows(out, reference)
    print(f"resume: killed + resumed {killed_s + seconds:.1f} s in all (uninterrupted: {uninterrupted_s:.1f} s); "
          f"CSV equal to the uninterrupted run's row for row (scored_at aside): {'yes' if equal else 'NO'} "
          f"({rows} rows); journal left: {(work / (out.name + '.partial')).exists()}")


def main() -> None:
    from engine.paths import shared_data_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--distinct", type=int, default=400)
    parser.add_argument("--kill-at", type=float, default=0.5,
                        help="SIGKILL the resume demo's first run once this share of its records is journaled")
    args = parser.parse_args()
    data = shared_data_dir()
    if data is None:
        raise SystemExit("needs ../shared/data (real records)")
    sources = real_drug_records(data, args.distinct)
    print(f"{len(sources)} distinct real drug records, cycled; shipped model, CPU, no ablation, batch 32, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; each size: an empty encoder cache")
    print(f"{'records':>8} {'peak RSS MB':>12} {'seconds':>8} {'trials/s':>9}")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work, seconds = Path(tmp), {}
        for n in args.sizes:
            write_records(work / f"r{n}", sources, n)
            peak, seconds[n], wrote, _ = run_export(work / f"r{n}", work / f"r{n}.csv", cache_env(work / f"cache{n}"))
            print_size(n, peak, seconds[n], wrote)
        n = max(args.sizes)
        demonstrate_resume(work / f"r{n}", n, work / f"r{n}.csv", work, cache_env(work / "cache-resume"),
                           args.kill_at, seconds[n])


if __name__ == "__main__":
    main()

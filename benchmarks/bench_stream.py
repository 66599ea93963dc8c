"""Streamed batch scoring: peak memory and speed of `cladmop export --csv` over many records.

Writes N records (real ClinicalTrials.gov XMLs from ../shared/data, each given its own NCT id) to a
temporary folder, scores them in a fresh process with the shipped model (no ablation) and prints the
child's peak RSS and trials/s. Memory should stay flat from 500 to 5,000 records: the CLI reads,
predicts and writes one record at a time.

    installer/dev.sh python benchmarks/bench_stream.py [--sizes 500 1000 5000] [--distinct 400]

`--distinct` real records are cycled (the encoder cache then serves repeats, as for a re-scored batch);
a larger value measures encoding too.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = ("import resource, sys\nfrom engine.cli import main\nrc = main(sys.argv[1:])\n"
         "print('PEAK_RSS_MB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\nsys.exit(rc)\n")


def real_drug_records(data: Path, distinct: int) -> list[bytes]:
    """Up to `distinct` real interventional drug records with a phase (files of ../shared/data)."""
    from engine.records import read_record, scorable_problem

    out = []
    for path in sorted((data / "ctgov_xml").glob("NCT*.xml")):
        trial = read_record(path)[0]
        if trial.phases and scorable_problem(trial) is None:
            out.append(path.read_bytes())
            if len(out) >= distinct:
                break
    return out


def write_records(folder: Path, sources: list[bytes], n: int) -> None:
    """`n` files cycling through `sources`, the i-th renamed NCT9xxxxxxx so every id is distinct."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        nct = f"NCT9{i:07d}"
        data = re.sub(rb"<nct_id>NCT\d+</nct_id>", f"<nct_id>{nct}</nct_id>".encode(), sources[i % len(sources)], count=1)
        (folder / f"{nct}.xml").write_bytes(data)


def score_folder(folder: Path, out_csv: Path) -> tuple[float, float, str]:
    """(peak RSS MB, seconds, last line) of one `cladmop export --csv` child over `folder`."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, "export", str(folder), "--csv", str(out_csv),
                           "--no-ablation", "--device", "cpu"], capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"scoring failed ({done.returncode}): {done.stderr[-2000:]}")
    peak = float(re.search(r"PEAK_RSS_MB ([\d.]+)", done.stdout).group(1))
    wrote = next(line for line in done.stdout.splitlines() if line.startswith("wrote"))
    return peak, seconds, wrote


def main() -> None:
    from engine.paths import shared_data_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 5000])
    parser.add_argument("--distinct", type=int, default=400)
    args = parser.parse_args()
    data = shared_data_dir()
    if data is None:
        raise SystemExit("needs ../shared/data (real records)")
    sources = real_drug_records(data, args.distinct)
    print(f"{len(sources)} distinct real records, cycled; shipped model, CPU, no ablation")
    print(f"{'records':>8} {'peak RSS MB':>12} {'seconds':>8} {'trials/s':>9}")
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        for n in args.sizes:
            folder = Path(tmp) / f"r{n}"
            write_records(folder, sources, n)
            peak, seconds, wrote = score_folder(folder, Path(tmp) / f"r{n}.csv")
            print(f"{n:>8} {peak:>12.0f} {seconds:>8.1f} {n / seconds:>9.1f}   ({wrote})", flush=True)


if __name__ == "__main__":
    main()

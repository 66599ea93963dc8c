"""The CUDA path, exercised end to end on a GPU machine (prints figures; exits non-zero on a failed check).

    bash benchmarks/gpu_check.sh            # the same, from a fresh clone

1. predicts real records (../shared/data/ctgov_xml) with the shipped model on the GPU (bf16 autocast) and
   on the CPU, and compares: |Δp| within --tolerance (bf16 keeps ~3 significant digits);
2. times single predictions, ablations and batch throughput on the GPU;
3. fine-tunes the shipped model's phase I adapter for a few epochs on the GPU on TOP rows (bf16 autocast
   in the training steps where the card supports it), and reads the result back on the CPU;
4. prints the GPU's name, peak memory, and whether two processes (torchrun, NCCL) score as one.
Without CUDA it says so and exits 2: nothing was checked.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def records(n: int):
    from engine.paths import shared_data_dir
    from engine.records import load_records
    from engine.records.scorable import scorable_problem

    files = sorted((shared_data_dir() / "ctgov_xml").glob("NCT*.xml"))[: n * 3]
    return [t for t in load_records(files).trials if scorable_problem(t) is None and t.phases][:n]


def compare(trials, tolerance: float) -> bool:
    import numpy as np

    from engine.predict import Predictor

    gpu, cpu = Predictor.load(device="cuda"), Predictor.load(device="cpu")
    a = np.array([p.probability for p in gpu.predict_many(trials)])
    b = np.array([p.probability for p in cpu.predict_many(trials)])
    worst = float(np.abs(a - b).max())
    print(f"GPU vs CPU on {len(trials)} records: max |Δp| {worst:.5f} (tolerance {tolerance})")
    timings(gpu, trials)
    return worst <= tolerance


def timings(predictor, trials) -> None:
    import numpy as np
    import torch

    for ablate in (False, True):
        times = []
        for t in trials[:10]:
            s = time.perf_counter(); predictor.predict(t, ablate=ablate); torch.cuda.synchronize()
            times.append(time.perf_counter() - s)
        print(f"GPU single prediction{' + ablation' if ablate else ''}: p50 {np.median(times) * 1000:.1f} ms")
    s = time.perf_counter()
    predictor.predict_many(trials)
    print(f"GPU batch: {len(trials) / (time.perf_counter() - s):.1f} trials/s (encoder cache warm)")


def finetune_steps(work: Path) -> bool:
    """A few fine-tuning epochs on the GPU; the CPU reads the model back and predicts."""
    import pandas as pd

    from engine.paths import shared_data_dir
    from engine.predict import Predictor, default_model_dir
    from engine.finetune_job import finetune_from_files

    df = pd.read_csv(shared_data_dir() / "top" / "phase_I_train.csv")
    rows = work / "rows.csv"
    pd.concat([df[df.label == 1].head(100), df[df.label == 0].head(100)]).to_csv(rows, index=False)
    s = time.perf_counter()
    result = finetune_from_files(default_model_dir(), "I", [rows], out=work / "tuned", epochs=3, head_epochs=2,
                                 batch_size=32, device="cuda", compare=True)
    print(f"GPU fine-tune (bf16 autocast where the card has it), 3 epochs on 200 rows: "
          f"{time.perf_counter() - s:.1f} s, stopped: {result.fit.stopped}")
    for line in result.comparison.lines() if result.comparison else []:
        print(f"  {line}")
    p = Predictor.load(work / "tuned", device="cpu").predict(records(1)[0], ablate=False).probability
    print(f"  the CPU reads the GPU-trained model back: p = {p:.3f}")
    return 0 < p < 1


def two_processes(work: Path) -> None:
    import torch

    if torch.cuda.device_count() < 2:
        print("torchrun on 2 GPUs: skipped (one GPU here)")
        return
    rows = work / "rows.csv"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "engine.cli",
           "evaluate", "--data", str(rows), "--phase", "I", "--bootstrap", "5"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    print(f"torchrun on 2 GPUs (NCCL): exit {done.returncode}\n{done.stdout[-600:]}{done.stderr[-600:]}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=40)
    ap.add_argument("--tolerance", type=float, default=0.02)
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print(f"no CUDA GPU here (torch {torch.__version__}, CUDA build {torch.version.cuda}): nothing checked")
        return 2
    print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}, CUDA {torch.version.cuda}; "
          f"bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}")
    os.environ.setdefault("CLADMOP_CACHE", tempfile.mkdtemp(prefix="gpu-check-cache-"))
    with tempfile.TemporaryDirectory() as tmp:
        ok = compare(records(args.records), args.tolerance) and finetune_steps(Path(tmp))
        two_processes(Path(tmp))
    print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print("GPU check: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

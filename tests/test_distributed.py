"""The heavy commands run unchanged under torchrun (engine/distributed.py): two CPU processes (gloo) give
the predictions of one process, in input order, and a data-parallel fine-tune that learns the same weights."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.data_sources import data_dir

DATA = data_dir()  # the development data, else tests/data (the same layout)
ROOT = Path(__file__).resolve().parents[1]
#: a branch without dropout: one process and two then compute the very same function of each batch
SMALL = dict(d_model=32, n_heads=4, enrich_layers=1, group_sizes=(16, 8, 4), group_self_layers=1,
             head_hidden=32, proj_dim=16, dropout=0.0, head_dropout=0.0, head_members=1)


def cladmop(*args: str, processes: int = 1, timeout: int = 600) -> subprocess.CompletedProcess:
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                 "-m", "engine.cli"] if processes > 1 else [sys.executable, "-m", "engine.cli"])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(launcher + list(args), capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def top_rows(tmp_path_factory):
    """41 phase I rows of both outcomes from a TOP training file (odd: the shards differ in length)."""
    import pandas as pd

    df = pd.read_csv(DATA / "top" / "phase_I_train.csv")
    rows = pd.concat([df[df.label == 1].head(21), df[df.label == 0].head(20)]).sample(frac=1, random_state=0)
    path = tmp_path_factory.mktemp("top") / "rows.csv"
    rows.to_csv(path, index=False)
    return path


def test_two_processes_score_as_one_in_input_order(top_rows, tmp_path):
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    cladmop("evaluate", "--data", str(top_rows), "--phase", "I", "--device", "cpu", "--bootstrap", "5",
            "--json", str(one))
    done = cladmop("evaluate", "--data", str(top_rows), "--phase", "I", "--device", "cpu", "--bootstrap", "5",
                   "--json", str(two), processes=2)
    a, b = json.loads(one.read_text())["predictions"], json.loads(two.read_text())["predictions"]
    assert [r["nct_id"] for r in a] == [r["nct_id"] for r in b] and len(a) == 41
    np.testing.assert_allclose([r["probability"] for r in a], [r["probability"] for r in b], atol=1e-6)
    assert done.stdout.count("bootstrap samples") == 1  # one process prints the results


def test_a_data_parallel_fine_tune_learns_the_weights_of_one_process(top_rows, tmp_path):
    from safetensors.torch import load_file

    from engine.training.pipeline import make_featurizer, run_pretraining

    base = tmp_path / "base"
    run_pretraining([top_rows], base, epochs=1, batch_size=16, device="cpu", model_overrides=SMALL,
                    featurizer=make_featurizer("minilm", "criterion", "cpu"))
    runs = {}
    for processes in (1, 2):
        out = tmp_path / f"tuned{processes}"
        cladmop("finetune", "--base", str(base), "--phase", "I", "--train", str(top_rows), "--out", str(out),
                "--epochs", "2", "--head-epochs", "0", "--batch-size", "16", "--device", "cpu", processes=processes)
        runs[processes] = load_file(str(out / "adapters" / "I" / "adapter_model.safetensors"))
        assert not list(tmp_path.glob("tuned*/**/.*.training"))  # nothing half-written is left behind
    one, two = runs[1], runs[2]
    assert one.keys() == two.keys() and any("lora_B" in k and float(v.abs().sum()) > 0 for k, v in one.items())
    for key in one:
        np.testing.assert_allclose(one[key].numpy(), two[key].numpy(), atol=2e-5, err_msg=key)

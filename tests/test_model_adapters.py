"""Serving merges each phase's LoRA adapter into a plain copy of the network (engine/model/adapters.py):
the same function as peft's adapter-switching model, without peft."""
import copy
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from engine.errors import ModelError
from engine.model.adapters import merged_model
from engine.model.batch import collate
from engine.model.checkpoint import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from engine.model.cladmop import CLaDMoP, classify
from tests.model_fixtures import make_features, small_config


@pytest.fixture
def saved_adapter(tmp_path):
    """A tiny base network and a peft adapter of it with non-zero LoRA B and a changed head."""
    from engine.training.finetune import attach_lora
    from engine.training.config import FinetuneConfig

    torch.manual_seed(0)
    config = small_config()
    base = CLaDMoP(config).eval()
    wrapped = attach_lora(copy.deepcopy(base), FinetuneConfig())  # peft wraps its argument in place
    with torch.no_grad():
        for name, p in wrapped.named_parameters():
            if "lora_" in name or "modules_to_save" in name:
                p.normal_(0, 0.2)
    wrapped.save_pretrained(str(tmp_path / "saved"))
    batch = collate([make_features(config, seed=s, n_crit=3 + s) for s in range(4)])
    with torch.no_grad():
        expected = classify(wrapped.eval(), batch)[0].numpy()
    return base, tmp_path / "saved", batch, expected


def test_a_merged_adapter_gives_peft_s_logits(saved_adapter):
    base, folder, batch, expected = saved_adapter
    with torch.no_grad():
        plain = classify(base, batch)[0].numpy()
        merged = classify(merged_model(base, folder), batch)[0].numpy()
    np.testing.assert_allclose(merged, expected, atol=1e-5)
    assert np.abs(plain - expected).max() > 1e-3  # the adapter changes the function: the test can fail


def test_phases_share_one_network_and_switch_back_and_forth(saved_adapter, tmp_path):
    """Two phases over one network: each gives its own adapter's logits whatever ran before it, and
    no phase's weights leak into the base's."""
    from engine.model.adapters import PhaseWeights

    base, folder, batch, expected = saved_adapter
    with torch.no_grad():
        plain = classify(base, batch)[0].numpy()
    untouched = tmp_path / "untouched"  # an adapter that changes nothing but its head
    shutil.copytree(folder, untouched)
    weights = load_file(str(untouched / ADAPTER_WEIGHTS))
    save_file({k: (torch.zeros_like(v) if "lora_B" in k else v) for k, v in weights.items()},
              str(untouched / ADAPTER_WEIGHTS))
    phases = PhaseWeights(base, {"I": folder, "II": untouched})
    assert not any(".attn." in name for name in phases.weights["II"])  # zero LoRA: the base's tensors
    with torch.no_grad():
        for phase in ("I", "II", "I", "II"):
            got = classify(phases.use(phase), batch)[0].numpy()
            if phase == "I":
                np.testing.assert_allclose(got, expected, atol=1e-5)
            else:
                assert np.abs(got - expected).max() > 1e-3 and np.abs(got - plain).max() > 1e-3


def test_an_adapter_that_does_not_fit_is_a_named_model_error(saved_adapter):
    base, folder, _, _ = saved_adapter
    config = json.loads((folder / ADAPTER_CONFIG).read_text())
    (folder / ADAPTER_CONFIG).write_text(json.dumps({**config, "use_dora": True}))
    with pytest.raises(ModelError, match="use_dora"):
        merged_model(base, folder)
    (folder / ADAPTER_CONFIG).write_text(json.dumps(config))
    wider = CLaDMoP(small_config(d_model=32, n_heads=2))
    with pytest.raises(ModelError, match="do not fit|does not have"):
        merged_model(wider, folder)
    (folder / ADAPTER_WEIGHTS).write_bytes(b"\x80\x04not safetensors")
    with pytest.raises(ModelError, match=ADAPTER_WEIGHTS):
        merged_model(base, folder)


def test_predicting_with_the_default_model_never_imports_peft():
    code = ("import sys; from engine.predict import Predictor; from engine.records import read_record; "
            "from engine.paths import resources_dir; "
            "p = Predictor.load(device='cpu', cache=False); "
            "t = read_record(sorted((resources_dir() / 'examples').glob('*.xml'))[0])[0]; "
            "print(p.predict(t, ablate=False).probability); "
            "print('peft' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    probability, peft_imported = out.stdout.split()
    assert 0 < float(probability) < 1 and peft_imported == "False"

"""The CUDA path of training and prediction (skipped without a CUDA GPU; runs on a lent GPU machine and
on analysts' GPU workstations): the same model gives the same logits on the GPU as on the CPU, and a
fine-tuning run on the GPU leaves a model folder that the CPU reads back."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.model.batch import collate
from engine.model.cladmop import CLaDMoP
from tests.model_fixtures import make_features, small_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_forward_on_cuda_matches_the_cpu():
    torch.manual_seed(0)
    model = CLaDMoP(small_config(head_members=3)).eval()
    batch = collate([make_features(model.config, n_crit=4 + i, seed=i) for i in range(6)])
    with torch.no_grad():
        cpu, _ = model.classify(batch)
        gpu, _ = model.to("cuda").classify(batch.to("cuda"))
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)


def test_finetuning_on_cuda_writes_a_model_the_cpu_reads(tmp_path):
    from engine.model.checkpoint import ModelManifest
    from engine.training.finetune import adapter_logits, finetune
    from engine.training.config import FinetuneConfig, FitConfig, PretrainConfig
    from engine.training.pretrain import pretrain

    config = small_config(head_members=2)
    y = np.array([i % 2 for i in range(48)])
    feats = [make_features(config, seed=i, signal=1.5 * y[i]) for i in range(48)]
    pretrain(feats[:36], feats[36:], config, tmp_path, PretrainConfig(FitConfig(epochs=2, batch_size=8)),
             device="cuda")
    result = finetune(tmp_path, "I", feats[:36], y[:36], feats[36:], y[36:], device="cuda",
                      config=FinetuneConfig(fit=FitConfig(epochs=2, batch_size=8), head_epochs=10,
                                            head_lr=1e-2, lr_lora=1e-3, lr_head=1e-3))
    assert result.stopped in ("epochs", "patience") and result.best_epoch >= 0
    ModelManifest.read(tmp_path).verify(tmp_path)
    on_gpu = adapter_logits(tmp_path, "I", feats[36:], "cuda")
    on_cpu = adapter_logits(tmp_path, "I", feats[36:], "cpu")
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-3, atol=1e-3)

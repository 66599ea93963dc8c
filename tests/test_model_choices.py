"""The choices that cross-validation kept for the default model (MODEL_CARD.md): f_c as the average over
the criteria's tokens, K averaged heads, the head-first start (LP-FT) before LoRA; and the reliability
table that reports its calibration."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.model.cladmop import CLaDMoP
from engine.model.layers import HeadEnsemble, ResidualMLP
from tests.model_fixtures import make_features, small_config


def test_token_pooling_weighs_each_criterion_by_its_tokens_and_item_pooling_ignores_them():
    from engine.model.batch import collate

    torch.manual_seed(0)
    token, item = CLaDMoP(small_config(crit_pool="token")).eval(), CLaDMoP(small_config()).eval()
    a, b = make_features(token.config, n_crit=3, seed=1), make_features(token.config, n_crit=5, seed=2)
    a.crit_tokens = np.array([1.0, 2.0, 7.0], np.float32)  # b has none: every row counts once
    batch = collate([a, b])
    with torch.no_grad():
        f_token, f_item = token(batch).f_c, item(batch).f_c
    expected = (a.crit_final * a.crit_tokens[:, None]).sum(0) / a.crit_tokens.sum()
    np.testing.assert_allclose(f_token[0].numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f_item[0].numpy(), a.crit_final.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f_token[1].numpy(), b.crit_final.mean(0), rtol=1e-5, atol=1e-6)
    # the 128-criteria cap cuts the weights with the rows
    capped = collate([a], max_criteria=2)
    assert capped.crit_tokens.tolist() == [[1.0, 2.0]]


def test_head_ensemble_averages_independent_members_and_old_configs_keep_one_head():
    torch.manual_seed(0)
    head = HeadEnsemble(12, 8, 0.0, members=3).eval()
    x = torch.randn(5, 12)
    members = head(x, members=True)
    assert members.shape == (5, 3)
    torch.testing.assert_close(head(x), members.mean(-1))
    assert not torch.allclose(members[:, 0], members[:, 1])  # each member starts from its own weights
    assert isinstance(CLaDMoP(small_config()).head, ResidualMLP)  # a config without head_members: v0's
    assert isinstance(CLaDMoP(small_config(head_members=4)).head, HeadEnsemble)


def _pretrained(tmp_path, config, n=48):
    from engine.training.config import FitConfig, PretrainConfig
    from engine.training.pretrain import pretrain

    y = np.array([i % 2 for i in range(n)])
    feats = [make_features(config, seed=i, signal=1.5 * y[i]) for i in range(n)]
    pretrain(feats[:36], feats[36:], config, tmp_path, PretrainConfig(FitConfig(epochs=1, batch_size=8)),
             device="cpu")
    return feats, y


@pytest.mark.parametrize("monitor", ["loss", "calibrated_loss"])
def test_head_first_stage_alone_learns_the_signal_and_leaves_lora_untouched(tmp_path, monitor):
    from safetensors.torch import load_file

    from engine.model.checkpoint import ModelManifest
    from engine.training.finetune import adapter_logits, finetune
    from engine.training.config import FinetuneConfig, FitConfig
    from engine.training.metrics import point_metrics

    config = small_config(head_members=3, head_dropout=0.1)
    feats, y = _pretrained(tmp_path, config)
    result = finetune(tmp_path, "I", feats[:36], y[:36], feats[36:], y[36:], device="cpu",
                      config=FinetuneConfig(fit=FitConfig(epochs=0, batch_size=8), head_epochs=40,
                                            head_lr=1e-2, monitor=monitor))
    assert result.best_epoch == 0 and result.history == [] and result.start.epoch == 0
    ModelManifest.read(tmp_path).verify(tmp_path)
    saved = load_file(str(tmp_path / "adapters" / "I" / "adapter_model.safetensors"))
    lora_b = [v for k, v in saved.items() if "lora_B" in k]
    assert lora_b and all(float(v.abs().max()) == 0 for v in lora_b)  # LoRA still at its zero start
    logits = adapter_logits(tmp_path, "I", feats[36:], "cpu")
    assert point_metrics(y[36:], 1 / (1 + np.exp(-logits)))["roc_auc"] > 0.9


def test_lora_stage_starts_from_the_trained_head_and_keeps_it_unless_it_improves(tmp_path):
    from engine.training.finetune import finetune
    from engine.training.config import FinetuneConfig, FitConfig

    config = small_config(head_members=2)
    feats, y = _pretrained(tmp_path, config)
    seen = []
    result = finetune(tmp_path, "I", feats[:36], y[:36], feats[36:], y[36:], device="cpu", on_epoch=seen.append,
                      config=FinetuneConfig(fit=FitConfig(epochs=3, batch_size=8, patience=3), head_epochs=20,
                                            head_lr=1e-2, lr_lora=1e-3, lr_head=1e-4, monitor="loss"))
    assert [r.epoch for r in seen] == [1, 2, 3] == [r.epoch for r in result.history]
    best = max([result.start] + result.history, key=lambda r: r.score)
    assert result.best_epoch == best.epoch  # stage 1 (epoch 0) competes with every LoRA epoch
    assert result.start.train_loss > 0 and np.isfinite(result.start.val_loss)


def test_by_default_epochs_are_judged_and_reported_by_the_loss_of_the_served_probabilities(tmp_path):
    """Recipe v2: the validation loss an epoch reports (and early stopping minimises) is the BCE after the
    served calibration, so the saved best state's loss is recomputable from its adapter's logits."""
    from engine.training.finetune import adapter_logits, finetune, validation_loss
    from engine.training.config import FinetuneConfig, FitConfig

    config = small_config(head_members=2)
    feats, y = _pretrained(tmp_path, config)
    cfg = FinetuneConfig(fit=FitConfig(epochs=2, batch_size=8, patience=2), head_epochs=10, head_lr=1e-2)
    assert cfg.monitor == "calibrated_loss"
    result = finetune(tmp_path, "I", feats[:36], y[:36], feats[36:], y[36:], device="cpu", config=cfg)
    records = [result.start] + result.history
    assert all(r.score == pytest.approx(-r.val_loss) for r in records)
    best = next(r for r in records if r.epoch == result.best_epoch)
    logits = adapter_logits(tmp_path, "I", feats[36:], "cpu")
    assert best.val_loss == pytest.approx(validation_loss(logits, y[36:], "calibrated_loss"), abs=1e-4)


def test_calibrated_loss_ignores_the_shift_class_weights_cause_and_still_judges_the_ranking():
    """Early stopping on `calibrated_loss` judges an epoch by the probabilities it would serve: a constant
    shift of the logits (what class-weighted training adds) costs the plain loss but not this one, and a
    worse ranking still costs both."""
    from engine.training.finetune import validation_loss

    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 3000)
    y = (rng.random(len(z)) < 1 / (1 + np.exp(-z))).astype(np.float32)
    shifted, blurred = z + 1.5, z + rng.normal(0, 3, len(z))
    assert validation_loss(shifted, y, "loss") > validation_loss(z, y, "loss") + 0.1
    assert validation_loss(shifted, y, "calibrated_loss") == pytest.approx(validation_loss(z, y, "calibrated_loss"),
                                                                          abs=1e-3)
    assert validation_loss(blurred, y, "calibrated_loss") > validation_loss(z, y, "calibrated_loss") + 0.05


def test_an_unknown_monitor_is_refused_before_training(tmp_path):
    from engine.training.finetune import finetune
    from engine.training.config import FinetuneConfig

    feats, y = [make_features(small_config(), seed=i) for i in range(8)], np.array([0, 1] * 4)
    with pytest.raises(ValueError, match="calibrated_loss"):
        finetune(tmp_path, "I", feats[:6], y[:6], feats[6:], y[6:], device="cpu",
                 config=FinetuneConfig(monitor="auc"))


def test_reliability_table_bins_counts_and_ece():
    from engine.training.metrics import reliability

    y = np.array([0, 0, 1, 1, 1, 0, 1, 1])
    p = np.array([0.05, 0.15, 0.12, 0.85, 0.95, 0.9, 0.88, 0.99])
    r = reliability(y, p, bins=10)
    assert sum(b["n"] for b in r["bins"]) == len(y)
    low = next(b for b in r["bins"] if b["bin"] == "0.1-0.2")
    assert low["n"] == 2 and low["observed"] == 0.5 and abs(low["predicted"] - 0.135) < 1e-9
    gaps = sum(b["n"] * abs(b["predicted"] - b["observed"]) for b in r["bins"]) / len(y)
    assert abs(r["ece"] - gaps) < 1e-12 and r["ece"] > 0
    perfect = reliability(np.array([0, 1] * 50), np.array([0.5] * 100))
    assert perfect["ece"] < 1e-12 and abs(perfect["brier"] - 0.25) < 1e-12

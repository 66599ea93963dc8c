"""The CLaDMoP network: shapes, masks, attention roll-out, objectives, LoRA and checkpoints."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.model.batch import collate
from engine.model.checkpoint import BASE_WEIGHTS, ModelManifest, load_base, save_state
from engine.model.cladmop import CLaDMoP, lora_target_modules
from engine.model.config import ModelConfig
from tests.model_fixtures import make_features, small_config


@pytest.fixture
def config():
    return small_config()


def test_full_size_config_matches_the_paper():
    c = ModelConfig()
    assert (c.d_model, c.n_heads, c.enrich_layers) == (128, 8, 4)
    assert c.group_sizes == (100, 50, 25) and c.group_self_layers == 2 and c.n_levels == 3
    model = CLaDMoP(c).eval()
    batch = collate([make_features(c, 2, 2, 12)])
    with torch.no_grad():
        logits, out = model.classify(batch)
    assert out.u_dm.shape == (1, 25, 128)
    assert logits.shape == (1,)


@pytest.mark.parametrize("n_mol,n_icd,n_crit", [(0, 2, 5), (3, 0, 5), (3, 2, 0), (3, 2, 1), (2, 1, 1000), (0, 0, 0)])
def test_shapes_and_masks_for_edge_sizes(config, n_mol, n_icd, n_crit):
    model = CLaDMoP(config).eval()
    batch = collate([make_features(config, n_mol, n_icd, n_crit), make_features(config, 4, 3, 7, seed=1)])
    with torch.no_grad():
        logits, out = model.classify(batch)
    assert torch.isfinite(logits).all()
    assert out.u_dm.shape == (2, config.group_sizes[-1], config.d_model)
    n_in = batch.mol_mask.shape[1] + batch.icd_mask.shape[1] + batch.crit_mask.shape[1]
    assert out.token_weights[0].shape == (2, n_in)
    assert out.token_weights[1].shape == (2, n_in + config.group_sizes[-1])
    for w in out.token_weights:  # rolled-out attention is a distribution over the inputs
        assert torch.allclose(w.sum(1), torch.ones(2), atol=1e-5)
    # padding gets no attention
    first = out.token_weights[0][0]
    pad = torch.cat([batch.mol_mask[0], batch.icd_mask[0], batch.crit_mask[0]])
    assert first[pad].abs().max() == 0 if pad.any() else True


def test_padding_does_not_change_a_trials_prediction(config):
    model = CLaDMoP(config).eval()
    f = make_features(config, 2, 1, 4)
    with torch.no_grad():
        alone, _ = model.classify(collate([f]))
        padded, _ = model.classify(collate([f, make_features(config, 9, 6, 40, seed=3)]))
    assert torch.allclose(alone[0], padded[0], atol=1e-5)


def test_criteria_order_changes_nothing_but_content_does(config):
    """Grouping attention is permutation-invariant over criterion tokens (no positions)."""
    model = CLaDMoP(config).eval()
    f = make_features(config, 2, 1, 6)
    g = make_features(config, 2, 1, 6)
    g.crit_levels, g.crit_final = f.crit_levels[:, ::-1].copy(), f.crit_final[::-1].copy()
    h = make_features(config, 2, 1, 6, seed=5)
    with torch.no_grad():
        a, b, c = (model.classify(collate([x]))[0] for x in (f, g, h))
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(a, c, atol=1e-4)


def test_infonce_step_learns_pairs_and_moves_every_parameter_group(config):
    torch.manual_seed(0)
    model = CLaDMoP(config)
    feats = [make_features(config, 2, 2, 4, seed=i) for i in range(16)]
    batch = collate(feats)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    first = float(model.contrastive_loss(batch).detach())
    for _ in range(60):
        opt.zero_grad()
        loss = model.contrastive_loss(batch)
        loss.backward()
        opt.step()
    # exp(tau) = exp(0.6) bounds the logits, so the loss floor is high; matching itself must be learnt
    assert float(loss) < 0.7 * first
    model.eval()
    with torch.no_grad():
        logits = model.contrastive_logits(model(batch))
    assert (logits.argmax(1) == torch.arange(16)).float().mean() >= 0.5  # chance: 1/16
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert any(n.startswith("blocks.") for n in changed) and any(n.startswith("mol_enrich") for n in changed)
    # the classification head is not part of the pre-training objective
    assert not any(n.startswith("head.") for n in changed)


def test_lora_finetune_step_changes_only_lora_and_head(config):
    from engine.training.finetune import attach_lora
    from engine.training.config import FinetuneConfig

    model = attach_lora(CLaDMoP(config), FinetuneConfig())
    for n, p in model.named_parameters():
        p.requires_grad = "lora_" in n or "modules_to_save" in n
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    feats = [make_features(config, 2, 2, 4, seed=i, signal=float(i % 2) * 2) for i in range(8)]
    y = torch.tensor([float(i % 2) for i in range(8)])
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    base = model.get_base_model()
    for _ in range(3):
        opt.zero_grad()
        out = model(collate(feats))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            base.head(torch.cat([out.f_c, out.f_dm], -1)), y)
        loss.backward()
        opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed, "nothing trained"
    assert all("lora_" in n or "modules_to_save" in n for n in changed), changed - {
        n for n in changed if "lora_" in n or "modules_to_save" in n}
    assert any("lora_B" in n for n in changed) and any("modules_to_save" in n for n in changed)
    # every attention module of the DM branch carries LoRA
    assert len(lora_target_modules(CLaDMoP(config))) == sum("lora_A.default" in n
                                                             for n, _ in model.named_parameters())


def test_checkpoint_round_trip_is_bit_exact(config, tmp_path):
    model = CLaDMoP(config).eval()
    save_state(model, tmp_path / BASE_WEIGHTS)
    ModelManifest(config=config, name="t").write(tmp_path)
    loaded, manifest = load_base(tmp_path)
    assert manifest.config == config
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    batch = collate([make_features(config)])
    with torch.no_grad():
        assert torch.equal(model.classify(batch)[0], loaded.classify(batch)[0])


def test_tampered_checkpoint_is_refused(config, tmp_path):
    from engine.errors import ModelError

    save_state(CLaDMoP(config), tmp_path / BASE_WEIGHTS)
    ModelManifest(config=config).write(tmp_path)
    data = bytearray((tmp_path / BASE_WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / BASE_WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum mismatch"):
        load_base(tmp_path)


def test_wrong_shape_weights_are_refused_with_a_message(config, tmp_path):
    from engine.errors import ModelError

    save_state(CLaDMoP(config), tmp_path / BASE_WEIGHTS)
    ModelManifest(config=small_config(d_model=32)).write(tmp_path)
    with pytest.raises(ModelError, match="do not fit the model config"):
        load_base(tmp_path)

"""Kept drug/disease tokens give the forward's own numbers, and are computed once per distinct input."""
import dataclasses

import pytest
import torch

from engine.model.batch import collate
from engine.model.branch_cache import DrugDiseaseTokens, row_keys
from engine.model.cladmop import CLaDMoP, classify
from tests.model_fixtures import make_features, small_config


@pytest.fixture
def model():
    torch.manual_seed(0)
    return CLaDMoP(small_config()).eval()


def counting(model, calls):
    real = model.drug_disease_tokens

    def drug_disease_tokens(batch):
        calls.append(len(batch))
        return real(batch)
    model.drug_disease_tokens = drug_disease_tokens
    return model


def edited(features, seed):
    """The same drugs and diseases, other criteria states (a what-if on the criteria)."""
    other = make_features(small_config(), n_crit=len(features.crit_final) + 1, seed=seed)
    return dataclasses.replace(features, crit_levels=other.crit_levels, crit_final=other.crit_final,
                               crit_item=other.crit_item)


@torch.inference_mode()
def test_kept_tokens_give_the_forwards_logits(model):
    cache = DrugDiseaseTokens()
    feats = [make_features(small_config(), n_mol=m, n_icd=d, seed=s) for s, (m, d) in enumerate([(3, 2), (1, 4), (2, 0)])]
    batch = collate(feats)
    plain, _ = classify(model, batch)
    kept, _ = classify(model, batch, fixed=cache.tokens(model, batch, row_keys(batch), "I"))
    torch.testing.assert_close(kept, plain, rtol=0, atol=1e-6)
    again, _ = classify(model, batch, fixed=cache.tokens(model, batch, row_keys(batch), "I"))
    torch.testing.assert_close(again, plain, rtol=0, atol=1e-6)


@torch.inference_mode()
def test_a_criteria_what_if_reuses_the_drug_disease_tokens(model):
    calls, cache = [], DrugDiseaseTokens()
    counting(model, calls)
    trial = make_features(small_config(), seed=1)
    for version in (trial, edited(trial, 2), edited(trial, 3)):
        batch = collate([version])
        logits, _ = classify(model, batch, fixed=cache.tokens(model, batch, row_keys(batch), "I"))
        del model.drug_disease_tokens  # the plain forward, for reference
        torch.testing.assert_close(logits, classify(model, batch)[0], rtol=0, atol=1e-6)
        counting(model, calls)
    assert calls == [1]


@torch.inference_mode()
def test_rows_sharing_drugs_are_computed_once_and_phases_apart(model):
    calls, cache = [], DrugDiseaseTokens()
    counting(model, calls)
    trial = make_features(small_config(), seed=4)
    other = make_features(small_config(), n_mol=1, seed=5)
    batch = collate([trial, edited(trial, 6), other, edited(trial, 7)])  # ablation-like: variants of one trial
    cache.tokens(model, batch, row_keys(batch), "I")
    assert calls == [2]  # two distinct drug/disease inputs among four rows
    cache.tokens(model, batch, row_keys(batch), "II")
    assert calls == [2, 2]  # another phase's weights: not shared


@torch.inference_mode()
def test_the_kept_tokens_are_bounded(model):
    cache = DrugDiseaseTokens(kept=3)
    for seed in range(6):
        batch = collate([make_features(small_config(), seed=seed)])
        cache.tokens(model, batch, row_keys(batch), "I")
    assert len(cache._tokens) == 3

"""Synthetic TrialFeatures of chosen sizes for model-level tests (the featurizers have their own)."""
from __future__ import annotations

import numpy as np

from engine.features.types import MOL_NONE, MOL_SEGMENT, ICD_CODE, ICD_NONE, TrialFeatures
from engine.model.config import ModelConfig

SMALL = dict(text_dim=24, mol_dim=32, icd_dim=8, d_model=16, n_heads=2, enrich_layers=1,
             group_sizes=(8, 4, 2), group_self_layers=1, proj_dim=8, head_hidden=16, dropout=0.0)


def small_config(**overrides) -> ModelConfig:
    return ModelConfig(**{**SMALL, **overrides})


def make_features(config: ModelConfig, n_mol=3, n_icd=2, n_crit=5, seed=0, signal: float | None = None):
    """Random features; with `signal`, the criteria states carry it (so a model can learn a label)."""
    rng = np.random.default_rng(seed)
    mol_kind = np.full(max(n_mol, 1), MOL_SEGMENT if n_mol else MOL_NONE, np.int64)
    icd_kind = np.full(max(n_icd, 1), ICD_CODE if n_icd else ICD_NONE, np.int64)
    levels = rng.normal(size=(3, n_crit, config.text_dim)).astype(np.float32)
    final = rng.normal(size=(n_crit, config.text_dim)).astype(np.float32)
    if signal is not None:
        levels[..., 0] += signal
        final[..., 0] += signal
    return TrialFeatures(
        mol_vectors=(rng.random((len(mol_kind), config.mol_dim)) * (n_mol > 0)).astype(np.float32),
        mol_kind=mol_kind, mol_position=np.arange(len(mol_kind)), mol_segments=[None] * len(mol_kind),
        icd_vectors=(rng.normal(size=(len(icd_kind), config.icd_dim)) * (n_icd > 0)).astype(np.float32),
        icd_kind=icd_kind, icd_position=np.arange(len(icd_kind)), icd_codes=["X"] * len(icd_kind),
        crit_levels=levels, crit_final=final, crit_item=np.arange(n_crit))


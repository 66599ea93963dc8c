"""Model inputs from Trials: molecule segments, ICD vectors, cached criteria encoder states.

Names are exported lazily so `import engine.features` (and `engine.features.types`, which the model
imports) never pulls in torch, transformers, RDKit or DeepChem.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "TrialFeatures": "types", "MoleculeSegment": "types",
    "TextEncoder": "backbones", "EncodedText": "backbones", "load_backbone": "backbones",
    "EncoderCache": "encoder_cache", "SqliteStore": "encoder_cache",
    "CriteriaEncoder": "text_encoder", "CriteriaStates": "text_encoder", "build_cache": "text_encoder",
    "criteria_layout": "text_encoder", "item_text": "text_encoder", "GRANULARITIES": "text_encoder",
    "segment_molecule": "molecules", "SegmentFingerprints": "molecules", "InvalidSmiles": "molecules",
    "Featurizer": "featurizer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine.features' has no attribute {name!r}")
    return getattr(importlib.import_module(f"engine.features.{module}"), name)

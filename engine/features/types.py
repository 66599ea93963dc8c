"""What the featurizers hand to the model: one `TrialFeatures` per Trial, numpy only.

Every token row keeps a label (criterion index, segment atoms, ICD code) so attention can be drawn
back onto the record. Padding and batching happen in `engine.model.batch`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Kinds of molecule tokens. A drug without a structure still gets a (learned) token.
MOL_SEGMENT, MOL_PLACEBO, MOL_BIOLOGIC, MOL_UNRESOLVED, MOL_NONE = range(5)
# Kinds of disease tokens.
ICD_CODE, ICD_UNRESOLVED, ICD_NONE = range(3)


@dataclass
class MoleculeSegment:
    """One fragment of one drug: what the molecule view colours by attention."""

    drug_index: int
    smiles: str
    atom_indices: tuple[int, ...]


@dataclass
class TrialFeatures:
    # molecule tokens: (n_m, mol_dim) vectors; rows of non-segment kinds are zeros
    mol_vectors: np.ndarray
    mol_kind: np.ndarray  # int64 (n_m,)
    mol_position: np.ndarray  # int64 (n_m,) index of the drug in trial.drugs
    mol_segments: list[MoleculeSegment | None]
    # disease tokens: (n_d, icd_dim)
    icd_vectors: np.ndarray
    icd_kind: np.ndarray  # int64 (n_d,)
    icd_position: np.ndarray  # int64 (n_d,) codes of the same ICD-10 category share a position
    icd_codes: list[str]  # code, or the condition name for unresolved ones
    # criteria tokens from the frozen language model
    crit_levels: np.ndarray  # float32 (3, n_c, hidden): coarse, medium, fine
    crit_final: np.ndarray  # float32 (n_c, hidden): last layer (U^C)
    crit_item: np.ndarray  # int64 (n_c,) index into trial.active_criteria, -1 for headers/none
    granularity: str = "criterion"
    warnings: list[str] = field(default_factory=list)
    #: float32 (n_c,): language-model tokens behind each criteria row (an item's tokens read; 1 per token
    #: at token granularity), so avgpool(U^C) can weigh rows as the paper's token average does. None: 1 each
    crit_tokens: np.ndarray | None = None

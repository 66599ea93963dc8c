"""Pad a list of TrialFeatures into one batch of tensors (True in a mask = padding)."""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from engine.features.types import TrialFeatures


@dataclass
class Batch:
    mol_vectors: torch.Tensor  # (B, Nm, mol_dim)
    mol_kind: torch.Tensor  # (B, Nm)
    mol_position: torch.Tensor  # (B, Nm)
    mol_mask: torch.Tensor  # (B, Nm) bool
    icd_vectors: torch.Tensor  # (B, Nd, icd_dim)
    icd_kind: torch.Tensor
    icd_position: torch.Tensor
    icd_mask: torch.Tensor
    crit_levels: torch.Tensor  # (B, 3, Nc, H)
    crit_final: torch.Tensor  # (B, Nc, H)
    crit_mask: torch.Tensor  # (B, Nc) bool
    crit_empty: torch.Tensor  # (B,) bool: the trial has no criteria (a learned token stands in)
    crit_tokens: torch.Tensor  # (B, Nc) float: language-model tokens behind each row (0 on padding)

    def to(self, device) -> "Batch":
        return Batch(**{f.name: getattr(self, f.name).to(device, non_blocking=True) for f in fields(self)})

    def rows(self, index: torch.Tensor) -> "Batch":
        """The batch's rows at `index`, padded as they are here."""
        return Batch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def __len__(self) -> int:
        return self.mol_vectors.shape[0]


def _pad(arrays: list[np.ndarray], fill=0, min_len: int = 1):
    n = max(min_len, max(a.shape[0] for a in arrays))
    out = np.full((len(arrays), n) + arrays[0].shape[1:], fill, dtype=arrays[0].dtype)
    mask = np.ones((len(arrays), n), dtype=bool)
    for i, a in enumerate(arrays):
        out[i, : a.shape[0]] = a
        mask[i, : a.shape[0]] = False
    return torch.from_numpy(out), torch.from_numpy(mask)


def collate(items: list[TrialFeatures], max_criteria: int | None = None) -> Batch:
    if not items:
        raise ValueError("cannot batch zero trials")
    mol, mol_mask = _pad([np.asarray(f.mol_vectors, np.float32) for f in items])
    mol_kind, _ = _pad([np.asarray(f.mol_kind, np.int64) for f in items])
    mol_pos, _ = _pad([np.asarray(f.mol_position, np.int64) for f in items])
    icd, icd_mask = _pad([np.asarray(f.icd_vectors, np.float32) for f in items])
    icd_kind, _ = _pad([np.asarray(f.icd_kind, np.int64) for f in items])
    icd_pos, _ = _pad([np.asarray(f.icd_position, np.int64) for f in items])

    finals = [np.asarray(f.crit_final, np.float32) for f in items]
    levels = [np.asarray(f.crit_levels, np.float32).transpose(1, 0, 2) for f in items]  # (Nc, 3, H)
    tokens = [np.ones(len(a), np.float32) if f.crit_tokens is None else np.asarray(f.crit_tokens, np.float32)
              for f, a in zip(items, finals)]
    if max_criteria is not None:
        finals = [a[:max_criteria] for a in finals]
        levels = [a[:max_criteria] for a in levels]
        tokens = [a[:max_criteria] for a in tokens]
    empty = torch.tensor([a.shape[0] == 0 for a in finals])
    hidden = finals[0].shape[-1]
    finals = [a if a.shape[0] else np.zeros((1, hidden), np.float32) for a in finals]
    levels = [a if a.shape[0] else np.zeros((1, 3, hidden), np.float32) for a in levels]
    crit_final, crit_mask = _pad(finals)
    crit_levels, _ = _pad(levels)
    crit_tokens, _ = _pad(tokens)
    return Batch(
        mol_vectors=mol, mol_kind=mol_kind, mol_position=mol_pos, mol_mask=mol_mask,
        icd_vectors=icd, icd_kind=icd_kind, icd_position=icd_pos, icd_mask=icd_mask,
        crit_levels=crit_levels.permute(0, 2, 1, 3).contiguous(), crit_final=crit_final,
        crit_mask=crit_mask, crit_empty=empty, crit_tokens=crit_tokens,
    )

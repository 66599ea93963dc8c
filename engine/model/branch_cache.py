"""The drug/disease tokens of recent trials, kept per phase model.

A what-if on the criteria, and a criterion's leave-one-out variants, change nothing the molecule and
disease layers read, so their tokens (CLaDMoP.drug_disease_tokens) are computed once per distinct input
and reused. A row is known by the bytes of everything those layers read, padding included, so a reused
token is the one the forward would have computed.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict

import torch

from engine.model.batch import Batch

#: distinct drug/disease inputs kept per Predictor: an analyst's open trials and then some
KEPT = 256
_BRANCH_INPUTS = ("mol_vectors", "mol_kind", "mol_position", "mol_mask",
                  "icd_vectors", "icd_kind", "icd_position", "icd_mask")


def row_keys(batch: Batch) -> list[bytes]:
    """One key per row of a batch on the CPU: what the drug/disease branch reads of that row."""
    keys = []
    for row in range(len(batch)):
        digest = hashlib.blake2b(digest_size=16)
        for name in _BRANCH_INPUTS:
            part = getattr(batch, name)[row]
            digest.update(repr(tuple(part.shape)).encode())
            digest.update(part.numpy().tobytes())
        keys.append(digest.digest())
    return keys


class DrugDiseaseTokens:
    """Each row's tokens, from the kept ones or computed for the distinct rows not kept yet."""

    def __init__(self, kept: int = KEPT):
        self.kept = kept
        self._tokens: OrderedDict[tuple[str, bytes], torch.Tensor] = OrderedDict()

    def tokens(self, model, batch: Batch, keys: list[bytes], phase: str) -> torch.Tensor:
        """(B, Nm + Nd, d) for `batch` (on the model's device), `keys` its `row_keys`, through `phase`'s
        weights (the network serves every phase: the phase is part of what is kept)."""
        found = {key: self._tokens.get((phase, key)) for key in dict.fromkeys(keys)}
        missing = [key for key, tokens in found.items() if tokens is None]
        if missing:
            rows = torch.tensor([keys.index(key) for key in missing], device=batch.mol_vectors.device)
            found.update(zip(missing, model.drug_disease_tokens(batch.rows(rows))))
        for key, tokens in found.items():
            self._keep((phase, key), tokens)
        return torch.stack([found[key] for key in keys])

    def _keep(self, key: tuple[str, bytes], tokens: torch.Tensor) -> None:
        self._tokens[key] = tokens
        self._tokens.move_to_end(key)
        while len(self._tokens) > self.kept:
            self._tokens.popitem(last=False)

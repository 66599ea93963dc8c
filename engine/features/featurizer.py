"""Trial -> `TrialFeatures`: molecule segment tokens, ICD code tokens and criteria encoder states.

The featurizer reads what the lookups resolved and never guesses: a drug is a molecule only when it
is a `small_molecule` with a SMILES; placebo and biologics get their own learned tokens; anything else
(unresolved, unknown kind, no structure, a SMILES RDKit rejects) is an "unresolved" token and a
warning. Disease codes take their vector from the ICD table, falling back to the nearest ancestor
code the table knows; codes of one 3-character ICD-10 category share a position.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from engine.features.encoder_cache import EncoderCache
from engine.features.molecules import InvalidSmiles, SegmentFingerprints, segment_molecule
from engine.features.text_encoder import CriteriaEncoder, CriteriaStates
from engine.features.types import (
    ICD_CODE, ICD_NONE, ICD_UNRESOLVED, MOL_BIOLOGIC, MOL_NONE, MOL_PLACEBO, MOL_SEGMENT, MOL_UNRESOLVED,
    MoleculeSegment, TrialFeatures,
)
from engine.records.trial import Trial
from engine.tasks import TaskState


class IcdVectors(Protocol):
    """What the featurizer needs of `engine.features.icd.IcdTable`."""

    dim: int

    def vector(self, code: str) -> np.ndarray | None: ...

    def category(self, code: str) -> str: ...


def icd_candidates(code: str) -> list[str]:
    """`code`, then its ancestors (one character shorter each time, down to the 3-character
    category), each in dotted and undotted spelling: E11.65 -> E11.65, E1165, E11.6, E116, E11."""
    undotted = code.strip().upper().replace(".", "")
    out = []
    for n in range(len(undotted), 2, -1):
        stem = undotted[:n]
        dotted = stem if n <= 3 else f"{stem[:3]}.{stem[3:]}"
        out.extend(dict.fromkeys((dotted, stem)))
    return out or [code]


class Featurizer:
    """Turns resolved Trials into model inputs.

    `encoder`: a `TextEncoder` (see `engine.features.backbones.load_backbone`).
    `cache`: an `EncoderCache`, None for the default file under `engine.paths.cache_dir()`, or False
    for none kept between calls; the segment-fingerprint dictionary follows the same choice unless
    `fingerprints` is given.
    """

    def __init__(self, encoder, icd_table: IcdVectors, granularity: str = "criterion",
                 cache: EncoderCache | None | bool = None, fingerprints: SegmentFingerprints | None = None):
        self.criteria = CriteriaEncoder(encoder, granularity, cache)
        self.icd_table = icd_table
        if fingerprints is None:
            fingerprints = SegmentFingerprints(False if cache is False else None)
        self.fingerprints = fingerprints

    @property
    def granularity(self) -> str:
        return self.criteria.granularity

    @property
    def encoder(self):
        return self.criteria.encoder

    @property
    def text_dim(self) -> int:
        return self.criteria.hidden_size

    @property
    def mol_dim(self) -> int:
        return self.fingerprints.size

    @property
    def icd_dim(self) -> int:
        return self.icd_table.dim

    def featurize(self, trial: Trial) -> TrialFeatures:
        return self.featurize_many([trial])[0]

    def featurize_many(self, trials: Sequence[Trial], state: TaskState | None = None) -> list[TrialFeatures]:
        """Features of every trial; criteria of all trials are encoded together in batches."""
        criteria = self.criteria.encode_many([t.active_criteria for t in trials], state)
        plans = [self._plan_molecules(t) for t in trials]
        segment_smiles = [seg.smiles for plan in plans for _, seg, _ in plan[0] if seg is not None]
        vectors = dict(zip(segment_smiles, self.fingerprints.vectors(segment_smiles)))
        out = []
        for i, (trial, crit, (mol_plan, mol_warnings)) in enumerate(zip(trials, criteria, plans)):
            if state is not None:
                state.progress(i, len(trials), "molecules and diseases")
            out.append(self._assemble(trial, crit, mol_plan, mol_warnings, vectors))
        if state is not None:
            state.progress(len(trials), len(trials), "features ready")
        return out

    # -- molecules --------------------------------------------------------------------------------
    def _plan_molecules(self, trial: Trial):
        """[(kind, segment or None, drug index)] and the warnings about drugs read as unresolved."""
        tokens: list[tuple[int, MoleculeSegment | None, int]] = []
        warnings: list[str] = []
        for index, drug in enumerate(trial.drugs):
            if drug.kind == "placebo":
                tokens.append((MOL_PLACEBO, None, index))
            elif drug.kind == "biologic":
                tokens.append((MOL_BIOLOGIC, None, index))
            elif drug.kind == "small_molecule" and drug.smiles:
                try:
                    tokens.extend((MOL_SEGMENT, seg, index) for seg in segment_molecule(drug.smiles, index))
                except InvalidSmiles as e:
                    tokens.append((MOL_UNRESOLVED, None, index))
                    warnings.append(f"drug '{drug.name}': {e}; read as an unresolved drug")
            else:
                tokens.append((MOL_UNRESOLVED, None, index))
                why = ("no structure" if drug.kind in ("small_molecule", "unresolved")
                       else f"kind '{drug.kind}' (not looked up)")
                warnings.append(f"drug '{drug.name}': {why}; read as an unresolved drug")
        if not tokens:
            tokens.append((MOL_NONE, None, 0))
        return tokens, warnings

    # -- diseases ---------------------------------------------------------------------------------
    def _disease_tokens(self, trial: Trial):
        vectors, kinds, positions, labels, warnings = [], [], [], [], []
        category_position: dict[str, int] = {}
        dim = int(self.icd_table.dim)

        def new_position() -> int:
            return len(set(positions))

        seen: set[str] = set()
        for condition in trial.conditions:
            codes = [c for c in condition.icd10 if c and c.strip()]
            if not codes:
                positions.append(new_position())
                vectors.append(np.zeros(dim, np.float32)); kinds.append(ICD_UNRESOLVED)
                labels.append(condition.name)
                continue
            for code in codes:
                key = code.strip().upper().replace(".", "")
                if key in seen:
                    continue
                seen.add(key)
                vector = self._icd_vector(code)
                if vector is None:
                    warnings.append(f"condition '{condition.name}': ICD-10 code {code} is not in the ICD table; "
                                    "read as unresolved")
                    positions.append(new_position())
                    vectors.append(np.zeros(dim, np.float32)); kinds.append(ICD_UNRESOLVED)
                    labels.append(code)
                    continue
                category = self._category(code)
                if category not in category_position:
                    category_position[category] = new_position()
                positions.append(category_position[category])
                vectors.append(vector); kinds.append(ICD_CODE); labels.append(code)
        if not kinds:
            vectors.append(np.zeros(dim, np.float32)); kinds.append(ICD_NONE); positions.append(0)
            labels.append("")
        return (np.stack(vectors).astype(np.float32), np.asarray(kinds, np.int64),
                np.asarray(positions, np.int64), labels, warnings)

    def _icd_vector(self, code: str) -> np.ndarray | None:
        for candidate in dict.fromkeys([code.strip(), *icd_candidates(code)]):
            vector = self.icd_table.vector(candidate)
            if vector is not None:
                return np.asarray(vector, np.float32).reshape(-1)
        return None

    def _category(self, code: str) -> str:
        try:
            category = self.icd_table.category(code)
        except (KeyError, ValueError):
            category = None
        return category or code.strip().upper().replace(".", "")[:3]

    # -- assembly ---------------------------------------------------------------------------------
    def _assemble(self, trial: Trial, crit: CriteriaStates, mol_plan, mol_warnings, segment_vectors) -> TrialFeatures:
        dim = self.fingerprints.dim
        mol_vectors = np.zeros((len(mol_plan), dim), np.float32)
        for row, (kind, seg, _) in enumerate(mol_plan):
            if kind == MOL_SEGMENT:
                mol_vectors[row] = segment_vectors[seg.smiles]
        icd_vectors, icd_kind, icd_position, icd_codes, icd_warnings = self._disease_tokens(trial)
        return TrialFeatures(
            mol_vectors=mol_vectors,
            mol_kind=np.asarray([k for k, _, _ in mol_plan], np.int64),
            mol_position=np.asarray([p for _, _, p in mol_plan], np.int64),
            mol_segments=[seg for _, seg, _ in mol_plan],
            icd_vectors=icd_vectors, icd_kind=icd_kind, icd_position=icd_position, icd_codes=icd_codes,
            crit_levels=crit.levels, crit_final=crit.final, crit_item=crit.item,
            granularity=crit.granularity, crit_tokens=crit.tokens,
            warnings=mol_warnings + icd_warnings + crit.warnings,
        )


__all__ = ["Featurizer", "IcdVectors", "icd_candidates"]

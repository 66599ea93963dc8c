"""Drug molecules -> "SMILES segments": BRICS fragments, each a DeepChem circular fingerprint.

`segment_molecule(smiles)` is pure (the GUI colours atoms by it): the fragments of the molecule that
RDKit's BRICS rules cut out, each with the indices of its atoms in `Chem.MolFromSmiles(smiles)` (draw
that same parse to colour them). Fragment SMILES are canonical, with the cut points written as `*`.
A molecule without a BRICS bond is one segment; separate components (a salt's counter-ion) are
separate segments. At most `MAX_SEGMENTS_PER_DRUG` segments per drug: beyond that the smallest
segment is merged into its smallest neighbour until the count fits (merged segments stay connected).

`SegmentFingerprints` maps segment SMILES to vectors (DeepChem `CircularFingerprint`, radius 2,
1024 bits - the ECFP4 setting of the CLaDMoP paper's DeepChem featurizer) and keeps that dictionary
in memory and in a SQLite file under `engine.paths.cache_dir()`. deepchem is imported on first use.
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from engine.errors import CladmopError
from engine.features.encoder_cache import SqliteStore
from engine.features.types import MoleculeSegment

#: 97% of the TOP drugs have at most this many BRICS fragments (median 5); peptides and other large
#: molecules (up to 109 fragments) are merged down to it
MAX_SEGMENTS_PER_DRUG = 16
FINGERPRINT_SIZE = 1024
FINGERPRINT_RADIUS = 2
SEGMENT_CACHE_FILE = "segment_fingerprints.sqlite"


class InvalidSmiles(CladmopError, ValueError):
    """A SMILES string RDKit cannot read."""


def parse_smiles(smiles: str):
    """RDKit molecule of `smiles` (RDKit's own error lines silenced) or `InvalidSmiles`."""
    from rdkit import Chem, rdBase

    text = (smiles or "").strip()
    if not text:
        raise InvalidSmiles("empty SMILES")
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(text)
    if mol is None or mol.GetNumAtoms() == 0:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise InvalidSmiles(f"'{shown}' is not a valid SMILES")
    return mol


def segment_molecule(smiles: str, drug_index: int = 0,
                     max_segments: int = MAX_SEGMENTS_PER_DRUG) -> list[MoleculeSegment]:
    """BRICS segments of one molecule, ordered by their first atom. Raises `InvalidSmiles`."""
    return [MoleculeSegment(drug_index, s, atoms) for s, atoms in _segments(smiles, max_segments)]


@functools.lru_cache(maxsize=4096)
def _segments(smiles: str, max_segments: int) -> tuple[tuple[str, tuple[int, ...]], ...]:
    from rdkit import Chem, rdBase
    from rdkit.Chem import BRICS

    mol = parse_smiles(smiles)
    n = mol.GetNumAtoms()
    with rdBase.BlockLogs():
        brics = {mol.GetBondBetweenAtoms(a, b).GetIdx() for (a, b), _ in BRICS.FindBRICSBonds(mol)}
    groups = _merge_groups(mol, brics, max(1, max_segments))
    group_of = {a: g for g, atoms in enumerate(groups) for a in atoms}
    cut = sorted(b for b in brics if group_of[mol.GetBondWithIdx(b).GetBeginAtomIdx()]
                 != group_of[mol.GetBondWithIdx(b).GetEndAtomIdx()])
    if not cut and len(groups) == 1:
        return ((Chem.MolToSmiles(mol), tuple(range(n))),)
    with rdBase.BlockLogs():
        pieces = Chem.FragmentOnBonds(mol, cut, addDummies=True, dummyLabels=[(0, 0)] * len(cut)) if cut else mol
        mapping: list = []
        try:
            frags = Chem.GetMolFrags(pieces, asMols=True, sanitizeFrags=True, fragsMolAtomMapping=mapping)
        except Exception:  # a fragment RDKit cannot sanitize on its own: write it unsanitized
            mapping = []
            frags = Chem.GetMolFrags(pieces, asMols=True, sanitizeFrags=False, fragsMolAtomMapping=mapping)
        smiles_of_group: dict[int, list[str]] = {}
        for frag, atoms in zip(frags, mapping):
            real = [a for a in atoms if a < n]
            if real:
                smiles_of_group.setdefault(group_of[real[0]], []).append(Chem.MolToSmiles(frag))
    out = [(".".join(sorted(smiles_of_group[g])), tuple(sorted(atoms))) for g, atoms in enumerate(groups)]
    return tuple(sorted(out, key=lambda s: s[1][0]))


def _merge_groups(mol, cut_bonds: set[int], max_segments: int) -> list[set[int]]:
    """Atom groups left after cutting `cut_bonds`, merged smallest-first down to `max_segments`."""
    n = mol.GetNumAtoms()
    root = list(range(n))

    def find(a: int) -> int:
        while root[a] != a:
            root[a] = root[root[a]]
            a = root[a]
        return a

    for bond in mol.GetBonds():
        if bond.GetIdx() not in cut_bonds:
            root[find(bond.GetBeginAtomIdx())] = find(bond.GetEndAtomIdx())
    groups: dict[int, set[int]] = {}
    for a in range(n):
        groups.setdefault(find(a), set()).add(a)
    neighbours: dict[int, set[int]] = {g: set() for g in groups}
    for b in cut_bonds:
        bond = mol.GetBondWithIdx(b)
        g1, g2 = find(bond.GetBeginAtomIdx()), find(bond.GetEndAtomIdx())
        if g1 != g2:
            neighbours[g1].add(g2)
            neighbours[g2].add(g1)

    def size_order(g: int):
        return len(groups[g]), min(groups[g])

    while len(groups) > max_segments:
        small = min(groups, key=size_order)
        candidates = neighbours[small] or (set(groups) - {small})
        into = min(candidates, key=size_order)
        groups[into] |= groups.pop(small)
        for other in neighbours.pop(small):
            neighbours[other].discard(small)
            if other != into:
                neighbours[other].add(into)
                neighbours[into].add(other)
        neighbours[into].discard(small)
        neighbours[into].discard(into)
    return sorted(groups.values(), key=min)


class SegmentFingerprints:
    """Segment SMILES -> float32 fingerprint vectors, remembered in memory and on disk.

    `cache=None` uses the default file under `engine.paths.cache_dir()`; `cache=False` keeps the
    dictionary in memory only.
    """

    def __init__(self, cache: SqliteStore | None | bool = None, *, size: int = FINGERPRINT_SIZE,
                 radius: int = FINGERPRINT_RADIUS):
        if cache is None or cache is True:
            from engine.paths import cache_dir

            cache = SqliteStore(cache_dir() / SEGMENT_CACHE_FILE, "segment_fingerprints_v1")
        elif cache is False:
            cache = SqliteStore(None, "segment_fingerprints_v1")
        self.store = cache
        self.size = size
        self.radius = radius
        self.computed = 0  # fingerprints computed with DeepChem (not read from a cache)
        self._memory: dict[str, np.ndarray] = {}
        self._featurizer = None

    @property
    def dim(self) -> int:
        return self.size

    def _key(self, smiles: str) -> str:
        return f"circular/r{self.radius}/n{self.size}:{smiles}"

    def vectors(self, segment_smiles: Sequence[str]) -> np.ndarray:
        """(n, size) float32: one fingerprint per segment SMILES."""
        wanted = [s for s in dict.fromkeys(segment_smiles) if s not in self._memory]
        if wanted:
            stored = self.store.get_many(self._key(s) for s in wanted)
            for s in wanted:
                value = stored.get(self._key(s))
                vector = _unpack_bits(value, self.size) if value is not None else None
                if vector is not None:
                    self._memory[s] = vector
            missing = [s for s in wanted if s not in self._memory]
            if missing:
                fresh = self._compute(missing)
                self._memory.update(fresh)
                self.store.put_many({self._key(s): _pack_bits(v) for s, v in fresh.items()})
        if not segment_smiles:
            return np.zeros((0, self.size), np.float32)
        return np.stack([self._memory[s] for s in segment_smiles]).astype(np.float32, copy=False)

    def _compute(self, smiles_list: list[str]) -> dict[str, np.ndarray]:
        from rdkit import rdBase

        if self._featurizer is None:
            self._featurizer = _import_deepchem().feat.CircularFingerprint(radius=self.radius, size=self.size)
        out = {}
        with rdBase.BlockLogs():
            mols = [_fragment_mol(s) for s in smiles_list]
            for s, mol in zip(smiles_list, mols):
                vector = None
                if mol is not None:
                    feats = np.asarray(self._featurizer.featurize([mol]))
                    if feats.shape == (1, self.size):
                        vector = feats[0].astype(np.float32)
                out[s] = vector if vector is not None else np.zeros(self.size, np.float32)
        self.computed += len(out)
        return out


def _import_deepchem():
    """deepchem, imported without the dozen warnings it logs about optional model families."""
    import logging
    import warnings

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import deepchem
    finally:
        logging.disable(previous)
    return deepchem


def _fragment_mol(smiles: str):
    """A segment's molecule; fragments RDKit will not sanitize alone are read with a partial sanitize."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        mol = Chem.MolFromSmiles(smiles, sanitize=False)
        if mol is not None:
            mol.UpdatePropertyCache(strict=False)
            Chem.GetSymmSSSR(mol)
    return mol


def _pack_bits(vector: np.ndarray) -> bytes:
    if np.isin(vector, (0.0, 1.0)).all():
        return b"B" + np.packbits(vector.astype(bool)).tobytes()
    return b"F" + vector.astype("<f4").tobytes()


def _unpack_bits(value: bytes, size: int) -> np.ndarray | None:
    kind, body = value[:1], value[1:]
    if kind == b"B" and len(body) == (size + 7) // 8:
        return np.unpackbits(np.frombuffer(body, np.uint8))[:size].astype(np.float32)
    if kind == b"F" and len(body) == 4 * size:
        return np.frombuffer(body, "<f4").astype(np.float32)
    return None

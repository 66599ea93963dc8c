"""Molecule segments: BRICS fragments with their atoms, the cap, invalid SMILES, the fingerprint store."""
from __future__ import annotations

import re
import sqlite3

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import BRICS

from engine.features.encoder_cache import SqliteStore
from engine.features.molecules import (
    MAX_SEGMENTS_PER_DRUG, InvalidSmiles, SegmentFingerprints, segment_molecule,
)
from features_data import load_top_trials
from tests.data_sources import using_own_data
from tiny_models import isolated_cache  # noqa: F401

pytestmark = pytest.mark.usefixtures("isolated_cache")


@pytest.fixture(scope="module")
def top_smiles():
    trials = load_top_trials("phase_I_valid.csv")
    return sorted({d.smiles for t in trials for d in t.drugs if d.smiles})


def _connected(mol, atoms) -> bool:
    atoms = set(atoms)
    todo, seen = [min(atoms)], {min(atoms)}
    while todo:
        for nb in mol.GetAtomWithIdx(todo.pop()).GetNeighbors():
            if nb.GetIdx() in atoms and nb.GetIdx() not in seen:
                seen.add(nb.GetIdx())
                todo.append(nb.GetIdx())
    return seen == atoms


def _canonical(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def test_segments_partition_every_molecule_and_match_rdkit_brics(top_smiles):
    assert len(top_smiles) > (25 if using_own_data() else 100)  # tests/data holds 38 drugs with a structure
    checked_brics = 0
    for smiles in top_smiles:
        mol = Chem.MolFromSmiles(smiles)
        segments = segment_molecule(smiles, drug_index=2, max_segments=10_000)
        atoms = sorted(a for s in segments for a in s.atom_indices)
        assert atoms == list(range(mol.GetNumAtoms())), smiles  # each atom in exactly one segment
        assert all(s.drug_index == 2 for s in segments)
        assert [s.atom_indices[0] for s in segments] == sorted(s.atom_indices[0] for s in segments)
        bonds = [mol.GetBondBetweenAtoms(a, b) for (a, b), _ in BRICS.FindBRICSBonds(mol)]
        n_bonds, n_parts = len(bonds), len(Chem.GetMolFrags(mol))
        pieces = Chem.FragmentOnBonds(mol, [b.GetIdx() for b in bonds], addDummies=False) if bonds else mol
        # one segment per piece left after the cuts (a chain cut adds one; two cuts of
        # oxaliplatin's chelate ring add one between them)
        assert len(segments) == len(Chem.GetMolFrags(pieces, sanitizeFrags=False)), smiles
        for seg in segments:
            assert _connected(mol, seg.atom_indices)
            # the fragment is the parent's atoms plus one "*" per cut bond
            cut = sum(1 for a in seg.atom_indices for nb in mol.GetAtomWithIdx(a).GetNeighbors()
                      if nb.GetIdx() not in seg.atom_indices)
            frag = Chem.MolFromSmiles(seg.smiles)
            if frag is not None:
                assert seg.smiles == Chem.MolToSmiles(frag)  # canonical
                assert frag.GetNumAtoms() == len(seg.atom_indices) + cut
        single = all(mol.GetBondBetweenAtoms(a, b).GetBondType() == Chem.BondType.SINGLE
                     for (a, b), _ in BRICS.FindBRICSBonds(mol))
        if n_parts == 1 and n_bonds and single and len(segments) == n_bonds + 1:
            # the same fragments as RDKit's own BRICSDecompose (its [n*] labels written as *); it
            # writes a cut C=C bond as a single bond to the dummy, segments keep the "=*"
            theirs = {_canonical(re.sub(r"\[\d+\*\]", "*", s)) for s in BRICS.BRICSDecompose(mol)}
            assert {s.smiles for s in segments} == theirs, smiles
            checked_brics += 1
    assert checked_brics > (15 if using_own_data() else 50)


def test_known_decomposition_of_aspirin():
    segments = segment_molecule("CC(=O)Oc1ccccc1C(=O)O")
    assert [(s.smiles, s.atom_indices) for s in segments] == [
        ("*C(C)=O", (0, 1, 2)), ("*O*", (3,)), ("*c1ccccc1*", (4, 5, 6, 7, 8, 9)), ("*C(=O)O", (10, 11, 12))]


def test_molecules_without_brics_bonds_are_one_segment():
    for smiles in ("c1ccccc1", "CCO", "C"):
        (segment,) = segment_molecule(smiles)
        assert segment.smiles == _canonical(smiles)
        assert segment.atom_indices == tuple(range(Chem.MolFromSmiles(smiles).GetNumAtoms()))
    salt = segment_molecule("CC(=O)[O-].[Na+]")
    assert [(s.smiles, s.atom_indices) for s in salt] == [("CC(=O)[O-]", (0, 1, 2, 3)), ("[Na+]", (4,))]


def test_large_molecules_are_merged_down_to_the_cap(top_smiles):
    big = [s for s in top_smiles if len(segment_molecule(s, max_segments=10_000)) > MAX_SEGMENTS_PER_DRUG]
    if not big:
        pytest.skip("no drug above the cap in this subsample")
    for smiles in big:
        mol = Chem.MolFromSmiles(smiles)
        segments = segment_molecule(smiles)
        assert len(segments) == MAX_SEGMENTS_PER_DRUG
        assert sorted(a for s in segments for a in s.atom_indices) == list(range(mol.GetNumAtoms()))
        if len(Chem.GetMolFrags(mol)) == 1:
            assert all(_connected(mol, s.atom_indices) for s in segments), smiles
    few = segment_molecule(big[0], max_segments=3)
    assert len(few) == 3


@pytest.mark.parametrize("smiles", ["", "   ", "not a molecule", "C1CC", "c1cccc1", "C(C)(C)(C)(C)C"])
def test_invalid_smiles_is_a_clear_error(smiles):
    with pytest.raises(InvalidSmiles, match="SMILES"):
        segment_molecule(smiles)


def test_fingerprints_match_deepchem_and_are_stored(tmp_path):
    import deepchem

    segments = [s.smiles for s in segment_molecule("CC(=O)Oc1ccccc1C(=O)O")] + ["c1ccccc1"]
    path = tmp_path / "fp.sqlite"
    prints = SegmentFingerprints(SqliteStore(path, "fp"))
    vectors = prints.vectors(segments + segments[:1])
    assert vectors.shape == (6, 1024) and vectors.dtype == np.float32 and prints.computed == 5
    expected = deepchem.feat.CircularFingerprint(radius=2, size=1024).featurize(
        [Chem.MolFromSmiles(s) for s in segments])
    np.testing.assert_array_equal(vectors[:5], expected)
    np.testing.assert_array_equal(vectors[5], vectors[0])
    assert len(set(map(bytes, vectors[:5].astype(bool)))) == 5
    # a second session reads the dictionary from disk; a damaged entry is recomputed
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE fp SET value = x'00' WHERE key LIKE '%c1ccccc1'")
    again = SegmentFingerprints(SqliteStore(path, "fp"))
    np.testing.assert_array_equal(again.vectors(segments), vectors[:5])
    assert again.computed == 1
    assert SegmentFingerprints(SqliteStore(path, "fp")).vectors([]).shape == (0, 1024)

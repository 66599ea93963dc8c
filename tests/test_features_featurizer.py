"""Trial -> TrialFeatures: drug and disease tokens, both criteria granularities, batching, the ICD table."""
from __future__ import annotations

import numpy as np
import pytest

from engine.features.featurizer import Featurizer, icd_candidates
from engine.features.molecules import segment_molecule
from engine.features.types import (
    ICD_CODE, ICD_NONE, ICD_UNRESOLVED, MOL_BIOLOGIC, MOL_NONE, MOL_PLACEBO, MOL_SEGMENT, MOL_UNRESOLVED,
    TrialFeatures,
)
from engine.model.batch import collate
from engine.records.trial import Condition, Criterion, Drug, Trial
from engine.tasks import TaskState
from features_data import load_top_trials
from tiny_models import ForwardCounter, isolated_cache, minilm_encoder  # noqa: F401

pytestmark = pytest.mark.usefixtures("isolated_cache")

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


class SmallIcdTable:
    """The interface of engine.features.icd.IcdTable over a handful of codes (no ancestor logic of its own)."""

    dim = 4

    def __init__(self):
        self.table = {"C17": [1, 0, 0, 0], "C17.3": [0, 1, 0, 0], "C17.1": [0, 0, 1, 0],
                      "E11": [0, 0, 0, 1], "E11.6": [1, 1, 0, 0]}
        self.asked: list[str] = []

    def vector(self, code):
        self.asked.append(code)
        v = self.table.get(code)
        return None if v is None else np.asarray(v, np.float32)

    def category(self, code):
        return code.replace(".", "")[:3]


@pytest.fixture(scope="module")
def trials():
    return load_top_trials("phase_I_valid.csv", limit=5)


def _check_contract(f: TrialFeatures, trial: Trial, hidden: int, icd_dim: int):
    n_m = len(f.mol_kind)
    assert f.mol_vectors.shape == (n_m, 1024) and f.mol_vectors.dtype == np.float32
    assert f.mol_kind.dtype == np.int64 and f.mol_position.dtype == np.int64 and len(f.mol_segments) == n_m
    for kind, vector, segment, position in zip(f.mol_kind, f.mol_vectors, f.mol_segments, f.mol_position):
        assert (segment is not None) == (kind == MOL_SEGMENT)
        assert vector.any() == (kind == MOL_SEGMENT)  # every fragment sets some fingerprint bits
        if segment is not None:
            assert segment.drug_index == position
    if trial.drugs:
        assert set(f.mol_position.tolist()) == set(range(len(trial.drugs)))
    n_d = len(f.icd_kind)
    assert f.icd_vectors.shape == (n_d, icd_dim) and f.icd_vectors.dtype == np.float32
    assert f.icd_position.dtype == np.int64 and len(f.icd_codes) == n_d
    n_c = f.crit_final.shape[0]
    assert f.crit_levels.shape == (3, n_c, hidden) and f.crit_levels.dtype == np.float32
    assert f.crit_final.dtype == np.float32 and f.crit_item.shape == (n_c,) and f.crit_item.dtype == np.int64
    assert f.crit_item.max() < len(trial.active_criteria)


@pytest.mark.parametrize("granularity", ["criterion", "token"])
def test_real_trials_at_both_granularities(trials, granularity):
    enc = minilm_encoder()
    featurizer = Featurizer(enc, SmallIcdTable(), granularity)
    progress: list[tuple[int, int, str]] = []
    features = featurizer.featurize_many(trials, TaskState(lambda *p: progress.append(p)))
    assert len(features) == len(trials) and progress[-1][2] == "features ready"
    for f, trial in zip(features, trials):
        _check_contract(f, trial, 384, 4)
        assert f.granularity == granularity
        items = trial.active_criteria
        if granularity == "criterion":
            assert f.crit_item.tolist() == list(range(len(items)))
            # each row stands for the tokens of its item (what f_c's token average weighs it by)
            counted = [min(len(enc.tokenizer(featurizer.criteria.texts_of([c])[0],
                                             add_special_tokens=False)["input_ids"]), 128) for c in items]
            assert f.crit_tokens.tolist() == [float(max(1, n)) for n in counted]
        else:
            assert f.crit_tokens.tolist() == [1.0] * f.crit_final.shape[0]
            assert set(f.crit_item.tolist()) == {-1, *range(len(items))}
            assert f.crit_final.shape[0] > 2 * len(items)
    # batched across trials = one at a time (here straight from the cache: no model call)
    with ForwardCounter(enc) as counter:
        single = featurizer.featurize(trials[4])
    assert counter.calls == 0
    np.testing.assert_array_equal(single.crit_levels, features[4].crit_levels)
    np.testing.assert_array_equal(single.mol_vectors, features[4].mol_vectors)
    batch = collate(features)  # the model's own padding accepts them
    assert batch.crit_levels.shape[:2] == (len(trials), 3)


def test_drug_kinds_become_the_right_tokens():
    trial = Trial("NCT-DRUGS", criteria=[Criterion("Age 18 or older")], drugs=[
        Drug("aspirin", ASPIRIN, "small_molecule"),
        Drug("placebo", None, "placebo"),
        Drug("pembrolizumab", None, "biologic"),
        Drug("XYZ-123", None, "unresolved"),
        Drug("structure missing", None, "small_molecule"),
        Drug("not looked up", "CCO", "unknown"),
        Drug("broken", "C1CC(", "small_molecule"),
    ])
    f = Featurizer(minilm_encoder(), SmallIcdTable(), cache=False).featurize(trial)
    n_seg = len(segment_molecule(ASPIRIN))
    assert f.mol_kind.tolist() == [MOL_SEGMENT] * n_seg + [MOL_PLACEBO, MOL_BIOLOGIC] + [MOL_UNRESOLVED] * 4
    assert f.mol_position.tolist() == [0] * n_seg + [1, 2, 3, 4, 5, 6]
    assert [s.atom_indices for s in f.mol_segments[:n_seg]] == [s.atom_indices for s in segment_molecule(ASPIRIN)]
    warnings = "\n".join(f.warnings)
    assert "'XYZ-123': no structure" in warnings and "'structure missing': no structure" in warnings
    assert "'not looked up': kind 'unknown'" in warnings
    assert "'broken': 'C1CC(' is not a valid SMILES; read as an unresolved drug" in warnings
    _check_contract(f, trial, 384, 4)


def test_no_drugs_no_conditions_no_criteria():
    f = Featurizer(minilm_encoder(), SmallIcdTable(), cache=False).featurize(Trial("NCT-EMPTY"))
    assert f.mol_kind.tolist() == [MOL_NONE] and f.mol_position.tolist() == [0] and f.mol_segments == [None]
    assert f.icd_kind.tolist() == [ICD_NONE] and f.icd_codes == [""]
    assert f.crit_levels.shape == (3, 0, 384) and f.crit_final.shape == (0, 384) and f.crit_item.shape == (0,)
    assert not f.mol_vectors.any() and not f.icd_vectors.any()
    for granularity in ("criterion", "token"):
        disabled = Trial("NCT-OFF", criteria=[Criterion("Age 18", enabled=False), Criterion("   ")])
        g = Featurizer(minilm_encoder(), SmallIcdTable(), granularity, cache=False).featurize(disabled)
        assert g.crit_final.shape == (0, 384)


def test_disease_tokens_share_positions_by_category_and_fall_back_to_ancestors():
    table = SmallIcdTable()
    trial = Trial("NCT-ICD", conditions=[
        Condition("small bowel cancer", ["C17.3", "C17.1"]),
        Condition("diabetes with complications", ["E11.65", "C173"]),  # E11.65 -> E11.6; C173 = C17.3
        Condition("rare thing", ["Q99.99"]),
        Condition("unmapped disease", []),
        Condition("more bowel", ["C17.9"]),  # -> C17
    ])
    f = Featurizer(minilm_encoder(), table, cache=False).featurize(trial)
    assert f.icd_codes == ["C17.3", "C17.1", "E11.65", "Q99.99", "unmapped disease", "C17.9"]
    assert f.icd_kind.tolist() == [ICD_CODE, ICD_CODE, ICD_CODE, ICD_UNRESOLVED, ICD_UNRESOLVED, ICD_CODE]
    assert f.icd_position.tolist() == [0, 0, 1, 2, 3, 0]
    np.testing.assert_array_equal(f.icd_vectors[2], table.table["E11.6"])
    np.testing.assert_array_equal(f.icd_vectors[5], table.table["C17"])
    assert not f.icd_vectors[3].any() and not f.icd_vectors[4].any()
    assert any("Q99.99 is not in the ICD table" in w for w in f.warnings)
    assert icd_candidates("E11.659") == ["E11.659", "E11659", "E11.65", "E1165", "E11.6", "E116", "E11"]


def _real_table_from_hierarchy():
    """engine.features.icd.IcdTable itself, over the real ICD-10-CM code list with random vectors (the
    development data's hierarchy, else the simple-icd-10-cm package's codes)."""
    icd = pytest.importorskip("engine.features.icd")
    from tests.gui_helpers import icd10cm_codes

    codes = icd10cm_codes()
    vectors = np.random.default_rng(0).normal(size=(len(codes), 16)).astype(np.float16)
    return icd.IcdTable(codes, vectors)


def test_with_the_real_icd_table_class(trials):
    table = _real_table_from_hierarchy()
    featurizer = Featurizer(minilm_encoder(), table, cache=False)
    for trial in trials[:2]:
        f = featurizer.featurize(trial)
        _check_contract(f, trial, 384, table.dim)
        for code, kind, vector in zip(f.icd_codes, f.icd_kind, f.icd_vectors):
            if kind == ICD_CODE:
                np.testing.assert_array_equal(vector, table.vector(code))
        assert (f.icd_kind == ICD_CODE).sum() > 0


def test_with_the_shipped_icd_table(trials):
    icd = pytest.importorskip("engine.features.icd")
    from engine.paths import resources_dir

    if not (resources_dir() / icd.TABLE_FILE).is_file():
        pytest.skip("resources/icd10_embeddings.safetensors not built yet")
    table = icd.IcdTable.load()
    f = Featurizer(minilm_encoder(), table, cache=False).featurize(trials[0])
    _check_contract(f, trials[0], 384, table.dim)
    assert (f.icd_kind == ICD_CODE).any()

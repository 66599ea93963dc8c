"""Model store: importing BioGPT / Hugging Face folders, checks that name the bad file, use by name."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine import cli
from engine.errors import ModelError
from engine.features.backbones import load_backbone
from engine.model_store import ModelStore, check_safetensors, default_name, open_backbone, resolve_store_name
from engine.paths import resources_dir
from tests.data_sources import top_csv
from tiny_models import build_tiny_biogpt

EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"


@pytest.fixture(scope="module")
def criteria_text() -> list[str]:
    """Criteria lines of the example records we ship (the tokenizer is trained on them)."""
    from engine.records import load_records

    lines = [c.text for t in load_records([EXAMPLES]).trials for c in t.criteria]
    assert len(lines) > 20
    return lines


@pytest.fixture(scope="module")
def tiny_biogpt(tmp_path_factory, criteria_text) -> Path:
    return build_tiny_biogpt(tmp_path_factory.mktemp("src") / "biogpt", criteria_text, vocab_size=400)


@pytest.fixture
def store(tmp_path, monkeypatch) -> ModelStore:
    monkeypatch.setenv("CLADMOP_HOME", str(tmp_path / "home"))
    return ModelStore()


def copy_of(folder: Path, dest: Path) -> Path:
    shutil.copytree(folder, dest)
    return dest


def no_leftovers(store: ModelStore) -> bool:
    return not store.root.exists() or not [p for p in store.root.iterdir() if p.name.startswith(".importing")]


# -- import and use by name --------------------------------------------------------------------------
def test_import_registers_checksums_and_loads_by_name(store, tiny_biogpt):
    before = {p.name: p.read_bytes() for p in tiny_biogpt.iterdir()}
    entry = store.import_folder(tiny_biogpt, "biogpt-tiny")
    assert (entry.model_type, entry.hidden_size, entry.layers, entry.levels) == ("biogpt", 32, 4, [1, 2, 3])
    assert entry.folder == store.root / "biogpt-tiny" and entry.spec == f"biogpt:{entry.folder}"
    registry = json.loads((store.root / "registry.json").read_text())["backbones"]["biogpt-tiny"]
    assert set(registry["files"]) == {"config.json", "generation_config.json", "merges.txt", "model.safetensors",
                                      "tokenizer_config.json", "vocab.json"}
    import hashlib

    for name, digest in registry["files"].items():
        assert hashlib.sha256((entry.folder / name).read_bytes()).hexdigest() == digest
    assert registry["source"] == str(tiny_biogpt)
    assert {p.name: p.read_bytes() for p in tiny_biogpt.iterdir()} == before  # the source is untouched

    by_name = open_backbone("biogpt-tiny", "cpu")
    by_path = load_backbone(f"biogpt:{tiny_biogpt}", "cpu")
    assert by_name.backbone_id == load_backbone(entry.spec, "cpu").backbone_id
    text = "Exclusion: pregnancy or breast feeding"
    np.testing.assert_allclose(by_name.encode([text])[0].final, by_path.encode([text])[0].final, atol=1e-6)
    assert [e.name for e in store.list()] == ["biogpt-tiny"] and no_leftovers(store)


def test_default_name_and_name_rules(store, tiny_biogpt, tmp_path):
    assert default_name(Path("/models/biogpt")) == "biogpt-local"
    assert default_name(Path("/x/BioMed LM v2")) == "BioMed-LM-v2"
    assert store.import_folder(tiny_biogpt).name == "biogpt-local"
    for bad in ("minilm", "../escape", "a/b", ""):
        with pytest.raises(ModelError, match="backbone name"):
            store.import_folder(tiny_biogpt, bad)
    with pytest.raises(ModelError, match="already imported"):
        store.import_folder(tiny_biogpt, "biogpt-local")
    assert store.import_folder(tiny_biogpt, "biogpt-local", replace=True).name == "biogpt-local"
    assert resolve_store_name("minilm") is None and resolve_store_name(str(tiny_biogpt)) is None
    assert resolve_store_name("not-imported") is None


def test_sharded_safetensors_import(store, criteria_text, tmp_path):
    from transformers import BioGptForCausalLM

    folder = build_tiny_biogpt(tmp_path / "sharded", criteria_text, vocab_size=400)
    model = BioGptForCausalLM.from_pretrained(folder)
    (folder / "model.safetensors").unlink()
    model.save_pretrained(folder, safe_serialization=True, max_shard_size="40KB")
    shards = sorted(p.name for p in folder.glob("model-*.safetensors"))
    assert len(shards) > 1
    entry = store.import_folder(folder, "sharded")
    assert {"model.safetensors.index.json", *shards} <= set(entry.files)
    assert open_backbone("sharded", "cpu").hidden_size == 32


# -- pickles -----------------------------------------------------------------------------------------
def save_as_pickle(folder: Path) -> None:
    """Replace model.safetensors by a pytorch_model.bin as older Hub uploads have (tied tensors shared)."""
    import torch
    from transformers import BioGptForCausalLM

    state = BioGptForCausalLM.from_pretrained(folder).state_dict()
    assert state["output_projection.weight"].data_ptr() == state["biogpt.embed_tokens.weight"].data_ptr()
    torch.save(state, folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()


def test_pickle_weights_are_refused_unless_allowed_then_converted(store, tiny_biogpt, tmp_path):
    pickled = copy_of(tiny_biogpt, tmp_path / "pickled")
    save_as_pickle(pickled)
    with pytest.raises(ModelError, match=r"pickled/pytorch_model.bin: pickle weights can run code"):
        store.import_folder(pickled, "converted")
    assert "converted" not in store

    entry = store.import_folder(pickled, "converted", allow_pickle=True)
    assert entry.converted_from_pickle
    assert "model.safetensors" in entry.files and not any(f.endswith(".bin") for f in entry.files)
    check_safetensors(entry.folder / "model.safetensors")
    text = "Inclusion: measurable disease per RECIST 1.1"
    reference = load_backbone(f"biogpt:{tiny_biogpt}", "cpu").encode([text])[0]
    converted = open_backbone("converted", "cpu").encode([text])[0]
    np.testing.assert_allclose(converted.levels, reference.levels, atol=1e-6)

    both = copy_of(pickled, tmp_path / "both")  # safetensors beside a pickle: the pickle is not copied
    shutil.copyfile(tiny_biogpt / "model.safetensors", both / "model.safetensors")
    assert "pytorch_model.bin" not in store.import_folder(both, "both").files


def test_damaged_pickle_is_named(store, tiny_biogpt, tmp_path):
    folder = copy_of(tiny_biogpt, tmp_path / "badpickle")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(ModelError, match=r"badpickle/pytorch_model.bin: cannot read the pickle weights"):
        store.import_folder(folder, "bad", allow_pickle=True)
    assert "bad" not in store and no_leftovers(store)


# -- corrupt or incomplete folders --------------------------------------------------------------------
def _remove(name):
    return lambda folder: (folder / name).unlink()


def _write(name, text):
    return lambda folder: (folder / name).write_text(text)


def _truncate(folder):
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) - 1000])


def _edit_config(**changes):
    def edit(folder):
        config = json.loads((folder / "config.json").read_text())
        config.update(changes)
        (folder / "config.json").write_text(json.dumps(config))
    return edit


DAMAGES = {
    "no config": (_remove("config.json"), r"no config.json"),
    "bad config": (_write("config.json", "{oops"), r"config.json: not a readable JSON"),
    "no model_type": (_edit_config(model_type=""), r"config.json: no model_type"),
    "no merges": (_remove("merges.txt"), r"tokenizer file missing: merges.txt"),
    "no vocab": (_remove("vocab.json"), r"tokenizer file missing: vocab.json"),
    "bad vocab": (_write("vocab.json", '["a", "b"]'), r"vocab.json: not a token -> id vocabulary"),
    "bad merges": (_write("merges.txt", "#version: 0.2\nabc\n"), r"merges.txt: not a BPE merges file"),
    "bad tokenizer config": (_write("tokenizer_config.json", "{"), r"tokenizer_config.json: not a readable JSON"),
    "no weights": (_remove("model.safetensors"), r"no weights file"),
    "truncated weights": (_truncate, r"model.safetensors: truncated"),
    "not safetensors": (_write("model.safetensors", "hello, I am text"), r"model.safetensors: not a safetensors"),
    "small vocab_size": (_edit_config(vocab_size=100), r"vocab.json: token ids go up to \d+ but config.json's "
                                                        r"vocab_size is 100"),
    "wrong width": (_edit_config(hidden_size=64), r"damaged/model.safetensors: tensor \S+ is \[\d+, 32\] but "
                                                  r"config.json makes it \[\d+, 64\]"),
    "wrong type": (_edit_config(model_type="gpt2"), r"damaged: the weights file lacks \d+ tensors the model needs"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_corrupt_or_incomplete_folder_is_refused_naming_the_file(store, tiny_biogpt, tmp_path, damage):
    spoil, message = DAMAGES[damage]
    folder = copy_of(tiny_biogpt, tmp_path / "damaged")
    spoil(folder)
    with pytest.raises(ModelError, match=message) as err:
        store.import_folder(folder, "damaged")
    assert str(folder) in str(err.value)  # the message names the user's folder, never the staging copy
    assert "damaged" not in store and no_leftovers(store)


def test_missing_shard_is_named(store, tiny_biogpt, tmp_path):
    folder = copy_of(tiny_biogpt, tmp_path / "shards")
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    with pytest.raises(ModelError, match=r"shards/model-00002-of-00002.safetensors: missing"):
        store.import_folder(folder, "shards")


# -- the store protects what it holds ------------------------------------------------------------------
def test_changed_or_extra_store_files_are_refused(store, tiny_biogpt):
    entry = store.import_folder(tiny_biogpt, "guarded")
    open_backbone("guarded", "cpu")
    vocab = entry.folder / "vocab.json"
    data = bytearray(vocab.read_bytes())
    data[10] = ord("Z") if data[10] != ord("Z") else ord("Y")  # same size, other content
    vocab.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"guarded/vocab.json: checksum mismatch"):
        open_backbone("guarded", "cpu")
    shutil.copyfile(tiny_biogpt / "vocab.json", vocab)
    assert store.verify("guarded").name == "guarded"
    (entry.folder / "pytorch_model.bin").write_bytes(b"dropped in later")
    with pytest.raises(ModelError, match=r"guarded/pytorch_model.bin: not recorded"):
        open_backbone("guarded", "cpu")


def test_remove_deletes_only_the_store_copy(store, tiny_biogpt):
    entry = store.import_folder(tiny_biogpt, "gone")
    store.remove("gone")
    assert not entry.folder.exists() and "gone" not in store and tiny_biogpt.is_dir()
    with pytest.raises(ModelError, match="no imported backbone named 'gone'"):
        store.remove("gone")
    with pytest.raises(ModelError, match="gone: backbone folder not found"):
        open_backbone("gone", "cpu")


def test_unwritable_store_is_reported(tiny_biogpt, tmp_path):
    import os

    blocked = tmp_path / "a-file"
    blocked.write_text("the store cannot live under a file")
    with pytest.raises(ModelError, match="a-file/backbones: cannot write the model store"):
        ModelStore(blocked / "backbones").import_folder(tiny_biogpt, "x")
    if os.geteuid() != 0:  # root writes anywhere; a read-only folder stops everyone else
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ModelError, match="Permission denied"):
            ModelStore(locked / "backbones").import_folder(tiny_biogpt, "x")


# -- the CLI -----------------------------------------------------------------------------------------
def test_cli_import_list_remove(store, tiny_biogpt, tmp_path, capsys):
    assert cli.main(["import-backbone", str(tiny_biogpt), "--name", "cli-bio"]) == 0
    assert "use it with --backbone cli-bio" in capsys.readouterr().out
    assert cli.main(["backbones", "--verify"]) == 0
    out = capsys.readouterr().out
    assert "cli-bio: biogpt, 4 layers x 32" in out and "[checksums verified]" in out
    assert cli.main(["backbones", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "cli-bio" and listed[0]["spec"].startswith("biogpt:")

    broken = copy_of(tiny_biogpt, tmp_path / "broken")
    (broken / "merges.txt").unlink()
    assert cli.main(["import-backbone", str(broken)]) == 2
    err = capsys.readouterr().err
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith("cladmop: error:") and "merges.txt" in last and "Traceback" not in err
    assert cli.main(["remove-backbone", "cli-bio"]) == 0
    assert cli.main(["remove-backbone", "cli-bio"]) == 2


@pytest.mark.skipif(not (resources_dir() / "icd10_embeddings.safetensors").is_file(),
                    reason="needs the shipped ICD-10 table (installer/build_icd_table.sh builds it)")
def test_predict_with_an_imported_backbone_by_name(store, tmp_path, capsys):
    """A tiny BioGPT imported by name drives a model trained on it; `cladmop predict --backbone` runs."""
    import pandas as pd

    from engine.finetune_job import finetune_from_files
    from engine.training.pipeline import make_featurizer, run_pretraining
    from features_data import criteria_lines

    bio = build_tiny_biogpt(tmp_path / "biogpt", criteria_lines("phase_I_train.csv", 300))
    store.import_folder(bio, "biogpt-local")
    df = pd.read_csv(top_csv("phase_I_train.csv"))
    rows = pd.concat([df[df.label == 1].head(20), df[df.label == 0].head(20)])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    model = tmp_path / "model"
    featurizer = make_featurizer("biogpt-local", "criterion", "cpu")
    small = dict(d_model=16, n_heads=2, enrich_layers=1, group_sizes=(8, 4, 2), group_self_layers=1,
                 head_hidden=16, proj_dim=8)
    run_pretraining([tmp_path / "rows.csv"], model, backbone="biogpt-local", epochs=1, batch_size=16,
                    device="cpu", featurizer=featurizer, model_overrides=small)
    finetune_from_files(model, "I", [tmp_path / "rows.csv"], featurizer, device="cpu", epochs=1, batch_size=16)
    record = str(EXAMPLES / "NCT09990001.xml")
    code = cli.main(["predict", record, "--model", str(model), "--backbone", "biogpt-local", "--phase", "I",
                     "--json", "--no-ablation", "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    pred = json.loads(out.splitlines()[0])
    assert 0 < pred["probability"] < 1 and "biogpt-local" in pred["model"]
    assert cli.main(["predict", record, "--model", str(model), "--backbone", "minilm", "--phase", "I"]) == 2
    assert "384" in capsys.readouterr().err  # a backbone of another width is refused, not mis-read

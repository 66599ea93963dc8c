"""Shared helpers of the feature tests: a tiny BioGPT built on the spot, a blocked network, the encoder.

The tiny BioGPT is random (4 layers x 32) but loads exactly like a real microsoft/biogpt copy: a
`BioGptForCausalLM` checkpoint saved as safetensors, and a Moses + BPE vocabulary (vocab.json +
merges.txt, "</w>" word ends) trained with the `tokenizers` library on real criteria lines.
"""
from __future__ import annotations

import functools
import json
import socket
from pathlib import Path

import pytest

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0-3, as in microsoft/biogpt


def moses_words(lines: list[str]) -> list[list[str]]:
    """The words BioGptTokenizer feeds its BPE (sacremoses, the same options)."""
    from sacremoses import MosesTokenizer

    moses = MosesTokenizer(lang="en")
    return [moses.tokenize(line, aggressive_dash_splits=True, return_str=False, escape=True) for line in lines]


def train_biogpt_vocabulary(lines: list[str], vocab_size: int = 800):
    """A BPE trained with `tokenizers` in BioGPT's format; returns (vocab dict, merges list, tokenizer)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>", end_of_word_suffix="</w>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
                                  end_of_word_suffix="</w>", show_progress=False)
    tokenizer.train_from_iterator([" ".join(words) for words in moses_words(lines)], trainer)
    model = json.loads(tokenizer.to_str())["model"]
    merges = [m.split(" ") if isinstance(m, str) else list(m) for m in model["merges"]]
    return tokenizer.get_vocab(), merges, tokenizer


def write_biogpt_vocabulary(folder: Path, lines: list[str], vocab_size: int = 800, max_length: int = 64):
    """vocab.json + merges.txt (+ tokenizer_config.json) in `folder`; returns the `tokenizers` twin."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges, tokenizer = train_biogpt_vocabulary(lines, vocab_size)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=1), encoding="utf-8")
    (folder / "merges.txt").write_text("".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "BioGptTokenizer", "model_max_length": max_length}), encoding="utf-8")
    return tokenizer


def build_tiny_biogpt(folder: Path, lines: list[str], *, layers: int = 4, hidden: int = 32, heads: int = 2,
                      max_positions: int = 64, vocab_size: int = 800, extra_config: dict | None = None) -> Path:
    import torch
    from transformers import BioGptConfig, BioGptForCausalLM

    folder = Path(folder)
    vocab = write_biogpt_vocabulary(folder, lines, vocab_size, max_positions).get_vocab()
    config = BioGptConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                          num_attention_heads=heads, intermediate_size=2 * hidden,
                          max_position_embeddings=max_positions, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    torch.manual_seed(0)
    BioGptForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    if extra_config:
        data = json.loads((folder / "config.json").read_text())
        data.update(extra_config)
        (folder / "config.json").write_text(json.dumps(data, indent=2))
    return folder


@functools.lru_cache(maxsize=1)
def minilm_encoder():
    """The default backbone on the CPU, loaded once per test session."""
    from engine.features.backbones import load_backbone

    return load_backbone("minilm", "cpu")


class ForwardCounter:
    """Counts the model's real forward passes and the sequences (batch rows) in them."""

    def __init__(self, encoder):
        self.calls = 0
        self.sequences = 0
        self._handle = encoder.model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.calls += 1
        self.sequences += int(ids.shape[0])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.remove()


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """Point `engine.paths.cache_dir()` at a fresh folder so no test touches the user's cache."""
    monkeypatch.setenv("CLADMOP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test loudly."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:] if len(args) > 1 else args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)

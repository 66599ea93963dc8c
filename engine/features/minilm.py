"""The default backbone, all-MiniLM-L6-v2, in plain torch and `tokenizers`: no transformers import.

Importing transformers and building the model through its auto classes took 2.6 s of a 5 s cold start on
the 2-core machine; this BERT encoder is the same arithmetic (post-norm layers, exact GELU, absolute
positions, token type 0) on the same safetensors weights, and the tokenizer is the same `tokenizers`
file that transformers' fast BERT tokenizer wraps. tests/test_features_backbones.py holds both to
transformers' states and token ids on real criteria. Other backbones (BioGPT, any local folder) still
load through transformers (engine/features/backbones.py).

The objects answer what `TextEncoder` asks of a transformers model and tokenizer, and nothing more.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class BertConfig:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    vocab_size: int
    type_vocab_size: int
    layer_norm_eps: float
    hidden_act: str = "gelu"

    @classmethod
    def read(cls, folder: Path) -> "BertConfig":
        data = json.loads((folder / "config.json").read_text())
        if data.get("model_type") != "bert" or data.get("hidden_act", "gelu") != "gelu" or \
                data.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{folder}: not a plain BERT configuration")
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def get_text_config(self) -> "BertConfig":
        return self


class _Layer(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        h = c.hidden_size
        self.heads = c.num_attention_heads
        self.query, self.key, self.value, self.out = (nn.Linear(h, h) for _ in range(4))
        self.norm1 = nn.LayerNorm(h, eps=c.layer_norm_eps)
        self.up, self.down = nn.Linear(h, c.intermediate_size), nn.Linear(c.intermediate_size, h)
        self.norm2 = nn.LayerNorm(h, eps=c.layer_norm_eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, n, h = x.shape
        split = lambda t: t.view(b, n, self.heads, h // self.heads).transpose(1, 2)  # noqa: E731
        a = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)),
                                           attn_mask=keep)
        x = self.norm1(x + self.out(a.transpose(1, 2).reshape(b, n, h)))
        return self.norm2(x + self.down(F.gelu(self.up(x))))


class MiniBert(nn.Module):
    """BertModel's encoder: `forward` returns `hidden_states` (embeddings + every layer) and
    `last_hidden_state`, as transformers' does with output_hidden_states=True."""

    #: the checkpoint's architecture: the backbone id (hence the encoder cache) is that of transformers' load
    checkpoint_class = "BertModel"
    #: this module's parameter names -> the checkpoint's (transformers' BertModel layout)
    _RENAME = {"query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
               "out": "attention.output.dense", "norm1": "attention.output.LayerNorm",
               "up": "intermediate.dense", "down": "output.dense", "norm2": "output.LayerNorm"}

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = c = config
        self.word = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.layers = nn.ModuleList(_Layer(c) for _ in range(c.num_hidden_layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                output_hidden_states: bool = True):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word(input_ids) + self.position(positions)[None] + self.token_type.weight[0]
        x = self.norm(x)
        keep = attention_mask.bool()[:, None, None, :]
        hidden = [x]
        for layer in self.layers:
            x = layer(x, keep)
            hidden.append(x)
        return SimpleNamespace(hidden_states=tuple(hidden), last_hidden_state=x)

    def load_checkpoint(self, path: Path) -> "MiniBert":
        from safetensors.torch import load_file

        saved = load_file(str(path))
        self.load_state_dict({name: saved[self._checkpoint_name(name)] for name in self.state_dict()})
        return self.eval()

    def _checkpoint_name(self, name: str) -> str:
        top = {"word.weight": "embeddings.word_embeddings.weight",
               "position.weight": "embeddings.position_embeddings.weight",
               "token_type.weight": "embeddings.token_type_embeddings.weight",
               "norm.weight": "embeddings.LayerNorm.weight", "norm.bias": "embeddings.LayerNorm.bias"}
        if name in top:
            return top[name]
        _, index, part, kind = name.split(".")
        return f"encoder.layer.{index}.{self._RENAME[part]}.{kind}"


class FastTokenizer:
    """The folder's tokenizer.json through `tokenizers`, with the call transformers' fast tokenizers
    answer: ids (and character offsets) of a text or of a list of texts, with or without [CLS]/[SEP]."""

    is_fast = True

    def __init__(self, folder: Path):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tok.no_truncation()
        self._tok.no_padding()
        self.pad_token_id = self._tok.token_to_id("[PAD]")
        self.model_max_length = 512

    def __call__(self, texts, add_special_tokens: bool = True, return_offsets_mapping: bool = False, **_):
        single = isinstance(texts, str)
        encodings = self._tok.encode_batch([texts] if single else list(texts), add_special_tokens=add_special_tokens)
        out = {"input_ids": [e.ids for e in encodings]}
        if return_offsets_mapping:
            out["offset_mapping"] = [e.offsets for e in encodings]
        return {k: v[0] for k, v in out.items()} if single else out


def load_minilm(folder: Path) -> tuple[MiniBert, FastTokenizer]:
    # Built on the CPU, not the meta device: initialising on the meta device imports torch._refs and
    # torch._prims (1.6 s), where the random initialisation it would spare costs 0.1 s.
    return MiniBert(BertConfig.read(folder)).load_checkpoint(folder / "model.safetensors"), FastTokenizer(folder)

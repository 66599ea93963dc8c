"""Building blocks: pre-norm attention layers and the grouping layer/block of CLaDMoP.

All attention goes through `Attention`, whose projections are plain `nn.Linear` layers named
q/k/v/o, so peft's LoRA adapts them the standard way. (peft can also wrap `nn.MultiheadAttention`,
but it does so by merging and unmerging the LoRA delta into the frozen weights on every forward: the
frozen weights drift by rounding error, and two threads predicting at once would race on them.)
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head attention that can return its weights (averaged over heads) for attention maps."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        if d % heads:
            raise ValueError(f"d_model {d} is not divisible by {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

    def _split(self, x):
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = False):
        q, k, v = self._split(self.q(query)), self._split(self.k(key)), self._split(self.v(value))
        keep = None if key_padding_mask is None else ~key_padding_mask[:, None, None, :]
        p = self.dropout if self.training else 0.0
        if not need_weights:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=p)
            weights = None
        else:
            scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
            if keep is not None:
                scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
            attn = scores.softmax(-1)
            weights = attn.mean(1)
            out = F.dropout(attn, p, self.training) @ v
        b, h, n, dh = out.shape
        return self.o(out.transpose(1, 2).reshape(b, n, h * dh)), weights


class FeedForward(nn.Module):
    def __init__(self, d: int, dropout: float, mult: int = 4):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, mult * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(mult * d, d))

    def forward(self, x):
        return self.net(x)


class SelfAttentionLayer(nn.Module):
    """Pre-norm transformer layer; padded keys are masked (True = padding)."""

    def __init__(self, d: int, heads: int, dropout: float, ffn_mult: int = 4):
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.attn = Attention(d, heads, dropout)
        self.norm2 = nn.LayerNorm(d)
        self.ff = FeedForward(d, dropout, ffn_mult)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(x)
        a, _ = self.attn(h, h, h, key_padding_mask=pad_mask, need_weights=False)
        x = x + self.drop(a)
        x = x + self.drop(self.ff(self.norm2(x)))
        if pad_mask is not None:  # keep padded rows at zero so they never leak into pooling
            x = x.masked_fill(pad_mask.unsqueeze(-1), 0.0)
        return x


class GroupingLayer(nn.Module):
    """Trainable centroids cross-attend to the input tokens, then S self-attention layers over them.

    Returns the updated centroids (B, n, d) and the cross-attention weights (B, n, N) averaged over heads.
    """

    def __init__(self, n_centroids: int, d: int, heads: int, self_layers: int, dropout: float,
                 ffn_mult: int = 4):
        super().__init__()
        self.centroids = nn.Parameter(torch.randn(n_centroids, d))  # N(0, 1) as in the paper
        self.norm_q = nn.LayerNorm(d)
        self.norm_kv = nn.LayerNorm(d)
        self.attn = Attention(d, heads, dropout)
        self.norm_ff = nn.LayerNorm(d)
        self.ff = FeedForward(d, dropout, ffn_mult)
        self.drop = nn.Dropout(dropout)
        self.self_layers = nn.ModuleList(SelfAttentionLayer(d, heads, dropout, ffn_mult) for _ in range(self_layers))

    def forward(self, tokens: torch.Tensor, pad_mask: torch.Tensor | None):
        c = self.centroids.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        kv = self.norm_kv(tokens)
        a, weights = self.attn(self.norm_q(c), kv, kv, key_padding_mask=pad_mask, need_weights=True)
        c = c + self.drop(a)
        c = c + self.drop(self.ff(self.norm_ff(c)))
        for layer in self.self_layers:
            c = layer(c)
        return c, weights


class GroupingBlock(nn.Module):
    """G grouping layers in a row (100 -> 50 -> 25 centroids): each groups the previous one's output."""

    def __init__(self, sizes, d: int, heads: int, self_layers: int, dropout: float, ffn_mult: int = 4):
        super().__init__()
        self.layers = nn.ModuleList(GroupingLayer(n, d, heads, self_layers, dropout, ffn_mult) for n in sizes)

    def forward(self, tokens: torch.Tensor, pad_mask: torch.Tensor):
        weights = []
        x, mask = tokens, pad_mask
        for layer in self.layers:
            x, w = layer(x, mask)
            weights.append(w)
            mask = None
        return x, weights


def rollout(weights: list[torch.Tensor]) -> torch.Tensor:
    """Each input token's share of a block's output: mean over final centroids of W_G ... W_1 (B, N)."""
    r = weights[-1]
    for w in reversed(weights[:-1]):
        r = r @ w
    return r.mean(dim=1)


class ResidualMLP(nn.Module):
    """The 3-layer residual prediction head: in -> hidden, two residual hidden layers, -> 1 logit."""

    def __init__(self, d_in: int, hidden: int, dropout: float):
        super().__init__()
        self.inp = nn.Sequential(nn.LayerNorm(d_in), nn.Linear(d_in, hidden))
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, hidden))
            for _ in range(2))
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, x, members: bool = False):
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        logit = self.out(h).squeeze(-1)
        return logit[..., None] if members else logit


class HeadEnsemble(nn.Module):
    """K independently initialised residual MLP heads, trained each on its own loss, logits averaged.

    With a thousand or so training trials, which epoch one head stops at is noisy; the mean of K heads
    (a deep ensemble, Lakshminarayanan et al. 2017) ranks trials better in cross-validation
    (MODEL_CARD.md). `members=True` gives the (..., K) logits that training needs."""

    def __init__(self, d_in: int, hidden: int, dropout: float, members: int):
        super().__init__()
        self.members = nn.ModuleList(ResidualMLP(d_in, hidden, dropout) for _ in range(members))

    def forward(self, x, members: bool = False):
        logits = torch.stack([m(x) for m in self.members], -1)
        return logits if members else logits.mean(-1)

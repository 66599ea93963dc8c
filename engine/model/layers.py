"""Building blocks: pre-norm attention layers and the grouping layer/block of CLaDMoP.

All attention goes through `nn.MultiheadAttention` modules named `attn` so that peft's LoRA can wrap
exactly the DM branch's attention (DESIGN.md §2) and the weights come back for attention maps.
"""
from __future__ import annotations

import torch
from torch import nn


class FeedForward(nn.Module):
    def __init__(self, d: int, dropout: float, mult: int = 4):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, mult * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(mult * d, d))

    def forward(self, x):
        return self.net(x)


class SelfAttentionLayer(nn.Module):
    """Pre-norm transformer layer; padded keys are masked (True = padding)."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(d)
        self.ff = FeedForward(d, dropout)
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

    def __init__(self, n_centroids: int, d: int, heads: int, self_layers: int, dropout: float):
        super().__init__()
        self.centroids = nn.Parameter(torch.randn(n_centroids, d))  # N(0, 1) as in the paper
        self.norm_q = nn.LayerNorm(d)
        self.norm_kv = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm_ff = nn.LayerNorm(d)
        self.ff = FeedForward(d, dropout)
        self.drop = nn.Dropout(dropout)
        self.self_layers = nn.ModuleList(SelfAttentionLayer(d, heads, dropout) for _ in range(self_layers))

    def forward(self, tokens: torch.Tensor, pad_mask: torch.Tensor | None):
        c = self.centroids.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        kv = self.norm_kv(tokens)
        a, weights = self.attn(self.norm_q(c), kv, kv, key_padding_mask=pad_mask,
                               need_weights=True, average_attn_weights=True)
        c = c + self.drop(a)
        c = c + self.drop(self.ff(self.norm_ff(c)))
        for layer in self.self_layers:
            c = layer(c)
        return c, weights


class GroupingBlock(nn.Module):
    """G grouping layers in a row (100 -> 50 -> 25 centroids): each groups the previous one's output."""

    def __init__(self, sizes, d: int, heads: int, self_layers: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(GroupingLayer(n, d, heads, self_layers, dropout) for n in sizes)

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

    def forward(self, x):
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h).squeeze(-1)

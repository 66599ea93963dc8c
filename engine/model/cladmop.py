"""The CLaDMoP network (docs/model.md, "Network"): DM branch, multi-level grouping fusion, InfoNCE and head.

The language model is not in here: its states arrive precomputed (and cached) in the Batch, which is
what makes CPU training and what-if re-prediction affordable.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.model.batch import Batch
from engine.model.config import ModelConfig
from engine.model.layers import GroupingBlock, HeadEnsemble, ResidualMLP, SelfAttentionLayer, rollout

SOURCE_MOLECULE, SOURCE_DISEASE, SOURCE_CRITERIA, SOURCE_PREVIOUS = range(4)


@dataclass
class Output:
    u_dm: torch.Tensor  # (B, 25, d) LayerNorm-ed output of the last grouping block = U^{D,M}
    f_c: torch.Tensor  # (B, text_dim) avgpool of the criteria's last-layer states (U^C)
    f_dm: torch.Tensor  # (B, d) avgpool of U^{D,M}
    #: per level: rolled-out weight of every input token of that block, (B, Nm + Nd + Nc [+ 25])
    token_weights: list[torch.Tensor]
    sizes: tuple[int, int, int]  # Nm, Nd, Nc of the batch


def masked_mean(x: torch.Tensor, pad_mask: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the unpadded rows of x (B, N, H), each row weighted by `weights` (B, N) if given."""
    keep = (~pad_mask).to(x.dtype) * (1.0 if weights is None else weights.to(x.dtype))
    keep = keep.unsqueeze(-1)
    return (x * keep).sum(1) / keep.sum(1).clamp(min=1e-6)  # all rows padded: zeros


class CLaDMoP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = c = config
        d, h, p = c.d_model, c.n_heads, c.dropout
        # molecule tokens
        self.mol_in = nn.Linear(c.mol_dim, d)
        self.mol_kind = nn.Embedding(5, d)  # segment / placebo / biologic / unresolved / none
        self.mol_position = nn.Embedding(c.max_drug_positions, d)
        self.mol_enrich = nn.ModuleList(SelfAttentionLayer(d, h, p, c.ffn_mult) for _ in range(c.enrich_layers))
        # disease tokens
        self.icd_in = nn.Linear(c.icd_dim, d)
        self.icd_kind = nn.Embedding(3, d)  # code / unresolved / none
        self.icd_position = nn.Embedding(c.max_icd_positions, d)
        self.icd_enrich = nn.ModuleList(SelfAttentionLayer(d, h, p, c.ffn_mult) for _ in range(c.enrich_layers))
        # criteria tokens, one projection per level
        self.crit_in = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(c.text_dim), nn.Linear(c.text_dim, d)) for _ in range(c.n_levels))
        self.crit_empty = nn.Parameter(torch.randn(c.n_levels, d) * 0.02)
        # fusion
        self.source = nn.Embedding(4, d)
        self.blocks = nn.ModuleList(
            GroupingBlock(c.group_sizes, d, h, c.group_self_layers, p, c.ffn_mult) for _ in range(c.n_levels))
        self.final_norm = nn.LayerNorm(d)
        # pre-training projections
        self.proj_c = nn.Linear(c.text_dim, c.proj_dim)
        self.proj_dm = nn.Linear(d, c.proj_dim)
        self.logit_scale = nn.Parameter(torch.tensor(float(c.tau)))
        # fine-tuning head
        head_p = p if c.head_dropout is None else c.head_dropout
        self.head = (ResidualMLP(c.text_dim + d, c.head_hidden, head_p) if c.head_members == 1 else
                     HeadEnsemble(c.text_dim + d, c.head_hidden, head_p, c.head_members))

    # -- branches ----------------------------------------------------------------------------------
    def _enrich(self, x, mask, layers):
        for layer in layers:
            x = layer(x, mask)
        return x

    def drug_disease_tokens(self, b: Batch) -> torch.Tensor:
        """What the grouping blocks read of the drugs and diseases (B, Nm + Nd, d): each modality enriched
        by its own layers and tagged with its source. A what-if on the criteria leaves them as they were,
        so the Predictor keeps them (engine/model/branch_cache.py)."""
        c = self.config
        mol = self.mol_in(b.mol_vectors) + self.mol_kind(b.mol_kind) + self.mol_position(
            b.mol_position.clamp(max=c.max_drug_positions - 1))
        mol = self._enrich(mol, b.mol_mask, self.mol_enrich)
        icd = self.icd_in(b.icd_vectors) + self.icd_kind(b.icd_kind) + self.icd_position(
            b.icd_position.clamp(max=c.max_icd_positions - 1))
        icd = self._enrich(icd, b.icd_mask, self.icd_enrich)
        return torch.cat([mol + self.source.weight[SOURCE_MOLECULE], icd + self.source.weight[SOURCE_DISEASE]], 1)

    def forward(self, b: Batch, fixed: torch.Tensor | None = None) -> Output:
        """`fixed`: the batch's `drug_disease_tokens`, when the caller already has them."""
        c = self.config
        fixed = self.drug_disease_tokens(b) if fixed is None else fixed
        fixed_mask = torch.cat([b.mol_mask, b.icd_mask], 1)
        crit_mask = b.crit_mask
        prev, token_weights = None, []
        for level, block in enumerate(self.blocks):
            crit = self.crit_in[level](b.crit_levels[:, level])
            if b.crit_empty.any():  # a trial with no criteria reads one learned placeholder token
                crit = torch.where(b.crit_empty[:, None, None], self.crit_empty[level].expand_as(crit), crit)
            crit = crit + self.source.weight[SOURCE_CRITERIA]
            parts, masks = [fixed, crit], [fixed_mask, crit_mask]
            if prev is not None:
                parts.append(prev + self.source.weight[SOURCE_PREVIOUS])
                masks.append(torch.zeros(prev.shape[:2], dtype=torch.bool, device=prev.device))
            prev, weights = block(torch.cat(parts, 1), torch.cat(masks, 1))
            token_weights.append(rollout(weights))
        u_dm = self.final_norm(prev)
        crit_final_mask = b.crit_mask | b.crit_empty[:, None]
        f_c = masked_mean(b.crit_final, crit_final_mask,
                          b.crit_tokens if c.crit_pool == "token" else None)
        return Output(u_dm=u_dm, f_c=f_c, f_dm=u_dm.mean(1), token_weights=token_weights,
                      sizes=(b.mol_mask.shape[1], b.icd_mask.shape[1], b.crit_mask.shape[1]))

    # -- objectives ---------------------------------------------------------------------------------
    def contrastive_logits(self, out: Output) -> torch.Tensor:
        fc = F.normalize(self.proj_c(out.f_c), dim=-1)
        fdm = F.normalize(self.proj_dm(out.f_dm), dim=-1)
        return self.logit_scale.exp() * fc @ fdm.T

    def contrastive_loss(self, b: Batch) -> torch.Tensor:
        """Symmetric InfoNCE: the i-th criteria belong with the i-th drugs/diseases."""
        logits = self.contrastive_logits(self(b))
        target = torch.arange(logits.shape[0], device=logits.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))

    def classify(self, b: Batch) -> tuple[torch.Tensor, Output]:
        return classify(self, b)


def head_input(out: Output) -> torch.Tensor:
    """What the head reads: concat(avgpool(U^C), avgpool(U^DM))."""
    return torch.cat([out.f_c, out.f_dm], -1)


def classify(model: nn.Module, b: Batch, members: bool = False,
             fixed: torch.Tensor | None = None) -> tuple[torch.Tensor, Output]:
    """Logits (B,), or (B, K) per head member with `members`, and the branch's output, for a CLaDMoP or
    a peft model around one: the forward goes through the wrapper so the active LoRA adapter applies.
    `fixed`: the batch's drug/disease tokens when the caller kept them (CLaDMoP.drug_disease_tokens)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    out = model(b) if fixed is None else model(b, fixed=fixed)
    return base.head(head_input(out), members=members), out


def set_branch_dropout(model: nn.Module, p: float) -> None:
    """Dropout rate of every layer except the head's. Fine-tuning runs the frozen DM branch at 0: its
    dropout masks cost 60-70% of a CPU training step (benchmarks/cv_model.py runs) and LoRA + early
    stopping regularise enough."""
    from engine.model.layers import Attention

    for name, m in model.named_modules():
        if name == "head" or name.startswith("head."):
            continue
        if isinstance(m, nn.Dropout):
            m.p = p
        elif isinstance(m, Attention):
            m.dropout = p


def lora_target_modules(model: nn.Module) -> list[str]:
    """The q/k/v/o projections of every attention module of the DM branch (what LoRA adapts)."""
    from engine.model.layers import Attention

    return [f"{name}.{proj}" for name, m in model.named_modules() if isinstance(m, Attention)
            for proj in ("q", "k", "v", "o")]

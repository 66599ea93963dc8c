"""Hyper-parameters of the CLaDMoP network, saved as JSON beside every checkpoint."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ModelConfig:
    # inputs (set from the featurizers in use)
    text_dim: int = 384  # hidden size of the language-model backbone
    mol_dim: int = 1024  # DeepChem CircularFingerprint size of a molecule segment
    icd_dim: int = 64  # ICD-10 embedding size
    backbone: str = "minilm"
    granularity: str = "criterion"  # "criterion" | "token"
    # DM branch
    d_model: int = 128
    n_heads: int = 8
    enrich_layers: int = 4  # self-attention layers per modality ("information enrichment")
    group_sizes: tuple[int, ...] = (100, 50, 25)  # G = 3 grouping layers per block
    group_self_layers: int = 2  # S self-attention layers over the centroids
    n_levels: int = 3  # coarse, medium, fine: one grouping block each
    max_drug_positions: int = 32
    max_icd_positions: int = 32
    dropout: float = 0.1
    #: width of the feed-forward layers as a multiple of d_model. The paper does not state it; 2 instead
    #: of the usual 4 halves the cost of the 100-centroid layers, which dominate CPU training time
    ffn_mult: int = 2
    # pre-training (InfoNCE)
    proj_dim: int = 128
    tau: float = 0.6  # logits = exp(tau) * cos; learnable, initialised as in the paper
    #: f_c = avgpool(U^C): "item" averages the criteria rows (version 0), "token" weighs each row by the
    #: tokens behind it, the paper's average over the criteria's tokens (better in cross-validation)
    crit_pool: str = "item"
    # classification head: 3-layer residual MLP on concat(avgpool(U^C), avgpool(U^DM))
    head_hidden: int = 256
    #: heads averaged (HeadEnsemble); 1 is the paper's single head (and version 0's checkpoints)
    head_members: int = 1
    #: the head's own dropout; None: `dropout`
    head_dropout: float | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.crit_pool not in ("item", "token"):
            raise ValueError(f"crit_pool must be 'item' or 'token', not {self.crit_pool!r}")
        if self.head_members < 1:
            raise ValueError(f"head_members must be at least 1, not {self.head_members}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        data = dict(data)
        if "group_sizes" in data:
            data["group_sizes"] = tuple(data["group_sizes"])
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> "ModelConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))

"""Every training setting and its default, once: the wizard, `cladmop pretrain/finetune`, the default
model's recipe and the benchmarks start from these dataclasses and change only what they are given.
Torch-free, so the CLI can show the defaults in its help without loading torch."""
from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass
class FitConfig:
    epochs: int = 30
    batch_size: int = 128
    patience: int = 5  # epochs without improvement of the monitored score before stopping
    seed: int = 0
    grad_clip: float = 1.0
    weight_decay: float = 0.0


@dataclass
class PretrainConfig:
    fit: FitConfig = field(default_factory=lambda: FitConfig(epochs=40, batch_size=128, patience=5))
    lr: float = 1e-4  # Adam, as in the paper
    #: dropout while pre-training; 0 because dropout masks cost 60-70% of a CPU step (set_branch_dropout)
    #: and early stopping on the validation loss guards against over-fitting
    dropout: float = 0.0


@dataclass
class FinetuneConfig:
    fit: FitConfig = field(default_factory=lambda: FitConfig(epochs=30, batch_size=64, patience=3))
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    #: dropout inside the frozen DM branch while fine-tuning (the head keeps its own); see set_branch_dropout
    branch_dropout: float = 0.0
    # Defaults: what cross-validation kept for the default model (MODEL_CARD.md). The paper's rates
    # (5e-2 LoRA / 1e-2 head; lr_lora=None) did not learn here: validation ROC-AUC < 0.5.
    lr_head: float = 1e-4
    lr_lora: float | None = 1e-4  # None: the paper's choice, 5e-2 for phases I/II and 1e-3 for III
    #: what early stopping watches, in both stages: one of MONITORS (recipe v2 and later: the calibrated loss)
    monitor: str = "calibrated_loss"
    #: stage 1: epochs of the head alone on the frozen branch (0: no stage 1), AdamW with these
    head_epochs: int = 60
    head_lr: float = 1e-4
    head_weight_decay: float = 0.05

    def lora_lr(self, phase: str) -> float:
        return self.lr_lora if self.lr_lora is not None else (1e-3 if phase == "III" else 5e-2)


#: what early stopping can watch. `loss`: the validation BCE of the raw logits. `calibrated_loss`: the
#: validation BCE after fitting the served calibration (fit_calibration) to those logits, so an epoch is
#: judged on the probabilities it would serve. Training is class-weighted, which shifts the raw logits;
#: the plain loss counts that shift against an epoch although the calibration removes it, and on some
#: inner splits it stopped at epochs 4-11 of 60, well before the ranking peaked (MODEL_CARD.md).
#: `roc_auc`, `pr_auc`: rank metrics (noisy on a few hundred validation trials).
RANK_MONITORS = ("roc_auc", "pr_auc")
MONITORS = ("loss", "calibrated_loss") + RANK_MONITORS


def _given(value, default):
    return default if value is None else value


def finetune_settings(epochs: int | None = None, head_epochs: int | None = None, batch_size: int | None = None,
                      seed: int = 0, patience: int | None = None) -> FinetuneConfig:
    """FinetuneConfig's defaults, with the settings that are given (not None) in their place."""
    config = FinetuneConfig()
    fit = config.fit
    config.fit = replace(fit, epochs=_given(epochs, fit.epochs), batch_size=_given(batch_size, fit.batch_size),
                         patience=_given(patience, fit.patience), seed=seed)
    config.head_epochs = _given(head_epochs, config.head_epochs)
    return config


def pretrain_settings(epochs: int | None = None, batch_size: int | None = None, lr: float | None = None,
                      seed: int = 0) -> PretrainConfig:
    """PretrainConfig's defaults, with the settings that are given (not None) in their place."""
    config = PretrainConfig()
    fit = config.fit
    config.fit = replace(fit, epochs=_given(epochs, fit.epochs), batch_size=_given(batch_size, fit.batch_size),
                         seed=seed)
    config.lr = _given(lr, config.lr)
    return config

"""Training cost of the default model's recipe on this machine (CPU or CUDA): steps per second at the
shipped sizes, and what that means for `cladmop train-default`.

    installer/dev.sh python benchmarks/bench_train.py [--device auto|cpu|cuda] [--steps 5]
        [--granularity criterion|token]

Uses synthetic features of the learning rows' typical sizes (criteria items, drug segments and ICD codes
drawn around the TOP means), so it needs no data and no language model: the frozen encoder's cost is a
one-off (its states are cached) and bench_encoder_cache.py measures it. Prints seconds per step for
pre-training (InfoNCE, batch 128), the head-first stage (per epoch over 1,300 trials), LoRA fine-tuning
(batch 64) and inference (trials/s), then the recipe's wall time from those rates.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# the recipe's sizes (engine/training/recipe.py; MODEL_CARD.md)
PRETRAIN_ROWS, FINETUNE_ROWS = 1534, 1626
PRETRAIN_EPOCHS, HEAD_EPOCHS, LORA_EPOCHS = 12, 60, 3
#: criteria vectors per trial: items at criterion granularity; text tokens at token granularity (TOP's
#: median is 430 MiniLM tokens, engine/features/text_encoder.py)
CRITERIA_RANGE = {"criterion": (8, 60), "token": (200, 700)}


def synthetic(config, n: int, seed: int = 0, granularity: str = "criterion"):
    from engine.features.types import ICD_CODE, MOL_SEGMENT, TrialFeatures

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        n_c, n_m, n_d = int(rng.integers(*CRITERIA_RANGE[granularity])), int(rng.integers(1, 12)), int(rng.integers(1, 5))
        out.append(TrialFeatures(
            mol_vectors=(rng.random((n_m, config.mol_dim)) < 0.05).astype(np.float32),
            mol_kind=np.full(n_m, MOL_SEGMENT), mol_position=np.arange(n_m) % 4, mol_segments=[None] * n_m,
            icd_vectors=rng.normal(size=(n_d, config.icd_dim)).astype(np.float32),
            icd_kind=np.full(n_d, ICD_CODE), icd_position=np.arange(n_d), icd_codes=["X"] * n_d,
            crit_levels=rng.normal(size=(3, n_c, config.text_dim)).astype(np.float32),
            crit_final=rng.normal(size=(n_c, config.text_dim)).astype(np.float32), crit_item=np.arange(n_c) if granularity == "criterion" else np.arange(n_c) // 15))
    return out


def timed(fn, steps: int, sync) -> float:
    fn()  # warm-up (allocations, kernels)
    sync()
    started = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return (time.perf_counter() - started) / steps


def main() -> None:
    import torch

    from engine.device import resolve_device
    from engine.model.batch import collate
    from engine.model.cladmop import CLaDMoP, classify, set_branch_dropout
    from engine.model.config import ModelConfig
    from engine.training.finetune import member_loss, attach_lora
    from engine.training.config import FinetuneConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--granularity", choices=tuple(CRITERIA_RANGE), default="criterion")
    args = ap.parse_args()
    dev = resolve_device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    torch.manual_seed(0)
    config = ModelConfig(head_members=5, head_dropout=0.3, granularity=args.granularity)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {dev} ({name}), torch {torch.__version__}, {args.granularity} granularity")

    model = CLaDMoP(config)
    set_branch_dropout(model, 0.0)
    model = model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    pre_batch = collate(synthetic(config, 128, 1, args.granularity)).to(dev)

    def pre_step():
        opt.zero_grad(set_to_none=True)
        model.contrastive_loss(pre_batch).backward()
        opt.step()

    pre = timed(pre_step, args.steps, sync)

    ft_model = attach_lora(CLaDMoP(config), FinetuneConfig()).to(dev)
    for n, p in ft_model.named_parameters():
        p.requires_grad = "lora_" in n or "modules_to_save" in n
    ft_opt = torch.optim.Adam([p for p in ft_model.parameters() if p.requires_grad], lr=1e-4)
    ft_batch = collate(synthetic(config, 64, 2, args.granularity)).to(dev)
    y = torch.randint(0, 2, (64,), device=dev).float()
    base = ft_model.get_base_model()

    def ft_step():
        ft_opt.zero_grad(set_to_none=True)
        logits, _ = classify(ft_model, ft_batch, members=True)
        member_loss(logits, y, torch.tensor(1.0, device=dev)).backward()
        ft_opt.step()

    ft = timed(ft_step, args.steps, sync)

    def infer():
        with torch.no_grad():
            classify(ft_model, ft_batch)

    infer_s = timed(infer, args.steps, sync)
    x = torch.randn(FINETUNE_ROWS, config.text_dim + config.d_model, device=dev)
    yy = torch.randint(0, 2, (FINETUNE_ROWS,), device=dev).float()
    head_opt = torch.optim.AdamW(base.head.parameters(), lr=1e-4, weight_decay=0.05)

    def head_epoch():
        for s in range(0, FINETUNE_ROWS, 64):
            head_opt.zero_grad(set_to_none=True)
            member_loss(base.head(x[s:s + 64], members=True), yy[s:s + 64], torch.tensor(1.0, device=dev)).backward()
            head_opt.step()

    head = timed(head_epoch, max(1, args.steps // 2), sync)

    pre_epoch = pre * np.ceil(PRETRAIN_ROWS / 128)
    lora_epoch = ft * np.ceil(FINETUNE_ROWS / 64)
    branch_pass = infer_s * np.ceil(FINETUNE_ROWS / 64)
    total = PRETRAIN_EPOCHS * pre_epoch + branch_pass + HEAD_EPOCHS * head + LORA_EPOCHS * lora_epoch
    print(f"pre-training step (batch 128):      {pre:8.3f} s   epoch of {PRETRAIN_ROWS}: {pre_epoch:7.1f} s")
    print(f"LoRA fine-tuning step (batch 64):   {ft:8.3f} s   epoch of {FINETUNE_ROWS}: {lora_epoch:7.1f} s")
    print(f"inference (batch 64):               {infer_s:8.3f} s   {64 / infer_s:7.0f} trials/s")
    print(f"head-first stage, one epoch:        {head:8.3f} s")
    print(f"recipe estimate ({PRETRAIN_EPOCHS} pre-training + {HEAD_EPOCHS} head + {LORA_EPOCHS} LoRA epochs, "
          f"encoder states cached): {total / 60:.1f} min")


if __name__ == "__main__":
    main()

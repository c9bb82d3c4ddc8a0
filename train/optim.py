"""The optimiser (SGD as the reference code, or AdamW as the MAE family) and its per-iteration
schedule: linear warm-up, then flat, cosine or step decay."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import nn


def build_optimizer(
    model: nn.Module,
    kind: str,
    lr: float,
    momentum: float,
    weight_decay: float,
    *,
    slow: Iterable[nn.Module] = (),
    slow_factor: float = 1.0,
) -> torch.optim.Optimizer:
    """SGD or AdamW (`kind`) over the parameters that train: those of `slow` (a pretrained trunk
    being fine-tuned) at lr x slow_factor, in a second parameter group; the rest at lr, in the
    first. At factor 1 there is one group, as before the option existed, so older checkpoints
    resume. AdamW ignores momentum (its betas are torch's)."""
    held = {id(p) for module in slow for p in module.parameters()} if slow_factor != 1 else set()
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if id(p) not in held], "lr": lr},
        {"params": [p for p in trainable if id(p) in held], "lr": lr * slow_factor},
    ]
    groups = [g for g in groups if g["params"]]
    if kind == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)


def warmup_schedule(
    optimizer: torch.optim.Optimizer,
    *,
    steps_per_epoch: int,
    epochs: int,
    warmup_epochs: float,
    warmup_factor: float = 1e-5,
    kind: str = "flat",
    milestones: Sequence[int] = (),
    gamma: float = 0.5,
) -> torch.optim.lr_scheduler.LambdaLR:
    """The reference's WarmupMultiStepLR, stepped per iteration: the factor rises linearly
    from warmup_factor to 1 over the warm-up, then stays (flat), follows a cosine to 0, or is
    multiplied by gamma at each milestone epoch (step)."""
    warmup = int(round(warmup_epochs * steps_per_epoch))
    total = max(1, epochs * steps_per_epoch)
    bounds = [m * steps_per_epoch for m in milestones]

    def factor(step: int) -> float:
        if step < warmup:
            alpha = step / warmup
            return warmup_factor * (1 - alpha) + alpha
        if kind == "cosine":
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return gamma ** sum(step >= b for b in bounds)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

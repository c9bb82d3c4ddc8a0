"""SGD and its per-iteration schedule: linear warm-up, then flat, cosine or step decay."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def sgd(
    modules: nn.Module, lr: float, momentum: float, weight_decay: float
) -> torch.optim.Optimizer:
    params = [p for p in modules.parameters() if p.requires_grad]
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


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

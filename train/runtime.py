"""What the training loops share (pretraining and fine-tuning), so that both run alike: the
autocast, the loader and its steps per epoch, SGD with its schedule, one checked optimiser
step, the epoch's progress bar, and what a checkpoint holds besides weights."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from c2p4d.train import checkpoint
from c2p4d.train.config import ConfigError, OptimConfig, from_dict, to_dict
from c2p4d.train.data import ClipDataset
from c2p4d.train.optim import build_optimizer, warmup_schedule


class TrainingError(RuntimeError):
    """Training cannot go on (a loss that is not finite); the last checkpoint is kept."""


def autocast(bf16: bool, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when asked, else nothing."""
    if not bf16:
        return contextlib.nullcontext()
    if device.type != "cuda":
        raise ConfigError("bf16=true needs --device cuda (autocast in bf16 is for GPUs here)")
    return torch.autocast("cuda", dtype=torch.bfloat16)


def loader(dataset: ClipDataset, batch_size: int, workers: int) -> DataLoader:
    """Full batches only; workers restart each epoch so that they see `set_epoch`."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        drop_last=True,
        persistent_workers=False,
    )


def batches_per_epoch(dataset: ClipDataset, batch_size: int, workers: int) -> int:
    """Full batches a DataLoader makes of one epoch: each worker drops its own last partial
    batch, so this is the sum over workers (the same on every rank)."""
    shares = max(1, workers)
    return sum(len(dataset.share(0, w, shares)) // batch_size for w in range(shares))


def optimiser(
    model: nn.Module,
    optim: OptimConfig,
    steps_per_epoch: int,
    *,
    slow: Iterable[nn.Module] = (),
    slow_factor: float = 1.0,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """The optimiser over the parameters that train (those of `slow` at lr x slow_factor), and
    its per-iteration schedule."""
    optimizer = build_optimizer(
        model,
        optim.optimizer,
        optim.lr,
        optim.momentum,
        optim.weight_decay,
        slow=slow,
        slow_factor=slow_factor,
    )
    scheduler = warmup_schedule(
        optimizer,
        steps_per_epoch=steps_per_epoch,
        epochs=optim.epochs,
        warmup_epochs=optim.warmup_epochs,
        warmup_factor=optim.warmup_factor,
        kind=optim.schedule,
        milestones=optim.milestones,
        gamma=optim.gamma,
    )
    return optimizer, scheduler


def epoch_bar(batches: Iterable, steps: int, epoch: int, epochs: int, show: bool) -> tqdm:
    return tqdm(
        batches, total=steps, desc=f"epoch {epoch + 1}/{epochs}", disable=not show, leave=False
    )


def step(
    loss: torch.Tensor,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    grad_clip: float,
    where: str,
    run_dir: Path,
) -> None:
    """One optimiser and schedule step; a loss that is not finite stops the run (`where` says
    at which epoch and step) before it reaches the weights."""
    if not torch.isfinite(loss):
        raise TrainingError(
            f"the loss became {loss.item()} at {where}; the last good checkpoint is kept in "
            f"{run_dir / 'checkpoints'}: try a lower optim.lr or optim.grad_clip"
        )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    scheduler.step()


def state(
    optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR, **extra: Any
) -> dict[str, Any]:
    """A checkpoint's training state (beside the weights): what `--resume` restores."""
    return {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        **extra,
    }


def restore(
    saved: checkpoint.Checkpoint,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    run_dir: Path,
) -> int:
    """Weights, optimiser, schedule and RNG as saved; returns the epochs done."""
    expected = model.state_dict().keys()
    missing, unexpected = expected - saved.weights.keys(), saved.weights.keys() - expected
    if missing or unexpected:  # saved by a c2p4d whose model had other parts
        raise checkpoint.CheckpointError(
            f"{run_dir}: its checkpoint does not fit this version's model (missing "
            f"{sorted(missing) or 'nothing'}, unexpected {sorted(unexpected) or 'nothing'}); "
            "it cannot be resumed: start the run again in another --out"
        )
    model.load_state_dict(saved.weights)
    optimizer.load_state_dict(saved.state["optimizer"])
    scheduler.load_state_dict(saved.state["scheduler"])
    torch.set_rng_state(saved.state["torch_rng"])
    return saved.epoch


def check_kind(meta: dict[str, Any], kind: str, run_dir: Path, what: str) -> None:
    if meta.get("kind") != kind:
        raise checkpoint.CheckpointError(f"{run_dir} is not a {what} run")


def saved_config(run_dir: Path, kind: str, cls: type, what: str) -> Any:
    """The config a run was started with (its last checkpoint's copy)."""
    _, meta = checkpoint.load_weights(run_dir)
    check_kind(meta, kind, run_dir, what)
    return from_dict(cls, meta["config"])


def check_resumable(meta: dict[str, Any], kind: str, config: Any, run_dir: Path, what: str) -> None:
    """A run resumes only with the config it was started with (more epochs allowed)."""
    check_kind(meta, kind, run_dir, what)
    held = to_dict(from_dict(type(config), meta["config"]))  # fields added since: defaults
    asked = to_dict(config)
    differ = [k for k in asked if k != "optim" and held.get(k) != asked[k]]
    differ += [f"optim.{k}" for k in asked["optim"] if k != "epochs"
               and held["optim"].get(k) != asked["optim"][k]]  # fmt: skip
    if differ:
        raise checkpoint.CheckpointError(
            f"--resume {run_dir}: the run was started with other settings ({', '.join(differ)}); "
            "resume with its config (drop the changed options) or start a new run"
        )

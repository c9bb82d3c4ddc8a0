"""Fine-tuning on one of the paper's four tasks: one loop, shaped like pretraining's.

    store -> ClipDataset (labelled clips of `labels` % of the training sequences)
          -> the task model (its trunk from a C2P pretraining checkpoint, or from scratch)
          -> SGD or AdamW (msr's small preset), warm-up, milestones
          -> per-epoch val scores, checkpoints

What differs between tasks (targets, store checks, scoring) comes from the task table
(train/tasks.py). The val split picks the weights (checkpoints/best.safetensors); the test split
is left to `c2p-train evaluate` (train/evaluate.py), which reads it once. `resume=True`
continues from the run's last checkpoint, as pretraining does.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from c2p4d.models import Backbone, build, config_for
from c2p4d.pipeline.seeding import seed_from
from c2p4d.pipeline.sequence import SPLITS
from c2p4d.pipeline.store import Store
from c2p4d.train import checkpoint, distributed, runtime
from c2p4d.train.config import ConfigError, FinetuneConfig, ModelConfig, from_dict, to_dict
from c2p4d.train.data import Augment, ClipDataset
from c2p4d.train.evaluate import BEST, KIND, inputs, predict_split
from c2p4d.train.runlog import RunLog
from c2p4d.train.tasks import TASKS

PRETRAIN_KIND = "c2p-pretrain"


@dataclass
class Summary:
    task: str
    epochs: int
    steps: int
    seconds: float
    loss: float
    picked: dict[str, Any] | None  # epoch, metric, score of the weights val picked
    run_dir: Path
    model: Backbone = field(repr=False)

    def line(self) -> str:
        picked = "no val scores (the last epoch's weights are kept)"
        if self.picked:
            p = self.picked
            picked = f"best val {p['metric']} {p['score']:.1f} at epoch {p['epoch']}"
        return (
            f"fine-tuned {self.task} for {self.epochs} epochs ({self.steps} steps) in "
            f"{self.seconds / 60:.1f} min: loss {self.loss:.3f}, {picked}; test it with "
            f"`c2p-train evaluate {self.run_dir}`"
        )


def train_dataset(
    config: FinetuneConfig, store: Store, sequences: np.ndarray, rank: int, world: int
) -> ClipDataset:
    data = config.data
    return ClipDataset(
        store,
        split="train",
        sequences=sequences.tolist(),
        clip_frames=data.clip_frames,
        frame_stride=data.frame_stride,
        points=data.points,
        starts=config.train_starts,
        clips_per_sequence=data.clips_per_sequence,
        augment=Augment(scale=tuple(data.scale), rotate=data.rotate, jitter=data.jitter),
        seed=config.seed,
        shuffle_buffer=data.shuffle_buffer,
        rank=rank,
        world_size=world,
    )


def build_model(config: FinetuneConfig, num_classes: int) -> Backbone:
    """The task model, freshly initialised from the run's seed."""
    model = config.model
    torch.manual_seed(seed_from("finetune-init", config.seed))
    return build(model.backbone, model.task, num_classes, **model.overrides())


def trunk_modules(model: Backbone) -> list[torch.nn.Module]:
    return [m for name in model.trunk_modules() if (m := getattr(model, name, None)) is not None]


def load_init(model: Backbone, config: FinetuneConfig) -> dict[str, Any]:
    """Load the student trunk of a C2P pretraining checkpoint (saved with or without DDP's
    `module.` prefix) into the model; the head stays new. Returns what was loaded and not."""
    source = config.init
    weights, meta = checkpoint.load_weights(source)
    if meta.get("kind") != PRETRAIN_KIND:
        raise checkpoint.CheckpointError(
            f"--init {source} is not a C2P pretraining checkpoint ({meta.get('kind')})"
        )
    held = from_dict(ModelConfig, meta["config"]["model"])
    asked = config.model
    if held.backbone != asked.backbone:
        raise checkpoint.CheckpointError(
            f"--init {source} holds a {held.backbone} trunk, this run fine-tunes {asked.backbone}: "
            f"pass --backbone {held.backbone} (with the pretraining's model options)"
        )
    plain = {k.removeprefix("module."): v for k, v in weights.items()}
    trunk = checkpoint.strip_prefix(plain, "student")
    differ = [
        f"model.{k}={v} (here {getattr(asked, k)})"
        for k, v in vars(held).items()
        if k != "task" and v != getattr(asked, k)
    ]
    try:
        new = model.load_trunk(trunk)
    except ValueError as error:
        cause = [f"{held.task}'s trunk"] if held.task != asked.task else []
        raise checkpoint.CheckpointError(
            f"--init {source} does not fit this {asked.task} model ({error}); it was pretrained "
            f"as {', '.join(cause + differ) or 'this model'}: fine-tune with the pretraining's "
            f"model options or pretrain with --task {asked.task}"
        ) from None
    scale = meta["config"].get("input_scale", 1.0)  # runs before the option: as stored
    if config.input_scale != scale:
        differ.append(f"input_scale={scale:g} (here {config.input_scale:g})")
    loaded = sorted(set(model.state_dict()) - set(new))
    return {
        "source": str(checkpoint.weights_path(source)),
        "pretrained_task": held.task,
        "loaded": loaded,
        "new": new,
        "unused": sorted(k for k in plain if k.removeprefix("student.") not in loaded),
        "model_options_that_differ": differ,
    }


def init_line(report: dict[str, Any]) -> str:
    def groups(names: list[str]) -> str:
        return ", ".join(sorted({n.split(".")[0] for n in names})) or "none"

    return (
        f"init: {len(report['loaded'])} trunk tensors ({groups(report['loaded'])}) from "
        f"{report['source']}; new: {len(report['new'])} ({groups(report['new'])}); not used: "
        f"{len(report['unused'])} ({groups(report['unused'])})"
        + "".join(f"; note {d}" for d in report["model_options_that_differ"])
    )


def check_same_labels(listed: Path, names: list[str]) -> None:
    """A resumed run goes on with the labelled sequences it started with; the draw of a task
    with one label per sequence became class by class, so a run started before differs."""
    if listed.exists() and listed.read_text().split() != names:
        raise ConfigError(
            f"{listed} lists other labelled sequences than this version draws for the same "
            "labels and seed; the run cannot resume, start it again in another --out"
        )


def resumed_config(run_dir: Path) -> FinetuneConfig:
    """The config a fine-tuning run was started with (its checkpoint's copy)."""
    return runtime.saved_config(run_dir, KIND, FinetuneConfig, "fine-tuning")


def finetune(
    config: FinetuneConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = True
) -> Summary:
    run_dir = Path(run_dir)
    task = TASKS.get(config.model.task)
    dist = distributed.setup(config.device)
    device = dist.device
    autocast = runtime.autocast(config.bf16, device)

    store = Store.open(config.data.store)
    model_options = config.model.overrides()
    task.check_store(
        store, config_for(config.model.backbone, task.name, **model_options).in_channels
    )
    names = task.label_names(store)
    labelled = task.labelled(store, config.labels, config.seed)
    labelled_names = [store.names[s] for s in labelled]
    dataset = train_dataset(config, store, labelled, dist.rank, dist.world_size)
    loader = runtime.loader(dataset, config.optim.batch_size, config.data.workers)
    steps_per_epoch = runtime.batches_per_epoch(
        dataset, config.optim.batch_size, config.data.workers
    )
    if steps_per_epoch == 0:
        raise ConfigError(
            f"{store.path}: {len(dataset)} training clips per process ({len(labelled)} labelled "
            f"sequences at labels={config.labels:g} %) make no batch of {config.optim.batch_size} "
            "per DataLoader worker; lower optim.batch_size or data.workers, or raise "
            "data.clips_per_sequence"
        )

    model = build_model(config, len(names)).to(device)
    init = load_init(model, config) if config.init and not resume else None
    trunk = trunk_modules(model)
    frozen = trunk if config.freeze else []
    for module in frozen:
        module.requires_grad_(False)
    optim = config.optim
    optimizer, scheduler = runtime.optimiser(
        model, optim, steps_per_epoch, slow=trunk, slow_factor=config.trunk_lr
    )
    start_epoch, picked = 0, None
    if resume:
        saved = checkpoint.load_latest(run_dir)
        runtime.check_resumable(saved.meta, KIND, config, run_dir, "fine-tuning")
        check_same_labels(run_dir / "labelled.txt", labelled_names)
        start_epoch = runtime.restore(saved, model, optimizer, scheduler, run_dir)
        picked = saved.meta.get("picked")
    meta = {
        "kind": KIND,
        "config": to_dict(config),
        "model": to_dict(model.config),
        "labels": names,
    }
    trainable = dist.wrap(model)
    score_key = f"val_{task.score}"
    log = RunLog(run_dir, meta, main=dist.main, start_epoch=start_epoch, scores=(score_key,))
    validate = config.evaluation.every > 0 and bool((store.splits == SPLITS.index("val")).any())
    if dist.main and not resume:
        (run_dir / "labelled.txt").write_text("\n".join(labelled_names) + "\n")
        if init:
            (run_dir / "init.json").write_text(json.dumps(init, indent=2) + "\n")
            tqdm.write(init_line(init))
        if not validate:
            tqdm.write(
                "no val scores (no val split, or evaluation.every=0): the last epoch is kept"
            )

    began, step = time.perf_counter(), start_epoch * steps_per_epoch
    mean_loss = math.nan
    for epoch in range(start_epoch, optim.epochs):
        dataset.set_epoch(epoch)
        model.train()
        for module in frozen:
            module.eval()  # a frozen trunk: BatchNorm statistics stay as loaded
        total, clips, epoch_began = 0.0, 0, time.perf_counter()
        bar = runtime.epoch_bar(
            loader, steps_per_epoch, epoch, optim.epochs, progress and dist.main
        )
        for batch in bar:
            with autocast:
                logits = trainable(*inputs(batch, model, device, config.input_scale))
            loss = task.loss(logits, batch[task.target].to(device))
            where = f"epoch {epoch + 1}, step {step + 1}"
            runtime.step(loss, model, optimizer, scheduler, optim.grad_clip, where, run_dir)
            step += 1
            clips += batch["complete"].shape[0] * dist.world_size
            values = {"loss": float(loss.detach()), "lr": optimizer.param_groups[0]["lr"]}
            log.step(step, epoch + 1, values)
            total += values["loss"]
            rate = clips / (time.perf_counter() - epoch_began)
            bar.set_postfix({"loss": f"{values['loss']:.3f}", "clips/s": f"{rate:.1f}"})
        bar.close()
        mean_loss = dist.mean(total / steps_per_epoch)
        epoch_values = {
            "loss": mean_loss,
            "clips_per_s": clips / (time.perf_counter() - epoch_began),
        }
        last = epoch + 1 == optim.epochs
        if dist.main and validate and ((epoch + 1) % config.evaluation.every == 0 or last):
            _, scores = predict_split(model, config, store, "val", device, progress)
            epoch_values.update({f"val_{k}": v for k, v in scores.metrics.items()})
            key = task.selection_key(scores.metrics)
            if picked is None or key > picked.get("key", [picked["score"]]):
                score = scores.metrics[task.score]
                picked = {"epoch": epoch + 1, "metric": task.score, "score": score, "key": key}
                best = run_dir / "checkpoints" / BEST
                checkpoint.save_weights(
                    best, epoch + 1, model.state_dict(), meta | {"picked": picked}
                )
        epoch_values["seconds"] = time.perf_counter() - epoch_began
        if dist.main:
            state = runtime.state(optimizer, scheduler)
            checkpoint.save(
                run_dir, epoch + 1, model.state_dict(), state, meta | {"picked": picked}
            )
            log.epoch(epoch + 1, epoch_values)
            val = (
                f", {score_key} {epoch_values[score_key]:.1f}" if score_key in epoch_values else ""
            )
            tqdm.write(
                f"epoch {epoch + 1}/{optim.epochs}: loss {mean_loss:.3f}{val}, "
                f"{epoch_values['clips_per_s']:.1f} clips/s"
            )
        dist.barrier()
    log.close()
    distributed.teardown()
    return Summary(
        task=task.name,
        epochs=optim.epochs - start_epoch,
        steps=step,
        seconds=time.perf_counter() - began,
        loss=mean_loss,
        picked=picked,
        run_dir=run_dir,
        model=model,
    )

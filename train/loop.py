"""C2P pretraining: one loop that reads top to bottom.

    store -> ClipDataset (complete + partial clips) -> C2P (student, teacher, predictors)
          -> SGD with warm-up -> per-epoch k-NN probe, checkpoint, curves

`pretrain(config, run_dir)` runs on one CPU, one GPU, or under torchrun (DDP, each rank
streaming its own share of the store). `resume=True` continues from the run's last checkpoint;
on the CPU its losses equal those of an uninterrupted run, since every clip is drawn from
(seed, epoch, sequence) and the model, optimiser, scheduler and RNG states are restored.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from c2p4d.models import build_student
from c2p4d.pipeline.seeding import seed_from
from c2p4d.pipeline.store import Store
from c2p4d.train import checkpoint, distributed, runtime
from c2p4d.train.c2p import PARTIAL_VIEWS, check_clip_length
from c2p4d.train.config import METHODS, ConfigError, PretrainConfig, to_dict
from c2p4d.train.data import Augment, ClipDataset, scale_points
from c2p4d.train.probe import KnnProbe
from c2p4d.train.runlog import RunLog
from c2p4d.train.runtime import batches_per_epoch

KIND = "c2p-pretrain"


@dataclass
class Summary:
    epochs: int
    steps: int
    seconds: float
    loss: float
    probe: float | None
    chance: float | None
    initial_probe: float | None
    checkpoint: Path | None
    model: torch.nn.Module = field(repr=False)
    # C2P's "teacher" gauge, first and last epoch of this run, and its chance: if it does not
    # fall from about chance, the teacher's frames stay one feature and L_geo teaches nothing
    # (DESIGN.md).
    teacher: tuple[float, float] | None = None
    teacher_chance: float | None = None

    def teacher_stuck(self) -> bool:
        """Whether the gauge ended within 5 % of chance (a teacher with nothing to teach)."""
        return (
            self.teacher is not None
            and self.teacher_chance is not None
            and self.teacher[1] > 0.95 * self.teacher_chance
        )

    def line(self) -> str:
        gauges = ""
        if self.probe is not None:
            start = "" if self.initial_probe is None else f"from {self.initial_probe:.1f} % "
            gauges = f", k-NN probe {start}to {self.probe:.1f} % (chance {self.chance:.1f} %)"
        if self.teacher is not None:
            gauges += f", teacher gauge {self.teacher[0]:.2f} to {self.teacher[1]:.2f}"
            if self.teacher_chance is not None:
                gauges += f" (chance {self.teacher_chance:.2f})"
        warning = (
            "; the teacher gauge is still near chance: the teacher gives a clip's frames about "
            "one feature, so L_geo has little to teach (DESIGN.md, on the msr small trunk)"
            if self.teacher_stuck()
            else ""
        )
        return (
            f"pretrained {self.epochs} epochs ({self.steps} steps) in {self.seconds / 60:.1f} min: "
            f"loss {self.loss:.3f}{gauges}; checkpoint {self.checkpoint}{warning}"
        )


def clip_dataset(config: PretrainConfig, store: Store, rank: int, world: int) -> ClipDataset:
    data = config.data
    augment = Augment(scale=tuple(data.scale), rotate=data.rotate, jitter=data.jitter)
    return ClipDataset(
        store,
        split="train",
        clip_frames=data.clip_frames,
        frame_stride=data.frame_stride,
        points=data.points,
        partial_views=partial_views(config),
        view_set=data.view_set,
        starts="random",
        clips_per_sequence=data.clips_per_sequence,
        augment=augment,
        seed=config.seed,
        shuffle_buffer=data.shuffle_buffer,
        rank=rank,
        world_size=world,
    )


def build_model(config: PretrainConfig) -> torch.nn.Module:
    """The method module (`config.method`) around a freshly initialised student trunk."""
    model = config.model
    torch.manual_seed(seed_from("pretrain-init", config.seed))
    student = build_student(model.backbone, model.task, **model.overrides())
    return METHODS.get(config.method)(student, getattr(config, config.method), model.backbone)


def partial_views(config: PretrainConfig) -> int:
    """How many partial views of each clip the method reads."""
    return PARTIAL_VIEWS[config.c2p.distillation] if config.method == "c2p" else 0


def resumed_config(run_dir: Path) -> PretrainConfig:
    """The config a run was started with (its checkpoint's copy)."""
    return runtime.saved_config(run_dir, KIND, PretrainConfig, "C2P pretraining")


def pretrain(
    config: PretrainConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = True
) -> Summary:
    run_dir = Path(run_dir)
    dist = distributed.setup(config.device)
    device = dist.device
    autocast = runtime.autocast(config.bf16, device)
    if config.method == "c2p":
        check_clip_length(config.c2p, config.data.clip_frames or 2**31)

    store = Store.open(config.data.store)
    dataset = clip_dataset(config, store, dist.rank, dist.world_size)
    loader = runtime.loader(dataset, config.optim.batch_size, config.data.workers)
    steps_per_epoch = batches_per_epoch(dataset, config.optim.batch_size, config.data.workers)
    if steps_per_epoch == 0:
        raise ConfigError(
            f"{store.path}: {len(dataset)} training clips per process make no batch of "
            f"{config.optim.batch_size}; lower optim.batch_size or raise data.clips_per_sequence"
        )

    model = build_model(config).to(device)
    optim = config.optim
    optimizer, scheduler = runtime.optimiser(model, optim, steps_per_epoch)
    start_epoch = 0
    if resume:
        saved = checkpoint.load_latest(run_dir)
        runtime.check_resumable(saved.meta, KIND, config, run_dir, "C2P pretraining")
        start_epoch = runtime.restore(saved, model, optimizer, scheduler, run_dir)
    meta = {"kind": KIND, "config": to_dict(config), "model": to_dict(model.student.config)}
    trainable = dist.wrap(model)
    log = RunLog(run_dir, meta, main=dist.main, start_epoch=start_epoch)
    probe = (
        KnnProbe(store, config.data, config.probe, config.seed, config.input_scale)
        if config.probe.every
        else None
    )
    if probe and probe.note and dist.main:
        tqdm.write(probe.note)

    began, step = time.perf_counter(), start_epoch * steps_per_epoch
    last_path, mean_loss, result, initial = None, math.nan, None, None
    gauges: list[float] = []
    gauge_chance = None
    if probe and dist.main and start_epoch == 0:
        initial = probe(model.student, device)  # the untrained trunk: what learning must beat
        if initial:
            log.epoch(0, {"probe_acc": initial.accuracy, "probe_chance": initial.chance})
            tqdm.write(f"before training: probe {initial.accuracy:.1f} % ({initial.chance:.1f})")
    for epoch in range(start_epoch, optim.epochs):
        dataset.set_epoch(epoch)
        model.train()
        totals: dict[str, float] = {}
        epoch_began, clips = time.perf_counter(), 0
        bar = runtime.epoch_bar(
            loader, steps_per_epoch, epoch, optim.epochs, progress and dist.main
        )
        for batch in bar:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            batch = scale_points(batch, config.input_scale)
            with autocast:
                terms = trainable(batch)
            where = f"epoch {epoch + 1}, step {step + 1}"
            runtime.step(
                terms["loss"], model, optimizer, scheduler, optim.grad_clip, where, run_dir
            )
            model.update_teacher()
            step += 1
            clips += batch["complete"].shape[0] * dist.world_size
            values = {k: float(v.detach()) for k, v in terms.items()}
            values["lr"] = optimizer.param_groups[0]["lr"]
            log.step(step, epoch + 1, values)
            for key, value in values.items():
                totals[key] = totals.get(key, 0.0) + value
            rate = clips / (time.perf_counter() - epoch_began)
            bar.set_postfix({k: f"{v:.3f}" for k, v in terms.items()} | {"clips/s": f"{rate:.1f}"})
        bar.close()
        means = {k: dist.mean(v / steps_per_epoch) for k, v in totals.items()}
        mean_loss = means["loss"]
        if "teacher" in means:
            gauges.append(means["teacher"])
            gauge_chance = means["teacher_chance"]
        epoch_values = dict(means, clips_per_s=clips / (time.perf_counter() - epoch_began))
        if probe and dist.main and (epoch + 1) % config.probe.every == 0:
            result = probe(model.student, device)
            if result:
                epoch_values.update(probe_acc=result.accuracy, probe_chance=result.chance)
        epoch_values["seconds"] = time.perf_counter() - epoch_began
        if dist.main:
            state = runtime.state(optimizer, scheduler)
            last_path = checkpoint.save(run_dir, epoch + 1, model.state_dict(), state, meta)
            log.epoch(epoch + 1, epoch_values)
            probe_text = (
                f", probe {result.accuracy:.1f} % (chance {result.chance:.1f} %)" if result else ""
            )
            tqdm.write(
                f"epoch {epoch + 1}/{optim.epochs}: "
                + ", ".join(f"{k} {v:.3f}" for k, v in means.items() if k != "lr")
                + probe_text
                + f", {epoch_values['clips_per_s']:.1f} clips/s"
            )
        dist.barrier()
    log.close()
    distributed.teardown()
    return Summary(
        epochs=optim.epochs - start_epoch,
        steps=step,
        seconds=time.perf_counter() - began,
        loss=mean_loss,
        probe=result.accuracy if result else None,
        chance=result.chance if result else None,
        initial_probe=initial.accuracy if initial else None,
        checkpoint=last_path,
        model=model,
        teacher=(gauges[0], gauges[-1]) if gauges else None,
        teacher_chance=gauge_chance,
    )

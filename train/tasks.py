"""The paper's four fine-tuning tasks as one table: what a task predicts, from which store,
scored how. The loop and the evaluation read this table; they hold no per-task branches.

    task           target (clip key)  per    default store           selects on (ties)
    hoi4d-actseg   action             frame  hoi4d, else synth-hoi    frame accuracy
    hoi4d-semseg   point_label        point  hoi4d-semseg, synth-hoi  mIoU
    synthia        point_label        point  synthia, synth-street    mIoU
    msr            label              clip   msr-action3d, synth-gesture   video (clip) accuracy
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from c2p4d.kernels.registry import Registry
from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.seeding import seed_from
from c2p4d.pipeline.store import Store
from c2p4d.train.config import ConfigError

SPLIT_TRAIN = 0

# The store array each target lives in, the names that label it, and the datasets whose
# stores carry it (their sources fill it).
LABELS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "action": ("frame/action", "action_names", ("hoi4d", "synth-hoi", "synth-gesture", "mocap")),
    "point_label": (
        "frame/point_label",
        "class_names",
        ("hoi4d-semseg", "synthia", "synth-hoi", "synth-street", "synth-gesture", "mocap"),
    ),
    "label": ("seq/label", "label_names", ("msr-action3d", "synth-gesture", "synth-hoi", "mocap")),
}
FEATURE_DATASETS = ("synthia", "synth-street")


@dataclass(frozen=True)
class Task:
    """One row of the table.

    kind: frames (one label per frame of a whole sequence), points (per point of short clips)
      or clips (one label per clip; a video's is the sum of its clips' probabilities).
    datasets: the stores used when none is given, the first found under the data folder
      (the real dataset first, the built-in stand-in last).
    score: the metric that picks the model on the val split.
    tie_break: the metric that decides between epochs of equal score, where the score is coarse
      (40 val videos score in steps of 2.5 %; their clips' accuracy rarely ties). Without it
      the first of them wins, which favours the least trained weights.
    eval_step: frames between evaluated clip starts: 1 (every start, as P4Transformer's MSR
      test and a strided whole sequence's phases), or 0 for one clip after another (HOI4D
      semseg's test clips).
    excluded: per dataset, label ids left out of the mIoU (HOI4D_SemSeg skips ids 0 and 1).
    absent: a class absent from the truth is skipped (HOI4D_SemSeg) or counts 0 (Synthia).
    """

    name: str
    target: str
    kind: Literal["frames", "points", "clips"]
    datasets: tuple[str, ...]
    score: str
    eval_step: int
    excluded: dict[str, tuple[int, ...]] = field(default_factory=dict)
    absent: Literal["skip", "zero"] = "skip"
    tie_break: str | None = None

    def label_names(self, store: Store) -> list[str]:
        return list(getattr(store, LABELS[self.target][1]))

    def check_store(self, store: Store, in_channels: int) -> None:
        """The store has this task's labels, and the features the model reads."""
        array, names, holders = LABELS[self.target]
        if not getattr(store, names):
            raise DataError(
                f"{store.path} ({store.dataset}) has no {array} labels, which {self.name} "
                f"needs; stores of {', '.join(holders)} have them (pass one with --store)"
            )
        if in_channels and len(store.feature_names) != in_channels:
            raise DataError(
                f"{store.path} ({store.dataset}) has {len(store.feature_names)} feature "
                f"channels per point (frame/features), the {self.name} model reads "
                f"{in_channels}; stores of {', '.join(FEATURE_DATASETS)} have rgb"
            )

    def miou_classes(self, store: Store) -> list[int]:
        skip = self.excluded.get(store.dataset, ())
        return [c for c in range(len(self.label_names(store))) if c not in skip]

    def labelled(self, store: Store, percent: float, seed: int) -> np.ndarray:
        """The training sequences whose labels a run at `percent` % uses; class by class where
        the target is the sequence's one label."""
        return labelled_sequences(store, percent, seed, by_class=self.target == "label")

    def selection_key(self, metrics: dict[str, float]) -> list[float]:
        """What val ranks epochs by: the score, then the tie-break (a larger key is better)."""
        return [metrics[name] for name in (self.score, self.tie_break) if name]

    def eval_start_step(self, clip_frames: int, frame_stride: int, configured: int) -> int:
        if configured:
            return configured
        return self.eval_step or max(1, clip_frames * frame_stride)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy over the labelled targets (label -1: none), whatever the logits'
        shape ([B,C], [B,T,C] or [B,T,N,C]); 0 with a gradient when nothing is labelled."""
        target = target.reshape(-1)
        flat = logits.reshape(-1, logits.shape[-1]).float()
        total = F.cross_entropy(flat, target, ignore_index=-1, reduction="sum")
        return total / (target >= 0).sum().clamp(min=1)


TASKS: Registry[Task] = Registry(
    "fine-tuning task",
    ConfigError,
    {
        task.name: task
        for task in (
            Task("hoi4d-actseg", "action", "frames", ("hoi4d", "synth-hoi"), "accuracy", 1),
            Task(
                "hoi4d-semseg",
                "point_label",
                "points",
                ("hoi4d-semseg", "synth-hoi"),
                "miou",
                0,
                excluded={"hoi4d-semseg": (0, 1)},
            ),
            Task(
                "synthia",
                "point_label",
                "points",
                ("synthia", "synth-street"),
                "miou",
                0,
                absent="zero",
            ),
            Task(
                "msr",
                "label",
                "clips",
                ("msr-action3d", "synth-gesture"),
                "video_accuracy",
                1,
                tie_break="clip_accuracy",
            ),
        )
    },
)


def default_store(task: str, data_dir: Path) -> Path:
    """The real dataset's store under data_dir if it is there, else the built-in stand-in's."""
    datasets = TASKS.get(task).datasets
    for dataset in datasets:
        path = Path(data_dir) / f"{dataset}.zarr"
        if path.exists():
            return path
    raise ConfigError(
        f"no store for {task} in {data_dir}/ ({', '.join(f'{d}.zarr' for d in datasets)}): "
        f"make one with `c2p-data ingest --dataset {datasets[-1]} --out {data_dir}`, or pass "
        "--store"
    )


def labelled_sequences(
    store: Store, percent: float, seed: int, by_class: bool = False
) -> np.ndarray:
    """Store indices of the training sequences whose labels fine-tuning uses: the first
    `percent` % in an order drawn from (dataset, seed, name) alone, so that every run with
    that seed takes the same ones and a smaller share is part of every larger one.

    by_class (one label per sequence): the order deals one sequence of every class in turn
    (classes in a seeded order), so a share covers as many classes as it can. A plain draw of
    10 % of 200 videos of 20 gestures misses about 7 of them, differently for every seed,
    which bounds the accuracy any trunk reaches and makes few-label cells noisy."""
    train = np.flatnonzero(store.splits == SPLIT_TRAIN)
    if not len(train):
        raise DataError(f"{store.path} has no training sequences")
    names = store.names
    order = sorted(train, key=lambda s: seed_from("c2p4d.labels", store.dataset, seed, names[s]))
    if by_class:
        labels = store.labels.tolist()
        dealt: Counter[int] = Counter()
        turn = {}  # s is the turn-th sequence of its class in the order
        for s in order:
            turn[s] = dealt[labels[s]]
            dealt[labels[s]] += 1
        place = {c: seed_from("c2p4d.labels", store.dataset, seed, "class", c) for c in dealt}
        order = sorted(order, key=lambda s: (turn[s], place[labels[s]]))
    count = max(1, int(np.ceil(len(train) * percent / 100 - 1e-9)))
    return np.sort(np.asarray(order[:count], dtype=np.int64))

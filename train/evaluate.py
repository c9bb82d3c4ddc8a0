"""A fine-tuned task model on one split: its predictions, the paper's metrics, and what
`c2p-train evaluate` leaves in the run directory.

    RUN/metrics.json      the test metrics (and per-class IoU), with the weights they come from
    RUN/predictions.npz   the predicted and true labels of every test sequence (README: format)
    RUN/*.png             with --png: timelines, segmented frames or a confusion matrix

Every clip of the split is predicted once (`starts="all"`, no augmentation, no shuffling): per
frame, the softmax of the clips that cover it summed (a whole sequence at a frame stride s is s
clips); per point, each clip on its own; per clip, and per video the sum of its clips' softmax
(P4Transformer's video accuracy). Metrics are computed from the same arrays that are saved,
so predictions.npz reproduces metrics.json. The val split is scored the same way during
fine-tuning; the test split only here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from c2p4d.models import Backbone, build
from c2p4d.pipeline.store import Store
from c2p4d.train import checkpoint
from c2p4d.train.config import FinetuneConfig, from_dict, override
from c2p4d.train.data import ClipDataset
from c2p4d.train.metrics import (
    ActionSegmentationMeter,
    ClipClassificationMeter,
    ConfusionMatrix,
    blind_predictions,
)
from c2p4d.train.tasks import TASKS, Task

KIND = "c2p-finetune"
BEST = "best.safetensors"  # in checkpoints/: the weights that scored best on val

Arrays = dict[str, np.ndarray]


@dataclass
class Scores:
    metrics: dict[str, float]  # percent
    per_class: dict[str, float | None]  # IoU per class name (point tasks); None: absent


def inputs(
    batch: dict[str, torch.Tensor], model: Backbone, device: torch.device, scale: float
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(points x scale, features) as the model reads them: features only if it was built for
    some."""
    clip = batch["complete"].to(device, non_blocking=True) * scale
    if not model.config.in_channels:
        return clip, None
    return clip, batch["features"].to(device, non_blocking=True)


class FrameCollector:
    """Per-frame labels of whole sequences: each frame's class is the argmax of the softmax
    summed over the clips that cover it; a frame no clip covers takes its nearest covered
    frame's (the earlier on a tie). The truth is read from the store."""

    def __init__(self, task: Task, store: Store, dataset: ClipDataset) -> None:
        self.store, self.stride = store, dataset.frame_stride
        self.lengths = np.diff(store.frame_offset)
        self.sums: dict[int, np.ndarray] = {}

    def add(self, batch: dict[str, torch.Tensor], logits: torch.Tensor) -> None:
        probabilities = logits.softmax(-1).numpy()  # [B, T, classes]
        _, frames, classes = probabilities.shape
        starts = batch["start"].tolist()
        for b, s in enumerate(batch["sequence"].tolist()):
            sums = self.sums.setdefault(s, np.zeros((self.lengths[s], classes)))
            sums[starts[b] + self.stride * np.arange(frames)] += probabilities[b]

    def arrays(self) -> Arrays:
        order = sorted(self.sums)
        predicted, truth = [], []
        for s in order:
            sums = self.sums[s]
            covered = np.flatnonzero(sums.any(axis=1))
            nearest = np.abs(covered[None, :] - np.arange(len(sums))[:, None]).argmin(axis=1)
            predicted.append(sums[covered[nearest]].argmax(axis=1))
            truth.append(self.store.read_frame_array(s, "action"))
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in predicted])])
        return {
            "sequence": np.array([self.store.names[s] for s in order]),
            "frame_offset": offsets.astype(np.int64),
            "pred": np.concatenate(predicted).astype(np.int16),
            "true": np.concatenate(truth).astype(np.int16),
        }

    @staticmethod
    def scores(arrays: Arrays, task: Task, store: Store) -> Scores:
        spans = _spans(arrays)
        return _segmentation_scores([arrays["pred"][a:b] for a, b in spans], arrays, spans)

    @staticmethod
    def baselines(arrays: Arrays, task: Task, store: Store, train: np.ndarray) -> dict[str, Scores]:
        """The scores of predictions that read no points (`metrics.blind_predictions`), from
        the labels of the training sequences the model saw (`train`)."""
        labels = [store.read_frame_array(s, "action") for s in train]
        spans = _spans(arrays)
        guesses = blind_predictions(labels, [b - a for a, b in spans], len(task.label_names(store)))
        return {name: _segmentation_scores(pred, arrays, spans) for name, pred in guesses.items()}


def _spans(arrays: Arrays) -> list[tuple[int, int]]:
    """(first, stop) rows of each sequence in the per-frame arrays."""
    bounds = arrays["frame_offset"].tolist()
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _segmentation_scores(
    predicted: list[np.ndarray], arrays: Arrays, spans: list[tuple[int, int]]
) -> Scores:
    meter = ActionSegmentationMeter()
    for pred, (a, b) in zip(predicted, spans, strict=True):
        meter.update(pred, arrays["true"][a:b])
    return Scores(meter.compute(), {})


class PointCollector:
    """Per-point labels of each clip as it was read (its points resampled to data.points), with
    the points themselves, so that a reader can map them onto any other sampling."""

    def __init__(self, task: Task, store: Store, dataset: ClipDataset) -> None:
        self.names, self.stride = store.names, dataset.frame_stride
        self.rows: list[Arrays] = []

    def add(self, batch: dict[str, torch.Tensor], logits: torch.Tensor) -> None:
        self.rows.append(
            {
                "sequence": np.array([self.names[s] for s in batch["sequence"].tolist()]),
                "start": batch["start"].numpy(),
                "points": batch["complete"].numpy().astype(np.float32),
                "pred": logits.argmax(-1).numpy().astype(np.int16),
                "true": batch["point_label"].numpy().astype(np.int16),
            }
        )

    def arrays(self) -> Arrays:
        joined = {k: np.concatenate([row[k] for row in self.rows]) for k in self.rows[0]}
        order = np.lexsort((joined["start"], joined["sequence"]))
        return {"frame_stride": np.array(self.stride)} | {k: v[order] for k, v in joined.items()}

    @staticmethod
    def scores(arrays: Arrays, task: Task, store: Store) -> Scores:
        names = task.label_names(store)
        matrix = ConfusionMatrix(len(names))
        matrix.update(arrays["pred"], arrays["true"])
        classes = task.miou_classes(store)
        metrics = {"miou": matrix.miou(classes, absent=task.absent), "accuracy": matrix.accuracy()}
        present = matrix.matrix.sum(axis=1) > 0
        iou = matrix.iou()
        per_class = {names[c]: float(iou[c]) if present[c] else None for c in classes}
        return Scores(metrics, per_class)

    @staticmethod
    def baselines(arrays: Arrays, task: Task, store: Store, train: np.ndarray) -> dict[str, Scores]:
        return {}  # none: a class prior's mIoU is one class's IoU over all classes


class ClipCollector:
    """Per-clip softmax probabilities; a video's class is the argmax of their sum."""

    def __init__(self, task: Task, store: Store, dataset: ClipDataset) -> None:
        self.names = store.names
        self.rows: list[Arrays] = []

    def add(self, batch: dict[str, torch.Tensor], logits: torch.Tensor) -> None:
        self.rows.append(
            {
                "clip_sequence": np.array([self.names[s] for s in batch["sequence"].tolist()]),
                "clip_start": batch["start"].numpy(),
                "clip_probability": logits.softmax(-1).numpy().astype(np.float32),
                "clip_true": batch["label"].numpy().astype(np.int16),
            }
        )

    def arrays(self) -> Arrays:
        clips = {k: np.concatenate([row[k] for row in self.rows]) for k in self.rows[0]}
        order = np.lexsort((clips["clip_start"], clips["clip_sequence"]))
        clips = {k: v[order] for k, v in clips.items()}
        videos, first, index = np.unique(
            clips["clip_sequence"], return_index=True, return_inverse=True
        )
        sums = np.zeros((len(videos), clips["clip_probability"].shape[1]))
        np.add.at(sums, index, clips["clip_probability"].astype(np.float64))
        return {
            **clips,
            "sequence": videos,
            "pred": sums.argmax(axis=1).astype(np.int16),
            "true": clips["clip_true"][first],
        }

    @staticmethod
    def scores(arrays: Arrays, task: Task, store: Store) -> Scores:
        meter = ClipClassificationMeter(len(task.label_names(store)))
        _, ids = np.unique(arrays["clip_sequence"], return_inverse=True)
        probability = arrays["clip_probability"].astype(np.float64)
        probability /= probability.sum(axis=1, keepdims=True)  # float32 rounding
        meter.update(ids, probability, arrays["clip_true"])
        return Scores(meter.compute(), {})

    @staticmethod
    def baselines(arrays: Arrays, task: Task, store: Store, train: np.ndarray) -> dict[str, Scores]:
        return {}  # none: a clip has no frame index, and the classes are balanced


COLLECTORS = {"frames": FrameCollector, "points": PointCollector, "clips": ClipCollector}


def split_dataset(config: FinetuneConfig, task: Task, store: Store, split: str) -> ClipDataset:
    """Every clip of a split, in store order, unaugmented."""
    data = config.data
    step = task.eval_start_step(data.clip_frames, data.frame_stride, config.evaluation.start_step)
    return ClipDataset(
        store,
        split=split,
        clip_frames=data.clip_frames,
        frame_stride=data.frame_stride,
        points=data.points,
        starts="all",
        start_step=step,
        seed=config.seed,
        shuffle=False,
    )


@torch.no_grad()
def predict_split(
    model: Backbone,
    config: FinetuneConfig,
    store: Store,
    split: str,
    device: torch.device,
    progress: bool = False,
) -> tuple[Arrays, Scores]:
    """The model's predictions on every clip of `split`, and their scores."""
    task = TASKS.get(config.model.task)
    dataset = split_dataset(config, task, store, split)
    collector = COLLECTORS[task.kind](task, store, dataset)
    batches = DataLoader(
        dataset, batch_size=config.optim.batch_size, num_workers=config.data.workers
    )
    was_training = model.training
    model.eval()
    try:
        total = math.ceil(len(dataset) / config.optim.batch_size)
        bar = tqdm(batches, total=total, desc=f"{split} clips", disable=not progress, leave=False)
        for batch in bar:
            collector.add(
                batch, model(*inputs(batch, model, device, config.input_scale)).float().cpu()
            )
    finally:
        model.train(was_training)
    arrays = collector.arrays()
    return arrays, collector.scores(arrays, task, store)


def run_weights(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], str]:
    """The weights a fine-tuning run is evaluated with: those val picked, else the last ones;
    and which they are, in words."""
    folder = Path(run_dir) / "checkpoints"
    if not (folder / "latest.json").is_file():
        raise checkpoint.CheckpointError(
            f"{run_dir} holds no fine-tuning checkpoint (no checkpoints/latest.json); fine-tune "
            f"first: c2p-train finetune --out {run_dir}"
        )
    best = folder / BEST
    weights, meta = checkpoint.load_weights(best if best.is_file() else run_dir)
    if meta.get("kind") != KIND:
        raise checkpoint.CheckpointError(
            f"{run_dir} is a {meta.get('kind', 'different')} run; evaluate takes a fine-tuning "
            "run (c2p-train finetune --init THAT_RUN makes one)"
        )
    picked = meta.get("picked")
    if picked:
        which = f"best on val: epoch {picked['epoch']}, {picked['metric']} {picked['score']:.1f}"
    else:
        epoch = json.loads((folder / "latest.json").read_text())["epoch"]
        which = f"the last epoch's ({epoch}; no val scores)"
    return weights, meta, which


def load_model(weights: dict[str, torch.Tensor], meta: dict[str, Any]) -> Backbone:
    config = from_dict(FinetuneConfig, meta["config"])
    model = config.model
    net = build(model.backbone, model.task, len(meta["labels"]), **model.overrides())
    net.load_state_dict(weights)
    return net


def table(
    task: Task, scores: Scores, title: str, baselines: dict[str, Scores] | None = None
) -> str:
    """The metrics as one text table, a column for each baseline beside the model's (per-class
    IoU below, where the task has it)."""
    baselines = baselines or {}
    header = ["metric", "model", *baselines]
    rows = [
        [name, f"{value:.2f}", *(f"{b.metrics[name]:.2f}" for b in baselines.values())]
        for name, value in scores.metrics.items()
    ]
    rows += [
        [f"IoU {name}", "-" if value is None else f"{value:.2f}"]
        for name, value in scores.per_class.items()
    ]
    widths = [max(len(r[i]) for r in [header, *rows] if i < len(r)) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        right = [f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=False)]
        return "  ".join([f"{cells[0]:<{widths[0]}}", *right])

    rule = ["-" * w for w in widths]
    return "\n".join([title, line(header), line(rule), *(line(r) for r in rows)])


@dataclass
class Report:
    table: str
    scores: Scores
    baselines: dict[str, Scores]  # predictions that read no points, scored alike
    files: list[Path]


def evaluate_run(
    run_dir: str | Path,
    *,
    device: torch.device,
    workers: int | None = None,
    png: bool = False,
    progress: bool = True,
) -> Report:
    """Score a fine-tuning run on its store's test split; write metrics.json, predictions.npz
    and, with png, the task's pictures into the run directory."""
    run_dir = Path(run_dir)
    weights, meta, which = run_weights(run_dir)
    config = from_dict(FinetuneConfig, meta["config"])
    if workers is not None:
        config = override(config, [f"data.workers={workers}"])
    task = TASKS.get(config.model.task)
    store = Store.open(config.data.store)
    model = load_model(weights, meta).to(device)
    arrays, scores = predict_split(model, config, store, "test", device, progress)
    labelled = task.labelled(store, config.labels, config.seed)
    baselines = COLLECTORS[task.kind].baselines(arrays, task, store, labelled)
    count = len(np.unique(arrays["sequence"]))
    title = f"{task.name} on {store.path}, test split ({count} sequences); weights {which}"
    report = {
        "task": task.name,
        "store": str(store.path),
        "split": "test",
        "sequences": count,
        "weights": which,
        "metrics": scores.metrics,
        "per_class_iou": scores.per_class or None,
        "baselines": {name: b.metrics for name, b in baselines.items()} or None,
    }
    files = [run_dir / "metrics.json", run_dir / "predictions.npz"]
    files[0].write_text(json.dumps(report, indent=2) + "\n")
    names = np.array(task.label_names(store))
    np.savez_compressed(files[1], task=np.array(task.name), label_names=names, **arrays)
    if png:
        from c2p4d.train.pictures import draw

        files.append(draw(task, arrays, list(names), run_dir))
    return Report(table(task, scores, title, baselines), scores, baselines, files)

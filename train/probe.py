"""The k-NN monitor of self-supervised training (as DINO's): is pretraining learning anything?

Frozen student frame features of complete clips: a memory bank from train sequences, queries
from the val split, each val frame labelled by a similarity-weighted vote of its k nearest bank
frames (cosine, weights exp(s / 0.07)). Labels are per-frame actions when the store has them,
else each frame takes its sequence's label. Accuracy is reported beside chance (the share of
the most frequent val label), so a reader can tell learning from class imbalance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from c2p4d.pipeline.store import Store
from c2p4d.train.config import DataConfig, ProbeConfig
from c2p4d.train.data import ClipDataset

SPLIT_VAL = 1


@dataclass
class ProbeResult:
    accuracy: float  # percent of labelled val frames
    chance: float  # percent of the most frequent val label
    frames: int


def frame_labels_kind(store: Store) -> str | None:
    """'action' or 'label': what the probe predicts; None when the val split has neither."""
    val = np.flatnonzero(store.splits == SPLIT_VAL)
    if len(val) == 0:
        return None
    if store.action_names and any(
        (store.read_frame_array(s, "action") >= 0).any() for s in val[:4]
    ):
        return "action"
    if store.label_names and (store.labels[val] >= 0).any():
        return "label"
    return None


def knn_predict(
    bank: torch.Tensor, bank_labels: torch.Tensor, queries: torch.Tensor, k: int, classes: int
) -> torch.Tensor:
    """Labels of queries [Q,D] by a weighted vote of their k nearest bank rows [M,D] (cosine)."""
    similarity = F.normalize(queries, dim=1) @ F.normalize(bank, dim=1).T
    top, index = similarity.topk(min(k, bank.shape[0]), dim=1)
    votes = torch.zeros(queries.shape[0], classes, dtype=similarity.dtype)
    votes.scatter_add_(1, bank_labels[index], (top / 0.07).exp())
    return votes.argmax(1)


class KnnProbe:
    """Built once per run; `__call__(student)` measures the student at its current weights."""

    def __init__(
        self, store: Store, data: DataConfig, config: ProbeConfig, seed: int, input_scale: float
    ):
        self.kind = frame_labels_kind(store)
        self.input_scale = input_scale
        self.k = config.k
        self.classes = len(store.action_names if self.kind == "action" else store.label_names)
        if self.kind is None:
            return
        train = np.flatnonzero(store.splits == 0)[: config.bank_sequences]
        clip = dict(
            clip_frames=data.clip_frames,
            frame_stride=data.frame_stride,
            points=data.points,
            starts="all",
            start_step=max(1, data.clip_frames * data.frame_stride),
            shuffle=False,
            seed=seed,
        )
        self.bank = ClipDataset(store, split="train", sequences=train.tolist(), **clip)
        self.val = ClipDataset(store, split="val", **clip)

    @property
    def note(self) -> str | None:
        if self.kind is None:
            return "k-NN probe skipped: the store's val split has no action or sequence labels"
        return None

    def _features(
        self, student: nn.Module, dataset: ClipDataset, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        features, labels = [], []
        for clip in dataset:
            x = clip["complete"][None].to(device) * self.input_scale
            f = clip.get("features")
            f = None if f is None else f[None].to(device)
            features.append(student.frame_features(x, f)[0].float().cpu())
            if self.kind == "action":
                labels.append(clip["action"])
            else:
                labels.append(clip["label"].expand(clip["complete"].shape[0]))
        return torch.cat(features), torch.cat(labels).long()

    @torch.no_grad()
    def __call__(self, student: nn.Module, device: torch.device) -> ProbeResult | None:
        if self.kind is None:
            return None
        was_training = student.training
        student.eval()
        try:
            bank, bank_labels = self._features(student, self.bank, device)
            queries, truth = self._features(student, self.val, device)
        finally:
            student.train(was_training)
        keep_bank, keep = bank_labels >= 0, truth >= 0
        predicted = knn_predict(
            bank[keep_bank], bank_labels[keep_bank], queries[keep], self.k, self.classes
        )
        truth = truth[keep]
        chance = torch.bincount(truth, minlength=self.classes).max().item() / max(1, len(truth))
        accuracy = (predicted == truth).float().mean().item()
        return ProbeResult(100 * accuracy, 100 * chance, int(len(truth)))

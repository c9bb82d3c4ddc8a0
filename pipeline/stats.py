"""Class histograms of a store, computed shard by shard so any store size fits in memory."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from c2p4d.pipeline.sequence import SPLITS
from c2p4d.pipeline.store import Store


@dataclass(frozen=True)
class Histogram:
    """Counts per class name; `none` counts entries labelled -1."""

    title: str
    counts: dict[str, int]
    none: int

    def lines(self) -> list[str]:
        total = sum(self.counts.values()) + self.none
        width = max([len(k) for k in self.counts] + [4])
        rows = [f"{self.title} ({total:,} in all)"]
        for name, count in self.counts.items():
            rows.append(f"  {name:<{width}}  {count:>12,}  {100 * count / max(total, 1):5.1f} %")
        if self.none:
            rows.append(f"  {'none':<{width}}  {self.none:>12,}  {100 * self.none / total:5.1f} %")
        return rows


def _histogram(title: str, names: list[str], blocks: Iterable[np.ndarray]) -> Histogram:
    counts = np.zeros(len(names) + 1, np.int64)
    for block in blocks:
        counts += np.bincount(block.ravel().astype(np.int64) + 1, minlength=len(names) + 1)
    return Histogram(title, dict(zip(names, counts[1:].tolist(), strict=True)), int(counts[0]))


def histograms(store: Store) -> list[Histogram]:
    """Splits and sequence labels per sequence, actions per frame, semantic classes per point."""
    return [
        _histogram("sequences per split", list(SPLITS), [store.splits]),
        _histogram("sequences per label", store.label_names, [store.labels]),
        _histogram("frames per action", store.action_names, store.iter_frame_blocks("action")),
        _histogram("points per class", store.class_names, store.iter_frame_blocks("point_label")),
    ]

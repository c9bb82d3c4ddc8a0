"""Clips of complete and partial point cloud sequences, streamed from a c2p4d store.

A clip is T frames (every `frame_stride`-th from a start) of one sequence: its complete points
and, for C2P, P partial views of the same frames, all in the store's world frame and resampled
to N points per frame. The store is read only through `pipeline.store`.

Epochs are deterministic and shardable:
- The epoch's clip list, (sequence, start, clip index), comes from (seed, epoch) and the
  sequence names alone. Clips are ordered by blocks of consecutive sequences whose first frame
  lies in the same Zarr shard; the blocks are shuffled, then the list is cut into contiguous
  shares, first one per DDP rank, then one per DataLoader worker, so that a worker reads a few
  neighbouring shards, not the whole store.
- Every rank yields the same number of clips (DDP waits for every rank at each step): the
  `len(clips) % world_size` clips at the end of the shuffled list are dropped for the epoch,
  as `drop_last` does.
- The content of a clip (resampling, views, augmentation) is seeded by (seed, epoch, sequence
  name, start, clip index), never by the rank or worker that reads it, so an epoch holds the
  same clips on 1 or 2 workers; only their order differs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.integrity import require_undamaged
from c2p4d.pipeline.seeding import rng_from
from c2p4d.pipeline.sequence import SPLITS
from c2p4d.pipeline.store import Store

STARTS = ("random", "all")
POINT_KEYS = ("complete", "partial")  # the entries of a clip that hold coordinates


@dataclass(frozen=True)
class Augment:
    """Augmentations drawn once per clip and applied identically to its complete and partial
    points, about the centre of its complete points. Each can be switched off."""

    scale: tuple[float, float] | None = (0.8, 1.2)  # a uniform factor; None = off
    rotate: bool = True  # about the world's up (the store's, else +z)
    angle_range: tuple[float, float] = (-math.pi, math.pi)  # radians, uniform
    jitter: float = 0.01  # sigma of Gaussian noise drawn per point; 0 = off
    jitter_clip: float = 0.05  # noise clipped to +- this (PointNet's jitter)


class ClipKey(NamedTuple):
    """One clip of an epoch: store sequence index, first frame, and which clip of that sequence
    it is (two random starts may coincide; the index keeps their content apart)."""

    sequence: int
    start: int
    index: int


class ClipDataset(IterableDataset):
    """Clips of one split of a store, as dicts of tensors (see `clip`); shards itself across
    DDP ranks and DataLoader workers. Call `set_epoch` before each epoch (with
    `persistent_workers=False`, so that workers see it)."""

    def __init__(
        self,
        store: str | Path | Store,
        *,
        split: str | None = "train",
        sequences: Sequence[int] | None = None,
        clip_frames: int = 24,
        frame_stride: int = 1,
        points: int = 2048,
        partial_views: int = 0,
        view_set: str | None = None,
        starts: str = "random",
        clips_per_sequence: int = 1,
        start_step: int = 1,
        augment: Augment | None = None,
        seed: int = 0,
        shuffle: bool = True,
        shuffle_buffer: int = 64,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.store = store if isinstance(store, Store) else Store.open(store)
        self.split, self.partial_views, self.points = split, partial_views, points
        self.frame_stride, self.starts = frame_stride, starts
        self.clips_per_sequence, self.start_step = clips_per_sequence, start_step
        self.augment, self.seed, self.shuffle = augment, seed, shuffle
        self.shuffle_buffer, self.rank, self.world_size = shuffle_buffer, rank, world_size
        self.epoch = 0
        self._check_arguments()
        self.sequence_ids = self._select_sequences(split, sequences)
        self.lengths = np.diff(self.store.frame_offset)
        self.names, self.labels = self.store.names, self.store.labels
        self.clip_frames = self._clip_frames(clip_frames)
        self.span = (self.clip_frames - 1) * frame_stride + 1  # store frames a clip covers
        self.view_set = self._check_views(view_set) if partial_views else None
        self.num_views = self.store.num_views(self.view_set) if partial_views else 0
        # A lost or truncated file reads as zeros or fails mid-epoch: refuse it here.
        view_sets = [self.view_set] if self.view_set else []
        require_undamaged(self.store, self.store.items_done(self.sequence_ids, view_sets))
        self.up = np.asarray(self.store.world_up or (0.0, 0.0, 1.0), np.float64)
        self.has_features = bool(self.store.feature_names)

    # ------------------------------------------------------------------ checks

    def _fail(self, problem: str) -> DataError:
        return DataError(f"{self.store.path}: {problem}")

    def _check_arguments(self) -> None:
        if not self.store.complete:
            raise self._fail("the store is not complete; run the same `c2p-data ingest` again")
        if self.split is not None and self.split not in SPLITS:
            raise self._fail(f"split {self.split!r} is not one of {', '.join(SPLITS)} or None")
        problems = [
            (self.points < 1, f"points={self.points} must be >= 1"),
            (self.frame_stride < 1, f"frame_stride={self.frame_stride} must be >= 1"),
            (self.partial_views not in (0, 1, 2), "partial_views must be 0, 1 or 2"),
            (self.starts not in STARTS, f"starts={self.starts!r} is not one of {STARTS}"),
            (self.clips_per_sequence < 1, "clips_per_sequence must be >= 1"),
            (self.start_step < 1, "start_step must be >= 1"),
            (self.shuffle_buffer < 1, "shuffle_buffer must be >= 1"),
            (not 0 <= self.rank < self.world_size, f"rank {self.rank} of {self.world_size}"),
        ]
        for bad, problem in problems:
            if bad:
                raise self._fail(problem)

    def _select_sequences(self, split: str | None, sequences: Sequence[int] | None) -> np.ndarray:
        """Store indices of the split's sequences (restricted to `sequences`), in store order."""
        count = self.store.num_sequences
        in_split = (
            np.ones(count, bool) if split is None else self.store.splits == SPLITS.index(split)
        )
        where = "the store" if split is None else f"split {split!r}"
        if sequences is not None:
            asked = np.unique(np.asarray(sequences, np.int64))
            outside = [int(s) for s in asked if not (0 <= s < count and in_split[s])]
            if outside:
                raise self._fail(f"sequences {outside[:5]} are not in {where}")
            in_split = np.isin(np.arange(count), asked)
        chosen = np.flatnonzero(in_split)
        if not len(chosen):
            raise self._fail(f"{where} has no sequences to read; choose another split")
        return chosen

    def _clip_frames(self, clip_frames: int) -> int:
        """T, checked against every sequence; 0 = whole sequences (all of one length)."""
        lengths = self.lengths[self.sequence_ids]
        if clip_frames < 0:
            raise self._fail(f"clip_frames={clip_frames} must be >= 0 (0 = whole sequences)")
        if clip_frames == 0:
            if (lengths != lengths[0]).any():
                raise self._fail(
                    f"clip_frames=0 (whole sequences) needs sequences of one length; these have "
                    f"{lengths.min()} to {lengths.max()} frames: set clip_frames"
                )
            return len(range(0, int(lengths[0]), self.frame_stride))
        span = (clip_frames - 1) * self.frame_stride + 1
        short = np.flatnonzero(lengths < span)
        if len(short):
            s = self.sequence_ids[short[0]]
            raise self._fail(
                f"sequence {self.names[s]!r} has {self.lengths[s]} frames, fewer than a clip "
                f"of {clip_frames} frames at stride {self.frame_stride} ({span}); lower "
                "clip_frames or frame_stride"
            )
        return clip_frames

    def _check_views(self, view_set: str | None) -> str:
        """The view set's name, once every (view, sequence) pair read here is written."""
        name = self.store.view_set_name(view_set)
        done = self.store.views_done(name)[:, self.sequence_ids]
        if not done.all():
            raise self._fail(
                f"view set {name!r} is unfinished ({int(done.sum())} of {done.size} views of "
                "these sequences); run the same `c2p-data partial-views` again"
            )
        return name

    # ------------------------------------------------------------------ the epoch's clips

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        """Clips this rank yields per epoch, summed over its DataLoader workers."""
        return self._num_clips() // self.world_size

    def _num_clips(self) -> int:
        if self.starts == "random":
            return len(self.sequence_ids) * self.clips_per_sequence
        return sum(len(self._all_starts(s)) for s in self.sequence_ids)

    def _all_starts(self, s: int) -> range:
        return range(0, int(self.lengths[s]) - self.span + 1, self.start_step)

    def _starts_of(self, s: int, epoch: int) -> list[int]:
        if self.starts == "all":
            return list(self._all_starts(s))
        rng = rng_from("c2p4d.starts", self.store.dataset, self.seed, epoch, self.names[s])
        high = int(self.lengths[s]) - self.span + 1
        return rng.integers(0, high, self.clips_per_sequence).tolist()

    def epoch_clips(self, epoch: int) -> list[ClipKey]:
        """Every clip of the epoch, for all ranks, in block order (blocks shuffled)."""
        first_shard = self.store.frame_offset[self.sequence_ids] // self.store.shard_frames
        blocks = np.split(self.sequence_ids, np.flatnonzero(np.diff(first_shard)) + 1)
        if self.shuffle:
            order = rng_from("c2p4d.blocks", self.store.dataset, self.seed, epoch)
            blocks = [blocks[i] for i in order.permutation(len(blocks))]
        return [
            ClipKey(int(s), start, k)
            for block in blocks
            for s in block
            for k, start in enumerate(self._starts_of(s, epoch))
        ]

    def share(self, epoch: int, worker: int = 0, num_workers: int = 1) -> list[ClipKey]:
        """This rank's clips of the epoch that DataLoader worker `worker` of `num_workers` reads:
        contiguous pieces, one per rank (equal, the surplus dropped), then one per worker."""
        per_rank = len(self)
        mine = self.epoch_clips(epoch)[self.rank * per_rank : (self.rank + 1) * per_rank]
        return mine[worker * per_rank // num_workers : (worker + 1) * per_rank // num_workers]

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        keys = self.share(self.epoch, worker, workers)
        if self.shuffle:
            rng = rng_from("c2p4d.shuffle", self.seed, self.epoch, self.rank, worker)
            keys = shuffled(keys, self.shuffle_buffer, rng)
        for key in keys:
            yield self.clip(key, self.epoch)

    # ------------------------------------------------------------------ one clip

    def clip(self, key: ClipKey, epoch: int = 0) -> dict[str, torch.Tensor]:
        """One clip as tensors: complete [T,N,3], partial [P,T,N,3] (P > 0), features [T,N,C]
        and partial_features [P,T,N,C] (stores with features), point_label [T,N], action [T],
        label, sequence, start, empty_frames (frames a view saw nothing in, over its views)."""
        s, start, index = key
        name = self.names[s]
        rng = rng_from("c2p4d.clip", self.store.dataset, self.seed, epoch, name, start, index)
        frames = slice(start, start + self.span, self.frame_stride)
        seq = self.store.read_sequence(s, frames)
        chosen = np.stack([resample(rng, seq.points.shape[1], self.points) for _ in seq.points])
        complete = np.take_along_axis(seq.points, chosen[..., None], axis=1)
        out = {
            "complete": complete,
            "point_label": np.take_along_axis(seq.point_label, chosen, axis=1).astype(np.int64),
            "action": seq.action.astype(np.int64),
            "label": np.int64(self.labels[s]),
            "sequence": np.int64(s),
            "start": np.int64(start),
        }
        if self.has_features:
            out["features"] = np.take_along_axis(seq.features, chosen[..., None], axis=1)
        empty = 0
        if self.partial_views:
            views = self._pick_views(rng)
            picked = [self._view_points(s, v, frames, rng) for v in views]
            empty = sum(missing for _, missing in picked)
            sources = [source for source, _ in picked]  # (frame, point) of the stored frames
            out["partial"] = np.stack([seq.points[f, i] for f, i in sources])
            if self.has_features:
                out["partial_features"] = np.stack([seq.features[f, i] for f, i in sources])
        out["empty_frames"] = np.int64(empty)
        if self.augment is not None:
            self._apply_augment(out, rng)
        return {key: torch.from_numpy(np.asarray(value)) for key, value in out.items()}

    def _pick_views(self, rng: np.random.Generator) -> np.ndarray:
        """P distinct views of the set (the one view twice when the set has only one)."""
        count = self.num_views
        return rng.choice(count, self.partial_views, replace=count < self.partial_views)

    def _view_points(
        self, s: int, v: int, frames: slice, rng: np.random.Generator
    ) -> tuple[tuple[np.ndarray, np.ndarray], int]:
        """(frame [T,1], point [T,N]) indices of N points per frame that view v sees, and how many
        frames it saw nothing in. Such a frame takes the view's points of the nearest frame that
        has some (the earlier on a tie), or the complete frame if the view saw nothing at all."""
        visible = self.store.read_visible(s, v, frames, self.view_set)
        seen = np.flatnonzero(visible.any(axis=1))
        empty = len(visible) - len(seen)
        if not len(seen):
            visible, seen = np.ones_like(visible), np.arange(len(visible))
        nearest = np.abs(seen[None, :] - np.arange(len(visible))[:, None]).argmin(axis=1)
        source = seen[nearest]
        seen_points = [np.flatnonzero(visible[f]) for f in source]
        points = np.stack([i[resample(rng, len(i), self.points)] for i in seen_points])
        return (source[:, None], points), empty

    def _apply_augment(self, out: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        """Scale and rotate about the clip's centre, then jitter, complete and partial alike."""
        augment = self.augment
        scale = rng.uniform(*augment.scale) if augment.scale else 1.0
        angle = rng.uniform(*augment.angle_range)
        turn = rotation(self.up, angle) if augment.rotate else np.eye(3)
        centre = out["complete"].reshape(-1, 3).mean(axis=0, dtype=np.float64)
        matrix = (scale * turn).T.astype(np.float32)
        shift = (centre - centre @ (scale * turn).T).astype(np.float32)
        for key in POINT_KEYS:
            if key in out:
                moved = out[key] @ matrix + shift
                if augment.jitter > 0:  # float32 draws: a 150-frame clip has ~3M coordinates
                    noise = rng.standard_normal(moved.shape, dtype=np.float32) * augment.jitter
                    moved += np.clip(noise, -augment.jitter_clip, augment.jitter_clip, out=noise)
                out[key] = moved


def scale_points(batch: dict[str, torch.Tensor], factor: float) -> dict[str, torch.Tensor]:
    """The batch with its coordinates x factor: a model's `input_scale` (units it learns in)."""
    if factor == 1:
        return batch
    return {k: v * factor if k in POINT_KEYS else v for k, v in batch.items()}


def resample(rng: np.random.Generator, count: int, n: int) -> np.ndarray:
    """n indices into `count` items: a random subset when there are enough, else every item
    and random repeats, in random order."""
    if count >= n:
        return rng.permutation(count)[:n]
    return rng.permutation(np.concatenate([np.arange(count), rng.integers(0, count, n - count)]))


def rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """The 3x3 rotation by `angle` (radians, right-handed) about `axis` (Rodrigues)."""
    k = axis / np.linalg.norm(axis)
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.cos(angle) * np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * np.outer(k, k)


def shuffled(items: list, buffer: int, rng: np.random.Generator) -> Iterator:
    """`items` through a shuffle buffer of `buffer` slots: each comes out at a random time
    after at most `buffer` later ones came in."""
    pool: list = []
    for item in items:
        pool.append(item)
        if len(pool) >= buffer:
            yield pool.pop(int(rng.integers(len(pool))))
    while pool:
        yield pool.pop(int(rng.integers(len(pool))))

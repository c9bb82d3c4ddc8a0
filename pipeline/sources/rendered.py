"""What the sources of the built-in worlds share (`pipeline/worlds/`: synth-hoi, synth-street,
synth-gesture, mocap): a simulated depth camera renders each frame at ingest time, so they share
the image-size bounds, the world's up recorded for the partial views, the rule that deals
sequences to splits by index, one sensor seed per sequence, and the loop that brings each
captured frame to `points_per_frame`.

Their option fields stay in their own configs, in their own order: a store records the options
in that order (`config.ingest`), and the stores are byte-identical across versions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.seeding import rng_from
from c2p4d.pipeline.sequence import SequenceInfo
from c2p4d.pipeline.sources.base import Source, resample_frame

# The least image a world's depth camera renders (its options image_width, image_height).
IMAGE_MINIMUMS = {"image_width": 32, "image_height": 24}
# The worlds' up, world z (their DatasetInfo.views): partial views circle the scene about it.
UP_Z = (0.0, 0.0, 1.0)
# Sequence i is in split SPLIT_BY_INDEX[i % 8]: 6 train, 1 val, 1 test in every 8.
SPLIT_BY_INDEX = (0, 0, 0, 0, 0, 0, 1, 2)


def split_of_index(index: int, pattern: tuple[int, ...] = SPLIT_BY_INDEX, every: int = 1) -> int:
    """The split of the sequence at `index`, dealt in runs of `every` consecutive sequences:
    run r = index // every is in split pattern[r % len(pattern)]."""
    return pattern[(index // every) % len(pattern)]


@dataclass(frozen=True)
class NumberedNames:
    """Sequence names `prefix` + a five-digit index ('hoi00007'), the rule of the worlds whose
    sequences are numbered: the name alone says which sequence to plan."""

    dataset: str
    prefix: str

    def name(self, index: int) -> str:
        return f"{self.prefix}{index:05d}"

    def index(self, name: str) -> int:
        """The index `name` encodes; DataError for a name this dataset never makes."""
        digits = name.removeprefix(self.prefix)
        if digits == name or not digits.isdigit():
            raise DataError(
                f"{self.dataset}: no sequence named {name!r}; names look like {self.name(7)!r}"
            )
        return int(digits)


class RenderedSource(Source):
    """A source whose frames a simulated depth camera renders from a world made at ingest."""

    def sensor_rng(self, seq: SequenceInfo) -> np.random.Generator:
        """The generator of the sensor's noise and the resampling of `seq`: seeded by (dataset,
        sequence name), whatever else is read."""
        return rng_from(self.name, seq.name, "sensor")

    def resample_captures(
        self,
        seq: SequenceInfo,
        captures: Iterable[tuple[np.ndarray, np.ndarray]],
        num_frames: int,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Points float32 [T, N, 3] and point labels int16 [T, N] of the T = num_frames frames
        `captures` yields (each raw points [n, 3] and labels [n]), each checked and resampled
        to N = points_per_frame with `rng`. A frame is resampled before the next is captured,
        so a capture that draws from the same `rng` draws what it always drew."""
        n = self.points_per_frame
        points = np.empty((num_frames, n, 3), np.float32)
        labels = np.empty((num_frames, n), np.int16)
        for t, (frame, frame_labels) in zip(range(num_frames), captures, strict=True):
            points[t], labels[t] = resample_frame(
                frame, frame_labels, n, rng, f"{self.name} sequence {seq.name!r} frame {t}"
            )
        return points, labels

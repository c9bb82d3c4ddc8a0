"""What the adapters of released datasets share: scanning headers before reading, and
resampling frames one at a time.

A released source first scans its files' headers (`scan`): the sequences it would ingest and
every problem it can see without reading frame data. `index` refuses to start while there are
problems, and `c2p-data check` prints them all, so a user fixes a download before a long ingest,
not after.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.sequence import SPLITS, SequenceInfo
from c2p4d.pipeline.sources.base import Source, resample_indices
from c2p4d.pipeline.sources.files import source_dir

_SHOWN_PROBLEMS = 12


@dataclass
class Scan:
    """The result of reading a download's headers and file names."""

    sequences: list[SequenceInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files: int = 0  # files read
    raw_points: set[int] = field(default_factory=set)  # points per frame in the files, if fixed
    notes: dict = field(default_factory=dict)  # facts worth keeping in the store's attrs

    def summary(self) -> str:
        """e.g. '6 files, 3863 sequences (2971 train, 892 test), 579450 frames'"""
        splits = np.bincount([s.split for s in self.sequences], minlength=len(SPLITS))
        per_split = ", ".join(f"{n} {name}" for name, n in zip(SPLITS, splits, strict=True) if n)
        frames = sum(s.num_frames for s in self.sequences)
        points = f", {'/'.join(map(str, sorted(self.raw_points)))} points per frame"
        return (
            f"{self.files} files, {len(self.sequences)} sequences ({per_split}), {frames} frames"
            + (points if self.raw_points else "")
        )


def problem_report(title: str, problems: list[str]) -> str:
    """A DataError message listing the first problems and how many more there are; one
    problem, on one line."""
    if len(problems) == 1:
        return f"{title}: {problems[0]}"
    shown = "\n".join(f"  - {p}" for p in problems[:_SHOWN_PROBLEMS])
    more = len(problems) - _SHOWN_PROBLEMS
    tail = f"\n  ... and {more} more; `c2p-data check` lists them all" if more > 0 else ""
    return f"{title}: {len(problems)} problem{'s' * (len(problems) > 1)}\n{shown}{tail}"


class ReleasedSource(Source):
    """A source that reads a dataset's released files from `config.source`."""

    @property
    def root(self) -> Path:
        return source_dir(self.config.source, self.name)

    @abstractmethod
    def scan(self) -> Scan:
        """Sequences and problems from file names and headers only."""

    @functools.cached_property
    def scanned(self) -> Scan:
        return self.scan()

    def index(self) -> list[SequenceInfo]:
        scan = self.scanned
        if scan.problems:
            raise DataError(problem_report(f"{self.name} at {self.root}", scan.problems))
        if not scan.sequences:
            raise DataError(f"{self.name}: found no sequences in {self.root}")
        return scan.sequences


def split_index(name: str) -> int:
    return SPLITS.index(name)


def resample_frames(
    frames: Iterable[tuple[np.ndarray, ...]], num_frames: int, n: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Stack frames resampled to `n` points: each item is (points [m,3], *per-point arrays [m,..]),
    all indexed by the same resampling. Items are consumed one at a time, so only one raw
    frame is held besides the output. Returns one [num_frames, n, ...] array per position."""
    out: list[np.ndarray] = []
    count = 0
    for t, arrays in enumerate(frames):
        if t == num_frames:
            raise DataError(f"expected {num_frames} frames, found more")
        idx = resample_indices(len(arrays[0]), n, rng)
        if not out:
            out = [np.empty((num_frames, n, *a.shape[1:]), a.dtype) for a in arrays]
        for stacked, array in zip(out, arrays, strict=True):
            stacked[t] = array[idx]
        count = t + 1
    if count != num_frames:
        raise DataError(f"expected {num_frames} frames, read {count}")
    return out


def integer_labels(values: np.ndarray, count: int, what: str, where: str) -> np.ndarray:
    """Labels as int16 after checking they are whole numbers in [0, count)."""
    values = np.asarray(values)
    whole = np.issubdtype(values.dtype, np.integer) or (
        np.issubdtype(values.dtype, np.floating) and (values == np.round(values)).all()
    )
    if not whole:
        raise DataError(f"{where}: {what} must be whole numbers, got dtype {values.dtype}")
    bad = (values < 0) | (values >= count)
    if bad.any():
        raise DataError(
            f"{where}: {what} {values[bad].flat[0]:g} is outside the {count} known classes "
            f"(0..{count - 1})"
        )
    return values.astype(np.int16)

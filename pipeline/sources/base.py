"""The interface every dataset adapter implements, and the helpers they share.

A source lists its sequences cheaply (`index`) and reads one at a time (`read`), so ingest runs
in constant memory per worker and any worker can read any sequence. Sources are pickled to Dask
workers: they keep no open files between calls.
"""

from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.sequence import DatasetInfo, SequenceData, SequenceInfo

# Upper bounds of the integer options of any source that has them: far above any real
# dataset, low enough that listing the sequences and making one frame fit in memory (the size
# of the whole store is checked against the free disk before it is created).
MAXIMUMS = {
    "points_per_frame": 1 << 20,
    "num_sequences": 10**6,
    "frames_per_sequence": 10**5,
    "clips_per_sequence": 10**3,
    "episodes": 10**4,
    "val_subjects": 10**3,
    "min_frames": 10**5,
    "max_frames": 10**5,
    "image_width": 8192,
    "image_height": 8192,
}


MAX_COORDINATE = 1e9  # in the source's units: far beyond any scene, in metres or millimetres


@dataclass(frozen=True)
class SourceConfig:
    """Options every source has; each source subclasses this with its own, listing the lower
    bounds of its integer options in `minimums` and the closed intervals of its real-valued
    options in `ranges` (checked on creation, with points_per_frame, as are the upper bounds
    in MAXIMUMS)."""

    points_per_frame: int = 2048

    minimums: ClassVar[dict[str, int]] = {}
    ranges: ClassVar[dict[str, tuple[float, float]]] = {}

    def __post_init__(self) -> None:
        for option, least in {"points_per_frame": 8, **self.minimums}.items():
            value = getattr(self, option)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise DataError(
                    f"option {option} must be an integer of at least {least}, got {value!r}"
                )
        for option, (low, high) in self.ranges.items():
            value = getattr(self, option)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not low <= value <= high
            ):
                raise DataError(
                    f"option {option} must be a number from {low} to {high}, got {value!r}"
                )
        for option, most in MAXIMUMS.items():
            value = getattr(self, option, None)
            if isinstance(value, int) and value > most:
                raise DataError(f"option {option} must be at most {most:,}, got {value:,}")
        if self.points_per_frame % 8:
            raise DataError(
                "option points_per_frame must be a multiple of 8 (partial views are bit-packed, "
                f"N/8 bytes per frame), got {self.points_per_frame}"
            )


class Source(ABC):
    """One dataset adapter. Subclasses set `name`, `config_class` and implement three methods."""

    name: ClassVar[str]
    config_class: ClassVar[type[SourceConfig]] = SourceConfig

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    @classmethod
    def from_options(cls, **options: Any) -> Source:
        """Build from CLI-style options; an unknown or mistyped option is a DataError."""
        fields = {f.name: f for f in dataclasses.fields(cls.config_class)}
        unknown = sorted(set(options) - set(fields))
        if unknown:
            raise DataError(
                f"dataset {cls.name!r} has no option {', '.join(unknown)}; "
                f"its options are: {', '.join(sorted(fields))}"
            )
        try:
            return cls(cls.config_class(**options))
        except DataError as error:
            raise DataError(f"dataset {cls.name!r}: {error}") from None

    @property
    def points_per_frame(self) -> int:
        return self.config.points_per_frame

    def config_dict(self) -> dict[str, Any]:
        """The options as plain values, recorded in the store so a resume can check them."""
        return {
            k: str(v) if isinstance(v, os.PathLike) else v for k, v in vars(self.config).items()
        }

    @abstractmethod
    def info(self) -> DatasetInfo:
        """Class names and provenance; cheap."""

    @abstractmethod
    def index(self) -> list[SequenceInfo]:
        """Every sequence in a fixed order, with frame counts; cheap (no frame data read)."""

    @abstractmethod
    def read(self, seq: SequenceInfo) -> SequenceData:
        """One sequence, resampled to `points_per_frame`; deterministic for a given name."""


def check_frame(points: np.ndarray, where: str) -> None:
    """A raw frame must be [n, 3] with n > 0 and finite coordinates within MAX_COORDINATE."""
    if points.ndim != 2 or points.shape[1] != 3:
        raise DataError(f"{where}: expected points of shape [n, 3], got {list(points.shape)}")
    if len(points) == 0:
        raise DataError(f"{where}: the frame has no points; drop it from the source")
    if not np.isfinite(points).all():
        raise DataError(f"{where}: the frame has NaN or infinite coordinates; repair or drop it")
    largest = float(np.abs(points).max())
    if largest > MAX_COORDINATE:
        raise DataError(
            f"{where}: a coordinate of {largest:.3g} is beyond +-{MAX_COORDINATE:.0e} (squares of "
            "it overflow float32 in the cameras' geometry); rescale the data"
        )


def resample_indices(n_in: int, n_out: int, rng: np.random.Generator) -> np.ndarray:
    """Indices that bring a frame of n_in points to exactly n_out.

    As the reference loaders do: a random subset without replacement when there are more points,
    else every point as many whole times as fit, plus a random subset for the remainder.
    """
    if n_in >= n_out:
        return rng.choice(n_in, n_out, replace=False)
    repeats, remainder = divmod(n_out, n_in)
    return np.concatenate([np.tile(np.arange(n_in), repeats), rng.choice(n_in, remainder, False)])


def resample_frame(
    points: np.ndarray, labels: np.ndarray, n: int, rng: np.random.Generator, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """A raw frame checked (`check_frame`) and resampled to n points with its point labels."""
    check_frame(points, where)
    keep = resample_indices(len(points), n, rng)
    return points[keep], labels[keep]

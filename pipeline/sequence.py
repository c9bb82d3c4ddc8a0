"""What a source hands to the store: one sequence of frames, with its labels, checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from c2p4d.pipeline.errors import DataError

SPLITS = ("train", "val", "test")

# The keys of the store's `source` attributes that record a dataset's ViewDefaults (each only
# where it is not the default), as stores have always kept them.
_VIEW_MODE = "view_mode"
_WORLD_UP = "world_up"
_VIEW_UP_FROM_PLANE = "view_up_from_plane"


@dataclass(frozen=True)
class ViewDefaults:
    """How a dataset's partial views are made unless told otherwise: the camera path (Synthia-like
    complete clouds: full-circle), the world's up the cameras circle (the built-in worlds: +z;
    None: unknown) and whether each sequence's up comes from its dominant plane instead (HOI4D,
    whose scene frames have no known up)."""

    mode: str = "sweep"
    up: tuple[float, float, float] | None = None
    up_from_plane: bool = False

    def attrs(self) -> dict[str, Any]:
        """These as the store's `source` attributes: only those that differ from the defaults,
        so that a dataset without view settings of its own records none."""
        attrs: dict[str, Any] = {}
        if self.up is not None:
            attrs[_WORLD_UP] = list(self.up)
        if self.mode != "sweep":
            attrs[_VIEW_MODE] = self.mode
        if self.up_from_plane:
            attrs[_VIEW_UP_FROM_PLANE] = True
        return attrs

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> ViewDefaults:
        """What `attrs` (a store's `source` attributes) record; the defaults where nothing."""
        up = attrs.get(_WORLD_UP)
        return cls(
            mode=attrs.get(_VIEW_MODE, "sweep"),
            up=None if up is None else (float(up[0]), float(up[1]), float(up[2])),
            up_from_plane=attrs.get(_VIEW_UP_FROM_PLANE, False),
        )

    def trajectory_options(self, mode: str | None = None) -> dict[str, Any]:
        """These as options of a TrajectoryConfig; `mode`, if given, replaces the dataset's."""
        options: dict[str, Any] = {"mode": mode or self.mode, "up_from_plane": self.up_from_plane}
        if self.up is not None:
            options["up"] = self.up
        return options


@dataclass(frozen=True)
class DatasetInfo:
    """Names of the classes a dataset's labels index, how its views are made by default, and its
    provenance for the store's attrs."""

    class_names: tuple[str, ...] = ()  # per-point semantic classes
    action_names: tuple[str, ...] = ()  # per-frame action classes
    label_names: tuple[str, ...] = ()  # per-sequence classes
    feature_names: tuple[str, ...] = ()  # extra per-point channels, e.g. ("r", "g", "b")
    attrs: dict[str, Any] = field(default_factory=dict)  # units, origin of the data, notes
    views: ViewDefaults = ViewDefaults()

    def __post_init__(self) -> None:
        declared = sorted({_WORLD_UP, _VIEW_MODE, _VIEW_UP_FROM_PLANE} & set(self.attrs))
        if declared:
            raise ValueError(f"DatasetInfo.attrs {declared}: give them as `views` instead")

    def source_attrs(self) -> dict[str, Any]:
        """The store's `source` attributes: `attrs`, then the view settings."""
        return {**self.attrs, **self.views.attrs()}


@dataclass(frozen=True)
class SequenceInfo:
    """What the store must know about a sequence before any frame is read."""

    name: str
    num_frames: int
    split: int  # index into SPLITS
    label: int = -1  # sequence class, -1 where none


@dataclass
class SequenceData:
    """One sequence, resampled to N points per frame.

    points      float32 [T, N, 3]   the complete cloud of each frame (world coordinates)
    camera      float32 [T, 4, 4]   world-from-camera pose of the original sensor (OpenCV axes)
    point_label int16   [T, N]      per-point semantic class, -1 where none
    action      int16   [T]         per-frame action class, -1 where none
    features    float32 [T, N, C]   optional extra channels (e.g. rgb), None where none
    """

    name: str
    points: np.ndarray
    camera: np.ndarray
    point_label: np.ndarray | None = None
    action: np.ndarray | None = None
    features: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.points.shape[0])

    def filled(self) -> SequenceData:
        """The same sequence with -1 labels where the source has none."""
        t, n = self.points.shape[:2]
        return SequenceData(
            name=self.name,
            points=self.points,
            camera=self.camera,
            point_label=self.point_label
            if self.point_label is not None
            else np.full((t, n), -1, np.int16),
            action=self.action if self.action is not None else np.full(t, -1, np.int16),
            features=self.features,
            meta=self.meta,
        )

    def validate(
        self,
        *,
        num_frames: int,
        points_per_frame: int,
        num_classes: int,
        num_actions: int,
        num_features: int,
        where: str,
    ) -> None:
        """Raise DataError naming `where`, the sequence and the frame if anything is off."""
        t, n = num_frames, points_per_frame
        expected = {
            "points": ((t, n, 3), np.float32),
            "camera": ((t, 4, 4), np.float32),
            "point_label": ((t, n), np.int16),
            "action": ((t,), np.int16),
        }
        if num_features:
            expected["features"] = ((t, n, num_features), np.float32)
        for key, (shape, dtype) in expected.items():
            value = getattr(self, key)
            if value is None or value.shape != shape or value.dtype != dtype:
                got = "nothing" if value is None else f"{value.dtype}{list(value.shape)}"
                raise DataError(
                    f"{where}: sequence {self.name!r} has {key} {got}, expected "
                    f"{np.dtype(dtype)}{list(shape)}"
                )
        for key in ("points", "camera", "features"):
            value = getattr(self, key)
            if value is not None and not np.isfinite(value).all():
                frame = int(np.flatnonzero(~np.isfinite(value.reshape(t, -1)).all(1))[0])
                raise DataError(
                    f"{where}: sequence {self.name!r} frame {frame} has NaN or infinite {key}; "
                    "drop or repair that frame in the source"
                )
        _check_range(self.point_label, num_classes, "point_label", self.name, where)
        _check_range(self.action, num_actions, "action", self.name, where)


def _check_range(values: np.ndarray, count: int, key: str, name: str, where: str) -> None:
    bad = (values < -1) | (values >= count)
    if bad.any():
        frame = int(np.argwhere(bad)[0][0])
        raise DataError(
            f"{where}: sequence {name!r} frame {frame} has {key} {int(values[bad][0])} outside "
            f"the {count} known classes (-1 means none)"
        )

"""Partial-view variants of one sequence (paper §3.1): trajectories, then occlusion.

Store-free: the caller writes the result into `view/*` of the store. Each view is seeded by
(dataset, sequence, view index) alone, so a view's bytes do not depend on which other views are
rendered with it, nor on worker order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from c2p4d.kernels.pixel_zbuffer import PixelOptions, pixel_visible_mask
from c2p4d.kernels.zbuffer import OcclusionOptions, pack_mask, visible_mask
from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.sequence import ViewDefaults
from c2p4d.pipeline.trajectories import TrajectoryConfig, view_trajectories

# The occlusion rules by name: our triangle fans (kernels.zbuffer), and the authors' one-pixel
# z-buffer (kernels.pixel_zbuffer), to measure whether faithful occlusion matters.
OCCLUSION_RULES: dict[str, type] = {"fans": OcclusionOptions, "pixel": PixelOptions}


@dataclass(frozen=True)
class ViewConfig:
    """How many views a sequence gets (the paper does not say; 8 is ours), their trajectories
    and the occlusion rule with its settings (its type names the rule)."""

    num_views: int = 8
    trajectory: TrajectoryConfig = field(default_factory=TrajectoryConfig)
    occlusion: OcclusionOptions | PixelOptions = field(default_factory=OcclusionOptions)

    def __post_init__(self) -> None:
        if self.num_views <= 0:
            raise DataError(f"view config: num_views {self.num_views} must be >= 1")

    @property
    def rule(self) -> str:
        """The occlusion rule's name in OCCLUSION_RULES."""
        return next(
            name for name, kind in OCCLUSION_RULES.items() if isinstance(self.occlusion, kind)
        )

    @property
    def set_name(self) -> str:
        """The view set's default name: the trajectory mode, with `-pixel` for the authors'
        rule, so that its views sit beside ours (`sweep`, `sweep-pixel`)."""
        mode = self.trajectory.mode
        return mode if self.rule == "fans" else f"{mode}-{self.rule}"

    def settings(self) -> dict[str, Any]:
        """What a view set records of how it was made (its view count apart): the trajectory
        and the occlusion settings, the latter with the rule's name."""
        return {
            "trajectory": dataclasses.asdict(self.trajectory),
            "occlusion": {"rule": self.rule, **dataclasses.asdict(self.occlusion)},
        }


@dataclass(frozen=True)
class ViewRequest:
    """Views as `c2p-data partial-views` asks for them: a count, a camera path (None: the
    dataset's), an occlusion rule and trajectory or occlusion settings by name; `resolve` fills
    the rest from the dataset's own view settings, else the defaults."""

    num_views: int = 8
    mode: str | None = None
    occlusion: str = "fans"
    options: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self, defaults: ViewDefaults) -> ViewConfig:
        """The ViewConfig of these settings over `defaults` (a store's `view_defaults`:
        Synthia's 360-degree sweep, the built-in worlds' up, HOI4D's up from each table)."""
        if self.occlusion not in OCCLUSION_RULES:
            raise DataError(
                f"occlusion {self.occlusion!r} is not one of {', '.join(OCCLUSION_RULES)}"
            )
        rule = OCCLUSION_RULES[self.occlusion]
        trajectory_keys = {f.name for f in dataclasses.fields(TrajectoryConfig)}
        known = trajectory_keys | {f.name for f in dataclasses.fields(rule)}
        unknown = sorted(set(self.options) - known)
        if unknown:
            raise DataError(
                f"unknown view option(s) {', '.join(unknown)}; --occlusion {self.occlusion} "
                f"takes: {', '.join(sorted(known))}"
            )
        trajectory = {k: v for k, v in self.options.items() if k in trajectory_keys}
        rule_options = {k: v for k, v in self.options.items() if k not in trajectory_keys}
        try:  # the kernels' options say what is wrong with a ValueError
            occlusion = rule(**rule_options)
        except ValueError as error:
            raise DataError(f"--occlusion {self.occlusion}: {error}") from None
        return ViewConfig(
            num_views=self.num_views,
            trajectory=TrajectoryConfig(**{**defaults.trajectory_options(self.mode), **trajectory}),
            occlusion=occlusion,
        )


def render_views(
    points: np.ndarray,
    original_camera: np.ndarray,
    dataset: str,
    sequence: str,
    view_indices: Iterable[int],
    config: ViewConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """points [F,N,3], original_camera [F,4,4] (world-from-camera) -> for each view index:
    visible uint8 [V,F,ceil(N/8)] (bit-packed, kernels.zbuffer.pack_mask), camera float32
    [V,F,4,4] (world-from-camera) and intrinsics float32 [V,F,3,3] (the trajectory's camera;
    under the pixel rule, its screen's)."""
    views = [int(v) for v in view_indices]
    _check(points, original_camera, sequence, views)
    camera, intrinsics = view_trajectories(
        points, original_camera, dataset, sequence, views, config.trajectory
    )
    # The occlusion uses the float32 cameras that are stored, so the stored data reproduce it.
    if isinstance(config.occlusion, PixelOptions):
        # The authors' screen, not the trajectory's image: it is the camera the rule saw.
        intrinsics = np.broadcast_to(config.occlusion.intrinsics(), intrinsics.shape)
        intrinsics = intrinsics.astype(np.float32)
        visible = pixel_visible_mask(points, camera, config.occlusion)
    else:
        visible = visible_mask(
            points, camera, intrinsics, config.trajectory.image_size, config.occlusion
        )
    return pack_mask(visible), camera, intrinsics


def _check(
    points: np.ndarray, original_camera: np.ndarray, sequence: str, views: list[int]
) -> None:
    if not views:
        raise DataError(f"sequence {sequence!r}: no view indices to render; ask for >= 1 view")
    if points.ndim != 3 or points.shape[-1] != 3 or points.shape[0] == 0:
        raise DataError(f"sequence {sequence!r}: points must be [F,N,3], got {list(points.shape)}")
    if points.shape[1] == 0:
        raise DataError(f"sequence {sequence!r}: its frames have no points (N = 0); re-ingest it")
    if original_camera.shape != (points.shape[0], 4, 4):
        raise DataError(
            f"sequence {sequence!r}: original_camera must be [{points.shape[0]},4,4], "
            f"got {list(original_camera.shape)}"
        )
    for name, value in (("points", points), ("original camera", original_camera)):
        bad = ~np.isfinite(value.reshape(len(value), -1)).all(1)
        if bad.any():
            raise DataError(
                f"sequence {sequence!r} frame {int(np.flatnonzero(bad)[0])}: NaN or infinite "
                f"{name}; drop or repair that frame"
            )

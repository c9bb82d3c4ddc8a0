"""Virtual camera trajectories around each frame's cloud (paper §3.1, "natural camera trajectory").

The camera moves on a sphere centred at the centre (mean) of each frame's cloud, with radius =
the distance from that centre to the frame's original camera. "Horizontal" needs an up:

- the world's up (`TrajectoryConfig.up`; `c2p-data partial-views` takes it from the store when
  the source records one): theta is the azimuth about it and phi the elevation above the
  original camera's own elevation, so a sweep circles the scene at the original camera's height
  (a camera looking down at a table stays above the table over the whole sweep);
- else, with `up_from_plane` (HOI4D's default), the same about an up estimated per sequence:
  the normal of the dominant plane of its first frame (the table, the floor), facing the
  sensor, when that plane lies under the sensor's view (`dominant_plane_up`);
- else, as point clouds carry no world-up convention, the original camera's -y axis (OpenCV: y
  points down), made orthogonal to the direction from the centre to the original camera (so
  that camera is exactly on the equator); were that direction parallel to y, the camera's z and
  then x axes take up's place. For a level camera (a car's, a fixed sensor's) that is about
  the world's up; a camera looking down tilts the sweep's circle by its pitch.

Either way (theta, phi) = (pi/2, 0) is exactly the original camera position, theta < pi/2 lies
to the original camera's left, and cameras stay 5 degrees short of the sphere's poles.

Modes:
- `sweep` (the paper's default): theta runs in even steps over `sweep_deg` (150 degrees)
  centred on the original camera, i.e. from pi/2 - 5pi/12 to pi/2 + 5pi/12 (left to right) or
  the reverse, direction random; a single frame sits at the sweep's start.
- `full-circle` (the paper's Synthia setting): theta advances 360/T degrees per frame over T
  frames (30 degrees over 12 frames), from a random start in a random direction.
- `random` (the paper's ablation): every frame draws an independent viewpoint: theta uniform in
  the sweep's range, phi uniform within the elevation bound, zoom log-uniform.

In `sweep` and `full-circle`, phi and the zoom follow smooth random curves: a sum of `modes`
sines over the sequence with random phases and weights summing to 1, so phi stays within
+-`elevation_deg` and changes by at most pi * modes * elevation_deg / (T - 1) degrees per
frame. The zoom scales the focal length within `zoom_range` (log-scale curve).

The camera looks at the centre with the sphere's up as its up vector (no roll); it is returned
as world-from-camera poses (OpenCV axes) and intrinsics.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from c2p4d.kernels.neighbors import knn_numba
from c2p4d.pipeline.cameras import look_at
from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.seeding import rng_from

MODES = ("sweep", "full-circle", "random")
MAX_ELEVATION = math.radians(85.0)  # cameras stay this far from the poles of the sphere
MAX_MODES = 64  # sines in a smooth curve (more would be noise)
MAX_IMAGE = 16384  # pixels a side
# The dominant plane: normals of 10-point neighbourhoods, grouped within 10 degrees, from at most
# 1024 of them; it must hold a quarter of the points (a table in HOI4D-like frames: about half).
PLANE_NEIGHBOURS = 10
PLANE_DEG = 10.0
MAX_PLANE_NORMALS = 1024
MIN_PLANE_SHARE = 0.25


@dataclass(frozen=True)
class TrajectoryConfig:
    """Defaults are the paper's; where it is silent (image, intrinsics, zoom) we chose a 320x240
    depth camera with the PrimeSense/Kinect v1 intrinsics (open3d's PrimeSenseDefault, f = 525
    px at 640x480) halved, and zooms of 0.8x to 1.25x of that focal length."""

    mode: str = "sweep"
    sweep_deg: float = 150.0  # horizontal span of a `sweep`, centred on the original camera
    elevation_deg: float = 5.0  # phi stays within +- this
    zoom_range: tuple[float, float] = (0.8, 1.25)  # factor on the focal length
    modes: int = 3  # sines in the smooth perturbations of phi and zoom
    image_size: tuple[int, int] = (320, 240)  # (width, height)
    focal: tuple[float, float] = (262.5, 262.5)  # (fx, fy) in pixels at zoom 1
    principal_point: tuple[float, float] = (159.5, 119.5)  # (cx, cy): the image centre
    up: tuple[float, float, float] | None = None  # the world's up; None: each camera's -y
    up_from_plane: bool = False  # without `up`: each sequence's dominant plane, if a floor

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in MODES:
            problems.append(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if not 0 <= self.sweep_deg <= 360:
            problems.append(f"sweep_deg {self.sweep_deg} must be within [0, 360]")
        if not 0 <= self.elevation_deg < 90:
            problems.append(f"elevation_deg {self.elevation_deg} must be within [0, 90)")
        if not (
            0 < self.zoom_range[0] <= self.zoom_range[1] and np.isfinite(self.zoom_range).all()
        ):
            problems.append(
                f"zoom_range {self.zoom_range} must be (low, high), 0 < low <= high, finite"
            )
        if not 1 <= self.modes <= MAX_MODES:
            problems.append(f"modes {self.modes} must be within [1, {MAX_MODES}]")
        if self.up is not None and not (
            len(self.up) == 3 and np.isfinite(self.up).all() and np.linalg.norm(self.up) > 0
        ):
            problems.append(f"up {self.up} must be 3 finite numbers, not all 0")
        if not all(1 <= size <= MAX_IMAGE for size in self.image_size):
            problems.append(f"image_size {self.image_size} must be within [1, {MAX_IMAGE}]")
        if not (min(self.focal) > 0 and np.isfinite(self.focal).all()):
            problems.append(f"focal {self.focal} must be finite and > 0")
        if not np.isfinite(self.principal_point).all():
            problems.append(f"principal_point {self.principal_point} must be finite")
        if problems:
            raise DataError("trajectory config: " + "; ".join(problems))


def view_angles(
    num_frames: int, rng: np.random.Generator, config: TrajectoryConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """theta [T], phi [T] (radians, (pi/2, 0) = the original camera) and zoom [T]."""
    t = num_frames
    half = math.radians(config.sweep_deg) / 2
    elevation = math.radians(config.elevation_deg)
    low, high = math.log(config.zoom_range[0]), math.log(config.zoom_range[1])
    if config.mode == "random":
        theta = math.pi / 2 + rng.uniform(-half, half, t)
        phi = rng.uniform(-elevation, elevation, t)
        return theta, phi, np.exp(rng.uniform(low, high, t))
    direction = 1.0 if rng.random() < 0.5 else -1.0
    steps = np.arange(t)
    if config.mode == "sweep":
        offset = -half + steps * (2 * half / max(t - 1, 1))
    else:  # full-circle
        offset = rng.uniform(0, 2 * math.pi) + steps * (2 * math.pi / t)
    theta = math.pi / 2 + direction * offset
    phi = elevation * smooth_curve(t, rng, config.modes)
    zoom = np.exp((low + high) / 2 + (high - low) / 2 * smooth_curve(t, rng, config.modes))
    return theta, phi, zoom


def smooth_curve(num_frames: int, rng: np.random.Generator, modes: int) -> np.ndarray:
    """[T] values within [-1, 1]: sum_k a_k sin(pi k s + p_k) over s in [0, 1], sum |a_k| = 1,
    lower frequencies weighted more. Its slope is at most pi * modes per sequence."""
    s = np.linspace(0.0, 1.0, num_frames)[:, None]
    k = np.arange(1, modes + 1)
    weight = rng.uniform(0.0, 1.0, modes) / k
    weight /= weight.sum()
    phase = rng.uniform(0.0, 2 * math.pi, modes)
    return (weight * np.sin(math.pi * k * s + phase)).sum(1)


class ViewSphere(NamedTuple):
    """Per frame, the sphere a view's camera moves on."""

    centre: np.ndarray  # [T,3] the cloud's mean
    radius: np.ndarray  # [T] the distance from it to the original camera
    axes: np.ndarray  # [T,3,3] columns: theta = 0, theta = pi/2 (towards the camera), up
    elevation: np.ndarray  # [T] the original camera's angle above the plane orthogonal to up


def sphere_frames(
    points: np.ndarray,
    original_camera: np.ndarray,
    sequence: str = "?",
    up: Sequence[float] | None = None,
) -> ViewSphere:
    """points [T,N,3], original_camera [T,4,4], the world's up direction (None: each original
    camera's own, see the module docstring) -> each frame's view sphere."""
    centre = points.astype(np.float64).mean(1)
    eye = original_camera[:, :3, 3].astype(np.float64)
    rotation = original_camera[:, :3, :3].astype(np.float64)
    towards = eye - centre
    radius = np.linalg.norm(towards, axis=1)
    size = np.sqrt(((points - centre[:, None]) ** 2).sum(-1).mean(1))
    for frame in np.flatnonzero(radius <= 1e-6 * np.maximum(size, 1e-300)):
        raise DataError(
            f"sequence {sequence!r} frame {frame}: the original camera sits at the centre of "
            f"the cloud (distance {radius[frame]:.3g}), so no view sphere can be built; check "
            "the camera poses of that frame (world-from-camera, OpenCV axes)"
        )
    towards /= radius[:, None]
    x, y, z = rotation[..., 0], rotation[..., 1], rotation[..., 2]
    if up is None:
        # The camera's -y, else its z, else its x, made orthogonal to `towards`.
        up_axis = _orthogonal_part(towards, (-y, z, x))
        horizontal = towards
        elevation = np.zeros(len(towards))
    else:
        up_axis = np.broadcast_to(np.divide(up, np.linalg.norm(up)), towards.shape)
        elevation = np.arcsin(np.clip((towards * up_axis).sum(1), -1.0, 1.0))
        # Where the camera is (nearly) straight above or below the centre, its y (image down,
        # which points back towards it when it looks down) stands in for `towards`.
        horizontal = _orthogonal_part(up_axis, (towards, y, -z, x))
    side = np.cross(horizontal, up_axis)
    return ViewSphere(centre, radius, np.stack([side, horizontal, up_axis], axis=-1), elevation)


def _orthogonal_part(direction: np.ndarray, candidates: tuple[np.ndarray, ...]) -> np.ndarray:
    """Per frame, the unit part orthogonal to `direction` [T,3] of the first of `candidates`
    (each [T,3]) that is not near parallel to it."""
    out = np.empty_like(direction)
    for frame in range(len(direction)):
        for candidate in candidates:
            ortho = candidate[frame] - (candidate[frame] @ direction[frame]) * direction[frame]
            if np.linalg.norm(ortho) > 0.1:
                out[frame] = ortho / np.linalg.norm(ortho)
                break
    return out


def dominant_plane_up(
    points: np.ndarray, camera: np.ndarray, max_tilt_deg: float = 75.0
) -> np.ndarray | None:
    """The world's up as the unit normal of a frame's dominant plane (a table, a floor), facing
    the sensor: points [N,3], its camera [4,4] (world-from-camera). None when there is no such
    floor: no plane holds a quarter of the points (a body has no flat quarter), or its normal
    is more than `max_tilt_deg` from the sensor's image-up (a wall the sensor faces)."""
    pts = np.asarray(points, np.float64)
    if len(pts) < 3:
        return None
    _, neighbours = knn_numba(min(PLANE_NEIGHBOURS, len(pts)), pts[None], pts[None])
    neighbours = neighbours[0]
    local = pts[neighbours] - pts[neighbours].mean(1, keepdims=True)
    variance, axes = np.linalg.eigh(np.einsum("nki,nkj->nij", local, local))
    side = np.sign(((camera[:3, 3] - pts) * axes[:, :, 0]).sum(1))
    flat = (variance[:, 0] < 0.05 * variance[:, 1]) & (side != 0)
    normals = (axes[:, :, 0] * side[:, None])[flat]
    normals = normals[:: max(1, len(normals) // MAX_PLANE_NORMALS)]  # bounds the n^2 below
    if len(normals) == 0:
        return None
    # The mode of the normals: the one with the most others within PLANE_DEG of it.
    close = math.cos(math.radians(PLANE_DEG))
    support = (normals @ normals.T > close).sum(1)
    best = normals[np.argmax(support)]
    up = normals[normals @ best > close].mean(0)
    up /= np.linalg.norm(up)
    under_view = up @ -camera[:3, 1] >= math.cos(math.radians(max_tilt_deg))
    share = support.max() / len(normals) * flat.mean()  # of all the points
    return up if under_view and share >= MIN_PLANE_SHARE else None


def world_up(
    points: np.ndarray, original_camera: np.ndarray, config: TrajectoryConfig
) -> np.ndarray | None:
    """The up a sequence's views circle about (see the module docstring); None: each
    camera's own."""
    if config.up is not None:
        return np.asarray(config.up, np.float64)
    if config.up_from_plane:
        return dominant_plane_up(points[0], original_camera[0])
    return None


def camera_trajectory(
    points: np.ndarray,
    original_camera: np.ndarray,
    rng: np.random.Generator,
    config: TrajectoryConfig,
    sequence: str = "?",
) -> tuple[np.ndarray, np.ndarray]:
    """One view's cameras over a sequence: world_from_camera float32 [T,4,4] and intrinsics
    float32 [T,3,3]. `points` [T,N,3] only supplies each frame's centre."""
    up = world_up(points, original_camera, config)
    sphere = sphere_frames(points, original_camera, sequence, up)
    return _on_sphere(sphere, rng, config)


def _on_sphere(
    sphere: ViewSphere,
    rng: np.random.Generator,
    config: TrajectoryConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """`camera_trajectory` given the frames' view spheres (`sphere_frames`)."""
    centre, radius, axes, elevation = sphere
    theta, phi, zoom = view_angles(len(centre), rng, config)
    # Above the original camera's elevation; short of the poles, where the up flips.
    phi = np.clip(elevation + phi, -MAX_ELEVATION, MAX_ELEVATION)
    local = np.stack(
        [np.cos(phi) * np.cos(theta), np.cos(phi) * np.sin(theta), np.sin(phi)], axis=-1
    )
    eye = centre + radius[:, None] * np.einsum("tij,tj->ti", axes, local)
    pose = look_at(eye, centre, axes[..., 2])
    k = np.zeros((len(centre), 3, 3))
    k[:, 0, 0] = config.focal[0] * zoom
    k[:, 1, 1] = config.focal[1] * zoom
    k[:, 0, 2], k[:, 1, 2] = config.principal_point
    k[:, 2, 2] = 1.0
    return pose.astype(np.float32), k.astype(np.float32)


def view_trajectories(
    points: np.ndarray,
    original_camera: np.ndarray,
    dataset: str,
    sequence: str,
    views: Iterable[int],
    config: TrajectoryConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """`camera_trajectory` of each view index, seeded by (dataset, sequence, view): the same
    view index gives the same cameras whatever else is rendered. -> world_from_camera float32
    [V,T,4,4] and intrinsics float32 [V,T,3,3]; the view spheres are built once for all."""
    views = [int(v) for v in views]
    for view in views:
        if view < 0:
            raise DataError(f"sequence {sequence!r}: view index {view} must be >= 0")
    up = world_up(points, original_camera, config)
    sphere = sphere_frames(points, original_camera, sequence, up)
    poses, intrinsics = zip(
        *(_on_sphere(sphere, rng_from(dataset, sequence, v), config) for v in views), strict=True
    )
    return np.stack(poses), np.stack(intrinsics)


def view_trajectory(
    points: np.ndarray,
    original_camera: np.ndarray,
    dataset: str,
    sequence: str,
    view: int,
    config: TrajectoryConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """One view of `view_trajectories`: world_from_camera [T,4,4] and intrinsics [T,3,3]."""
    pose, k = view_trajectories(points, original_camera, dataset, sequence, [view], config)
    return pose[0], k[0]

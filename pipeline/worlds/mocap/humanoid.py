"""The DeepMimic humanoid that ships with pybullet: its motion clips, posed and seen in depth.

pybullet's wheel carries 15 motion-capture clips retargeted to one body (DeepMimic, Peng et al.
2018): `pybullet_data/data/motions/humanoid3d_*.txt`, and the body, `humanoid/humanoid.urdf`
(spheres, capsules and boxes; metres at globalScaling 0.25). A clip is JSON with "Loop" ("wrap"
or "none") and "Frames"; each frame is [duration, root position (3), root rotation (w, x, y, z),
then the joints in DeepMimic order: chest, neck, right hip, right knee, right ankle, right
shoulder, right elbow, left hip, left knee, left ankle, left shoulder, left elbow], spherical
joints as quaternions (w, x, y, z), knees and elbows as one angle; y is up. This is how
pybullet_envs/deep_mimic/env/humanoid_pose_interpolator.py reads them; we interpolate the same
way (lerp positions and angles, slerp rotations, a looping clip's root carried on by its
advance over one cycle) but honour each keyframe's own duration and close the loops' small gaps.

pybullet is an optional dependency (the `dev` extra), so it is imported only when used.
"""

from __future__ import annotations

import functools
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
from scipy.spatial.transform import Rotation

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.worlds.render import DepthCamera

CLIP_NAMES = (
    "backflip", "cartwheel", "crawl", "dance_a", "dance_b", "getup_facedown", "getup_faceup",
    "jump", "kick", "punch", "roll", "run", "spin", "spinkick", "walk",
)  # fmt: skip
# The 15 links of humanoid.urdf in pybullet's link order (URDF_MAINTAIN_LINK_ORDER).
LINK_NAMES = (
    "root", "chest", "neck", "right_hip", "right_knee", "right_ankle", "right_shoulder",
    "right_elbow", "right_wrist", "left_hip", "left_knee", "left_ankle", "left_shoulder",
    "left_elbow", "left_wrist",
)  # fmt: skip
SPHERICAL_JOINTS = (1, 2, 3, 5, 6, 9, 11, 12)  # chest, neck, hips, ankles, shoulders
REVOLUTE_JOINTS = (4, 7, 10, 13)  # knees and elbows
# Where each joint's values sit in a DeepMimic frame, in the order of the tuples above.
_SPHERICAL_COLUMNS = (8, 12, 16, 21, 25, 30, 35, 39)
_REVOLUTE_COLUMNS = (20, 29, 34, 43)
_FRAME_LENGTH = 44
URDF_SCALE = 0.25  # DeepMimic loads the body at this scale: the clips are in metres for it
INSTALL_HINT = "pip install pybullet==3.2.7 (or: pip install -e '.[dev]')"


def require_pybullet() -> tuple[ModuleType, Path]:
    """The pybullet module and its data folder, or a DataError saying how to install it."""
    try:
        import pybullet
        import pybullet_data
    except ImportError:
        raise DataError(
            "the mocap dataset renders pybullet's motion clips and humanoid, but the package "
            f"'pybullet' is not installed; install it with: {INSTALL_HINT}"
        ) from None
    return pybullet, Path(pybullet_data.getDataPath())


@dataclass(frozen=True)
class Poses:
    """Body poses over T frames: the root's pose and every joint's value.

    root_position float64 [T, 3], root_rotation [T, 4], spherical [T, 8, 4] (quaternions x, y,
    z, w as pybullet and scipy take them; joint order SPHERICAL_JOINTS), revolute [T, 4]
    (radians; order REVOLUTE_JOINTS).
    """

    root_position: np.ndarray
    root_rotation: np.ndarray
    spherical: np.ndarray
    revolute: np.ndarray

    def __len__(self) -> int:
        return len(self.root_position)

    def take(self, index: np.ndarray) -> Poses:
        return Poses(
            self.root_position[index],
            self.root_rotation[index],
            self.spherical[index],
            self.revolute[index],
        )

    def transformed(self, matrices: np.ndarray) -> Poses:
        """The poses with their root moved by rigid transforms, [4, 4] or one per frame."""
        m = np.broadcast_to(matrices, (len(self), 4, 4))
        position = np.einsum("tij,tj->ti", m[:, :3, :3], self.root_position) + m[:, :3, 3]
        rotation = Rotation.from_matrix(m[:, :3, :3]) * Rotation.from_quat(self.root_rotation)
        return Poses(position, rotation.as_quat(), self.spherical, self.revolute)

    def scaled(self, scale: float) -> Poses:
        """The poses of a body `scale` times as large (same angles, root positions scaled)."""
        return Poses(self.root_position * scale, self.root_rotation, self.spherical, self.revolute)


def interpolate(a: Poses, b: Poses, weight: np.ndarray) -> Poses:
    """Per frame, the pose a fraction `weight` [T] of the way from a to b."""
    w = weight[:, None]
    return Poses(
        a.root_position + w * (b.root_position - a.root_position),
        slerp_quaternions(a.root_rotation, b.root_rotation, weight),
        slerp_quaternions(a.spherical, b.spherical, np.repeat(w, a.spherical.shape[1], 1)),
        a.revolute + w * (b.revolute - a.revolute),
    )


def slerp_quaternions(q0: np.ndarray, q1: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Spherical interpolation of unit quaternions [..., 4] along the shorter arc."""
    dot = np.sum(q0 * q1, -1)
    q1 = np.where(dot[..., None] < 0, -q1, q1)
    angle = np.arccos(np.clip(np.abs(dot), 0.0, 1.0))
    sine = np.sin(angle)
    near = sine < 1e-9  # (nearly) the same rotation: linear blend is exact enough
    safe = np.where(near, 1.0, sine)
    a = np.where(near, 1 - weight, np.sin((1 - weight) * angle) / safe)
    b = np.where(near, weight, np.sin(weight * angle) / safe)
    q = a[..., None] * q0 + b[..., None] * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def yaw_about_y(rotation: np.ndarray) -> float:
    """The angle of the rotation about the vertical (y) axis closest to a 3x3 rotation.

    It maximises trace(Ry(yaw)^T R), so it stays defined for a body lying down, where the
    heading of a forward axis would not.
    """
    return float(np.arctan2(rotation[0, 2] - rotation[2, 0], rotation[0, 0] + rotation[2, 2]))


def ground_alignment(
    source: tuple[np.ndarray, np.ndarray], target: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """The 4x4 turn about y and horizontal shift that best carries a root pose (position,
    quaternion) onto another: how one clip continues where another, or its last cycle, ended."""
    relative = Rotation.from_quat(target[1]) * Rotation.from_quat(source[1]).inv()
    turn = Rotation.from_rotvec([0, yaw_about_y(relative.as_matrix()), 0]).as_matrix()
    matrix = np.eye(4)
    matrix[:3, :3] = turn
    matrix[[0, 2], 3] = (target[0] - turn @ source[0])[[0, 2]]
    return matrix


@dataclass(frozen=True)
class Clip:
    """One motion clip: keyframe times (seconds from the first) and poses, y up."""

    name: str
    loop: bool
    times: np.ndarray  # float64 [K], times[0] = 0
    keyframes: Poses

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    @functools.cached_property
    def cycle(self) -> np.ndarray:
        """The ground transform from the first to the last keyframe: one loop's advance."""
        first, last = self.keyframes.take(0), self.keyframes.take(-1)
        return ground_alignment(
            (first.root_position, first.root_rotation), (last.root_position, last.root_rotation)
        )

    def sample(self, times: np.ndarray) -> Poses:
        """Poses at clip times [T] (seconds). A looping clip repeats, each cycle carried on from
        where the last one ended; a clip that does not loop holds its first and last poses."""
        times = np.asarray(times, float)
        cycles = np.floor(times / self.duration) if self.loop else np.zeros_like(times)
        local = np.clip(times - cycles * self.duration, 0.0, self.duration)
        i = np.clip(np.searchsorted(self.times, local, side="right") - 1, 0, len(self.times) - 2)
        fraction = np.clip((local - self.times[i]) / (self.times[i + 1] - self.times[i]), 0, 1)
        poses = interpolate(self.keyframes.take(i), self.keyframes.take(i + 1), fraction)
        if not self.loop:
            return poses
        shifts = {k: np.linalg.matrix_power(self.cycle, int(k)) for k in np.unique(cycles)}
        return poses.transformed(np.stack([shifts[k] for k in cycles]))


def load_clip(name: str) -> Clip:
    """One of pybullet's clips (CLIP_NAMES), read once per process."""
    _, data = require_pybullet()
    return _read_clip(data / "data" / "motions" / f"humanoid3d_{name}.txt")


@functools.cache
def _read_clip(path: Path) -> Clip:
    """A DeepMimic clip file; quaternions normalised to x, y, z, w order."""
    try:
        data = json.loads(path.read_text())
        frames = np.array(data["Frames"], float)
        loop = {"wrap": True, "none": False}[data["Loop"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(
            f"{path}: not a readable DeepMimic motion clip ({error}); reinstall pybullet: "
            f"{INSTALL_HINT}"
        ) from None
    if frames.ndim != 2 or frames.shape[1] != _FRAME_LENGTH or len(frames) < 2:
        raise DataError(f"{path}: expected frames of {_FRAME_LENGTH} numbers, got {frames.shape}")

    def quaternions(columns: tuple[int, ...]) -> np.ndarray:
        wxyz = np.stack([frames[:, c : c + 4] for c in columns], 1)
        xyzw = np.roll(wxyz, -1, axis=-1)
        return xyzw / np.linalg.norm(xyzw, axis=-1, keepdims=True)

    keyframes = Poses(
        root_position=frames[:, 1:4],
        root_rotation=quaternions((4,))[:, 0],
        spherical=quaternions(_SPHERICAL_COLUMNS),
        revolute=frames[:, list(_REVOLUTE_COLUMNS)],
    )
    times = np.concatenate([[0.0], np.cumsum(frames[:-1, 0])])
    if loop:
        keyframes = _close_loop(keyframes, times)
    return Clip(path.stem.removeprefix("humanoid3d_"), loop, times, keyframes)


def _close_loop(keyframes: Poses, times: np.ndarray) -> Poses:
    """A looping clip whose last keyframe matches its first (but for the root's advance).

    The clips' loops are not exact (the root's heading differs by up to 20 degrees between
    the ends of `spin`); spreading each mismatch evenly over the cycle, as is usual for
    looping motion capture, lets the cycles follow each other without a jump.
    """
    share = times / times[-1]

    def spread(quaternions: np.ndarray) -> np.ndarray:
        flat = quaternions.reshape(len(quaternions), -1, 4)
        gap = Rotation.from_quat(flat[0]) * Rotation.from_quat(flat[-1]).inv()
        fix = Rotation.from_rotvec((share[:, None, None] * gap.as_rotvec()).reshape(-1, 3))
        return (fix * Rotation.from_quat(flat.reshape(-1, 4))).as_quat().reshape(quaternions.shape)

    revolute = keyframes.revolute
    return Poses(
        keyframes.root_position,
        spread(keyframes.root_rotation),
        spread(keyframes.spherical),
        revolute + share[:, None] * (revolute[0] - revolute[-1]),
    )


def opengl_matrices(
    world_from_camera: np.ndarray, camera: DepthCamera, near: float, far: float
) -> tuple[list[float], list[float]]:
    """pybullet's view and projection matrices (column-major, OpenGL axes: y up, z backwards)
    for a pinhole camera posed in OpenCV axes (x right, y down, z forward)."""
    opengl_pose = world_from_camera @ np.diag([1.0, -1.0, -1.0, 1.0])
    view = np.linalg.inv(opengl_pose)
    k = camera.intrinsics
    # The software renderer samples pixel (column c, row r) at (c, r + 1) in OpenCV image
    # coordinates, not at its centre (c + 0.5, r + 0.5): shift the principal point to match.
    cx, cy = k[0, 2] - 0.5, k[1, 2] + 0.5
    projection = np.zeros((4, 4))
    projection[0, 0] = 2 * k[0, 0] / camera.width
    projection[1, 1] = 2 * k[1, 1] / camera.height
    projection[0, 2] = 1 - 2 * cx / camera.width
    projection[1, 2] = 2 * cy / camera.height - 1
    projection[2, 2] = -(far + near) / (far - near)
    projection[2, 3] = -2 * far * near / (far - near)
    projection[3, 2] = -1
    return view.T.reshape(-1).tolist(), projection.T.reshape(-1).tolist()


@dataclass(frozen=True)
class Rendered:
    """What the renderer saw, cut to the box around everything hit and one pixel more (a person
    fills a few percent of the image; the rest needs no work, and at 640 x 480 whole-image
    temporaries cost more than the rendering): depth along the optical axis [h, w] (inf where
    empty), the body and the link each pixel sees [h, w] (-1 for none; a body's base is link
    -1 too), and the box's first row and column in the full image."""

    depth: np.ndarray
    body: np.ndarray
    link: np.ndarray
    top: int
    left: int


def render(
    pybullet: ModuleType,
    client: int,
    world_from_camera: np.ndarray,
    camera: DepthCamera,
    near: float,
    far: float,
) -> Rendered:
    """Depth and segmentation from pybullet's software renderer (deterministic, no window)."""
    view, projection = opengl_matrices(world_from_camera, camera, near, far)
    _, _, _, buffer, segmentation = pybullet.getCameraImage(
        camera.width,
        camera.height,
        view,
        projection,
        shadow=0,
        renderer=pybullet.ER_TINY_RENDERER,
        flags=pybullet.ER_SEGMENTATION_MASK_OBJECT_AND_LINKINDEX,
        physicsClientId=client,
    )
    shape = (camera.height, camera.width)
    segmentation = np.asarray(segmentation).reshape(shape)
    hit = segmentation >= 0
    rows, cols = np.flatnonzero(hit.any(1)), np.flatnonzero(hit.any(0))
    if len(rows) == 0:
        nothing = np.empty((0, 0), np.int64)
        return Rendered(np.empty((0, 0)), nothing, nothing, 0, 0)
    top, left = max(rows[0] - 1, 0), max(cols[0] - 1, 0)
    box = np.s_[top : rows[-1] + 2, left : cols[-1] + 2]
    segmentation = segmentation[box].astype(np.int64)
    hit = hit[box]
    # The depth buffer holds OpenGL's nonlinear window depth in [0, 1]; invert the projection.
    window = np.asarray(buffer).reshape(shape)[box].astype(np.float64)
    depth = np.where(hit, far * near / (far - (far - near) * window), np.inf)
    body = np.where(hit, segmentation & ((1 << 24) - 1), -1)
    link = np.where(hit, (segmentation >> 24) - 1, -1)
    return Rendered(depth, body, link, int(top), int(left))


class Humanoid:
    """The DeepMimic body in a fresh pybullet DIRECT client, for use in a `with` block.

    Sources are pickled to Dask workers, so each read opens and closes its own client; that
    costs 10-40 ms, little next to rendering a sequence.
    """

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def __enter__(self) -> Humanoid:
        self.pybullet, data = require_pybullet()
        self.client = self.pybullet.connect(self.pybullet.DIRECT)
        # humanoid.urdf gives its spherical joints no axis, and pybullet prints a warning for
        # each at every load; an explicit axis (its default, unused by a spherical joint)
        # keeps ingest logs readable.
        text = (data / "humanoid" / "humanoid.urdf").read_text()
        text = re.sub(r'(<joint name="\w+" type="spherical" >)', r'\1<axis xyz="1 0 0"/>', text)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "humanoid.urdf"
            path.write_text(text)
            self.body = self.pybullet.loadURDF(
                str(path),
                globalScaling=URDF_SCALE * self.scale,
                useFixedBase=True,
                flags=self.pybullet.URDF_MAINTAIN_LINK_ORDER,
                physicsClientId=self.client,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self.pybullet.disconnect(self.client)

    def set_pose(self, poses: Poses, t: int) -> None:
        """Pose the body as frame t of `poses` (world coordinates)."""
        p, client = self.pybullet, self.client
        p.resetBasePositionAndOrientation(
            self.body, poses.root_position[t], poses.root_rotation[t], physicsClientId=client
        )
        for joint, quaternion in zip(SPHERICAL_JOINTS, poses.spherical[t], strict=True):
            p.resetJointStateMultiDof(self.body, joint, quaternion, physicsClientId=client)
        for joint, angle in zip(REVOLUTE_JOINTS, poses.revolute[t], strict=True):
            p.resetJointStateMultiDof(self.body, joint, [angle], physicsClientId=client)

    def render(
        self, world_from_camera: np.ndarray, camera: DepthCamera, near: float, far: float
    ) -> Rendered:
        return render(self.pybullet, self.client, world_from_camera, camera, near, far)


def sense(
    camera: DepthCamera, image: Rendered, world_from_camera: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """What `camera`'s sensor returns for a clean rendered image: world points [M, 3] and the
    link [M] each came from, after noise and dropout.

    The renderer gives no normals, so the incidence angle that decides grazing dropout comes
    from the depth image itself: the cross product of neighbouring points' differences.
    """
    if image.depth.size == 0:
        return np.empty((0, 3)), np.empty(0, np.int64)
    height, width = image.depth.shape
    rays = camera.pixel_rays.reshape(camera.height, camera.width, 3)
    rays = rays[image.top : image.top + height, image.left : image.left + width]
    local = rays * np.where(np.isfinite(image.depth), image.depth, np.nan)[..., None]
    normals = np.cross(_tangent(local, 1), _tangent(local, 0))
    along = np.abs(np.sum(normals * rays, -1))
    cos = along / (np.linalg.norm(normals, axis=-1) * np.linalg.norm(rays, axis=-1))
    cos = np.where(np.isfinite(cos), cos, 1.0)  # no neighbour on either side: edges decide
    noisy = camera.sensor.corrupt(image.depth, cos, rng)
    rows, cols = np.nonzero(np.isfinite(noisy))
    rotation, origin = world_from_camera[:3, :3], world_from_camera[:3, 3]
    points = origin + rays[rows, cols] @ rotation.T * noisy[rows, cols, None]
    return points, image.link[rows, cols]


def _tangent(points: np.ndarray, axis: int) -> np.ndarray:
    """Differences to the next pixel along `axis`, or from the previous one where the next is
    empty (NaN where both are)."""
    step = np.diff(points, axis=axis)
    pad = np.full_like(np.take(points, [0], axis=axis), np.nan)
    forward = np.concatenate([step, pad], axis=axis)
    backward = np.concatenate([pad, step], axis=axis)
    return np.where(np.isfinite(forward), forward, backward)

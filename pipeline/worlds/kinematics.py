"""Motion for the procedural worlds: rigid poses, articulated chains, keyframe timing, sway.

Poses are 4x4 float64 matrices mapping a part's local frame to the world. Limbs are posed
from joint positions (two-bone inverse kinematics), digits from joint angles along a chain,
and everything between keyframes is eased with a minimum-jerk profile, the velocity profile
of human reaching, so that motion starts and stops smoothly as it does in recorded data.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def pose(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """The 4x4 matrix of a rotation followed by a translation."""
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = translation
    return matrix


def axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """The 3x3 rotation by `angle` radians about `axis` (Rodrigues)."""
    x, y, z = np.asarray(axis, float) / np.linalg.norm(axis)
    cross = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * (cross @ cross)


def rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def frame_from_axes(y_axis: np.ndarray, z_axis: np.ndarray) -> np.ndarray:
    """The rotation whose z column is `z_axis` and whose y column is `y_axis` made orthogonal."""
    z = z_axis / np.linalg.norm(z_axis)
    y = y_axis - (y_axis @ z) * z
    y /= np.linalg.norm(y)
    return np.stack([np.cross(y, z), y, z], 1)


def min_jerk(s: np.ndarray | float) -> np.ndarray | float:
    """The minimum-jerk easing 10s^3 - 15s^4 + 6s^5 of a phase s in [0, 1]."""
    s = np.clip(s, 0.0, 1.0)
    return s**3 * (10 - 15 * s + 6 * s**2)


def slerp(r0: np.ndarray, r1: np.ndarray, s: float) -> np.ndarray:
    """The rotation a fraction s of the shortest way from r0 to r1."""
    delta = Rotation.from_matrix(r0.T @ r1).as_rotvec()
    return r0 @ Rotation.from_rotvec(s * delta).as_matrix()


def segment_at(boundaries: np.ndarray, t: float) -> tuple[int, float]:
    """Which keyframe segment holds time t, and the phase within it in [0, 1].

    boundaries[i] and boundaries[i + 1] are the start and stop times of segment i.
    """
    i = int(np.clip(np.searchsorted(boundaries, t, side="right") - 1, 0, len(boundaries) - 2))
    start, stop = boundaries[i], boundaries[i + 1]
    return i, float(np.clip((t - start) / (stop - start), 0.0, 1.0))


def bone_pose(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The affine map that stretches a unit bone along +z so it spans start -> end.

    The roll about the bone is arbitrary, so use it for round limbs only.
    """
    axis = end - start
    length = np.linalg.norm(axis)
    helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 * length else np.array([0, 1.0, 0])
    rotation = frame_from_axes(np.cross(axis, helper), axis)
    return pose(rotation * np.array([1, 1, length]), start)


def two_bone_ik(
    root: np.ndarray, target: np.ndarray, length1: float, length2: float, pole: np.ndarray
) -> np.ndarray:
    """The middle joint (elbow, knee) of a two-bone limb from root towards target.

    The joint bends towards the `pole` direction. A target out of reach is approached along
    the straight line, so the limb is fully stretched and the end stops short of it.
    """
    offset = target - root
    if np.linalg.norm(offset) < 1e-9:
        raise ValueError("two_bone_ik: the target is at the root, so the limb has no direction")
    distance = np.clip(np.linalg.norm(offset), abs(length1 - length2) + 1e-6, length1 + length2)
    along = offset / np.linalg.norm(offset)
    a = (length1**2 - length2**2 + distance**2) / (2 * distance)
    h = np.sqrt(max(length1**2 - a**2, 0.0))
    bend = pole - (pole @ along) * along
    return root + a * along + h * bend / np.linalg.norm(bend)


def chain(base: np.ndarray, lengths: np.ndarray, angles: np.ndarray) -> list[np.ndarray]:
    """The pose of each bone of a planar chain (a finger): bone i bends by angles[i] about its
    local x axis at its base, and spans lengths[i] along its local +z."""
    poses, current = [], base
    for length, angle in zip(lengths, angles, strict=True):
        current = current.copy()
        current[:3, :3] = current[:3, :3] @ rot_x(angle)
        poses.append(current)
        current = current.copy()
        current[:3, 3] += current[:3, 2] * length
    return poses


class Sway:
    """A smooth random offset in 3D: a sum of slow sinusoids with random phases.

    Stands in for the small, unsteady motion of a head-mounted or hand-held camera.
    """

    def __init__(
        self, rng: np.random.Generator, amplitude: float, frequencies: tuple[float, ...]
    ) -> None:
        self.frequencies = np.asarray(frequencies, float)  # cycles per second
        self.phases = rng.uniform(0, 2 * np.pi, (len(frequencies), 3))
        weights = rng.uniform(0.5, 1.0, (len(frequencies), 3))
        self.amplitudes = amplitude * weights / weights.sum(0)

    def __call__(self, seconds: float) -> np.ndarray:
        waves = np.sin(2 * np.pi * self.frequencies[:, None] * seconds + self.phases)
        return (self.amplitudes * waves).sum(0)


# Added for synth-gesture: the third axis rotation, and keyframes that a body passes through.


def rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])


class KeyframeSpline:
    """A smooth path through keyframes [K, D] at increasing times [K].

    Cubic Hermite segments with Catmull-Rom tangents, so the path moves through a keyframe
    without stopping (a hand drawing a circle), except at keyframes marked `stops`, where the
    velocity is zero (the turning point of a wave, the end of a punch). The first and last
    keyframes always stop; outside them the path holds still.
    """

    def __init__(self, times: np.ndarray, values: np.ndarray, stops: np.ndarray) -> None:
        self.times = np.asarray(times, float)
        self.values = np.asarray(values, float)
        if len(self.times) < 2 or (np.diff(self.times) <= 0).any():
            raise ValueError("KeyframeSpline: needs two or more keyframes at increasing times")
        tangents = np.zeros_like(self.values)
        tangents[1:-1] = (self.values[2:] - self.values[:-2]) / (self.times[2:] - self.times[:-2])[
            :, None
        ]
        tangents[np.asarray(stops, bool)] = 0.0
        tangents[[0, -1]] = 0.0
        self.tangents = tangents

    def __call__(self, t: float) -> np.ndarray:
        i, s = segment_at(self.times, t)
        h = self.times[i + 1] - self.times[i]
        s2, s3 = s * s, s * s * s
        return (
            (2 * s3 - 3 * s2 + 1) * self.values[i]
            + (s3 - 2 * s2 + s) * h * self.tangents[i]
            + (3 * s2 - 2 * s3) * self.values[i + 1]
            + (s3 - s2) * h * self.tangents[i + 1]
        )

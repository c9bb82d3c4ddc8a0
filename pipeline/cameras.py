"""Camera poses for datasets that ship none.

The partial-view stage places a virtual camera on a sphere around each frame's cloud whose
radius is the distance from the cloud to the original camera, so the pose must sit where a
sensor plausibly stood, not at the cloud's centre. Poses are world-from-camera with OpenCV
axes (x right, y down, z forward).
"""

from __future__ import annotations

import numpy as np

OPENCV_UP = np.array([0.0, -1.0, 0.0])  # world up when the world is a camera frame (y down)


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray, level: bool = False) -> np.ndarray:
    """World-from-camera poses [T, 4, 4] float32 of cameras at `eye` looking at `target`.

    eye, target: [T, 3] (or [3], broadcast); up: [3], the world's up direction.
    level: keep the optical axis horizontal (a car-mounted camera) by dropping the up component.
    Where the camera would look along `up` or at its own position, it looks along the
    horizontal axis that is least aligned with `up` instead, so every pose is a rotation.
    """
    eye, target = np.broadcast_arrays(np.atleast_2d(eye), np.atleast_2d(target))
    up = np.asarray(up, np.float64) / np.linalg.norm(up)
    forward = target.astype(np.float64) - eye
    if level:
        forward = forward - np.outer(forward @ up, up)
    norm = np.linalg.norm(forward, axis=1, keepdims=True)
    right = np.cross(forward, up)
    degenerate = (norm[:, 0] < 1e-9) | (
        np.linalg.norm(right, axis=1) < 1e-9 * np.maximum(norm[:, 0], 1)
    )
    fallback = np.eye(3)[np.argmin(np.abs(up))]
    fallback = fallback - (fallback @ up) * up
    forward = np.where(degenerate[:, None], fallback, forward)
    forward /= np.linalg.norm(forward, axis=1, keepdims=True)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right, axis=1, keepdims=True)
    down = np.cross(forward, right)
    poses = np.tile(np.eye(4), (len(forward), 1, 1))
    poses[:, :3, 0], poses[:, :3, 1], poses[:, :3, 2] = right, down, forward
    poses[:, :3, 3] = eye
    return poses.astype(np.float32)


def sensor_at_origin(centres: np.ndarray, first_frame: np.ndarray) -> np.ndarray:
    """Poses [T, 4, 4] for clouds stored in a sensor's frame: a camera at the origin looking at
    each frame's centre (up = -y, OpenCV).

    If the origin lies inside the first frame's bounding box the data were centred and hold no
    sensor position; the camera then stands two cloud radii behind the first centre along -z,
    the way a sensor looking along +z would, and looks at each centre from there.
    """
    low, high = first_frame.min(axis=0), first_frame.max(axis=0)
    eye = np.zeros(3)
    if ((low < 0) & (high > 0)).all():
        radius = float(np.linalg.norm(first_frame - centres[0], axis=1).max())
        eye = centres[0] - np.array([0.0, 0.0, 2 * radius if radius > 0 else 1.0])
    return look_at(eye, centres, OPENCV_UP)

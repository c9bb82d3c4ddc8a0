"""Camera poses: `look_at`, and poses for datasets that ship none (`sensor_at_origin`).

Poses are world-from-camera with OpenCV axes (x right, y down, z forward). The partial-view
stage (trajectories.py) places its virtual cameras with `look_at`, and the real datasets
whose releases hold no camera get theirs from it. The partial-view stage puts a virtual camera
on a sphere around each frame's cloud whose radius is the distance from the cloud to the
original camera, so such a pose must sit where a sensor plausibly stood, not at the cloud's
centre.

The built-in worlds' sensors keep `worlds/render.py`'s `look_at` (the same rotation built by
Gram-Schmidt of the up): its float bits are in the `frame/camera` of every synth-hoi,
synth-gesture and mocap store, where this one would turn entries of about 1e-17 into exact
zeros, and the stores are byte-identical across versions.
"""

from __future__ import annotations

import numpy as np

OPENCV_UP = np.array([0.0, -1.0, 0.0])  # world up when the world is a camera frame (y down)


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray, level: bool = False) -> np.ndarray:
    """World-from-camera poses [..., 4, 4] float64 of cameras at `eye` looking at `target`,
    with image-up (-y) as close to the world's `up` as the view allows.

    eye, target, up: [..., 3], broadcast against each other.
    level: keep the optical axis horizontal (a car-mounted camera) by dropping its component
    along `up`.
    Where there is nowhere to look (the target at the eye, or with `level` straight above or
    below it), the camera looks along the horizontal world axis least aligned with `up`; where
    it looks along `up`, the world axis least aligned with the view stands in for `up`; so
    every pose is a rotation.
    """
    eye, target, up = np.broadcast_arrays(*(np.asarray(a, np.float64) for a in (eye, target, up)))
    forward = target - eye
    if level:
        along = (forward * up).sum(-1, keepdims=True) / (up * up).sum(-1, keepdims=True)
        forward = forward - along * up
    nowhere = np.linalg.norm(forward, axis=-1) < 1e-9
    if nowhere.any():
        unit_up = up[nowhere] / np.linalg.norm(up[nowhere], axis=-1, keepdims=True)
        axis = np.eye(3)[np.argmin(np.abs(unit_up), axis=-1)]
        forward[nowhere] = axis - (axis * unit_up).sum(-1, keepdims=True) * unit_up
    forward = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
    right = np.cross(forward, up)
    norm = np.linalg.norm(right, axis=-1, keepdims=True)
    parallel = norm[..., 0] <= 1e-9 * np.linalg.norm(up, axis=-1)
    if parallel.any():
        axis = np.eye(3)[np.argmin(np.abs(forward[parallel]), axis=-1)]
        right[parallel] = np.cross(forward[parallel], axis)
        norm = np.linalg.norm(right, axis=-1, keepdims=True)
    right = right / norm
    pose = np.zeros(eye.shape[:-1] + (4, 4))
    pose[..., :3, 0] = right
    pose[..., :3, 1] = np.cross(forward, right)
    pose[..., :3, 2] = forward
    pose[..., :3, 3] = eye
    pose[..., 3, 3] = 1.0
    return pose


def sensor_at_origin(centres: np.ndarray, first_frame: np.ndarray) -> np.ndarray:
    """Poses [T, 4, 4] float32 for clouds stored in a sensor's frame: a camera at the origin
    looking at each frame's centre (up = -y, OpenCV).

    If the origin lies inside the first frame's bounding box the data were centred and hold no
    sensor position; the camera then stands two cloud radii behind the first centre along -z,
    the way a sensor looking along +z would, and looks at each centre from there.
    """
    low, high = first_frame.min(axis=0), first_frame.max(axis=0)
    eye = np.zeros(3)
    if ((low < 0) & (high > 0)).all():
        radius = float(np.linalg.norm(first_frame - centres[0], axis=1).max())
        eye = centres[0] - np.array([0.0, 0.0, 2 * radius if radius > 0 else 1.0])
    return look_at(eye, np.atleast_2d(centres), OPENCV_UP).astype(np.float32)

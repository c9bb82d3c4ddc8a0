"""The authors' occlusion rule: a one-pixel z-buffer (C2P's `generation_msr.py`, `oper`).

Kept beside our triangle fans (`kernels/zbuffer.py`) to measure whether faithful occlusion
matters. Every point is projected onto a small screen (the authors': focal 150 px, 120 x 180
pixels), each pixel keeps the nearest depth that lands in it, and a point is kept when its depth
is within `depth_tolerance` (the authors': 0.001, in the cloud's units) of its pixel's nearest.
A point covers one pixel only, so the pixels between the points of a sparse near surface stay
empty and the surfaces behind it show through those gaps; the fans close them.

The same conventions as `kernels/zbuffer.py` (OpenCV camera axes, world-from-camera poses,
pixel (i, j) the unit square centred on image coordinates (i, j)), with the principal point at
the screen's centre ((W - 1) / 2, (H - 1) / 2). A point then lands in pixel floor(f x / z + W / 2),
the authors' int(f x / z + W / 2), which differs only in also sending (-1, 0) to pixel 0. Two
more differences, both outside what the authors' screen is meant for: a point at depth <= `near`
(behind the camera) is never kept, where the authors' projection mirrors it through the
camera; and a point exactly `depth_tolerance` behind its pixel's nearest is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from c2p4d.kernels import _numba  # noqa: F401  (threading layer, before any parallel kernel)
from c2p4d.kernels.zbuffer import as_cameras, as_points, check_options

MAX_SCREEN = 1 << 15  # pixels a side


@dataclass(frozen=True)
class PixelOptions:
    """The authors' values (generation_msr.py). The screen is their camera's, whatever the
    view's own image: a wider cloud than it holds loses its points off the screen, as theirs."""

    screen_size: tuple[int, int] = (120, 180)  # (width, height) in pixels
    screen_focal: float = 150.0  # pixels
    depth_tolerance: float = 0.001  # kept within this depth of the pixel's nearest, cloud units
    near: float = 1e-3  # points at depth <= near are behind the camera

    def __post_init__(self) -> None:
        finite = math.isfinite
        check_options(
            self,
            {
                "screen_size": (
                    len(self.screen_size) == 2
                    and all(1 <= size <= MAX_SCREEN for size in self.screen_size),
                    f"two sizes from 1 to {MAX_SCREEN}",
                ),
                "screen_focal": (
                    finite(self.screen_focal) and self.screen_focal > 0,
                    "finite, > 0",
                ),
                "depth_tolerance": (
                    finite(self.depth_tolerance) and self.depth_tolerance >= 0,
                    "finite, >= 0",
                ),
                "near": (finite(self.near) and self.near > 0, "finite, > 0"),
            },
        )

    def intrinsics(self) -> np.ndarray:
        """[3,3] float64: the screen's camera matrix, principal point at its centre."""
        f = float(self.screen_focal)
        width, height = self.screen_size
        return np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])


def pixel_visible_mask(
    points: np.ndarray, world_from_camera: np.ndarray, options: PixelOptions | None = None
) -> np.ndarray:
    """points [F,N,3], world_from_camera [V,F,4,4] -> bool [V,F,N]: is point n of frame f kept
    by the one-pixel z-buffer of camera v at frame f (on the options' screen). Views and
    frames run in parallel, each with its own buffer, so the answer does not depend on them."""
    options = options or PixelOptions()
    points = as_points(points)
    pose = np.asarray(world_from_camera)
    k = np.broadcast_to(options.intrinsics(), (*pose.shape[:2], 3, 3))
    pose, k = as_cameras(pose, k, points.shape[0], options.screen_size)
    width, height = options.screen_size
    return _render(
        points,
        pose,
        k,
        int(width),
        int(height),
        float(options.depth_tolerance),
        float(options.near),
    )


@nb.njit(cache=True, parallel=True)
def _render(points, pose, k, width, height, tolerance, near):
    views, frames, n = pose.shape[0], points.shape[0], points.shape[1]
    out = np.zeros((views, frames, n), np.bool_)
    for job in nb.prange(views * frames):
        v, t = job // frames, job % frames
        _view(points[t], pose[v, t], k[v, t], width, height, tolerance, near, out[v, t])
    return out


@nb.njit(cache=True)
def _view(points, pose, k, width, height, tolerance, near, out):
    """One view of one frame: writes `out` [N]. The points are sorted by pixel rather than
    written into a screen-sized buffer, so the time does not grow with the screen (a buffer
    of a 2048x1200 screen per frame cost 20x the projection, nearly all in page faults)."""
    n = points.shape[0]
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    pixel = np.full(n, -1, np.int64)  # -1: off the screen or behind the camera
    depth = np.empty(n)
    for i in range(n):
        d0 = points[i, 0] - pose[0, 3]
        d1 = points[i, 1] - pose[1, 3]
        d2 = points[i, 2] - pose[2, 3]
        z = pose[0, 2] * d0 + pose[1, 2] * d1 + pose[2, 2] * d2
        if not z > near:
            continue
        x = pose[0, 0] * d0 + pose[1, 0] * d1 + pose[2, 0] * d2
        y = pose[0, 1] * d0 + pose[1, 1] * d1 + pose[2, 1] * d2
        # Compared as floats before any integer conversion: far off-screen values stay finite.
        u = fx * x / z + cx + 0.5
        v = fy * y / z + cy + 0.5
        if 0.0 <= u < width and 0.0 <= v < height:
            pixel[i] = int(v) * width + int(u)
            depth[i] = z
    # Each pixel's points in a run of the sorted order: their nearest depth, then which are
    # within the tolerance of it.
    order = np.argsort(pixel)
    start = 0
    while start < n:
        p = pixel[order[start]]
        stop, nearest = start, np.inf
        while stop < n and pixel[order[stop]] == p:
            nearest = min(nearest, depth[order[stop]])
            stop += 1
        if p >= 0:
            for r in range(start, stop):
                out[order[r]] = depth[order[r]] - nearest <= tolerance
        start = stop

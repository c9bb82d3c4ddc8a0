"""A simulated depth camera: ray casting of labelled meshes, sensor noise and dropout.

The procedural worlds pose their meshes for a frame, then `DepthCamera.capture` casts one ray
per pixel with open3d's Embree ray caster, turns the hits into a noisy depth image with the
holes a real sensor has (random pixels, depth edges, grazing surfaces, out of range), and
back-projects what is left to world points, each with the label of the mesh its ray hit.
The ray caster runs single-threaded: Dask parallelises over sequences, and one thread keeps
the results byte-identical run to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import open3d as o3d

from c2p4d.pipeline.worlds.kinematics import frame_from_axes, pose
from c2p4d.pipeline.worlds.meshes import Mesh


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray | None = None) -> np.ndarray:
    """World-from-camera pose in OpenCV axes (x right, y down, z forward) at `eye` facing
    `target`, with image 'up' as close to world `up` (default +z) as the view allows.

    The same rotation as `pipeline.cameras.look_at`, built another way (Gram-Schmidt of the
    up), whose last bits are in every built-in world's stored `frame/camera`: kept so that the
    stores stay byte-identical. It has no fallback for a view along `up`."""
    up = np.array([0, 0, 1.0]) if up is None else up
    forward = target - eye
    return pose(frame_from_axes(-up, forward), eye)


@dataclass(frozen=True)
class DepthSensor:
    """Noise and dropout of a consumer depth camera (structured light / time of flight).

    The noise grows with the square of depth as for triangulation sensors: about 2 mm at
    0.6 m, 2 cm at 3 m. Returns are lost at random, at depth edges (mixed pixels), on
    surfaces seen at grazing angles and outside the working range.
    """

    min_range: float = 0.2
    max_range: float = 4.0
    noise_floor: float = 0.001  # metres of depth noise at zero range
    noise_quadratic: float = 0.0025  # metres per square metre of depth
    dropout: float = 0.02  # chance that any pixel is lost
    edge_jump: float = 0.04  # a neighbour this much nearer/farther (relative) marks an edge
    edge_dropout: float = 0.5  # chance that an edge pixel is lost
    grazing_cos: float = 0.25  # below this |cos(incidence)| a pixel is more and more likely lost

    def corrupt(
        self, depth: np.ndarray, cos_incidence: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """A noisy copy of a clean depth image [H, W] (inf where nothing was hit), NaN where
        the sensor returns nothing."""
        hit = np.isfinite(depth)
        lost = rng.random(depth.shape) < self.dropout
        edges = depth_edges(np.where(hit, depth, 10 * self.max_range), self.edge_jump)
        lost |= edges & (rng.random(depth.shape) < self.edge_dropout)
        lost |= rng.random(depth.shape) * self.grazing_cos > np.abs(cos_incidence)
        lost |= ~((depth >= self.min_range) & (depth <= self.max_range))
        sigma = self.noise_floor + self.noise_quadratic * np.where(hit, depth, 0) ** 2
        noisy = depth + sigma * rng.standard_normal(depth.shape)
        return np.where(lost, np.nan, noisy)


def depth_edges(depth: np.ndarray, relative_jump: float) -> np.ndarray:
    """Pixels [H, W] on either side of a jump in depth, to a horizontal or vertical neighbour,
    larger than `relative_jump` times the nearer depth: where real sensors mix two surfaces."""
    across = np.abs(np.diff(depth, axis=1)) > relative_jump * np.minimum(
        depth[:, 1:], depth[:, :-1]
    )
    down = np.abs(np.diff(depth, axis=0)) > relative_jump * np.minimum(depth[1:], depth[:-1])
    edges = np.zeros(depth.shape, bool)
    edges[:, 1:] |= across
    edges[:, :-1] |= across
    edges[1:] |= down
    edges[:-1] |= down
    return edges


@dataclass(frozen=True)
class DepthCamera:
    """A pinhole depth camera: image size, horizontal field of view and sensor model."""

    width: int = 128
    height: int = 96
    fov_deg: float = 70.0
    sensor: DepthSensor = DepthSensor()

    @property
    def intrinsics(self) -> np.ndarray:
        """K [3, 3]: square pixels, principal point at the image centre."""
        f = self.width / 2 / np.tan(np.radians(self.fov_deg) / 2)
        return np.array([[f, 0, self.width / 2], [0, f, self.height / 2], [0, 0, 1.0]])

    @cached_property
    def pixel_rays(self) -> np.ndarray:
        """Camera-frame ray directions [H*W, 3] through pixel centres, scaled to z = 1 so that
        the hit distance along a ray is the pixel's depth."""
        u, v = np.meshgrid(np.arange(self.width) + 0.5, np.arange(self.height) + 0.5)
        k = self.intrinsics
        x, y = (u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1]
        return np.stack([x, y, np.ones_like(x)], -1).reshape(-1, 3)

    def rays(self, camera_pose: np.ndarray) -> np.ndarray:
        """World rays [H*W, 6] float32 (origin, direction) of a camera at `camera_pose`."""
        rays = np.empty((len(self.pixel_rays), 6), np.float32)
        rays[:, :3], rays[:, 3:] = camera_pose[:3, 3], self.pixel_rays @ camera_pose[:3, :3].T
        return rays

    @cached_property
    def _ray_lengths(self) -> np.ndarray:
        return np.linalg.norm(self.pixel_rays, axis=1)

    def capture(
        self,
        parts: list[tuple[Mesh, int]],
        camera_pose: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """World points [M, 3] float64 and their labels [M] int64 seen from `camera_pose`.

        parts: (mesh in world coordinates, label) pairs; M may be 0 if nothing is in view.
        """
        scene = o3d.t.geometry.RaycastingScene(nthreads=1)
        labels = np.array([label for _, label in parts], np.int64)
        for mesh, _ in parts:
            scene.add_triangles(
                o3d.core.Tensor(mesh.vertices.astype(np.float32)),
                o3d.core.Tensor(mesh.triangles.astype(np.uint32)),
            )
        rays = self.rays(camera_pose)
        hits = scene.cast_rays(o3d.core.Tensor(rays), nthreads=1)
        depth = hits["t_hit"].numpy().astype(np.float64)
        along = np.einsum("ij,ij->i", hits["primitive_normals"].numpy(), rays[:, 3:])
        cos = np.where(np.isfinite(depth), along / self._ray_lengths, 0.0)
        shape = (self.height, self.width)
        noisy = self.sensor.corrupt(depth.reshape(shape), cos.reshape(shape), rng).reshape(-1)
        kept = np.flatnonzero(np.isfinite(noisy))
        points = (
            camera_pose[:3, 3] + self.pixel_rays[kept] @ camera_pose[:3, :3].T * noisy[kept, None]
        )
        return points, labels[hits["geometry_ids"].numpy()[kept]]

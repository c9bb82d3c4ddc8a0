"""The camera rig of synth-street: four depth cameras on a car, fused into one complete cloud.

Synthia 4D's clouds (MeteorNet's processing of SYNTHIA-SEQS) fuse the depth images of four
cameras on the car looking front, back, left and right, keep what lies within 25 m
(Chebyshev distance) of the rig, drop the sky and thin the points evenly over space. The rig
here does the same: one ray-cast scene per frame serves all four cameras, each camera's depth
image is corrupted by its sensor model, and the hits are back-projected with the surface
normal (for shading) and the index of the part they hit (for class and colour). Even
thinning draws points with weights inverse to their voxel's count, which spreads them over
the scene like MeteorNet's farthest point sampling at a fraction of its cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from c2p4d.pipeline.sources.base import resample_indices
from c2p4d.pipeline.worlds.kinematics import axis_angle, pose
from c2p4d.pipeline.worlds.render import DepthCamera
from c2p4d.pipeline.worlds.street.assets import Part

# Camera yaw relative to the car: front, left, back, right (90° each, so together 360°).
RIG_YAWS = (0.0, np.pi / 2, np.pi, -np.pi / 2)


@dataclass(frozen=True)
class Lighting:
    """Sun, sky and exposure of a sequence; shades each point's base colour."""

    sun: np.ndarray  # unit vector towards the sun
    ambient: float  # share of light from the sky
    exposure: float
    tint: np.ndarray  # rgb multiplier: warm evening light, cool overcast

    @staticmethod
    def sample(rng: np.random.Generator) -> Lighting:
        elevation, azimuth = rng.uniform(0.3, 1.2), rng.uniform(0, 2 * np.pi)
        horizontal = np.cos(elevation) * np.array([np.cos(azimuth), np.sin(azimuth)])
        sun = np.array([*horizontal, np.sin(elevation)])
        return Lighting(
            sun=sun,
            ambient=rng.uniform(0.35, 0.7),
            exposure=rng.uniform(1.1, 1.5),
            tint=np.clip(1 + rng.normal(0, 0.05, 3), 0.85, 1.15),
        )

    def shade(
        self, colours: np.ndarray, normals: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Lit colours [M, 3] in [0, 1] of surfaces with base `colours` and unit `normals`
        (facing the viewer): sky light from above, sunlight by Lambert's law, sensor noise."""
        sky = 0.7 + 0.3 * normals[:, 2]
        sunlit = np.clip(normals @ self.sun, 0.0, 1.0)
        light = self.ambient * sky + (1 - self.ambient) * sunlit
        lit = colours * (light * self.exposure)[:, None] * self.tint
        return np.clip(lit + rng.normal(0, 0.02, lit.shape), 0.0, 1.0)


@dataclass(frozen=True)
class Hits:
    """Back-projected returns of the whole rig: world points [M, 3], the index of the part
    each hit [M], and the surface normal there, turned towards the camera [M, 3]."""

    points: np.ndarray
    part: np.ndarray
    normals: np.ndarray

    def subset(self, keep: np.ndarray) -> Hits:
        return Hits(self.points[keep], self.part[keep], self.normals[keep])


@dataclass(frozen=True)
class Rig:
    """Depth cameras at one point of the car, looking around it (RIG_YAWS)."""

    camera: DepthCamera
    crop: float = 25.0  # Chebyshev radius kept around the rig, metres (MeteorNet's)

    def poses(self, front: np.ndarray) -> list[np.ndarray]:
        """World-from-camera poses of every camera, from the front camera's pose. The
        cameras turn about the car's up axis, which is the front camera's -y (OpenCV)."""
        up = np.array([0, -1.0, 0])
        return [front @ pose(axis_angle(up, yaw), np.zeros(3)) for yaw in RIG_YAWS]

    def capture(self, parts: list[Part], front: np.ndarray, rng: np.random.Generator) -> Hits:
        """What the rig at `front` sees of `parts`, within the crop, sensor-corrupted."""
        scene = o3d.t.geometry.RaycastingScene(nthreads=1)
        for part in parts:
            scene.add_triangles(
                o3d.core.Tensor(part.mesh.vertices.astype(np.float32)),
                o3d.core.Tensor(part.mesh.triangles.astype(np.uint32)),
            )
        poses = self.poses(front)
        rays = np.concatenate([self.camera.rays(p) for p in poses])
        hits = scene.cast_rays(o3d.core.Tensor(rays), nthreads=1)
        depth = hits["t_hit"].numpy().astype(np.float64)
        normals = hits["primitive_normals"].numpy().astype(np.float64)
        facing = np.einsum("ij,ij->i", normals, rays[:, 3:])
        cos = np.where(np.isfinite(depth), facing / np.linalg.norm(rays[:, 3:], axis=1), 0.0)
        shape = (len(poses), self.camera.height, self.camera.width)
        noisy = np.concatenate(
            [
                self.camera.sensor.corrupt(d, c, rng).reshape(-1)
                for d, c in zip(depth.reshape(shape), cos.reshape(shape), strict=True)
            ]
        )
        kept = np.flatnonzero(np.isfinite(noisy))
        points = rays[kept, :3] + rays[kept, 3:] * noisy[kept, None]
        towards_camera = -np.sign(facing[kept])[:, None] * normals[kept]
        found = Hits(points, hits["geometry_ids"].numpy()[kept].astype(np.int64), towards_camera)
        return found.subset(np.abs(points - front[:3, 3]).max(1) < self.crop)


def even_sample(points: np.ndarray, n: int, voxel: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of n points spread evenly over space: each voxel of the given size gets the same
    total weight, shared by its points, and points are drawn without replacement by weight.
    Fewer than n points are all kept, repeated as `resample_indices` does."""
    if len(points) <= n:
        return resample_indices(len(points), n, rng)
    cells = np.floor(points / voxel).astype(np.int64)
    cells -= cells.min(0)
    extent = cells.max(0) + 1
    flat = (cells[:, 0] * extent[1] + cells[:, 1]) * extent[2] + cells[:, 2]
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    keys = rng.exponential(size=len(points)) * counts[inverse]  # Efraimidis-Spirakis
    return rng.permutation(np.sort(np.argpartition(keys, n - 1)[:n]))

"""Cost of the built-in synth-street dataset: CPU time per frame by stage and image size.

Each row reads whole sequences with `SynthStreet.read` (single thread, the way a Dask worker
runs it) and splits the per-frame time into planning (amortised over the sequence), posing
the meshes, ray casting the four cameras, the sensor model with back-projection, and the even
thinning to 16384 points. The reference is what MeteorNet did to Synthia 4D instead of even
thinning: farthest point sampling (this package's exact pointnet2 kernel) on the same frame;
both are scored by coverage, the 95th percentile distance from a raw point to the nearest
kept one (lower is better). The last column extrapolates to the default dataset.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import open3d as o3d
from scipy.spatial import cKDTree

from c2p4d.kernels.sampling import fps_numba
from c2p4d.pipeline.worlds.street.rig import even_sample
from c2p4d.pipeline.worlds.street.synth_street import (
    VOXEL_AT_16K,
    SynthStreet,
    SynthStreetConfig,
    plan_sequence,
)


def cpu_ms(fn, repeats: int = 1) -> float:
    start = time.process_time()
    for _ in range(repeats):
        fn()
    return (time.process_time() - start) / repeats * 1e3


def cast(parts, rays: np.ndarray) -> None:
    scene = o3d.t.geometry.RaycastingScene(nthreads=1)
    for part in parts:
        scene.add_triangles(
            o3d.core.Tensor(part.mesh.vertices.astype(np.float32)),
            o3d.core.Tensor(part.mesh.triangles.astype(np.uint32)),
        )
    scene.cast_rays(o3d.core.Tensor(rays), nthreads=1)


def coverage(raw: np.ndarray, kept: np.ndarray) -> float:
    """95th percentile distance (m) from a raw point to its nearest kept point."""
    return float(np.percentile(cKDTree(kept).query(raw)[0], 95))


def row(width: int, height: int, sequences: int, frames: int, n: int) -> str:
    """One table row: per-frame CPU milliseconds by stage at one image size."""
    config = SynthStreetConfig(
        num_sequences=sequences,
        frames_per_sequence=frames,
        image_width=width,
        image_height=height,
        points_per_frame=n,
    )
    source = SynthStreet(config)
    index = source.index()
    total = cpu_ms(lambda: [source.read(s) for s in index]) / (sequences * frames)
    plan_ms = cpu_ms(lambda: [plan_sequence(s.name, frames) for s in index]) / (sequences * frames)
    plan = plan_sequence(index[0].name, frames)
    ts = np.linspace(0, frames - 1, min(frames, 12)).astype(int)
    pose = cpu_ms(lambda: [plan.parts(t) for t in ts]) / len(ts)
    middle = ts[len(ts) // 2]
    parts, front = plan.parts(middle), plan.camera_pose(middle)
    rays = np.concatenate([source.rig.camera.rays(p) for p in source.rig.poses(front)])
    ray_cast = cpu_ms(lambda: cast(parts, rays), 5)
    rng = np.random.default_rng(0)
    capture = cpu_ms(lambda: source.rig.capture(parts, front, rng), 5)
    raw = source.rig.capture(parts, front, rng).points
    voxel = VOXEL_AT_16K * np.sqrt(16384 / n)
    even = cpu_ms(lambda: even_sample(raw, n, voxel, rng), 5)
    kept_even = raw[even_sample(raw, n, voxel, rng)]
    centred = (raw - raw.mean(0)).astype(np.float32)[None]
    fps_numba(centred[:, :2048], 64)  # compile outside the timing
    fps = cpu_ms(lambda: fps_numba(centred, n), 3)
    kept_fps = raw[fps_numba(centred, n)[0]]
    default = SynthStreetConfig()
    dataset_s = total * default.num_sequences * default.frames_per_sequence / 1e3
    return (
        f"| {width}x{height} | {len(raw)} | {total:.0f} | {plan_ms:.0f} | {pose:.0f} | "
        f"{ray_cast:.0f} | {capture - ray_cast:.0f} | {even:.0f} | {fps:.0f} | "
        f"{coverage(raw, kept_even):.2f} | {coverage(raw, kept_fps):.2f} | {dataset_s:.0f} |"
    )


def main(quick: bool = False) -> None:
    sizes = [(64, 48)] if quick else [(96, 72), (128, 96), (160, 120), (192, 144)]
    sequences, frames, n = (1, 3, 2048) if quick else (3, 24, 16384)
    print(
        f"| image (x4 cameras) | raw points | total ms/frame | plan | pose meshes | ray cast | "
        f"sensor + back-projection | even thinning to {n} | FPS to {n} (MeteorNet, ref) | "
        "coverage even (m) | coverage FPS (m, ref) | default dataset CPU-s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for width, height in sizes:
        print(row(width, height, sequences, frames, n))


if __name__ == "__main__":
    main("--quick" in sys.argv)

"""Cost of the built-in synth-hoi dataset: CPU time per frame by stage and image size.

Each row renders whole sequences with `SynthHOI.read` (single thread, the way a Dask worker
runs it) and splits the per-frame time into posing the meshes, ray casting and the sensor
model (noise, dropout, back-projection, resampling). The reference column casts the same rays
with open3d's default multi-threaded settings, the ceiling one process could reach on this
machine. The last column extrapolates to the default dataset (sequences x frames).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import open3d as o3d

from c2p4d.pipeline.worlds.hoi.synth_hoi import SynthHOI, SynthHOIConfig, plan_sequence


def cpu_ms(fn, repeats: int) -> float:
    start = time.process_time()
    for _ in range(repeats):
        fn()
    return (time.process_time() - start) / repeats * 1e3


def wall_ms(fn, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3


def cast(parts, rays: np.ndarray, nthreads: int) -> None:
    scene = o3d.t.geometry.RaycastingScene(nthreads=nthreads)
    for mesh, _ in parts:
        scene.add_triangles(
            o3d.core.Tensor(mesh.vertices.astype(np.float32)),
            o3d.core.Tensor(mesh.triangles.astype(np.uint32)),
        )
    scene.cast_rays(o3d.core.Tensor(rays), nthreads=nthreads)


def row(width: int, height: int, sequences: int, frames: int) -> str:
    """One table row: per-frame CPU milliseconds by stage at one image size."""
    config = SynthHOIConfig(
        num_sequences=sequences, frames_per_sequence=frames, image_width=width, image_height=height
    )
    source = SynthHOI(config)
    index = source.index()
    total = cpu_ms(lambda: [source.read(s) for s in index], 1) / (sequences * frames)
    plan = plan_sequence(index[0].name, frames)
    ts = np.linspace(0, frames - 1, min(frames, 30)).astype(int)
    pose = cpu_ms(lambda: [plan.parts(t) for t in ts], 1) / len(ts)
    parts, camera_pose = plan.parts(ts[len(ts) // 2]), plan.camera_pose(ts[len(ts) // 2])
    rays = source.camera.rays(camera_pose)
    one = cpu_ms(lambda: cast(parts, rays, 1), 20)
    many = wall_ms(lambda: cast(parts, rays, 0), 20)
    rng = np.random.default_rng(0)
    capture = cpu_ms(lambda: source.camera.capture(parts, camera_pose, rng), 20)
    default = SynthHOIConfig()
    dataset_s = total * default.num_sequences * default.frames_per_sequence / 1e3
    return (
        f"| {width}x{height} | {total:.2f} | {pose:.2f} | {one:.2f} | {capture - one:.2f} | "
        f"{many:.2f} | {dataset_s:.0f} |"
    )


def main(quick: bool = False) -> None:
    sizes = [(64, 48)] if quick else [(64, 48), (96, 72), (128, 96), (160, 120), (192, 144)]
    sequences, frames = (1, 24) if quick else (3, 150)
    print(
        "| image | total ms/frame | pose meshes | ray cast | sensor + back-projection | "
        "o3d all threads cast (wall, ref) | default dataset CPU-s |"
    )
    print("|---|---|---|---|---|---|---|")
    for width, height in sizes:
        print(row(width, height, sequences, frames))


if __name__ == "__main__":
    main("--quick" in sys.argv)

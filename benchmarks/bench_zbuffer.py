"""Occlusion fidelity and speed: our surfel z-buffer vs a one-pixel z-buffer vs open3d's HPR.

Fidelity is measured on ray-cast mesh scenes: points are sampled uniformly on the surfaces of
a few open3d meshes, and a point is truly visible when it is in the image in front of the
camera and the ray from the camera to it hits nothing before it (RaycastingScene.cast_rays).
open3d's `hidden_point_removal` runs with radius = 100 x the cloud's diameter, as open3d's
tutorial suggests; it does not know the image, so its answer is cut to the image too.
Speed is ms per view on one thread for all three (HPR and numpy are single-threaded), then ours
again with every numba thread. The last rows time `render_views` (trajectories included) for
150 frames x 2048 points x 8 views on one numba thread.

    .venv/bin/python benchmarks/bench_zbuffer.py [--quick]
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numba
import numpy as np
import open3d as o3d

from c2p4d.kernels.zbuffer import visible_mask
from c2p4d.pipeline.trajectories import TrajectoryConfig, look_at
from c2p4d.pipeline.views import ViewConfig, render_views

WIDTH, HEIGHT = 320, 240


@dataclass(frozen=True)
class Scene:
    name: str
    mesh: o3d.geometry.TriangleMesh
    eye: np.ndarray  # camera position
    target: np.ndarray  # what it looks at
    focal: float  # px


def _box(w, h, d, at):
    return o3d.geometry.TriangleMesh.create_box(w, h, d).translate(np.asarray(at, float))


def _quad(corner, edge1, edge2):
    """A one-sided rectangle: floors and walls are single surfaces, as a scan sees them."""
    c, a, b = (np.asarray(x, float) for x in (corner, edge1, edge2))
    return o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector([c, c + a, c + a + b, c + b]),
        o3d.utility.Vector3iVector([[0, 1, 2], [0, 2, 3]]),
    )


def _table_scene() -> o3d.geometry.TriangleMesh:
    """A floor (one surface) with boxes, spheres, a cylinder and a torus standing on it (y up)."""
    parts = [
        _quad((-3.0, 0.0, -3.0), (6.0, 0.0, 0.0), (0.0, 0.0, 6.0)),
        _box(0.8, 0.8, 0.8, (-1.2, 0.0, -0.4)),
        _box(0.4, 1.4, 0.4, (0.6, 0.0, -1.2)),
        _box(1.6, 0.3, 0.6, (-0.4, 0.0, 0.9)),
        o3d.geometry.TriangleMesh.create_sphere(0.5, 40).translate((0.7, 0.5, 0.3)),
        o3d.geometry.TriangleMesh.create_sphere(0.25, 30).translate((-0.5, 0.55, -1.6)),
        o3d.geometry.TriangleMesh.create_cylinder(0.2, 1.0, 40)
        .rotate(o3d.geometry.get_rotation_matrix_from_xyz((np.pi / 2, 0, 0)), center=(0, 0, 0))
        .translate((1.6, 0.5, -0.2)),
        o3d.geometry.TriangleMesh.create_torus(0.45, 0.12, 40, 20).translate((-1.7, 0.12, 1.2)),
    ]
    return _merge(parts)


def _room_scene() -> o3d.geometry.TriangleMesh:
    """A room corner (floor and two walls, single surfaces) with furniture-like boxes and a cone, z up."""
    parts = [
        _quad((-2.5, -2.5, 0.0), (5.0, 0.0, 0.0), (0.0, 5.0, 0.0)),
        _quad((-2.5, 2.5, 0.0), (5.0, 0.0, 0.0), (0.0, 0.0, 2.5)),
        _quad((-2.5, -2.5, 0.0), (0.0, 5.0, 0.0), (0.0, 0.0, 2.5)),
        _box(1.2, 0.6, 0.75, (-1.5, 0.8, 0.0)),  # a table-high block
        _box(0.05, 1.0, 1.0, (0.3, -0.6, 0.0)),  # a thin board standing up
        _box(0.5, 0.5, 1.8, (1.2, 1.4, 0.0)),
        o3d.geometry.TriangleMesh.create_cone(0.4, 1.0, 40).translate((-0.4, -1.2, 0.0)),
        o3d.geometry.TriangleMesh.create_sphere(0.35, 40).translate((0.8, 0.2, 0.35)),
    ]
    return _merge(parts)


def _merge(parts):
    mesh = o3d.geometry.TriangleMesh()
    for part in parts:
        mesh += part
    return mesh


def scenes() -> list[Scene]:
    """Two scenes, two cameras each: different layouts, heights, distances and focal lengths."""
    table, room = _table_scene(), _room_scene()
    return [
        Scene("table/high", table, np.array([3.5, 2.5, 3.0]), np.array([0.0, 0.3, 0.0]), 240.0),
        Scene("table/low", table, np.array([-3.8, 0.6, 1.5]), np.array([0.0, 0.4, 0.0]), 300.0),
        Scene("room/diag", room, np.array([2.3, -2.2, 1.6]), np.array([-0.3, 0.4, 0.6]), 200.0),
        Scene("room/front", room, np.array([0.2, -2.4, 1.2]), np.array([0.0, 0.8, 0.7]), 260.0),
    ]


def camera(scene: Scene, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """world_from_camera [4,4] and intrinsics [3,3] of a scene's camera."""
    pose = look_at(scene.eye[None], scene.target[None], up[None])[0]
    k = np.array([[scene.focal, 0, (WIDTH - 1) / 2], [0, scene.focal, (HEIGHT - 1) / 2], [0, 0, 1]])
    return pose, k


def sample(scene: Scene, n: int, seed: int) -> np.ndarray:
    np.random.seed(seed)  # sample_points_uniformly draws from numpy's global generator
    o3d.utility.random.seed(seed)
    return np.asarray(scene.mesh.sample_points_uniformly(n).points)


def in_image(points: np.ndarray, pose: np.ndarray, k: np.ndarray, near: float = 1e-3):
    cam = (points - pose[:3, 3]) @ pose[:3, :3]
    z = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.floor(k[0, 0] * cam[:, 0] / z + k[0, 2] + 0.5)
        v = np.floor(k[1, 1] * cam[:, 1] / z + k[1, 2] + 0.5)
    ok = (z > near) & (u >= 0) & (u < WIDTH) & (v >= 0) & (v < HEIGHT)
    return ok, cam, np.where(ok, u, 0).astype(int), np.where(ok, v, 0).astype(int)


def truth(scene: Scene, points: np.ndarray, pose: np.ndarray, k: np.ndarray) -> np.ndarray:
    """In the image, and the first hit of the ray from the camera is the point itself."""
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(scene.mesh))
    eye = pose[:3, 3]
    offset = points - eye
    dist = np.linalg.norm(offset, axis=1)
    rays = np.concatenate([np.broadcast_to(eye, points.shape), offset / dist[:, None]], 1)
    hit = rc.cast_rays(o3d.core.Tensor(rays.astype(np.float32)))["t_hit"].numpy()
    return in_image(points, pose, k)[0] & (hit >= dist - 1e-4 * dist - 1e-5)


def one_pixel_zbuffer(points: np.ndarray, pose: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Keep the nearest point per pixel (the naive z-buffer the paper's text describes)."""
    ok, cam, u, v = in_image(points, pose, k)
    pix = np.where(ok, v * WIDTH + u, -1)
    nearest = np.full(WIDTH * HEIGHT, np.inf)
    np.minimum.at(nearest, pix[ok], cam[ok, 2])
    return ok & (cam[:, 2] <= nearest[np.where(ok, pix, 0)])


def hpr(points: np.ndarray, pose: np.ndarray, k: np.ndarray) -> np.ndarray:
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    diameter = np.linalg.norm(points.max(0) - points.min(0))
    _, kept = pcd.hidden_point_removal(pose[:3, 3], diameter * 100)
    mask = np.zeros(len(points), bool)
    mask[np.asarray(kept)] = True
    return mask & in_image(points, pose, k)[0]


def ours(points: np.ndarray, pose: np.ndarray, k: np.ndarray) -> np.ndarray:
    return visible_mask(points[None], pose[None, None], k[None, None], (WIDTH, HEIGHT))[0, 0]


METHODS = {"ours (surfel z-buffer)": ours, "one-pixel z-buffer": one_pixel_zbuffer, "open3d HPR": hpr}


def precision_recall(pred: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    tp = (pred & true).sum()
    return tp / max(pred.sum(), 1), tp / max(true.sum(), 1)


def ms_per_call(fn, *args, repeat: int) -> float:
    fn(*args)  # warm-up (and numba compile)
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            fn(*args)
        best = min(best, (time.perf_counter() - start) / repeat)
    return best * 1e3


def render_views_seconds(frames: int, n: int, views: int) -> float:
    """A moving scene (the table, sampled anew each frame, drifting) and an orbiting camera."""
    scene = scenes()[0]
    cloud = sample(scene, n, 0)
    drift = np.linspace(0, 1, frames)[:, None, None] * np.array([0.5, 0.0, 0.2])
    points = (cloud[None] + drift).astype(np.float32)
    eyes = scene.eye + np.linspace(0, 1, frames)[:, None] * np.array([0.0, 0.0, -1.0])
    up = np.array([0.0, 1.0, 0.0])
    cam = look_at(eyes, np.broadcast_to(scene.target, eyes.shape), np.broadcast_to(up, eyes.shape))
    config = ViewConfig(trajectory=TrajectoryConfig())
    render_views(points, cam.astype(np.float32), "bench", "seq", range(views), config)  # compile
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        render_views(points, cam.astype(np.float32), "bench", "seq", range(views), config)
        best = min(best, time.perf_counter() - start)
    return best


def main(quick: bool = False) -> None:
    sizes = [512, 2048] if quick else [2048, 8192, 32768]
    all_threads = numba.get_num_threads()
    up = {"table": np.array([0.0, 1.0, 0.0]), "room": np.array([0.0, 0.0, 1.0])}
    rows = []
    for n in sizes:
        stats = {name: {"p": [], "r": [], "ms": []} for name in METHODS}
        ours_all_threads = []
        for si, scene in enumerate(scenes()[: 2 if quick else None]):
            pose, k = camera(scene, up[scene.name.split("/")[0]])
            points = sample(scene, n, seed=si)
            true = truth(scene, points, pose, k)
            repeat = 1 if quick else max(1, 20000 // n)
            for name, fn in METHODS.items():
                p, r = precision_recall(fn(points, pose, k), true)
                stats[name]["p"].append(p)
                stats[name]["r"].append(r)
                numba.set_num_threads(1)
                stats[name]["ms"].append(ms_per_call(fn, points, pose, k, repeat=repeat))
                numba.set_num_threads(all_threads)
            ours_all_threads.append(ms_per_call(ours, points, pose, k, repeat=repeat))
        hpr_ms = np.mean(stats["open3d HPR"]["ms"])
        for name, s in stats.items():
            rows.append(
                f"| {n} | {name} | {min(s['p']):.3f} / {np.mean(s['p']):.3f} "
                f"| {min(s['r']):.3f} / {np.mean(s['r']):.3f} | {np.mean(s['ms']):.2f} "
                f"| {hpr_ms / np.mean(s['ms']):.0f}x |"
            )
        rows.append(
            f"| {n} | ours, {all_threads} numba threads | | | {np.mean(ours_all_threads):.2f} "
            f"| {hpr_ms / np.mean(ours_all_threads):.0f}x |"
        )
    frames, n, views = (12, 512, 2) if quick else (150, 2048, 8)
    numba.set_num_threads(1)
    seconds = render_views_seconds(frames, n, views)
    numba.set_num_threads(all_threads)
    print(f"Occlusion at {WIDTH}x{HEIGHT} over {len(scenes()[: 2 if quick else None])} scene/camera"
          " pairs; precision and recall as worst / mean; ms per view on 1 thread unless said.\n")
    print("| points | method | precision | recall | ms/view | vs HPR |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(
        f"| {n} x {frames} frames x {views} views | render_views (trajectories + occlusion), "
        f"1 numba thread | | | {seconds * 1e3:.0f} ms total | |"
    )


if __name__ == "__main__":
    main("--quick" in sys.argv)

"""Occlusion fidelity and speed: our triangle fans vs the authors' one-pixel z-buffer vs HPR.

Fidelity is measured on ray-cast mesh scenes (two scenes, two cameras each): points are sampled
uniformly at random on the surfaces of open3d meshes (as the store's random resampling does),
and a point is truly visible when it is in the image in front of the camera and the ray from
the camera to it hits nothing before it (RaycastingScene.cast_rays). Every pair is sampled
SAMPLINGS times (different random points); precision and recall are the worst and the mean over
all pairs and samplings. open3d's `hidden_point_removal` runs with radius = 100 x the cloud's
diameter, as open3d's tutorial suggests; it does not know the image, so its answer is cut to
the image too. The one-pixel z-buffer (kernels.pixel_zbuffer, the authors' rule: the nearest
point per pixel, within 0.001) runs on the scene's image, then on the authors' own screen (focal
150 px, 120x180), against the truth on that screen.

Speed is ms per view on one thread for all of them (HPR is single-threaded), on the
first sampling: ours for a single view (its frame's fans included), then per view when 8 views
share a frame's fans (the fans' time included, divided by 8), split into the frame's fans and
each view, then with every numba thread. The last row times `render_views` (trajectories
included) for 150 frames x 2048 points x 8 views on one numba thread.

    .venv/bin/python benchmarks/bench_zbuffer.py [--quick]
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numba
import numpy as np
import open3d as o3d

from c2p4d.kernels.pixel_zbuffer import PixelOptions, pixel_visible_mask
from c2p4d.kernels.zbuffer import build_fans, occlusion, visible_mask
from c2p4d.pipeline.cameras import look_at
from c2p4d.pipeline.views import ViewConfig, render_views

WIDTH, HEIGHT = 320, 240
SAMPLINGS = 10  # at 2048 points the worst of 3 samplings was 0.03 above the worst of 10
AUTHORS = PixelOptions()  # the authors' screen and tolerance


@dataclass(frozen=True)
class Scene:
    name: str
    mesh: o3d.geometry.TriangleMesh
    eye: np.ndarray  # camera position
    target: np.ndarray  # what it looks at
    up: np.ndarray  # the scene's up
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
    """A room corner (floor and two walls, single surfaces) with boxes, a board and a cone; z up."""
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
    # No camera lies in the plane of a face (table/low sat at z = 1.5, the plane of a box's far
    # face): the ray cast's answer for a face seen exactly edge-on is rounding, not visibility.
    y, z = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    return [
        Scene("table/high", table, np.array([3.5, 2.5, 3.0]), np.array([0.0, 0.3, 0.0]), y, 240.0),
        Scene("table/low", table, np.array([-3.8, 0.6, 1.7]), np.array([0.0, 0.4, 0.0]), y, 300.0),
        Scene("room/diag", room, np.array([2.3, -2.2, 1.6]), np.array([-0.3, 0.4, 0.6]), z, 200.0),
        Scene("room/front", room, np.array([0.2, -2.4, 1.2]), np.array([0.0, 0.8, 0.7]), z, 260.0),
    ]


def camera(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """world_from_camera [4,4] and intrinsics [3,3] of a scene's camera."""
    pose = look_at(scene.eye, scene.target, scene.up)
    k = np.array([[scene.focal, 0, (WIDTH - 1) / 2], [0, scene.focal, (HEIGHT - 1) / 2], [0, 0, 1]])
    return pose, k


def sample(scene: Scene, n: int, seed: int) -> np.ndarray:
    o3d.utility.random.seed(seed)
    return np.asarray(scene.mesh.sample_points_uniformly(n).points)


def in_image(
    points: np.ndarray, pose: np.ndarray, k: np.ndarray, size: tuple[int, int] = (WIDTH, HEIGHT)
) -> np.ndarray:
    """In front of the camera (beyond 1e-3) and inside the image of `size` (width, height)."""
    cam = (points - pose[:3, 3]) @ pose[:3, :3]
    z = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.floor(k[0, 0] * cam[:, 0] / z + k[0, 2] + 0.5)
        v = np.floor(k[1, 1] * cam[:, 1] / z + k[1, 2] + 0.5)
    return (z > 1e-3) & (u >= 0) & (u < size[0]) & (v >= 0) & (v < size[1])


def truth(
    scene: Scene,
    points: np.ndarray,
    pose: np.ndarray,
    k: np.ndarray,
    size: tuple[int, int] = (WIDTH, HEIGHT),
) -> np.ndarray:
    """In the image, and the first hit of the ray from the camera is the point itself."""
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(scene.mesh))
    eye = pose[:3, 3]
    offset = points - eye
    dist = np.linalg.norm(offset, axis=1)
    rays = np.concatenate([np.broadcast_to(eye, points.shape), offset / dist[:, None]], 1)
    hit = rc.cast_rays(o3d.core.Tensor(rays.astype(np.float32)))["t_hit"].numpy()
    return in_image(points, pose, k, size) & (hit >= dist - 1e-4 * dist - 1e-5)


def one_pixel(points: np.ndarray, pose: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The authors' rule on the scene's image: the nearest point per pixel, within 0.001."""
    options = PixelOptions(screen_size=(WIDTH, HEIGHT), screen_focal=k[0, 0])
    return pixel_visible_mask(points[None], pose[None, None], options)[0, 0]


def authors_screen(points: np.ndarray, pose: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The authors' rule on their own screen (its truth is on that screen too)."""
    return pixel_visible_mask(points[None], pose[None, None], AUTHORS)[0, 0]


def hpr(points: np.ndarray, pose: np.ndarray, k: np.ndarray) -> np.ndarray:
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    diameter = np.linalg.norm(points.max(0) - points.min(0))
    _, kept = pcd.hidden_point_removal(pose[:3, 3], diameter * 100)
    mask = np.zeros(len(points), bool)
    mask[np.asarray(kept)] = True
    return mask & in_image(points, pose, k)


def ours(points: np.ndarray, pose: np.ndarray, k: np.ndarray) -> np.ndarray:
    return visible_mask(points[None], pose[None, None], k[None, None], (WIDTH, HEIGHT))[0, 0]


def ours_shared(points: np.ndarray, pose: np.ndarray, k: np.ndarray, views: int = 8) -> None:
    """`views` views of one frame: the fans are built once."""
    ours_views(points, build_fans(points[None]), pose, k, views)


def ours_views(points: np.ndarray, fans, pose: np.ndarray, k: np.ndarray, views: int = 8) -> None:
    """`views` views of one frame, given its fans."""
    poses = np.broadcast_to(pose, (views, 1, 4, 4))
    occlusion(points[None], fans, poses, np.broadcast_to(k, (views, 1, 3, 3)), (WIDTH, HEIGHT))


METHODS = {
    "ours": ours,
    "one-pixel z-buffer (the authors' rule)": one_pixel,
    "... on the authors' screen (f 150 px, 120x180)": authors_screen,
    "open3d HPR": hpr,
}
OWN_SCREEN = {authors_screen}  # methods measured against the truth on the authors' screen


def precision_recall(pred: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    tp = (pred & true).sum()
    return tp / max(pred.sum(), 1), tp / max(true.sum(), 1)


def ms_per_call(fn, *args, repeat: int) -> float:
    """Best of three runs of `repeat` calls, after a warm-up call (numba compiles there)."""
    fn(*args)
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            fn(*args)
        best = min(best, (time.perf_counter() - start) / repeat)
    return best * 1e3


def render_views_seconds(frames: int, n: int, views: int) -> float:
    """The table scene, resampled every frame and drifting, seen by a camera moving past it."""
    scene = scenes()[0]
    drift = np.array([0.5, 0.0, 0.2]) / frames
    points = np.stack([sample(scene, n, t) + t * drift for t in range(frames)]).astype(np.float32)
    eyes = scene.eye + np.linspace(0, 1, frames)[:, None] * np.array([0.0, 0.0, -1.0])
    cameras = look_at(eyes, scene.target, scene.up).astype(np.float32)
    config = ViewConfig()
    render_views(points, cameras, "bench", "seq", range(views), config)  # compile
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        render_views(points, cameras, "bench", "seq", range(views), config)
        best = min(best, time.perf_counter() - start)
    return best


def main(quick: bool = False) -> None:
    sizes = [512, 2048] if quick else [2048, 8192, 32768]
    pairs = scenes()[:2] if quick else scenes()
    samplings = 1 if quick else SAMPLINGS
    threads = numba.get_num_threads()
    rows = []
    for n in sizes:
        precision = {name: [] for name in METHODS}
        recall = {name: [] for name in METHODS}
        ms = {name: [] for name in [*METHODS, "shared", "fans", "view", "threads"]}
        repeat = 1 if quick else max(1, 16384 // n)
        for index, scene in enumerate(pairs):
            pose, k = camera(scene)
            numba.set_num_threads(1)
            for sampling in range(samplings):
                points = sample(scene, n, seed=index + 100 * sampling)
                true = truth(scene, points, pose, k)
                theirs = truth(scene, points, pose, AUTHORS.intrinsics(), AUTHORS.screen_size)
                for name, fn in METHODS.items():
                    p, r = precision_recall(
                        fn(points, pose, k), theirs if fn in OWN_SCREEN else true
                    )
                    precision[name].append(p)
                    recall[name].append(r)
            points = sample(scene, n, seed=index)
            for name, fn in METHODS.items():
                ms[name].append(ms_per_call(fn, points, pose, k, repeat=repeat))
            ms["shared"].append(ms_per_call(ours_shared, points, pose, k, repeat=repeat) / 8)
            ms["fans"].append(ms_per_call(build_fans, points[None], repeat=repeat))
            fans = build_fans(points[None])
            ms["view"].append(ms_per_call(ours_views, points, fans, pose, k, repeat=repeat) / 8)
            numba.set_num_threads(threads)
            ms["threads"].append(ms_per_call(ours_shared, points, pose, k, repeat=repeat) / 8)
        hpr_ms = np.mean(ms["open3d HPR"])
        for name in METHODS:
            p, r, t = precision[name], recall[name], np.mean(ms[name])
            rows.append(
                f"| {n} | {name} | {min(p):.3f} / {np.mean(p):.3f} | {min(r):.3f} / "
                f"{np.mean(r):.3f} | {t:.3f} | {hpr_ms / t:.1f}x |"
            )
        for label, key in [
            ("ours, 8 views share a frame's fans (fans / 8 + a view)", "shared"),
            ("... of which a frame's fans (once per frame)", "fans"),
            ("... of which one view given the fans", "view"),
            (f"ours, 8 views share fans, {threads} numba threads", "threads"),
        ]:
            t = np.mean(ms[key])
            ratio = "" if key in ("fans", "view") else f"{hpr_ms / t:.1f}x"
            rows.append(f"| {n} | {label} | | | {t:.3f} | {ratio} |")
    frames, n, views = (12, 512, 2) if quick else (150, 2048, 8)
    numba.set_num_threads(1)
    seconds = render_views_seconds(frames, n, views)
    numba.set_num_threads(threads)
    print(
        f"Occlusion at {WIDTH}x{HEIGHT} (the authors' screen: 120x180) on {len(pairs)} "
        f"scene/camera pairs x {samplings} random samplings: precision and recall as worst / "
        "mean; ms per view on 1 thread unless said (provisional: shared machine).\n"
    )
    print("| points | method | precision | recall | ms/view | vs HPR |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(
        f"| {n} x {frames} frames x {views} views | render_views (trajectories + occlusion), "
        f"1 numba thread | | | {seconds * 1e3:.0f} ms in all | |"
    )


if __name__ == "__main__":
    main("--quick" in sys.argv)

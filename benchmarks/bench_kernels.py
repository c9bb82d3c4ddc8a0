"""FPS and ball query of c2p4d.kernels side by side with fpsample, open3d and scipy's cKDTree.

Clouds are points on surfaces (a floor, a sphere, a box, a cylinder) two units from the origin,
as a depth camera sees them. FPS takes N/16 samples from index 0; the ball query uses those
samples as centres, k=32 and a radius that holds ~64 points on average. Every implementation
runs on one thread (numba, torch and OpenMP are limited to one), after a warm-up call; times are
the median of several repeats. Run: python benchmarks/bench_kernels.py [--quick]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # open3d; before it is imported

import statistics
import sys
import time

import fpsample
import numba
import numpy as np
import open3d as o3d
import torch
from scipy.spatial import cKDTree

from c2p4d import kernels
from c2p4d.kernels import sampling
from c2p4d.pipeline.seeding import rng_from

K = 32
BALL_POINTS = 64  # mean points per ball, which sets the radius
BUCKET_HEIGHTS = (5, 7, 9)  # fpsample's kd-tree heights; the fastest is reported


def surface_cloud(n: int) -> tuple[np.ndarray, float]:
    """n points on a small scene's surfaces, float32 [n,3], and the scene's total area."""
    rng = rng_from("bench_kernels", n)
    sphere_r, cyl_r, cyl_h, box = 0.3, 0.15, 0.6, 0.4
    areas = np.array([4.0, 4 * np.pi * sphere_r**2, 6 * box**2, 2 * np.pi * cyl_r * cyl_h])
    counts = rng.multinomial(n, areas / areas.sum())
    floor = np.c_[rng.uniform(-1, 1, (counts[0], 2)), np.zeros(counts[0])]
    ball = rng.normal(size=(counts[1], 3))
    ball = ball / np.linalg.norm(ball, axis=1, keepdims=True) * sphere_r + [0.3, 0.2, 0.3]
    cube = rng.uniform(0, box, (counts[2], 3))
    face = rng.integers(0, 6, counts[2])
    cube[np.arange(counts[2]), face % 3] = np.where(face < 3, 0.0, box)
    cube += [-0.6, -0.5, 0.0]
    angle = rng.uniform(0, 2 * np.pi, counts[3])
    cylinder = np.c_[
        cyl_r * np.cos(angle) + 0.5, cyl_r * np.sin(angle) - 0.5, rng.uniform(0, cyl_h, counts[3])
    ]
    points = np.concatenate([floor, ball, cube, cylinder])[rng.permutation(n)]
    return (points + [0.0, 0.0, 2.0]).astype(np.float32), float(areas.sum())


def median_time(fn, repeats: int) -> tuple[float, object]:
    """Median wall time of fn() in ms after one warm-up call, and its last result."""
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, result


def fps_rows(xyz: np.ndarray, m: int, repeats: int) -> list[tuple[str, float, str]]:
    points = torch.from_numpy(xyz)[None]
    spatial = len(xyz) * m > sampling.PLAIN_WORK  # the rule fps_numba applies
    ours_ms, ours = median_time(
        lambda: kernels.farthest_point_sample(points, m, backend="numba"), repeats
    )
    ours = ours[0].numpy()

    def same(idx) -> str:
        return "yes" if np.array_equal(np.asarray(idx), ours) else "no"

    torch_ms, torch_idx = median_time(
        lambda: kernels.farthest_point_sample(points, m, backend="torch"), max(1, repeats // 3)
    )
    vanilla_ms, vanilla = median_time(
        lambda: fpsample.fps_sampling(xyz, m, start_idx=0), max(1, repeats // 3)
    )
    bucket = []
    for h in BUCKET_HEIGHTS:
        ms, idx = median_time(
            lambda h=h: fpsample.bucket_fps_kdline_sampling(xyz, m, h, start_idx=0), repeats
        )
        bucket.append((ms, h, idx))
    bucket_ms, bucket_h, bucket_idx = min(bucket, key=lambda row: row[0])
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(xyz.astype(np.float64)))
    o3d_ms, o3d_down = median_time(
        lambda: cloud.farthest_point_down_sample(m, 0), max(1, repeats // 3)
    )
    # open3d returns the sampled points in index order, not in sampling order.
    o3d_same = np.array_equal(np.asarray(o3d_down.points), xyz[np.sort(ours)].astype(np.float64))
    return [
        (f"c2p4d numba (exact, {'kd-tree' if spatial else 'plain scan'})", ours_ms, "—"),
        ("c2p4d torch (exact, vectorised)", torch_ms, same(torch_idx[0].numpy())),
        ("fpsample fps_sampling (vanilla)", vanilla_ms, same(vanilla)),
        # fpsample 1.0.2 applies start_idx in its tree order: it starts elsewhere than index 0.
        (f"fpsample bucket_fps_kdline (h={bucket_h})", bucket_ms, f"starts at {bucket_idx[0]}"),
        ("open3d farthest_point_down_sample", o3d_ms, "yes" if o3d_same else "no"),
    ]


def ball_rows(xyz: np.ndarray, centers: np.ndarray, radius: float, repeats: int):
    points, anchors = torch.from_numpy(xyz)[None], torch.from_numpy(centers)[None]
    ours_ms, ours = median_time(
        lambda: kernels.ball_query(radius, K, points, anchors, backend="numba"), repeats
    )
    torch_ms, torch_idx = median_time(
        lambda: kernels.ball_query(radius, K, points, anchors, backend="torch"),
        max(1, repeats // 3),
    )

    def kdtree():
        return cKDTree(xyz).query_ball_point(centers, radius, return_sorted=True, workers=1)

    tree_ms, lists = median_time(kdtree, repeats)
    # cKDTree's sorted lists hold the same first-k hits (its distances are float64, so a point
    # exactly on the float32 boundary could differ).
    first_k = [row[:K] for row in lists]
    ours_first = [
        row[: len(hits)].tolist() for row, hits in zip(ours[0].numpy(), first_k, strict=True)
    ]
    same_tree = "yes" if ours_first == first_k else "no"
    return [
        ("c2p4d numba (grid)", ours_ms, "—"),
        (
            "c2p4d torch (chunked brute force)",
            torch_ms,
            "yes" if torch.equal(torch_idx, ours) else "no",
        ),
        ("scipy cKDTree build + query_ball_point", tree_ms, same_tree),
    ]


def main(quick: bool = False) -> None:
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    sizes, repeats = ((512, 1024), 2) if quick else ((2048, 8192, 32768), 7)
    print("c2p4d.kernels vs references: one thread each, median of repeats after a warm-up;")
    print(
        f"points on surfaces, FPS from index 0 to N/16 samples, ball query k={K} at those samples."
    )
    print("'same' = identical indices to c2p4d numba.\n")
    print("| op | N → M | implementation | time (ms) | c2p4d numba speed-up | same |")
    print("|---|---|---|---:|---:|:---:|")
    for n in sizes:
        xyz, area = surface_cloud(n)
        m = n // 16
        rows = fps_rows(xyz, m, repeats)
        for name, ms, same in rows:
            print(f"| FPS | {n} → {m} | {name} | {ms:.2f} | {ms / rows[0][1]:.2f}× | {same} |")
        centers = xyz[kernels.farthest_point_sample(torch.from_numpy(xyz)[None], m)[0].numpy()]
        radius = float(np.sqrt(BALL_POINTS * area / (np.pi * n)))
        rows = ball_rows(xyz, centers, radius, repeats)
        for name, ms, same in rows:
            label = f"ball r={radius:.3f}"
            print(f"| {label} | {n} → {m} | {name} | {ms:.2f} | {ms / rows[0][1]:.2f}× | {same} |")


if __name__ == "__main__":
    main("--quick" in sys.argv)

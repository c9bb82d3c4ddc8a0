"""Neighbour search on the CPU (ball query, k-NN) with the semantics of the pointnet2 CUDA ops.

- ball query: the first k points IN INDEX ORDER whose float32 squared distance to the centre,
  ((dx*dx + dy*dy) + dz*dz), is strictly below float32(r)²; unused slots repeat the first hit, a
  centre with no hit gets all zeros. A uniform grid (cell >= r, points counting-sorted by cell,
  index order kept within a cell) limits the scan to the 27 cells around the centre, and a
  cell's scan stops as soon as its indices cannot enter the k smallest found so far.
- k-NN: the k nearest points by the same float32 distance, nearest first, equal distances in
  index order (three_nn's strict `<` insertion does the same).

This module needs numpy and numba only (no torch), so the data pipeline can use it.
"""

from __future__ import annotations

import numba
import numpy as np

from c2p4d.kernels import _numba  # noqa: F401  (threading layer, before any parallel kernel)
from c2p4d.kernels.batching import run_batched

# Grid cells are at least this much wider than the radius, so that a point that passes the
# float32 test (off by a few ulps at most) always lies in one of the 27 cells around the centre.
CELL_MARGIN = 1.0 + 1e-5
# At most this many cells per point: tiny radii get a coarser grid (the test stays exact).
CELLS_PER_POINT = 4


def ball_query_numba(radius: float, k: int, xyz: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """xyz [B,N,3], centers [B,M,3] float32 -> idx [B,M,k] int64 (see the module docstring)."""
    xyz = np.ascontiguousarray(xyz, dtype=np.float32)
    centers = np.ascontiguousarray(centers, dtype=np.float32)
    out = np.zeros((*centers.shape[:2], k), dtype=np.int64)
    r = np.float32(radius)
    shared = (r * r, float(r) * CELL_MARGIN)
    run_batched(_ball_query_cloud, _ball_query_batch, (xyz, centers, out), shared)
    return out


def knn_numba(k: int, xyz: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """xyz [B,N,3], centers [B,M,3] float32 -> (dist [B,M,k] float32, idx [B,M,k] int64)."""
    xyz = np.ascontiguousarray(xyz, dtype=np.float32)
    centers = np.ascontiguousarray(centers, dtype=np.float32)
    sq_dist = np.empty((*centers.shape[:2], k), dtype=np.float32)
    idx = np.empty((*centers.shape[:2], k), dtype=np.int64)
    run_batched(_knn_cloud, _knn_batch, (xyz, centers, sq_dist, idx))
    return np.sqrt(sq_dist), idx


@numba.njit(parallel=True, cache=True)
def _ball_query_batch(xyz, centers, out, r2, min_cell):
    for b in numba.prange(xyz.shape[0]):
        _ball_query_cloud(xyz[b], centers[b], out[b], r2, min_cell)


@numba.njit(cache=True)
def _ball_query_cloud(pts, centers, out, r2, min_cell):
    n, k = pts.shape[0], out.shape[1]
    origin = np.empty(3)
    extent = np.empty(3)
    for a in range(3):
        lo, hi = pts[0, a], pts[0, a]
        for i in range(1, n):
            lo = min(lo, pts[i, a])
            hi = max(hi, pts[i, a])
        origin[a] = lo
        extent[a] = float(hi) - float(lo)
    cell, dims = _grid_shape(extent, min_cell, CELLS_PER_POINT * n + 64)

    # Counting sort of the points by cell; within a cell they stay in index order.
    cell_of = np.empty(n, dtype=np.int64)
    first = np.zeros(dims[0] * dims[1] * dims[2] + 1, dtype=np.int64)
    for i in range(n):
        c = _cell_id(pts[i, 0], pts[i, 1], pts[i, 2], origin, cell, dims)
        cell_of[i] = c
        first[c + 1] += 1
    for c in range(1, first.size):
        first[c] += first[c - 1]
    fill = first[:-1].copy()
    sorted_pts = np.empty((n, 3), dtype=np.float32)
    sorted_idx = np.empty(n, dtype=np.int64)
    for i in range(n):
        slot = fill[cell_of[i]]
        fill[cell_of[i]] += 1
        for a in range(3):
            sorted_pts[slot, a] = pts[i, a]
        sorted_idx[slot] = i

    lo_cell = np.empty(3, dtype=np.int64)
    hi_cell = np.empty(3, dtype=np.int64)
    found = np.empty(k, dtype=np.int64)
    for j in range(centers.shape[0]):
        c0, c1, c2 = centers[j, 0], centers[j, 1], centers[j, 2]
        if not _cell_range((c0, c1, c2), origin, cell, dims, lo_cell, hi_cell):
            continue  # far outside the grid: no neighbour, the row stays 0
        count = 0
        for z in range(lo_cell[2], hi_cell[2] + 1):
            for y in range(lo_cell[1], hi_cell[1] + 1):
                for x in range(lo_cell[0], hi_cell[0] + 1):
                    c = (z * dims[1] + y) * dims[0] + x
                    for slot in range(first[c], first[c + 1]):
                        i = sorted_idx[slot]
                        if count == k and i > found[k - 1]:
                            break  # the rest of this cell has larger indices still
                        dx = sorted_pts[slot, 0] - c0
                        dy = sorted_pts[slot, 1] - c1
                        dz = sorted_pts[slot, 2] - c2
                        if dx * dx + dy * dy + dz * dz < r2:
                            count = _insert_smallest(found, count, i)
        for s in range(count):
            out[j, s] = found[s]
        for s in range(count, k):
            out[j, s] = found[0] if count > 0 else 0


@numba.njit(cache=True)
def _insert_smallest(found, count, i):
    """Insert index i into the ascending found[:count], keeping at most len(found) entries."""
    k = found.size
    pos = count if count < k else k - 1
    while pos > 0 and found[pos - 1] > i:
        found[pos] = found[pos - 1]
        pos -= 1
    found[pos] = i
    return min(count + 1, k)


@numba.njit(cache=True)
def _grid_shape(extent, min_cell, max_cells):
    """Cell size (>= min_cell) and cells per axis, coarsened until there are <= max_cells."""
    cell = min_cell
    dims = np.empty(3, dtype=np.int64)
    while True:
        total = 1.0
        for a in range(3):
            total *= np.floor(extent[a] / cell) + 1.0
        if total <= max_cells:
            break
        cell *= max(1.1, (total / max_cells) ** (1.0 / 3.0))
    for a in range(3):
        dims[a] = int(np.floor(extent[a] / cell)) + 1
    return cell, dims


@numba.njit(cache=True)
def _cell_id(x, y, z, origin, cell, dims):
    c = 0
    for a, v in ((2, z), (1, y), (0, x)):
        q = min(int(np.floor((float(v) - origin[a]) / cell)), dims[a] - 1)
        c = c * dims[a] + q
    return c


@numba.njit(cache=True)
def _cell_range(center, origin, cell, dims, lo_cell, hi_cell):
    """The cells around a centre that can hold its neighbours; False if there are none."""
    for a in range(3):
        q = np.floor((float(center[a]) - origin[a]) / cell)
        lo = max(q - 1.0, 0.0)
        hi = min(q + 1.0, float(dims[a] - 1))
        if lo > hi:
            return False
        lo_cell[a] = int(lo)
        hi_cell[a] = int(hi)
    return True


@numba.njit(parallel=True, cache=True)
def _knn_batch(xyz, centers, sq_dist, idx):
    for b in numba.prange(xyz.shape[0]):
        _knn_cloud(xyz[b], centers[b], sq_dist[b], idx[b])


@numba.njit(cache=True)
def _knn_cloud(pts, centers, sq_dist, idx):
    for j in range(centers.shape[0]):
        _knn_one(pts, centers[j], sq_dist[j], idx[j])


@numba.njit(cache=True)
def _knn_one(pts, center, best_d, best_i):
    """Brute-force k nearest, kept sorted by insertion; ties stay in index order."""
    k = best_d.size
    count = 0
    for i in range(pts.shape[0]):
        dx = pts[i, 0] - center[0]
        dy = pts[i, 1] - center[1]
        dz = pts[i, 2] - center[2]
        d = dx * dx + dy * dy + dz * dz
        if count == k and not d < best_d[k - 1]:
            continue
        pos = count if count < k else k - 1
        while pos > 0 and best_d[pos - 1] > d:
            best_d[pos] = best_d[pos - 1]
            best_i[pos] = best_i[pos - 1]
            pos -= 1
        best_d[pos] = d
        best_i[pos] = i
        count = min(count + 1, k)

"""Farthest point sampling with the exact semantics of the pointnet2 CUDA kernel, on the CPU.

pointnet2_ops (the op P4Transformer relies on) defines FPS precisely, and every backend of this
package reproduces it so that they all return the same indices:
- the first sample is index 0; each next one maximises the float32 squared distance to the
  samples so far, ((dx*dx + dy*dy) + dz*dz), where every distance starts at 1e10;
- points with |p|² <= 1e-3 are skipped: the kernel treats them as zero padding, so they are never
  chosen after the first sample (and if every point is skipped, index 0 repeats);
- equal maxima go to the point that the kernel's thread layout prefers, which is NOT the lowest
  index (see `tie_rank`).

The CPU kernel here is exact but not O(N·M): a QuickFPS-style kd-tree keeps, per node, the max
of its points' distances to the sample set and the node's bounding box, so after each new sample
only the nodes that box could reach are updated and the next sample is read off the root. Small
jobs (N·M up to PLAIN_WORK) use the plain scan, which is faster there.

This module needs numpy and numba only (no torch), so the data pipeline can use it.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from c2p4d.kernels import _numba  # noqa: F401  (threading layer, before any parallel kernel)
from c2p4d.kernels.batching import run_batched

# TOTAL_THREADS in pointnet2's cuda_utils.h: the largest block the FPS kernel is launched with.
CUDA_MAX_THREADS = 512
INITIAL_DISTANCE = np.float32(1e10)
# The kernel compares a float32 |p|² against the double 1e-3; the largest float32 <= 1e-3 makes
# the same test in float32.
ORIGIN_SQ_LIMIT = np.nextafter(np.float32(1e-3), np.float32(0))
# Points per kd-tree leaf of the CPU kernel (measured at 32768 -> 2048: 32-128 within ~10%).
LEAF_SIZE = 64
# Up to this N·M the plain O(N·M) scan beats building the tree (measured: 2048 -> 128 is ~1.5x
# faster plain, 4096 -> 256 ~4x faster with the tree).
PLAIN_WORK = 1 << 18


def cuda_threads(n: int) -> int:
    """The block size pointnet2 launches for n points: 2**floor(log2 n), at most 512.

    Computed as the C code does (a truncated quotient of natural logs).
    """
    return max(min(1 << int(math.log(n) / math.log(2.0)), CUDA_MAX_THREADS), 1)


@functools.cache
def tie_rank(n: int) -> np.ndarray:
    """[n] int64: each index's priority among equal maxima in the pointnet2 kernel (lower wins).

    Thread t of T scans indices t, t+T, t+2T, ... and keeps its first maximum; a shared-memory
    tree reduction then halves the threads, keeping the lower half on ties, which ranks threads
    by their bit-reversed id. So the winner is the lowest (bitrev(k % T), k // T).
    Cached per n, hence read-only.
    """
    threads = cuda_threads(n)
    bits = threads.bit_length() - 1
    k = np.arange(n, dtype=np.int64)
    lane = k % threads
    reversed_lane = np.zeros_like(lane)
    for b in range(bits):
        reversed_lane |= ((lane >> b) & 1) << (bits - 1 - b)
    rank = reversed_lane * (-(-n // threads)) + k // threads
    rank.flags.writeable = False
    return rank


def far_from_origin(xyz: np.ndarray) -> np.ndarray:
    """[..., 3] float32 -> [...] bool: the points the pointnet2 FPS kernel does not skip."""
    sq_norm = xyz[..., 0] * xyz[..., 0] + xyz[..., 1] * xyz[..., 1] + xyz[..., 2] * xyz[..., 2]
    return sq_norm > ORIGIN_SQ_LIMIT


def fps_numba(
    xyz: np.ndarray, m: int, *, spatial: bool | None = None, leaf_size: int = LEAF_SIZE
) -> np.ndarray:
    """xyz [B,N,3] float32 -> idx [B,m] int64, exactly the pointnet2 CUDA kernel's result.

    spatial: the kd-tree kernel (True) or the plain scan (False); None picks by N·M.
    """
    xyz = np.ascontiguousarray(xyz, dtype=np.float32)
    out = np.zeros((xyz.shape[0], m), dtype=np.int64)
    if spatial is None:
        spatial = xyz.shape[1] * m > PLAIN_WORK
    shared = (tie_rank(xyz.shape[1]), max(2, leaf_size) if spatial else 0)
    run_batched(_fps_cloud, _fps_batch, (xyz, far_from_origin(xyz), out), shared)
    return out


@numba.njit(parallel=True, cache=True)
def _fps_batch(xyz, valid, out, rank, leaf_size):
    for b in numba.prange(xyz.shape[0]):
        _fps_cloud(xyz[b], valid[b], out[b], rank, leaf_size)


@numba.njit(cache=True)
def _fps_cloud(pts, valid, out, rank, leaf_size):
    """FPS of one cloud into out (zeros on entry: the first sample is index 0).

    leaf_size 0: the plain scan; otherwise the kd-tree with leaves of about that size.
    """
    if leaf_size == 0:
        _fps_plain(pts, valid, out, rank)
    else:
        _fps_spatial(pts, valid, out, rank, leaf_size)


@numba.njit(cache=True)
def _fps_plain(pts, valid, out, rank):
    near = np.full(pts.shape[0], INITIAL_DISTANCE, dtype=np.float32)
    last = 0
    for j in range(1, out.size):
        p0, p1, p2 = pts[last, 0], pts[last, 1], pts[last, 2]
        top_d, last = np.float32(-1.0), 0
        for i in range(pts.shape[0]):
            if not valid[i]:
                continue
            dx = pts[i, 0] - p0
            dy = pts[i, 1] - p1
            dz = pts[i, 2] - p2
            d = min(dx * dx + dy * dy + dz * dz, near[i])
            near[i] = d
            if d > top_d or (d == top_d and rank[i] < rank[last]):
                top_d, last = d, i
        out[j] = last


@numba.njit(cache=True)
def _fps_spatial(pts, valid, out, rank, leaf_size):
    m = out.size
    members = np.nonzero(valid)[0]  # skipped points stay out of the tree
    n = members.size
    if n == 0 or m < 2:
        return
    depth = 0
    while -(-n // (1 << depth)) > leaf_size:
        depth += 1
    n_nodes = (2 << depth) - 1
    first_leaf = (1 << depth) - 1
    # Tree order: coordinates, point index and tie rank per position.
    xs = np.empty((n, 3), dtype=np.float32)
    for pos in range(n):
        for a in range(3):
            xs[pos, a] = pts[members[pos], a]
    start, stop, box = _build_kdtree(xs, members, depth)
    key = np.empty(n, dtype=np.int64)
    for pos in range(n):
        key[pos] = rank[members[pos]]
    near = np.full(n, INITIAL_DISTANCE, dtype=np.float32)

    # Per node: the max distance below it and where it is (lowest rank among equals).
    best = np.full(n_nodes, INITIAL_DISTANCE, dtype=np.float32)
    arg = np.empty(n_nodes, dtype=np.int64)
    for node in range(first_leaf, n_nodes):
        if start[node] == stop[node]:  # empty: loses to any point (distances are >= 0)
            best[node], arg[node] = -1.0, 0
            continue
        arg[node] = start[node]
        for pos in range(start[node] + 1, stop[node]):
            if key[pos] < key[arg[node]]:
                arg[node] = pos
    for node in range(first_leaf - 1, -1, -1):
        _pull_up(node, best, arg, key)

    stack = np.empty(2 * depth + 2, dtype=np.int64)
    visited = np.empty(first_leaf + 1, dtype=np.int64)
    last = 0
    for j in range(1, m):
        p0, p1, p2 = pts[last, 0], pts[last, 1], pts[last, 2]
        n_visited = 0
        stack[0] = 0
        top = 1
        while top > 0:
            top -= 1
            node = stack[top]
            # No point in a box can get closer to the new sample than the box itself, so a node
            # whose box is at least its max away keeps every distance below it.
            if _box_sq_distance(p0, p1, p2, box, node) >= best[node]:
                continue
            if node >= first_leaf:
                _update_leaf(node, p0, p1, p2, xs, near, key, start, stop, best, arg)
            else:
                visited[n_visited] = node
                n_visited += 1
                stack[top] = 2 * node + 1
                stack[top + 1] = 2 * node + 2
                top += 2
        # Parents were visited before their children: refresh them in reverse order.
        for v in range(n_visited - 1, -1, -1):
            _pull_up(visited[v], best, arg, key)
        last = members[arg[0]]
        out[j] = last


@numba.njit(cache=True)
def _update_leaf(node, p0, p1, p2, xs, near, key, start, stop, best, arg):
    top_d = np.float32(-1.0)
    top_pos = start[node]
    for pos in range(start[node], stop[node]):
        dx = xs[pos, 0] - p0
        dy = xs[pos, 1] - p1
        dz = xs[pos, 2] - p2
        d = dx * dx + dy * dy + dz * dz
        if d < near[pos]:
            near[pos] = d
        d = near[pos]
        if d > top_d or (d == top_d and key[pos] < key[top_pos]):
            top_d = d
            top_pos = pos
    best[node] = top_d
    arg[node] = top_pos


@numba.njit(cache=True)
def _pull_up(node, best, arg, key):
    left, right = 2 * node + 1, 2 * node + 2
    if best[right] > best[left] or (best[right] == best[left] and key[arg[right]] < key[arg[left]]):
        best[node], arg[node] = best[right], arg[right]
    else:
        best[node], arg[node] = best[left], arg[left]


@numba.njit(cache=True)
def _box_sq_distance(p0, p1, p2, box, node):
    """Squared distance in float32 from p to the box of node: [lo0, lo1, lo2, hi0, hi1, hi2].

    Rounding is monotonic, so this never exceeds the float32 distance to a point in the box.
    """
    g0 = _gap(p0, box[node, 0], box[node, 3])
    g1 = _gap(p1, box[node, 1], box[node, 4])
    g2 = _gap(p2, box[node, 2], box[node, 5])
    return g0 * g0 + g1 * g1 + g2 * g2


@numba.njit(cache=True)
def _gap(v, lo, hi):
    if v < lo:
        return lo - v
    if v > hi:
        return v - hi
    return np.float32(0.0)


@numba.njit(cache=True)
def _build_kdtree(xs, ids, depth):
    """Implicit kd-tree (children of node i: 2i+1, 2i+2) of the given depth over xs [n,3].

    xs and ids (the points' indices) are reordered in place so that every node owns a range of
    rows; each node splits its range near the median of its box's widest axis. Returns per node:
    start, stop (its rows) and box (lo xyz, hi xyz); an empty node's box is inverted (lo=+inf,
    hi=-inf) so that it is infinitely far from every point.
    """
    n_nodes = (2 << depth) - 1
    first_leaf = (1 << depth) - 1
    start = np.zeros(n_nodes, dtype=np.int64)
    stop = np.zeros(n_nodes, dtype=np.int64)
    box = np.empty((n_nodes, 6), dtype=np.float32)
    stop[0] = xs.shape[0]
    _fit_box(xs, ids, 0, xs.shape[0], box, 0, xs, ids)
    tmp_xs = np.empty_like(xs)
    tmp_ids = np.empty_like(ids)
    sample = np.empty(_PIVOT_SAMPLE, dtype=xs.dtype)
    for node in range(first_leaf):
        s, e = start[node], stop[node]
        axis = 0
        for a in range(1, 3):
            if box[node, a + 3] - box[node, a] > box[node, axis + 3] - box[node, axis]:
                axis = a
        mid = _split(xs, ids, s, e, axis, tmp_xs, tmp_ids, sample)
        left, right = 2 * node + 1, 2 * node + 2
        start[left], stop[left] = s, mid
        start[right], stop[right] = mid, e
        # The split pass left the rows in tmp: copy them back while fitting the children's boxes.
        _fit_box(tmp_xs, tmp_ids, s, mid, box, left, xs, ids)
        _fit_box(tmp_xs, tmp_ids, mid, e, box, right, xs, ids)
    return start, stop, box


# Keys sampled to pick a split pivot: their median lands near the range's median.
_PIVOT_SAMPLE = 63


@numba.njit(cache=True)
def _split(xs, ids, s, e, axis, tmp_xs, tmp_ids, sample):
    """Partition rows s:e by `axis` around a sampled median into tmp; returns the split row.

    One pass (a quickselect to the exact median costs ~3x more for no better tree). Rows below
    the pivot go left; if none is, rows equal to it go left too; if then all do, every key is
    equal, any split is as good, and the range is halved.
    """
    n = e - s
    if n < 2:
        return _partition(xs, ids, s, e, axis, np.float32(np.inf), True, tmp_xs, tmp_ids)
    step = max(1, n // _PIVOT_SAMPLE)
    count = 0
    for i in range(s, e, step):
        if count == _PIVOT_SAMPLE:
            break
        sample[count] = xs[i, axis]
        count += 1
    pivot = _select_inplace(sample, count, count // 2)
    mid = _partition(xs, ids, s, e, axis, pivot, False, tmp_xs, tmp_ids)
    if mid == s:
        mid = _partition(xs, ids, s, e, axis, pivot, True, tmp_xs, tmp_ids)
    return mid if mid < e else s + n // 2


@numba.njit(cache=True)
def _partition(xs, ids, s, e, axis, pivot, inclusive, tmp_xs, tmp_ids):
    """Rows s:e into tmp: keys below (or up to, if inclusive) the pivot first; returns the split.

    Each row goes to the next free slot at the front or the back, picked by arithmetic rather
    than a branch: the side is a coin flip, and mispredicted branches made this pass ~5x slower.
    """
    lo, hi = s, e - 1
    for i in range(s, e):
        v = xs[i, axis]
        left = np.int64(v < pivot or (inclusive and v == pivot))
        dst = hi - left * (hi - lo)
        tmp_xs[dst, 0] = xs[i, 0]
        tmp_xs[dst, 1] = xs[i, 1]
        tmp_xs[dst, 2] = xs[i, 2]
        tmp_ids[dst] = ids[i]
        lo += left
        hi -= 1 - left
    return lo


@numba.njit(cache=True)
def _select_inplace(values, n, kth):
    """The kth smallest of values[:n] (Wirth's quickselect; reorders values)."""
    left, right = 0, n - 1
    while left < right:
        pivot = values[kth]
        i, j = left, right
        while i <= j:
            while values[i] < pivot:
                i += 1
            while pivot < values[j]:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        if j < kth:
            left = i
        if kth < i:
            right = j
    return values[kth]


@numba.njit(cache=True)
def _fit_box(src_xs, src_ids, s, e, box, node, dst_xs, dst_ids):
    """box[node] = bounds of rows s:e of src_xs, which are copied to dst_xs (and ids alike)."""
    for a in range(3):
        box[node, a] = np.inf
        box[node, a + 3] = -np.inf
    for i in range(s, e):
        for a in range(3):
            v = src_xs[i, a]
            box[node, a] = min(box[node, a], v)
            box[node, a + 3] = max(box[node, a + 3], v)
            dst_xs[i, a] = v
        dst_ids[i] = src_ids[i]

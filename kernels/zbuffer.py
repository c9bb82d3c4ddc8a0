"""Which points of a cloud a camera sees: triangle fans over the points, in numba (paper §3.1).

A one-pixel z-buffer over points is not enough: a sampled surface has gaps between its points,
and the surfaces behind it show through them. Discs splatted around the points close the gaps
but also spill past every border, hiding the background next to it. So the points are joined
into the surfaces they sample instead, once per frame (`build_fans`, shared by all views):

- each point's k nearest neighbours give its spacing (`radius`, the k-th distance) and its
  tangent plane (the normal is the least principal axis of it and its nearest neighbours);
- the tangent plane around the point is cut into 6 sectors of 60 degrees, and the nearest point
  of each sector becomes a corner of the point's fan, if it lies within `reach` radii and at
  most `max_elevation_deg` out of the plane (so that a fan does not jump to another surface
  across a small gap). The sectors come in angular order, so the fan needs no sorting, and the
  even spread of its corners closes it with few triangles. An angle wider than `max_gap_deg`
  between consecutive corners is a border of the surface and stays open. The frame keeps each
  triangle once, whichever fans have it;
- the triangles join sampled points only, so they stay inside the convex hull of the samples:
  they never spill past the silhouette of a convex object, and a triangle that cuts through an
  object (across an edge or the rim of a sphere) lies inside it, behind its surface;
- where two surfaces meet in a concave junction (an object standing on the floor), a triangle
  joining them would be a web in front of both. A triangle is dropped when each of its corners
  sees another corner rise towards the camera out of its own tangent plane by more than
  `web_slope` (the sine of that angle). Per view this only depends on which side of each
  corner's plane the camera is on, so each triangle keeps the answer for both sides of each
  corner (6 bits) and a view just picks.

A view then projects the points and tests each one against the triangles over it in the image:
the point is hidden when a triangle (all of whose corners are in front of the camera, and which
is no web) covers its image position and is nearer than the point there by more than
`depth_tolerance` radii (so that a surface seen at a grazing angle does not hide its own
points). A triangle covers the points whose barycentric coordinates are all >= -`grow`: it is
grown by 3 `grow` about its centroid, because the sampled surface reaches past its outermost
samples (about half a spacing) while the triangles stop at them. The test is exact per point: no
buffer resolution enters the answer. To find the points under a triangle quickly, the points are
bucketed by image cells of 2**level pixels, about half a mean radius wide (a speed setting only).

Cameras follow OpenCV (x right, y down, z forward); poses are world-from-camera; intrinsics are
[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]. Pixel (i, j) is the unit square centred on image
coordinates (u, v) = (i, j): a point projects to pixel (floor(u + 0.5), floor(v + 0.5)) and is
visible only in front of the camera (z > near) with that pixel inside the image.

Masks are stored bit-packed (np.packbits order: point 0 is the high bit of byte 0),
ceil(N / 8) bytes per frame; when N is not a multiple of 8 the padding bits are 0 and
`unpack_mask` needs N to drop them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numba as nb
import numpy as np

from c2p4d.kernels import _numba  # noqa: F401  (threading layer, before any parallel kernel)

# A neighbourhood has a tangent plane when its two least principal variances differ by this
# fraction of the largest; below it (a line of points, an isotropic blob) it has no fan.
MIN_NORMAL_GAP = 0.05
# The fan of a point has one corner per sector of 60 degrees of its tangent plane.
SECTORS = 6
SQRT3 = math.sqrt(3.0)
# Grid cells for the neighbour search are this many fan reaches wide (a speed setting: wider
# cells hold more candidates, narrower ones send more points on to the next ring of cells).
CELL_REACHES = 1.3
# Image buckets are about 1 / BUCKET_RADII of the mean radius wide (a speed setting); the
# coarsest is 2**MAX_LEVEL pixels.
BUCKET_RADII = 2.0
MAX_LEVEL = 5
MAX_NEIGHBORS = 64  # neighbours per point (more would only slow the fans down)


@dataclass(frozen=True)
class OcclusionOptions:
    """Defaults tuned on ray-cast mesh scenes (benchmarks/bench_zbuffer.py: two scenes, two
    cameras each, 2048 to 32768 points per frame at 320x240, several random samplings)."""

    neighbors: int = 8  # the radius is the distance to the k-th nearest neighbour
    normal_neighbors: int = 8  # the nearest of them that fit the tangent plane
    reach: float = 1.5  # fan corners lie within this many radii
    max_elevation_deg: float = 60.0  # ... and at most this steeply out of the tangent plane
    max_gap_deg: float = 170.0  # a wider angle between consecutive corners is a border
    web_slope: float = 0.35  # sine of the rise that marks a triangle as a concave web
    grow: float = 0.07  # a triangle covers barycentric coordinates >= -grow
    depth_tolerance: float = 0.1  # slack behind the nearest triangle, in radii
    near: float = 1e-3  # points at depth <= near are behind the camera

    def __post_init__(self) -> None:
        finite = math.isfinite
        check_options(
            self,
            {
                "neighbors": (1 <= self.neighbors <= MAX_NEIGHBORS, f"1 to {MAX_NEIGHBORS}"),
                "normal_neighbors": (
                    2 <= self.normal_neighbors <= self.neighbors,
                    "2 to neighbors",
                ),
                "reach": (finite(self.reach) and self.reach >= 1, "finite, >= 1"),
                "max_elevation_deg": (0 < self.max_elevation_deg <= 90, "in (0, 90]"),
                "max_gap_deg": (0 < self.max_gap_deg < 180, "in (0, 180)"),
                "web_slope": (finite(self.web_slope) and self.web_slope >= 0, "finite, >= 0"),
                "grow": (0 <= self.grow < 0.5, "in [0, 0.5)"),
                "depth_tolerance": (
                    finite(self.depth_tolerance) and self.depth_tolerance >= 0,
                    "finite, >= 0",
                ),
                "near": (finite(self.near) and self.near > 0, "finite, > 0"),
            },
        )


def check_options(options: object, checks: dict[str, tuple[bool, str]]) -> None:
    """A ValueError naming every option whose check (name: (ok, what it needs)) fails."""
    bad = [
        f"{name}={getattr(options, name)} (need {need})"
        for name, (ok, need) in checks.items()
        if not ok
    ]
    if bad:
        raise ValueError(f"{type(options).__name__}: " + "; ".join(bad))


class Fans(NamedTuple):
    """The surface of every frame (view-independent): its points' planes and its triangles.

    normal    [F,N,3]  unit normal, 0 where the neighbourhood has no plane (then no fan)
    radius    [F,N]    distance to the k-th nearest neighbour: the local spacing
    triangles [F,T,3]  point indices of the triangles of all fans, each once; rows of -1 after
                       a frame's last triangle
    web       [F,T]    per corner c = 0, 1, 2 two bits (bit 2c + side): whether the corner sees
                       another one rise out of its tangent plane on its + side (side 0) or on
                       its - side (side 1); in a view the triangle is a web when every corner's
                       bit for the side the camera is on is set
    """

    normal: np.ndarray
    radius: np.ndarray
    triangles: np.ndarray
    web: np.ndarray


def visible_mask(
    points: np.ndarray,
    world_from_camera: np.ndarray,
    intrinsics: np.ndarray,
    image_size: tuple[int, int],
    options: OcclusionOptions | None = None,
) -> np.ndarray:
    """points [F,N,3], world_from_camera [V,F,4,4], intrinsics [V,F,3,3], image_size (W, H)
    -> bool [V,F,N]: is point n of frame f visible from camera v at frame f."""
    options = options or OcclusionOptions()
    fans = build_fans(points, options)
    return occlusion(points, fans, world_from_camera, intrinsics, image_size, options)


def build_fans(points: np.ndarray, options: OcclusionOptions | None = None) -> Fans:
    """The triangle fans of every frame (frames in parallel); shared by all views."""
    options = options or OcclusionOptions()
    points = as_points(points)
    k = min(options.neighbors, points.shape[1] - 1)
    gap = math.radians(options.max_gap_deg)
    return Fans(
        *_build(
            points,
            k,
            min(options.normal_neighbors, k),
            float(options.reach),
            math.sin(math.radians(options.max_elevation_deg)) ** 2,
            math.cos(gap),
            math.sin(gap),
            float(options.web_slope),
        )
    )


def occlusion(
    points: np.ndarray,
    fans: Fans,
    world_from_camera: np.ndarray,
    intrinsics: np.ndarray,
    image_size: tuple[int, int],
    options: OcclusionOptions | None = None,
) -> np.ndarray:
    """`visible_mask` given the frames' fans; views and frames run in parallel."""
    options = options or OcclusionOptions()
    points = as_points(points)
    pose, k = as_cameras(world_from_camera, intrinsics, points.shape[0], image_size)
    return _render(
        points,
        np.ascontiguousarray(fans.normal, dtype=np.float64),
        np.ascontiguousarray(fans.radius, dtype=np.float64),
        np.ascontiguousarray(fans.triangles, dtype=np.int32),
        np.ascontiguousarray(fans.web, dtype=np.uint8),
        pose,
        k,
        int(image_size[0]),
        int(image_size[1]),
        float(options.grow),
        float(options.depth_tolerance),
        float(options.near),
    )


def pack_mask(mask: np.ndarray) -> np.ndarray:
    """bool [..., N] -> uint8 [..., ceil(N/8)], np.packbits order, padding bits 0."""
    return np.packbits(np.asarray(mask, dtype=bool), axis=-1)


def unpack_mask(packed: np.ndarray, num_points: int) -> np.ndarray:
    """uint8 [..., ceil(N/8)] -> bool [..., N], the inverse of `pack_mask`."""
    packed = np.asarray(packed, dtype=np.uint8)
    if packed.shape[-1] != -(-num_points // 8):
        raise ValueError(
            f"a mask of {num_points} points packs into {-(-num_points // 8)} bytes, "
            f"got {packed.shape[-1]}"
        )
    return np.unpackbits(packed, axis=-1, count=num_points).astype(bool)


def as_points(points: np.ndarray) -> np.ndarray:
    """points [F,N,3] as a float64 C array; a ValueError if empty or not finite."""
    points = np.ascontiguousarray(points, dtype=np.float64)
    if points.ndim != 3 or points.shape[-1] != 3 or points.shape[1] == 0:
        raise ValueError(f"points must be [F,N,3] with N >= 1, got {list(points.shape)}")
    if not np.isfinite(points).all():
        raise ValueError("points have NaN or infinite coordinates; drop or repair those frames")
    return points


def as_cameras(
    world_from_camera: np.ndarray,
    intrinsics: np.ndarray,
    frames: int,
    image_size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Shapes, finiteness and the no-skew intrinsics form, as float64 C arrays."""
    pose = np.ascontiguousarray(world_from_camera, dtype=np.float64)
    k = np.ascontiguousarray(intrinsics, dtype=np.float64)
    if pose.ndim != 4 or pose.shape[1:] != (frames, 4, 4):
        raise ValueError(f"world_from_camera must be [V,{frames},4,4], got {list(pose.shape)}")
    if k.shape != pose.shape[:2] + (3, 3):
        raise ValueError(f"intrinsics must be {[*pose.shape[:2], 3, 3]}, got {list(k.shape)}")
    if len(image_size) != 2 or min(image_size) < 1:
        raise ValueError(f"image_size must be (width, height), both >= 1, got {image_size}")
    if not (np.isfinite(pose).all() and np.isfinite(k).all()):
        raise ValueError("camera poses or intrinsics have NaN or infinite values")
    if (k[..., [0, 1, 2, 2], [1, 0, 0, 1]] != 0).any() or (k[..., 2, 2] != 1).any():
        raise ValueError("intrinsics must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] (no skew)")
    if (k[..., 0, 0] <= 0).any() or (k[..., 1, 1] <= 0).any():
        raise ValueError("intrinsics must have fx, fy > 0")
    return pose, k


# ---------------------------------------------------------------------------------------------
# Per frame: k nearest neighbours and sector corners on a uniform grid, the tangent plane.


@nb.njit(cache=True)
def _grid(points, size):
    """Counting sort of the points into cubic cells of `size` (grown until there are at most
    ~4 cells per point): (lower corner, size, dims, cell start offsets, point order)."""
    n = points.shape[0]
    lo = np.empty(3)
    span = np.empty(3)
    for d in range(3):
        lo[d] = points[:, d].min()
        span[d] = points[:, d].max() - lo[d]
    size = max(size, span.max() * 1e-9, 1e-300)
    dims = np.empty(3, np.int64)
    while True:
        for d in range(3):
            dims[d] = int(span[d] / size) + 1
        if dims[0] * dims[1] * dims[2] <= 4 * n + 64:
            break
        size *= 1.25
    cell = np.empty(n, np.int64)
    start = np.zeros(dims[0] * dims[1] * dims[2] + 1, np.int64)
    for i in range(n):
        c = 0
        for d in range(3):
            c = c * dims[d] + min(int((points[i, d] - lo[d]) / size), dims[d] - 1)
        cell[i] = c
        start[c + 1] += 1
    for c in range(start.shape[0] - 1):
        start[c + 1] += start[c]
    order = np.empty(n, np.int64)
    fill = start[:-1].copy()
    for i in range(n):
        order[fill[cell[i]]] = i
        fill[cell[i]] += 1
    return lo, size, dims, start, order


@nb.njit(cache=True)
def _cell_size(points, k, reach):
    """A grid cell CELL_REACHES fan reaches of a typical point wide, so that the 27 cells around
    a point usually hold all its fan corners. The area the points cover, from a coarse grid's
    occupied cells, gives their spacing."""
    n = points.shape[0]
    span = 0.0
    for d in range(3):
        span = max(span, points[:, d].max() - points[:, d].min())
    _, size, _, start, _ = _grid(points, span * 3.0 / math.sqrt(n))
    occupied = 0
    for c in range(start.shape[0] - 1):
        occupied += start[c + 1] > start[c]
    return CELL_REACHES * reach * size * math.sqrt(occupied * k / (math.pi * n))


@nb.njit(cache=True)
def _eigenvalues(a00, a01, a02, a11, a12, a22):
    """Eigenvalues of a symmetric positive semi-definite 3x3 matrix, largest first. The least
    one by Newton's method on the characteristic polynomial from 0 (it is concave and rising
    below that root, so the steps never overshoot), the other two from the quadratic left."""
    c2 = a00 + a11 + a22
    c1 = a00 * a11 + a00 * a22 + a11 * a22 - a01 * a01 - a02 * a02 - a12 * a12
    c0 = (
        a00 * (a11 * a22 - a12 * a12)
        - a01 * (a01 * a22 - a12 * a02)
        + a02 * (a01 * a12 - a11 * a02)
    )
    l3 = 0.0
    for _ in range(64):
        f = ((l3 - c2) * l3 + c1) * l3 - c0
        slope = (3.0 * l3 - 2.0 * c2) * l3 + c1
        if not f < 0.0 or not slope > 0.0:
            break
        step = -f / slope
        if not step > 1e-15 * c2:
            l3 += step
            break
        l3 += step
    total = c2 - l3
    product = c1 - l3 * total
    root = math.sqrt(max(total * total - 4.0 * product, 0.0))
    return 0.5 * (total + root), 0.5 * (total - root), l3


@nb.njit(cache=True)
def _eigenvector(c0, c1, c2, c3, c4, c5, l3):
    """Unit eigenvector of the symmetric matrix (xx xy xz yy yz zz) = c0..c5 for its eigenvalue
    l3: the largest cross product of two rows of (matrix - l3 I); zero if there is none."""
    r00, r01, r02 = c0 - l3, c1, c2
    r10, r11, r12 = c1, c3 - l3, c4
    r20, r21, r22 = c2, c4, c5 - l3
    bx = by = bz = best = 0.0
    for x, y, z in (
        (r01 * r12 - r02 * r11, r02 * r10 - r00 * r12, r00 * r11 - r01 * r10),
        (r01 * r22 - r02 * r21, r02 * r20 - r00 * r22, r00 * r21 - r01 * r20),
        (r11 * r22 - r12 * r21, r12 * r20 - r10 * r22, r10 * r21 - r11 * r20),
    ):
        n2 = x * x + y * y + z * z
        if n2 > best:
            bx, by, bz, best = x, y, z, n2
    if best > 0.0:
        s = 1.0 / math.sqrt(best)
        bx, by, bz = bx * s, by * s, bz * s
    return bx, by, bz


@nb.njit(cache=True)
def _perpendicular(n0, n1, n2):
    """A unit vector orthogonal to the unit vector n."""
    if abs(n0) < 0.9:
        s = math.sqrt(n1 * n1 + n2 * n2)
        return 0.0, n2 / s, -n1 / s
    s = math.sqrt(n0 * n0 + n2 * n2)
    return -n2 / s, 0.0, n0 / s


@nb.njit(cache=True, inline="always")
def _sector(u, v):
    """Which 60-degree sector [60 s, 60 (s + 1)) of the plane holds the direction (u, v) != 0,
    counter-clockwise from +u (signs and two comparisons, no angle, no branch)."""
    lower = v < 0.0 or (v == 0.0 and u < 0.0)
    u = -u if lower else u
    v = -v if lower else v
    past120 = SQRT3 * u + v <= 0.0
    below60 = v - SQRT3 * u < 0.0
    return 3 * lower + (2 if past120 else (0 if below60 else 1))


@nb.njit(cache=True, parallel=True)
def _build(points, k, kn, reach, steep, gap_cos, gap_sin, slope):
    f, n, _ = points.shape
    normal = np.zeros((f, n, 3))
    radius = np.zeros((f, n))
    fan = np.full((f, n, SECTORS + 1), -1, np.int32)
    closed = np.zeros((f, n, SECTORS), np.bool_)
    if k >= 1:
        for t in nb.prange(f):
            _fans(
                points[t], k, kn, reach, steep, gap_cos, gap_sin, normal[t], radius[t], fan[t],
                closed[t],
            )  # fmt: skip
    # Each triangle once (from the first of its corners whose fan has it), then the web bits.
    count = np.zeros(f, np.int64)
    for t in nb.prange(f):
        count[t] = _triangles(points[t], normal[t], fan[t], closed[t], slope, None, None)
    triangles = np.full((f, count.max(), 3), -1, np.int32)
    web = np.zeros((f, count.max()), np.uint8)
    for t in nb.prange(f):
        _triangles(points[t], normal[t], fan[t], closed[t], slope, triangles[t], web[t])
    return normal, radius, triangles, web


@nb.njit(cache=True)
def _fans(points, k, kn, reach, steep, gap_cos, gap_sin, normal, radius, fan, closed):
    """One frame: the radius, normal and fan of every point (see the module docstring)."""
    n = points.shape[0]
    lo, size, dims, start, order = _grid(points, _cell_size(points, k, reach))
    # The points in grid order, so that the cells of a block are contiguous runs.
    grid = np.empty((n, 3))
    home = np.empty((n, 3), np.int64)
    for s in range(n):
        for d in range(3):
            grid[s, d] = points[order[s], d]
            home[s, d] = min(int((grid[s, d] - lo[d]) / size), dims[d] - 1)
    # The candidates of one point (every other point of its block): index, offset, distance².
    found = np.empty(n, np.int64)
    offset = np.empty((n, 3))
    found_d2 = np.empty(n)
    best = np.empty(k, np.int64)  # the k nearest candidates, by (distance, index)
    best_d2 = np.empty(k)
    best_id = np.empty(k, np.int64)
    corner = np.empty(SECTORS, np.int64)  # the nearest candidate of each sector
    corner_d2 = np.empty(SECTORS)
    corner_id = np.empty(SECTORS, np.int64)
    corner_uv = np.empty((SECTORS, 2))
    hint = np.inf  # the squared search radius of the previous point, to try first
    near = np.empty(n, np.int64)  # the candidates within it
    for s in range(n):
        i = order[s]
        ring = 1
        while True:
            m = _block(grid, order, s, home[s], ring, dims, start, found, offset, found_d2)
            reached = _block_reach(grid[s], home[s], ring, lo, size, dims)
            # First among the candidates within the previous point's search radius: exact when
            # this point's own search radius is within it.
            q = 0
            for c in range(m):
                near[q] = c
                q += found_d2[c] <= hint
            count = _nearest(found, found_d2, near, q, best, best_d2, best_id)
            limit = reach * math.sqrt(found_d2[best[k - 1]]) if count == k else np.inf
            if not limit * limit <= hint:
                for c in range(m):
                    near[c] = c
                q = m
                count = _nearest(found, found_d2, near, q, best, best_d2, best_id)
                limit = reach * math.sqrt(found_d2[best[k - 1]]) if count == k else np.inf
            if limit < reached or reached == np.inf:
                break
            ring += 1
        hint = (1.25 * limit) ** 2
        radius[i] = math.sqrt(found_d2[best[k - 1]])
        n0, n1, n2 = _normal(offset, best, kn)
        normal[i, 0], normal[i, 1], normal[i, 2] = n0, n1, n2
        if n0 == 0.0 and n1 == 0.0 and n2 == 0.0:
            continue
        # The nearest point of each sector of the tangent plane, within reach radii and at most
        # max_elevation out of the plane.
        a0, a1, a2 = _perpendicular(n0, n1, n2)
        b0, b1, b2 = n1 * a2 - n2 * a1, n2 * a0 - n0 * a2, n0 * a1 - n1 * a0
        limit = reach * radius[i]
        limit2 = limit * limit
        corner[:] = -1
        corner_d2[:] = np.inf
        corner_id[:] = n
        for r in range(q):
            c = near[r]
            d2 = found_d2[c]
            if not 0.0 < d2 <= limit2:  # most candidates: out of reach, a test before the rest
                continue
            e0, e1, e2 = offset[c, 0], offset[c, 1], offset[c, 2]
            lift = n0 * e0 + n1 * e1 + n2 * e2
            u = a0 * e0 + a1 * e1 + a2 * e2
            v = b0 * e0 + b1 * e1 + b2 * e2
            sector = _sector(u, v)
            j = found[c]
            better = (
                (lift * lift <= steep * d2)
                & ((u != 0.0) | (v != 0.0))
                & ((d2 < corner_d2[sector]) | ((d2 == corner_d2[sector]) & (j < corner_id[sector])))
            )
            corner[sector] = c if better else corner[sector]
            corner_d2[sector] = d2 if better else corner_d2[sector]
            corner_id[sector] = j if better else corner_id[sector]
            corner_uv[sector, 0] = u if better else corner_uv[sector, 0]
            corner_uv[sector, 1] = v if better else corner_uv[sector, 1]
        _fan(found, corner, corner_uv, gap_cos, gap_sin, fan[i], closed[i])


@nb.njit(cache=True)
def _block(grid, order, s, home, ring, dims, start, found, offset, found_d2):
    """Every other point in the cells within Chebyshev distance `ring` of cell `home` (point s
    in grid order): its index, offset from point s and squared distance; returns how many."""
    m = 0
    px, py, pz = grid[s, 0], grid[s, 1], grid[s, 2]
    for a in range(max(home[0] - ring, 0), min(home[0] + ring, dims[0] - 1) + 1):
        for b in range(max(home[1] - ring, 0), min(home[1] + ring, dims[1] - 1) + 1):
            row = (a * dims[1] + b) * dims[2]
            first = start[row + max(home[2] - ring, 0)]
            last = start[row + min(home[2] + ring, dims[2] - 1) + 1]
            for t in range(first, last):
                if t == s:
                    continue
                dx, dy, dz = grid[t, 0] - px, grid[t, 1] - py, grid[t, 2] - pz
                found[m] = order[t]
                offset[m, 0], offset[m, 1], offset[m, 2] = dx, dy, dz
                found_d2[m] = dx * dx + dy * dy + dz * dz
                m += 1
    return m


@nb.njit(cache=True)
def _nearest(found, found_d2, near, m, best, best_d2, best_id):
    """The k = len(best) of the candidates near[:m] of smallest (distance, index), sorted, into
    `best` (with their distances and indices alongside, so that the insertion compares values
    at hand); returns how many there are (fewer than k when m < k)."""
    k = best.shape[0]
    count = 0
    for r in range(m):
        c = near[r]
        e, j = found_d2[c], found[c]
        if count == k and (e > best_d2[k - 1] or (e == best_d2[k - 1] and j > best_id[k - 1])):
            continue
        p = min(count, k - 1)
        while p > 0 and (best_d2[p - 1] > e or (best_d2[p - 1] == e and best_id[p - 1] > j)):
            best[p], best_d2[p], best_id[p] = best[p - 1], best_d2[p - 1], best_id[p - 1]
            p -= 1
        best[p], best_d2[p], best_id[p] = c, e, j
        count = min(count + 1, k)
    return count


@nb.njit(cache=True)
def _block_reach(point, home, ring, lo, size, dims):
    """How far the point is from the outside of its block of cells (inf where the block covers
    the whole grid); points outside the block are at least this far."""
    reach = np.inf
    for d in range(3):
        if home[d] - ring > 0:
            reach = min(reach, point[d] - (lo[d] + (home[d] - ring) * size))
        if home[d] + ring < dims[d] - 1:
            reach = min(reach, lo[d] + (home[d] + ring + 1) * size - point[d])
    return reach * (1.0 - 1e-9)


@nb.njit(cache=True)
def _normal(offset, best, kn):
    """The least principal axis of a point (offset 0) and its kn nearest neighbours; zero where
    the two least principal variances are too close (no plane)."""
    m0 = m1 = m2 = 0.0
    for s in range(kn):
        m0 += offset[best[s], 0]
        m1 += offset[best[s], 1]
        m2 += offset[best[s], 2]
    m0, m1, m2 = m0 / (kn + 1), m1 / (kn + 1), m2 / (kn + 1)
    c0, c1, c2 = m0 * m0, m0 * m1, m0 * m2  # the point itself, at offset 0
    c3, c4, c5 = m1 * m1, m1 * m2, m2 * m2
    for s in range(kn):
        dx = offset[best[s], 0] - m0
        dy = offset[best[s], 1] - m1
        dz = offset[best[s], 2] - m2
        c0 += dx * dx
        c1 += dx * dy
        c2 += dx * dz
        c3 += dy * dy
        c4 += dy * dz
        c5 += dz * dz
    l1, l2, l3 = _eigenvalues(c0, c1, c2, c3, c4, c5)
    if not l2 - l3 > MIN_NORMAL_GAP * l1:
        return 0.0, 0.0, 0.0
    return _eigenvector(c0, c1, c2, c3, c4, c5, l3)


@nb.njit(cache=True)
def _fan(found, corner, corner_uv, gap_cos, gap_sin, fan, closed):
    """The fan from the sector corners: corners in sector order, the first repeated; triangle s
    is closed when the angle from corner s to the next, counter-clockwise, is in (0, max_gap)."""
    count = 0
    for q in range(SECTORS):
        if corner[q] >= 0:
            fan[count] = found[corner[q]]
            corner_uv[count, 0], corner_uv[count, 1] = corner_uv[q, 0], corner_uv[q, 1]
            count += 1
    if count < 2:
        fan[:count] = -1
        return
    fan[count] = fan[0]
    for s in range(count):
        u1, v1 = corner_uv[s, 0], corner_uv[s, 1]
        u2, v2 = corner_uv[(s + 1) % count, 0], corner_uv[(s + 1) % count, 1]
        cross = u1 * v2 - v1 * u2
        dot = u1 * u2 + v1 * v2
        closed[s] = cross > 0.0 and dot * gap_sin - cross * gap_cos > 0.0


@nb.njit(cache=True)
def _triangles(points, normal, fan, closed, slope, triangles, web):
    """The frame's triangles, each once: from the first of its corners whose fan has it. With
    `triangles` None it only counts them; else it writes them and their web bits."""
    count = 0
    for i in range(fan.shape[0]):
        for s in range(SECTORS):
            if not closed[i, s]:
                continue
            a, b = fan[i, s], fan[i, s + 1]
            if (a < i and _has(fan, closed, a, i, b)) or (b < i and _has(fan, closed, b, i, a)):
                continue
            if triangles is not None:
                triangles[count, 0], triangles[count, 1], triangles[count, 2] = i, a, b
                web[count] = _web_bits(points, normal, i, a, b, slope)
            count += 1
    return count


@nb.njit(cache=True)
def _has(fan, closed, c, a, b):
    """Does the fan of point c have the triangle (c, a, b)?"""
    for s in range(SECTORS):
        if closed[c, s]:
            p, q = fan[c, s], fan[c, s + 1]
            if (p == a and q == b) or (p == b and q == a):
                return True
    return False


@nb.njit(cache=True)
def _web_bits(points, normal, a, b, c, slope):
    """Per corner, 2 bits (see `Fans`); 0 when some corner sees no rise at all, as then the
    triangle is no web from any side."""
    bits_a = _rises(points, normal, a, b, c, slope)
    if bits_a == 0:
        return 0
    bits_b = _rises(points, normal, b, a, c, slope)
    if bits_b == 0:
        return 0
    bits_c = _rises(points, normal, c, a, b, slope)
    if bits_c == 0:
        return 0
    return bits_a | bits_b << 2 | bits_c << 4


@nb.njit(cache=True)
def _rises(points, normal, p, q, r, slope):
    """2 bits: does q or r rise out of p's tangent plane by more than `slope` (the sine of the
    angle) on its + side (bit 0), on its - side (bit 1)? A point without a plane sees none."""
    return _rise(points, normal, p, q, slope) | _rise(points, normal, p, r, slope)


@nb.njit(cache=True)
def _rise(points, normal, p, q, slope):
    e0 = points[q, 0] - points[p, 0]
    e1 = points[q, 1] - points[p, 1]
    e2 = points[q, 2] - points[p, 2]
    lift = normal[p, 0] * e0 + normal[p, 1] * e1 + normal[p, 2] * e2
    if not lift * lift > slope * slope * (e0 * e0 + e1 * e1 + e2 * e2):
        return 0
    return 1 if lift > 0.0 else 2


# ---------------------------------------------------------------------------------------------
# Per view and frame: project, rasterise the triangles into the buffer, then test each point.


@nb.njit(cache=True, parallel=True)
def _render(
    points, normal, radius, triangles, web, pose, k, width, height, grow, tolerance, near
):  # fmt: skip
    views, frames, n = pose.shape[0], points.shape[0], points.shape[1]
    out = np.zeros((views, frames, n), np.bool_)
    for job in nb.prange(views * frames):
        v, t = job // frames, job % frames
        _view(
            points[t], normal[t], radius[t], triangles[t], web[t], pose[v, t], k[v, t], width,
            height, grow, tolerance, near, out[v, t],
        )  # fmt: skip
    return out


@nb.njit(cache=True)
def _view(
    points, normal, radius, triangles, web, pose, k, width, height, grow, tolerance, near, out
):  # fmt: skip
    """One view of one frame: writes its visibility into `out` [N]."""
    n = points.shape[0]
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    # Image coordinates (u, v, 1/z) and depth of every point in front of the camera, and which
    # side of its tangent plane the camera is on (0: the + side, 1: the - side, -1: behind).
    image = np.empty((n, 3))
    depth = np.empty(n)
    side = np.full(n, -1, np.int8)
    radius_sum = depth_sum = 0.0
    for i in range(n):
        d0 = points[i, 0] - pose[0, 3]
        d1 = points[i, 1] - pose[1, 3]
        d2 = points[i, 2] - pose[2, 3]
        z = pose[0, 2] * d0 + pose[1, 2] * d1 + pose[2, 2] * d2
        if z <= near:
            continue
        x = pose[0, 0] * d0 + pose[1, 0] * d1 + pose[2, 0] * d2
        y = pose[0, 1] * d0 + pose[1, 1] * d1 + pose[2, 1] * d2
        image[i, 0] = fx * x / z + cx
        image[i, 1] = fy * y / z + cy
        image[i, 2] = 1.0 / z
        depth[i] = z
        side[i] = normal[i, 0] * d0 + normal[i, 1] * d1 + normal[i, 2] * d2 > 0.0
        if radius[i] > 0.0:
            radius_sum += radius[i]
            depth_sum += z
    # The points inside the image, sorted into buckets of 2**level pixels (about 1/BUCKET_RADII
    # of the mean radius at the mean depth); their image positions in bucket order.
    level = 0
    if radius_sum > 0.0:
        pixels = fx * radius_sum / depth_sum / BUCKET_RADII
        level = min(max(int(math.floor(math.log2(pixels))), 0), MAX_LEVEL)
    rows, cols = ((height - 1) >> level) + 1, ((width - 1) >> level) + 1
    bucket = np.full(n, -1, np.int64)
    start = np.zeros(rows * cols + 1, np.int64)
    for i in range(n):
        if side[i] >= 0:
            u = math.floor(image[i, 0] + 0.5)
            v = math.floor(image[i, 1] + 0.5)
            if 0 <= u < width and 0 <= v < height:
                bucket[i] = (v >> level) * cols + (u >> level)
                start[bucket[i] + 1] += 1
    for c in range(rows * cols):
        start[c + 1] += start[c]
    members = np.empty(start[-1], np.int64)
    fill = start[:-1].copy()
    for i in range(n):
        if bucket[i] >= 0:
            members[fill[bucket[i]]] = i
            fill[bucket[i]] += 1
    spot = np.empty((start[-1], 2))
    for s in range(start[-1]):
        spot[s, 0], spot[s, 1] = image[members[s], 0], image[members[s], 1]
    # The nearest surface over each of them, as inverse depth (0: none).
    cover = np.zeros(start[-1])
    for t in range(triangles.shape[0]):
        a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        if a < 0:
            break
        if side[a] < 0 or side[b] < 0 or side[c] < 0:
            continue
        bits = web[t]
        if bits != 0 and (bits >> side[a]) & (bits >> (2 + side[b])) & (bits >> (4 + side[c])) & 1:
            continue
        _cover(cover, spot, start, image, a, b, c, grow, level, rows, cols)
    for s in range(start[-1]):
        i = members[s]
        w = cover[s]
        out[i] = w == 0.0 or depth[i] <= 1.0 / w + tolerance * radius[i]


@nb.njit(cache=True, inline="always")
def _cover(cover, spot, start, image, a, b, c, grow, level, rows, cols):
    """Raise `cover` (inverse depth) at every bucketed point that triangle (a, b, c), grown by
    `grow`, covers in the image to the triangle's inverse depth there (affine in the image for
    a planar triangle). The barycentric test alone decides; the buckets only narrow the search
    (the pixels of the grown triangle's box, with a margin far above rounding errors)."""
    ax, ay, aw = image[a, 0], image[a, 1], image[a, 2]
    bx, by, bw = image[b, 0], image[b, 1], image[b, 2]
    qx, qy, qw = image[c, 0], image[c, 1], image[c, 2]
    area = (bx - ax) * (qy - ay) - (by - ay) * (qx - ax)
    if area == 0.0:
        return
    inv = 1.0 / area
    scale = 1.0 + 3.0 * grow
    mx, my = (ax + bx + qx) / 3.0, (ay + by + qy) / 3.0
    x0 = mx + scale * (min(ax, bx, qx) - mx)
    x1 = mx + scale * (max(ax, bx, qx) - mx)
    y0 = my + scale * (min(ay, by, qy) - my)
    y1 = my + scale * (max(ay, by, qy) - my)
    r0 = max(int(math.floor(y0 + 0.5 - 1e-6)), 0) >> level
    r1 = min(int(math.floor(y1 + 0.5 + 1e-6)) >> level, rows - 1)
    c0 = max(int(math.floor(x0 + 0.5 - 1e-6)), 0) >> level
    c1 = min(int(math.floor(x1 + 0.5 + 1e-6)) >> level, cols - 1)
    if r0 > r1 or c0 > c1:  # off the image
        return
    for r in range(r0, r1 + 1):
        for s in range(start[r * cols + c0], start[r * cols + c1 + 1]):
            u, v = spot[s, 0], spot[s, 1]
            ea = ((qx - bx) * (v - by) - (qy - by) * (u - bx)) * inv
            eb = ((ax - qx) * (v - qy) - (ay - qy) * (u - qx)) * inv
            ec = 1.0 - ea - eb
            w = ea * aw + eb * bw + ec * qw
            inside = (ea >= -grow) & (eb >= -grow) & (ec >= -grow)
            cover[s] = max(cover[s], w if inside else 0.0)

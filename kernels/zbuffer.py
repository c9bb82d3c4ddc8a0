"""Which points of a cloud a camera sees: a triangle-fan z-buffer in numba (paper §3.1).

A one-pixel z-buffer over points is not enough: a sampled surface has gaps between its points,
and the surfaces behind it show through them. Discs splatted around the points close the gaps
but also spill past every border, hiding the background next to it. So the points are joined
into the surfaces they sample instead (`build_fans`, once per frame):

- each point's k nearest neighbours, sorted by angle in its tangent plane (the normal is the
  least principal axis of it and its nearest neighbours), form a fan of triangles around it;
  a gap wider than `max_gap_deg` between two neighbours is a border of the surface and stays
  open. The triangles join sampled points only, so they stay inside the convex hull of the
  samples: they never spill past the silhouette of a convex object, and a triangle that cuts
  through an object (across an edge or the rim of a sphere) lies inside it, behind its visible
  surface.
- where two surfaces meet in a concave junction (an object standing on the floor), a triangle
  joining them would be a web in front of both. Per view, a triangle is dropped when each of
  its corners sees another corner rise towards the camera out of its own tangent plane by more
  than `web_slope` (the sine of that angle).

Each view rasterises the triangles into a buffer of the nearest inverse depth and which
triangle it is. The buffer's resolution follows the sampling: the image is divided by the
power of two that makes a typical k-NN radius `buffer_pixels` buffer pixels long (occlusion
cannot be resolved finer than the points sample the surfaces, and the work per view stays
about the same whatever N). A point is visible when the nearest triangle at its buffer pixel,
evaluated at the point's exact image position, is not nearer than the point by more than
`depth_tolerance` k-NN radii (so a surface seen at a grazing angle does not hide its own
points), or when no triangle covers that pixel.

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

# A neighbourhood has a tangent plane when its two least principal variances differ by this
# fraction of the largest; below it (a line of points, an isotropic blob) it has no fan.
MIN_NORMAL_GAP = 0.05
# The coarsest buffer is the image divided by 2**MAX_LEVEL.
MAX_LEVEL = 4


@dataclass(frozen=True)
class OcclusionOptions:
    """Defaults tuned on ray-cast mesh scenes (benchmarks/bench_zbuffer.py: two scenes, two
    cameras each, 2048 to 32768 points per frame at 320x240)."""

    neighbors: int = 12  # the fan of each point joins its k nearest neighbours
    normal_neighbors: int = 8  # the nearest of them that fit its tangent plane
    max_gap_deg: float = 170.0  # a wider angular gap between neighbours is a border
    web_slope: float = 0.35  # sine of the rise that marks a triangle as a concave web
    depth_tolerance: float = 0.1  # slack behind the nearest triangle, in k-NN radii
    buffer_pixels: float = 4.0  # typical k-NN radius in buffer pixels (sets the buffer level)
    near: float = 1e-3  # points at depth <= near are behind the camera

    def __post_init__(self) -> None:
        checks = {
            "neighbors": self.neighbors >= 2,
            "normal_neighbors": 2 <= self.normal_neighbors <= self.neighbors,
            "max_gap_deg": 0 < self.max_gap_deg <= 360,
            "web_slope": self.web_slope >= 0,
            "depth_tolerance": self.depth_tolerance >= 0,
            "buffer_pixels": self.buffer_pixels > 0,
            "near": self.near > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                f"OcclusionOptions: invalid {', '.join(bad)} in {self}; need neighbors >= 2, "
                "2 <= normal_neighbors <= neighbors, 0 < max_gap_deg <= 360, web_slope >= 0, "
                "depth_tolerance >= 0, buffer_pixels > 0, near > 0"
            )


class Fans(NamedTuple):
    """The triangle fan of every point of every frame (view-independent).

    normal [F,N,3]     unit normal, 0 where the neighbourhood has no plane (then no fan)
    radius [F,N]       distance to the k-th nearest neighbour: the local spacing
    fan    [F,N,k+1]   neighbour indices in angular order, the first repeated after the last,
                       -1 after that; triangle s of point i is (i, fan[i, s], fan[i, s + 1])
    closed [F,N,k]     whether triangle s exists (its angle is below max_gap_deg)
    """

    normal: np.ndarray
    radius: np.ndarray
    fan: np.ndarray
    closed: np.ndarray


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
    points = _as_points(points)
    k = min(options.neighbors, points.shape[1] - 1)
    return Fans(
        *_build(points, k, min(options.normal_neighbors, k), math.radians(options.max_gap_deg))
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
    points = _as_points(points)
    pose, k = _as_cameras(world_from_camera, intrinsics, points.shape[0], image_size)
    return _render(
        points,
        np.ascontiguousarray(fans.normal, dtype=np.float64),
        np.ascontiguousarray(fans.radius, dtype=np.float64),
        np.ascontiguousarray(fans.fan, dtype=np.int32),
        np.ascontiguousarray(fans.closed, dtype=np.bool_),
        pose,
        k,
        int(image_size[0]),
        int(image_size[1]),
        float(options.web_slope),
        float(options.depth_tolerance),
        float(options.buffer_pixels),
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


def _as_points(points: np.ndarray) -> np.ndarray:
    points = np.ascontiguousarray(points, dtype=np.float64)
    if points.ndim != 3 or points.shape[-1] != 3 or points.shape[1] == 0:
        raise ValueError(f"points must be [F,N,3] with N >= 1, got {list(points.shape)}")
    if not np.isfinite(points).all():
        raise ValueError("points have NaN or infinite coordinates; drop or repair those frames")
    return points


def _as_cameras(
    world_from_camera: np.ndarray, intrinsics: np.ndarray, frames: int, image_size
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
# Per frame: k nearest neighbours on a uniform grid, the tangent plane, the fan.


@nb.njit(cache=True)
def _grid(points, size):
    """Counting sort of the points into cubic cells of `size` (grown until there are at most
    ~8 cells per point): (lower corner, size, dims, cell start offsets, point order)."""
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
        if dims[0] * dims[1] * dims[2] <= 8 * n + 64:
            break
        size *= 1.5
    cell = np.empty(n, np.int64)
    count = np.zeros(dims[0] * dims[1] * dims[2] + 1, np.int64)
    for i in range(n):
        c = 0
        for d in range(3):
            c = c * dims[d] + min(int((points[i, d] - lo[d]) / size), dims[d] - 1)
        cell[i] = c
        count[c + 1] += 1
    start = np.cumsum(count)
    order = np.empty(n, np.int64)
    fill = start[:-1].copy()
    for i in range(n):
        order[fill[cell[i]]] = i
        fill[cell[i]] += 1
    return lo, size, dims, start, order


@nb.njit(cache=True)
def _cell_size(points, k):
    """A grid cell of about 1.5 k-NN radii, so that the ring of cells around a point usually
    holds its k nearest neighbours. The area the points cover, from a coarse grid's occupied
    cells, gives their spacing."""
    n = points.shape[0]
    span = 0.0
    for d in range(3):
        span = max(span, points[:, d].max() - points[:, d].min())
    _, size, _, start, _ = _grid(points, span * 3.0 / math.sqrt(n))
    occupied = 0
    for c in range(start.shape[0] - 1):
        occupied += start[c + 1] > start[c]
    return 1.5 * size * math.sqrt(occupied * k / (math.pi * n))


@nb.njit(cache=True)
def _knn(points, k):
    """Indices [N,k] and squared distances [N,k] of each point's k nearest other points,
    ordered by (distance, index)."""
    n = points.shape[0]
    lo, size, dims, start, order = _grid(points, _cell_size(points, k))
    idx = np.empty((n, k), np.int64)
    dist2 = np.empty((n, k))
    for i in range(n):
        h0 = min(int((points[i, 0] - lo[0]) / size), dims[0] - 1)
        h1 = min(int((points[i, 1] - lo[1]) / size), dims[1] - 1)
        h2 = min(int((points[i, 2] - lo[2]) / size), dims[2] - 1)
        found = 0
        ring = 0
        while True:
            # Visit the cells at Chebyshev distance `ring` from the home cell.
            for a in range(max(h0 - ring, 0), min(h0 + ring, dims[0] - 1) + 1):
                for b in range(max(h1 - ring, 0), min(h1 + ring, dims[1] - 1) + 1):
                    for c in range(max(h2 - ring, 0), min(h2 + ring, dims[2] - 1) + 1):
                        if max(abs(a - h0), abs(b - h1), abs(c - h2)) != ring:
                            continue
                        cid = (a * dims[1] + b) * dims[2] + c
                        for s in range(start[cid], start[cid + 1]):
                            j = order[s]
                            if j == i:
                                continue
                            dx = points[j, 0] - points[i, 0]
                            dy = points[j, 1] - points[i, 1]
                            dz = points[j, 2] - points[i, 2]
                            e = dx * dx + dy * dy + dz * dz
                            last = dist2[i, k - 1]
                            if found == k and (e > last or (e == last and j > idx[i, k - 1])):
                                continue
                            # Insertion into the sorted list of the best so far.
                            p = min(found, k - 1)
                            while p > 0 and (
                                dist2[i, p - 1] > e or (dist2[i, p - 1] == e and idx[i, p - 1] > j)
                            ):
                                dist2[i, p] = dist2[i, p - 1]
                                idx[i, p] = idx[i, p - 1]
                                p -= 1
                            dist2[i, p] = e
                            idx[i, p] = j
                            found = min(found + 1, k)
            # Points outside the block of cells searched so far are at least `reach` away.
            reach = np.inf
            for d, h in ((0, h0), (1, h1), (2, h2)):
                if h - ring > 0:
                    reach = min(reach, points[i, d] - (lo[d] + (h - ring) * size))
                if h + ring < dims[d] - 1:
                    reach = min(reach, lo[d] + (h + ring + 1) * size - points[i, d])
            reach *= 1.0 - 1e-9
            if found == k and dist2[i, k - 1] < reach * reach or reach == np.inf:
                break
            ring += 1
    return idx, dist2


@nb.njit(cache=True)
def _eigenvalues(a00, a01, a02, a11, a12, a22):
    """Eigenvalues of a symmetric 3x3 matrix, largest first (closed form, Smith 1961)."""
    q = (a00 + a11 + a22) / 3.0
    b00 = a00 - q
    b11 = a11 - q
    b22 = a22 - q
    p2 = b00 * b00 + b11 * b11 + b22 * b22 + 2.0 * (a01 * a01 + a02 * a02 + a12 * a12)
    if p2 <= 0.0:
        return q, q, q
    p = math.sqrt(p2 / 6.0)
    det = (
        b00 * (b11 * b22 - a12 * a12)
        - a01 * (a01 * b22 - a12 * a02)
        + a02 * (a01 * a12 - b11 * a02)
    )
    r = min(max(det / (2.0 * p * p * p), -1.0), 1.0)
    phi = math.acos(r) / 3.0
    l1 = q + 2.0 * p * math.cos(phi)
    l3 = q + 2.0 * p * math.cos(phi + 2.0 * math.pi / 3.0)
    return l1, 3.0 * q - l1 - l3, l3


@nb.njit(cache=True)
def _eigenvector(cov, l3):
    """Unit eigenvector of the symmetric `cov` (6 entries: xx xy xz yy yz zz) for its eigenvalue
    l3: the largest cross product of two rows of cov - l3 I; zero if there is none."""
    r0 = (cov[0] - l3, cov[1], cov[2])
    r1 = (cov[1], cov[3] - l3, cov[4])
    r2 = (cov[2], cov[4], cov[5] - l3)
    bx = by = bz = best = 0.0
    for a, b in ((r0, r1), (r0, r2), (r1, r2)):
        x = a[1] * b[2] - a[2] * b[1]
        y = a[2] * b[0] - a[0] * b[2]
        z = a[0] * b[1] - a[1] * b[0]
        n2 = x * x + y * y + z * z
        if n2 > best:
            bx, by, bz, best = x, y, z, n2
    if best > 0.0:
        s = 1.0 / math.sqrt(best)
        bx, by, bz = bx * s, by * s, bz * s
    return bx, by, bz


@nb.njit(cache=True, parallel=True)
def _build(points, k, kn, max_gap):
    f, n, _ = points.shape
    normal = np.zeros((f, n, 3))
    radius = np.zeros((f, n))
    fan = np.full((f, n, k + 1), -1, np.int32)
    closed = np.zeros((f, n, k), np.bool_)
    if k >= 2:
        for t in nb.prange(f):
            _build_frame(points[t], k, kn, max_gap, normal[t], radius[t], fan[t], closed[t])
    return normal, radius, fan, closed


@nb.njit(cache=True)
def _build_frame(points, k, kn, max_gap, normal, radius, fan, closed):
    idx, dist2 = _knn(points, k)
    cov = np.empty(6)
    angle = np.empty(k)
    for i in range(points.shape[0]):
        radius[i] = math.sqrt(dist2[i, k - 1])
        # The tangent plane of the point and its kn nearest neighbours.
        m0, m1, m2 = points[i, 0], points[i, 1], points[i, 2]
        for s in range(kn):
            m0 += points[idx[i, s], 0]
            m1 += points[idx[i, s], 1]
            m2 += points[idx[i, s], 2]
        m0, m1, m2 = m0 / (kn + 1), m1 / (kn + 1), m2 / (kn + 1)
        cov[:] = 0.0
        for s in range(-1, kn):
            j = i if s < 0 else idx[i, s]
            dx, dy, dz = points[j, 0] - m0, points[j, 1] - m1, points[j, 2] - m2
            cov[0] += dx * dx
            cov[1] += dx * dy
            cov[2] += dx * dz
            cov[3] += dy * dy
            cov[4] += dy * dz
            cov[5] += dz * dz
        l1, l2, l3 = _eigenvalues(cov[0], cov[1], cov[2], cov[3], cov[4], cov[5])
        if not l2 - l3 > MIN_NORMAL_GAP * l1:
            continue
        n0, n1, n2 = _eigenvector(cov, l3)
        normal[i, 0], normal[i, 1], normal[i, 2] = n0, n1, n2
        # The neighbours sorted by angle around the normal (coincident points have none).
        a0, a1, a2 = _perpendicular(n0, n1, n2)
        b0, b1, b2 = n1 * a2 - n2 * a1, n2 * a0 - n0 * a2, n0 * a1 - n1 * a0
        count = 0
        for s in range(k):
            if dist2[i, s] == 0.0:
                continue
            j = idx[i, s]
            e0, e1, e2 = (
                points[j, 0] - points[i, 0],
                points[j, 1] - points[i, 1],
                points[j, 2] - points[i, 2],
            )
            a = math.atan2(b0 * e0 + b1 * e1 + b2 * e2, a0 * e0 + a1 * e1 + a2 * e2)
            p = count
            while p > 0 and angle[p - 1] > a:
                angle[p] = angle[p - 1]
                fan[i, p] = fan[i, p - 1]
                p -= 1
            angle[p] = a
            fan[i, p] = j
            count += 1
        if count < 2:
            fan[i, :count] = -1
            continue
        fan[i, count] = fan[i, 0]
        for s in range(count):
            gap = (angle[s + 1] if s + 1 < count else angle[0] + 2.0 * math.pi) - angle[s]
            closed[i, s] = gap < max_gap


@nb.njit(cache=True)
def _perpendicular(n0, n1, n2):
    """A unit vector orthogonal to the unit vector n."""
    if abs(n0) < 0.9:
        s = math.sqrt(n1 * n1 + n2 * n2)
        return 0.0, n2 / s, -n1 / s
    s = math.sqrt(n0 * n0 + n2 * n2)
    return -n2 / s, 0.0, n0 / s


# ---------------------------------------------------------------------------------------------
# Per view and frame: rasterise the triangles into the buffer, then test each point.


@nb.njit(cache=True, parallel=True)
def _render(
    points, normal, radius, fan, closed, pose, k, width, height, slope, tolerance,
    buffer_pixels, near,
):  # fmt: skip
    views, frames, n = pose.shape[0], points.shape[0], points.shape[1]
    out = np.zeros((views, frames, n), np.bool_)
    for job in nb.prange(views * frames):
        v, t = job // frames, job % frames
        _view(
            points[t], normal[t], radius[t], fan[t], closed[t], pose[v, t], k[v, t], width,
            height, slope, tolerance, buffer_pixels, near, out[v, t],
        )  # fmt: skip
    return out


@nb.njit(cache=True)
def _view(
    points, normal, radius, fan, closed, pose, k, width, height, slope, tolerance,
    buffer_pixels, near, out,
):  # fmt: skip
    """One view of one frame: writes its visibility into `out` [N]."""
    n, width_fan = points.shape[0], closed.shape[1]
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    # Image coordinates (u, v, 1/z) of every point in front of the camera, and which side of
    # its tangent plane the camera is on.
    image = np.zeros((n, 3))
    ahead = np.zeros(n, np.bool_)
    facing = np.zeros(n)
    log_radius = 0.0
    count = 0
    for i in range(n):
        d0 = points[i, 0] - pose[0, 3]
        d1 = points[i, 1] - pose[1, 3]
        d2 = points[i, 2] - pose[2, 3]
        x = pose[0, 0] * d0 + pose[1, 0] * d1 + pose[2, 0] * d2
        y = pose[0, 1] * d0 + pose[1, 1] * d1 + pose[2, 1] * d2
        z = pose[0, 2] * d0 + pose[1, 2] * d1 + pose[2, 2] * d2
        facing[i] = -(normal[i, 0] * d0 + normal[i, 1] * d1 + normal[i, 2] * d2)
        if z <= near:
            continue
        ahead[i] = True
        image[i, 0] = fx * x / z + cx
        image[i, 1] = fy * y / z + cy
        image[i, 2] = 1.0 / z
        if radius[i] > 0.0:
            log_radius += math.log2(radius[i] * fx / z)
            count += 1
    # The buffer: the image divided by 2**level, so a typical k-NN radius is buffer_pixels long.
    level = 0
    if count > 0:
        level = int(math.floor(log_radius / count - math.log2(buffer_pixels)))
        level = min(max(level, 0), MAX_LEVEL)
    depth = np.zeros((((height - 1) >> level) + 1, ((width - 1) >> level) + 1))
    winner = np.full(depth.shape, -1, np.int64)
    for i in range(n):
        if not ahead[i]:
            continue
        for s in range(width_fan):
            a, b = fan[i, s], fan[i, s + 1]
            if not closed[i, s] or not (ahead[a] and ahead[b]):
                continue
            if not _web(points, normal, facing, i, a, b, slope):
                _triangle(depth, winner, i * width_fan + s, image, i, a, b, level)
    for i in range(n):
        if not ahead[i]:
            continue
        u = math.floor(image[i, 0] + 0.5)
        v = math.floor(image[i, 1] + 0.5)
        if not (0 <= u < width and 0 <= v < height):
            continue
        j = winner[v >> level, u >> level]
        if j < 0:
            out[i] = True
            continue
        o, s = j // width_fan, j % width_fan
        w = _inverse_depth_at(image, o, fan[o, s], fan[o, s + 1], image[i, 0], image[i, 1])
        out[i] = w <= 0.0 or 1.0 / image[i, 2] <= 1.0 / w + tolerance * radius[i]


@nb.njit(cache=True)
def _web(points, normal, facing, a, b, c, slope):
    """Is triangle (a, b, c) a concave web: does each corner see another corner rise towards
    the camera out of its own tangent plane?"""
    return (
        (_rise(points, normal, facing, a, b, slope) or _rise(points, normal, facing, a, c, slope))
        and (
            _rise(points, normal, facing, b, a, slope) or _rise(points, normal, facing, b, c, slope)
        )
        and (
            _rise(points, normal, facing, c, a, slope) or _rise(points, normal, facing, c, b, slope)
        )
    )


@nb.njit(cache=True)
def _rise(points, normal, facing, p, q, slope):
    """Does q rise towards the camera out of p's tangent plane by more than `slope` (the sine
    of the angle)? A point without a plane sees no rise."""
    e0 = points[q, 0] - points[p, 0]
    e1 = points[q, 1] - points[p, 1]
    e2 = points[q, 2] - points[p, 2]
    lift = normal[p, 0] * e0 + normal[p, 1] * e1 + normal[p, 2] * e2
    if facing[p] < 0.0:
        lift = -lift
    return lift > 0.0 and lift * lift > slope * slope * (e0 * e0 + e1 * e1 + e2 * e2)


@nb.njit(cache=True)
def _triangle(depth, winner, index, image, a, b, c, level):
    """Rasterise one triangle into `depth` (max of inverse depth, which is affine in the image
    for a planar triangle) and `winner`, at the buffer's level: buffer pixel (i, j) is centred
    on image coordinates ((i + 0.5) 2**level - 0.5, (j + 0.5) 2**level - 0.5)."""
    scale = 1.0 / (1 << level)
    ax, ay = (image[a, 0] + 0.5) * scale - 0.5, (image[a, 1] + 0.5) * scale - 0.5
    bx, by = (image[b, 0] + 0.5) * scale - 0.5, (image[b, 1] + 0.5) * scale - 0.5
    qx, qy = (image[c, 0] + 0.5) * scale - 0.5, (image[c, 1] + 0.5) * scale - 0.5
    area = (bx - ax) * (qy - ay) - (by - ay) * (qx - ax)
    if area == 0.0:
        return
    inv = 1.0 / area
    aw, bw, qw = image[a, 2], image[b, 2], image[c, 2]
    height, width = depth.shape
    for v in range(
        max(math.ceil(min(ay, by, qy)), 0), min(math.floor(max(ay, by, qy)), height - 1) + 1
    ):
        for u in range(
            max(math.ceil(min(ax, bx, qx)), 0), min(math.floor(max(ax, bx, qx)), width - 1) + 1
        ):
            ea = ((qx - bx) * (v - by) - (qy - by) * (u - bx)) * inv
            eb = ((ax - qx) * (v - qy) - (ay - qy) * (u - qx)) * inv
            ec = 1.0 - ea - eb
            if ea >= 0.0 and eb >= 0.0 and ec >= 0.0:
                w = ea * aw + eb * bw + ec * qw
                if w > depth[v, u]:
                    depth[v, u] = w
                    winner[v, u] = index


@nb.njit(cache=True)
def _inverse_depth_at(image, a, b, c, u, v):
    """The inverse depth of triangle (a, b, c)'s plane at image position (u, v)."""
    ax, ay, bx, by, qx, qy = (
        image[a, 0],
        image[a, 1],
        image[b, 0],
        image[b, 1],
        image[c, 0],
        image[c, 1],
    )
    area = (bx - ax) * (qy - ay) - (by - ay) * (qx - ax)
    if area == 0.0:
        return 0.0
    ea = ((qx - bx) * (v - by) - (qy - by) * (u - bx)) / area
    eb = ((ax - qx) * (v - qy) - (ay - qy) * (u - qx)) / area
    return ea * image[a, 2] + eb * image[b, 2] + (1.0 - ea - eb) * image[c, 2]

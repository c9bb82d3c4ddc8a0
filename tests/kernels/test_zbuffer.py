"""The triangle-fan occlusion test against a plain numpy reference of the same algorithm, a scene
with a known answer, and its contract (image bounds, packing, bad input)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from c2p4d.kernels.zbuffer import (
    MIN_NORMAL_GAP,
    OcclusionOptions,
    build_fans,
    occlusion,
    pack_mask,
    unpack_mask,
    visible_mask,
)

SIZE = (64, 48)
K = np.array([[50.0, 0.0, 31.5], [0.0, 50.0, 23.5], [0.0, 0.0, 1.0]])


# ---------------------------------------------------------------------------------------------
# The reference: the same algorithm as plainly as it can be written (brute force everywhere).


def perpendicular(n):
    if abs(n[0]) < 0.9:
        s = math.sqrt(n[1] * n[1] + n[2] * n[2])
        return np.array([0.0, n[2] / s, -n[1] / s])
    s = math.sqrt(n[0] * n[0] + n[2] * n[2])
    return np.array([-n[2] / s, 0.0, n[0] / s])


def sector(u, v):
    """60-degree sector of direction (u, v), counter-clockwise from +u."""
    lower = v < 0.0 or (v == 0.0 and u < 0.0)
    if lower:
        u, v = -u, -v
    if math.sqrt(3.0) * u + v <= 0.0:
        return 3 * lower + 2
    return 3 * lower + (0 if v - math.sqrt(3.0) * u < 0.0 else 1)


def squared_distances(points):
    e = points[None] - points[:, None]  # e[i, j] = p_j - p_i, as the kernel's offsets
    return e, e[..., 0] * e[..., 0] + e[..., 1] * e[..., 1] + e[..., 2] * e[..., 2]


def reference_fans(points, options, kernel_normal):
    """One frame: radius [N], normal [N,3] (eigh; 0 without a plane) and the set of triangles
    {frozenset((i, a, b))}. The fans are built around the kernel's normals, so that a direction
    right on a sector border falls the same way in both."""
    n = len(points)
    k = min(options.neighbors, n - 1)
    kn = min(options.normal_neighbors, k)
    radius, normal, triangles = np.zeros(n), np.zeros((n, 3)), set()
    if k < 1:
        return radius, normal, triangles
    e, d2 = squared_distances(points)
    steep = math.sin(math.radians(options.max_elevation_deg)) ** 2
    gap = math.radians(options.max_gap_deg)
    for i in range(n):
        order = [j for j in np.lexsort((np.arange(n), d2[i])) if j != i]
        radius[i] = math.sqrt(d2[i, order[k - 1]])
        eigenvalues, eigenvectors = np.linalg.eigh(np.cov(points[[i, *order[:kn]]].T, bias=True))
        if eigenvalues[1] - eigenvalues[0] > MIN_NORMAL_GAP * eigenvalues[2]:
            normal[i] = eigenvectors[:, 0]
        nk = kernel_normal[i]
        if not nk.any():
            continue
        a = perpendicular(nk)
        b = np.array(
            [nk[1] * a[2] - nk[2] * a[1], nk[2] * a[0] - nk[0] * a[2], nk[0] * a[1] - nk[1] * a[0]]
        )
        limit = options.reach * radius[i]
        corner = {}  # sector -> (d2, j, u, v)
        for j in range(n):
            if j == i or d2[i, j] == 0.0 or d2[i, j] > limit * limit:
                continue
            x = e[i, j]
            lift = nk[0] * x[0] + nk[1] * x[1] + nk[2] * x[2]
            if lift * lift > steep * d2[i, j]:
                continue
            u = a[0] * x[0] + a[1] * x[1] + a[2] * x[2]
            v = b[0] * x[0] + b[1] * x[1] + b[2] * x[2]
            if u == 0.0 and v == 0.0:
                continue
            q = sector(u, v)
            if q not in corner or (d2[i, j], j) < corner[q][:2]:
                corner[q] = (d2[i, j], j, u, v)
        fan = [corner[q] for q in sorted(corner)]
        if len(fan) < 2:
            continue
        for s in range(len(fan)):
            (_, j1, u1, v1), (_, j2, u2, v2) = fan[s], fan[(s + 1) % len(fan)]
            cross, dot = u1 * v2 - v1 * u2, u1 * u2 + v1 * v2
            if cross > 0.0 and dot * math.sin(gap) - cross * math.cos(gap) > 0.0:
                triangles.add(frozenset((i, j1, j2)))
    return radius, normal, triangles


def reference_web_bits(points, normal, corners, slope):
    """Per corner 2 bits (+ side, - side); 0 when a corner sees no rise at all."""
    bits = []
    for c in range(3):
        p, others = corners[c], [corners[(c + 1) % 3], corners[(c + 2) % 3]]
        corner_bits = 0
        for q in others:
            x = points[q] - points[p]
            lift = normal[p, 0] * x[0] + normal[p, 1] * x[1] + normal[p, 2] * x[2]
            if lift * lift > slope * slope * (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]):
                corner_bits |= 1 if lift > 0.0 else 2
        bits.append(corner_bits)
    return 0 if 0 in bits else bits[0] | bits[1] << 2 | bits[2] << 4


def kernel_triangles(fans, frame):
    triangles = fans.triangles[frame]
    return triangles[triangles[:, 0] >= 0]


def reference_view(points, fans, frame, pose, k, size, options):
    """One view of one frame, given the kernel's fans: every point against every triangle."""
    normal, radius = fans.normal[frame], fans.radius[frame]
    triangles = kernel_triangles(fans, frame)
    web = fans.web[frame][: len(triangles)]
    width, height = size
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    d = points - pose[:3, 3]
    x, y, z = (pose[0, c] * d[:, 0] + pose[1, c] * d[:, 1] + pose[2, c] * d[:, 2] for c in range(3))
    side = (normal[:, 0] * d[:, 0] + normal[:, 1] * d[:, 1] + normal[:, 2] * d[:, 2] > 0.0) * 1
    ahead = z > options.near
    with np.errstate(divide="ignore", invalid="ignore"):
        u, v, w = fx * x / z + cx, fy * y / z + cy, 1.0 / z
        inside = ahead & (np.floor(u + 0.5) >= 0) & (np.floor(u + 0.5) < width)
        inside &= (np.floor(v + 0.5) >= 0) & (np.floor(v + 0.5) < height)
    cover = np.zeros(len(points))
    grow = options.grow
    for (a, b, c), bits in zip(triangles, web, strict=True):
        if not (ahead[a] and ahead[b] and ahead[c]):
            continue
        if bits and (bits >> side[a]) & (bits >> (2 + side[b])) & (bits >> (4 + side[c])) & 1:
            continue
        (ax, bx, qx), (ay, by, qy) = u[[a, b, c]], v[[a, b, c]]
        area = (bx - ax) * (qy - ay) - (by - ay) * (qx - ax)
        if area == 0.0:
            continue
        inv = 1.0 / area
        ea = ((qx - bx) * (v - by) - (qy - by) * (u - bx)) * inv
        eb = ((ax - qx) * (v - qy) - (ay - qy) * (u - qx)) * inv
        ec = 1.0 - ea - eb
        wt = ea * w[a] + eb * w[b] + ec * w[c]
        covers = inside & (ea >= -grow) & (eb >= -grow) & (ec >= -grow)
        cover = np.where(covers, np.maximum(cover, wt), cover)
    with np.errstate(divide="ignore"):
        return inside & ((cover == 0.0) | (z <= 1.0 / cover + options.depth_tolerance * radius))


# ---------------------------------------------------------------------------------------------
# Random scenes: a few noisy patches (planes and a bump) in front of a camera, plus clutter.


def look_at(eye, target):
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, [0.0, -1.0, 0.0])
    if np.linalg.norm(right) < 1e-6:
        right = np.cross(forward, [1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = (
        right,
        np.cross(forward, right),
        forward,
        eye,
    )
    return pose


@st.composite
def scenes(draw, ties: bool = False):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(3, 160))
    kind = rng.integers(0, 3, n)
    uv = rng.uniform(-1, 1, (n, 2))
    points = np.stack(
        [uv[:, 0], uv[:, 1], 0.3 * kind + 0.2 * np.exp(-4 * (uv**2).sum(1)) * (kind == 2)], 1
    )
    points += rng.normal(scale=draw(st.sampled_from([0.0, 0.01])), size=points.shape)
    points = points @ np.linalg.qr(rng.normal(size=(3, 3)))[0]
    if ties:
        points = np.round(points * 4) / 4  # exact depth ties and coincident points
        points[: n // 4] = points[n // 4 : 2 * (n // 4)]
    eye = rng.normal(size=3) * draw(st.sampled_from([0.5, 3.0]))  # 0.5: often inside, behind
    pose = look_at(eye, points.mean(0) + rng.normal(scale=0.3, size=3))
    return points, pose


OPTIONS = [
    OcclusionOptions(),
    OcclusionOptions(
        neighbors=5, normal_neighbors=4, reach=2.0, max_elevation_deg=90, max_gap_deg=120, grow=0
    ),
]


@given(st.one_of(scenes(), scenes(ties=True)), st.sampled_from(OPTIONS))
def test_fans_match_the_reference(scene, options):
    points, _ = scene
    fans = build_fans(points[None], options)
    radius, normal, triangles = reference_fans(points, options, fans.normal[0])
    np.testing.assert_allclose(fans.radius[0], radius, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        np.abs((fans.normal[0] * normal).sum(1)), np.abs(normal).sum(1) > 0, atol=1e-6
    )
    got = kernel_triangles(fans, 0)
    assert len({frozenset(t) for t in got.tolist()}) == len(got)  # each triangle once
    assert {frozenset(t) for t in got.tolist()} == triangles
    web = [reference_web_bits(points, fans.normal[0], t, options.web_slope) for t in got]
    np.testing.assert_array_equal(fans.web[0][: len(got)], web)


@given(st.one_of(scenes(), scenes(ties=True)), st.sampled_from(OPTIONS))
def test_occlusion_matches_the_reference(scene, options):
    points, pose = scene
    fans = build_fans(points[None], options)
    got = occlusion(points[None], fans, pose[None, None], K[None, None], SIZE, options)[0, 0]
    np.testing.assert_array_equal(got, reference_view(points, fans, 0, pose, K, SIZE, options))


@given(scenes(ties=True))
def test_visible_points_are_in_front_of_the_camera_and_inside_the_image(scene):
    points, pose = scene
    visible = visible_mask(points[None], pose[None, None], K[None, None], SIZE)[0, 0]
    cam = (points - pose[:3, 3]) @ pose[:3, :3]
    assert np.all(cam[visible, 2] > OcclusionOptions().near)
    u = np.floor(K[0, 0] * cam[visible, 0] / cam[visible, 2] + K[0, 2] + 0.5)
    v = np.floor(K[1, 1] * cam[visible, 1] / cam[visible, 2] + K[1, 2] + 0.5)
    assert np.all((u >= 0) & (u < SIZE[0]) & (v >= 0) & (v < SIZE[1]))


def test_views_and_frames_are_independent():
    rng = np.random.default_rng(0)
    points = rng.uniform(-1, 1, (3, 200, 3)) * [1, 1, 0.1]
    pose = np.stack(
        [[look_at(rng.normal(size=3) * 3, np.zeros(3)) for _ in range(3)] for _ in range(2)]
    )
    k = np.broadcast_to(K, (2, 3, 3, 3))
    together = visible_mask(points, pose, k, SIZE)
    for v in range(2):
        for f in range(3):
            alone = visible_mask(points[f : f + 1], pose[v : v + 1, f : f + 1], k[:1, :1], SIZE)
            np.testing.assert_array_equal(together[v, f], alone[0, 0])


# ---------------------------------------------------------------------------------------------
# A scene with a known answer.


def grid(lo, hi, step, z):
    axis = np.arange(lo, hi + step / 2, step)
    x, y = np.meshgrid(axis, axis)
    return np.stack([x.ravel(), y.ravel(), np.full(x.size, z)], 1)


def test_a_square_hides_exactly_the_wall_behind_it():
    """A dense square at z = 1 casts a shadow [-0.41, 0.41]^2 on a dense wall at z = 2 (camera
    at the origin). Every wall point in the shadow is hidden, every one outside is visible."""
    wall = grid(-1.0, 1.0, 0.02, 2.0)
    square = grid(-0.205, 0.205, 0.01, 1.0)
    points = np.concatenate([wall, square])
    k = np.array([[110.0, 0.0, 159.5], [0.0, 110.0, 119.5], [0.0, 0.0, 1.0]])
    visible = visible_mask(points[None], np.eye(4)[None, None], k[None, None], (320, 240))[0, 0]
    shadow = (np.abs(wall[:, 0]) < 0.41) & (np.abs(wall[:, 1]) < 0.41)
    assert not visible[: len(wall)][shadow].any()
    assert visible[: len(wall)][~shadow].all()
    assert visible[len(wall) :].all()


def test_the_defaults_hide_exactly_the_wall_behind_a_card_close_in_front_of_it():
    """Two parallel planes, 2 wall spacings apart: a wall at z = 2 (spacing 0.04, so its
    radius, the distance to the 8th nearest neighbour, is 0.04 √2) and a card (spacing 0.02)
    0.08 in front of it, 1.41 wall radii. Under the default options (depth_tolerance 0.1
    radii) exactly the 11 x 11 wall points behind the card are hidden; with a tolerance of 1.5
    radii they would show through it."""
    wall = grid(-1.0, 1.0, 0.04, 2.0)
    card = grid(-0.2, 0.2, 0.02, 1.92)  # its shadow on the wall: [-0.2083, 0.2083]^2
    points = np.concatenate([wall, card])[None]
    k = np.array([[110.0, 0.0, 159.5], [0.0, 110.0, 119.5], [0.0, 0.0, 1.0]])
    camera = (np.eye(4)[None, None], k[None, None], (320, 240))
    visible = visible_mask(points, *camera)[0, 0]
    behind = (np.abs(wall[:, 0]) < 0.21) & (np.abs(wall[:, 1]) < 0.21)
    assert behind.sum() == 121
    np.testing.assert_array_equal(visible[: len(wall)], ~behind)
    assert visible[len(wall) :].all()
    assert visible_mask(points, *camera, OcclusionOptions(depth_tolerance=1.5)).all()


def test_the_defaults_keep_every_point_of_a_plane_seen_at_a_grazing_angle():
    """A flat, randomly sampled plane turned 80 degrees away from the camera: no point of it
    lies behind its own triangles by more than rounding, so the defaults keep every one (with
    no depth tolerance at all, rounding alone hides some)."""
    rng = np.random.default_rng(0)
    uv = rng.uniform(-0.5, 0.5, (1500, 2))
    tilt = math.radians(80.0)
    points = np.c_[uv[:, 0], 2 * uv[:, 1] * math.cos(tilt), 2 + 2 * uv[:, 1] * math.sin(tilt)]
    k = np.array([[110.0, 0.0, 159.5], [0.0, 110.0, 119.5], [0.0, 0.0, 1.0]])
    camera = (np.eye(4)[None, None], k[None, None], (320, 240))
    assert visible_mask(points[None], *camera).all()
    assert not visible_mask(points[None], *camera, OcclusionOptions(depth_tolerance=0.0)).all()


def test_points_behind_the_camera_are_not_visible():
    points = grid(-0.5, 0.5, 0.05, -2.0)
    visible = visible_mask(points[None], np.eye(4)[None, None], K[None, None], SIZE)
    assert not visible.any()


# ---------------------------------------------------------------------------------------------
# Packing and bad input.


@given(st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_pack_round_trips_with_zero_padding(n, seed):
    mask = np.random.default_rng(seed).random((2, 3, n)) < 0.5
    packed = pack_mask(mask)
    assert packed.shape == (2, 3, -(-n // 8)) and packed.dtype == np.uint8
    np.testing.assert_array_equal(unpack_mask(packed, n), mask)
    assert np.unpackbits(packed, axis=-1)[..., n:].sum() == 0


def test_unpack_checks_the_byte_count():
    with pytest.raises(ValueError, match="16 points packs into 2 bytes"):
        unpack_mask(np.zeros(3, np.uint8), 16)


@pytest.mark.parametrize(
    ("points", "pose", "k", "match"),
    [
        (np.zeros((2, 5)), np.eye(4)[None, None], K[None, None], "points must be"),
        (np.full((1, 5, 3), np.nan), np.eye(4)[None, None], K[None, None], "NaN"),
        (np.zeros((1, 5, 3)), np.eye(4)[None], K[None, None], "world_from_camera"),
        (np.zeros((1, 5, 3)), np.eye(4)[None, None], K[None], "intrinsics must be"),
        (
            np.zeros((1, 5, 3)),
            np.eye(4)[None, None],
            (K + [[0, 1, 0], [0, 0, 0], [0, 0, 0]])[None, None],
            "no skew",
        ),
    ],
)
def test_bad_input_is_a_value_error(points, pose, k, match):
    with pytest.raises(ValueError, match=match):
        visible_mask(points, pose, k, SIZE)


def test_bad_options_are_a_value_error():
    with pytest.raises(ValueError, match="normal_neighbors"):
        OcclusionOptions(neighbors=4, normal_neighbors=8)

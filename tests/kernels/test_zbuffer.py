"""The triangle-fan z-buffer against a plain numpy reference of the same algorithm, a scene with
a known answer, and its contract (image bounds, packing, bad input)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from c2p4d.kernels.zbuffer import (
    MAX_LEVEL,
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
# The reference: the same algorithm as plainly as it can be written.


def perpendicular(n):
    if abs(n[0]) < 0.9:
        s = math.sqrt(n[1] * n[1] + n[2] * n[2])
        return np.array([0.0, n[2] / s, -n[1] / s])
    s = math.sqrt(n[0] * n[0] + n[2] * n[2])
    return np.array([-n[2] / s, 0.0, n[0] / s])


def reference_fans(points, options):
    """One frame: normal [N,3], k-NN radius [N] and the set of triangles {(i, {a, b})}."""
    n = len(points)
    k = min(options.neighbors, n - 1)
    kn = min(options.normal_neighbors, k)
    normal, radius, triangles = np.zeros((n, 3)), np.zeros(n), set()
    if k < 2:
        return normal, radius, triangles
    d2 = ((points[:, None] - points[None]) ** 2).sum(-1)
    for i in range(n):
        order = [j for j in np.lexsort((np.arange(n), d2[i])) if j != i][:k]
        radius[i] = math.sqrt(d2[i, order[-1]])
        hood = points[[i, *order[:kn]]]
        eigenvalues, eigenvectors = np.linalg.eigh(np.cov(hood.T, bias=True))
        if not eigenvalues[1] - eigenvalues[0] > MIN_NORMAL_GAP * eigenvalues[2]:
            continue
        normal[i] = eigenvectors[:, 0]
        a = perpendicular(normal[i])
        b = np.cross(normal[i], a)
        ring = [j for j in order if d2[i, j] > 0]
        if len(ring) < 2:
            continue
        angle = np.array(
            [math.atan2(b @ (points[j] - points[i]), a @ (points[j] - points[i])) for j in ring]
        )
        ring = [ring[s] for s in np.argsort(angle, kind="stable")]
        angle = np.sort(angle, kind="stable")
        gaps = np.diff(np.append(angle, angle[0] + 2 * math.pi))
        for s in range(len(ring)):
            if gaps[s] < math.radians(options.max_gap_deg):
                triangles.add((i, frozenset((ring[s], ring[(s + 1) % len(ring)]))))
    return normal, radius, triangles


def kernel_triangles(fans, frame):
    fan, closed = fans.fan[frame], fans.closed[frame]
    return {
        (i, frozenset((int(fan[i, s]), int(fan[i, s + 1]))))
        for i in range(fan.shape[0])
        for s in range(closed.shape[1])
        if closed[i, s]
    }


def reference_view(points, fans, frame, pose, k, size, options):
    """One view of one frame, given the kernel's fans."""
    normal, radius = fans.normal[frame], fans.radius[frame]
    fan, closed = fans.fan[frame], fans.closed[frame]
    width, height = size
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    d = points - pose[:3, 3]
    x, y, z = (pose[0, c] * d[:, 0] + pose[1, c] * d[:, 1] + pose[2, c] * d[:, 2] for c in range(3))
    facing = -(normal[:, 0] * d[:, 0] + normal[:, 1] * d[:, 1] + normal[:, 2] * d[:, 2])
    ahead = z > options.near
    with np.errstate(divide="ignore", invalid="ignore"):
        image = np.stack([fx * x / z + cx, fy * y / z + cy, 1.0 / z], axis=1)
    logs = [
        math.log2(radius[i] * fx / z[i]) for i in range(len(points)) if ahead[i] and radius[i] > 0
    ]
    level = 0
    if logs:
        total = 0.0
        for value in logs:
            total += value
        level = min(
            max(math.floor(total / len(logs) - math.log2(options.buffer_pixels)), 0), MAX_LEVEL
        )
    depth = np.zeros((((height - 1) >> level) + 1, ((width - 1) >> level) + 1))
    winner = np.full(depth.shape, -1)

    def rise(p, q):
        e = points[q] - points[p]
        lift = normal[p, 0] * e[0] + normal[p, 1] * e[1] + normal[p, 2] * e[2]
        lift = -lift if facing[p] < 0 else lift
        length2 = e[0] * e[0] + e[1] * e[1] + e[2] * e[2]
        return lift > 0 and lift * lift > options.web_slope * options.web_slope * length2

    scale = 1.0 / (1 << level)
    for i in np.flatnonzero(ahead):
        for s in range(closed.shape[1]):
            a, b = fan[i, s], fan[i, s + 1]
            if not (closed[i, s] and ahead[a] and ahead[b]):
                continue
            corners = (i, a, b)
            if all(
                rise(corners[c], corners[(c + 1) % 3]) or rise(corners[c], corners[(c + 2) % 3])
                for c in range(3)
            ):
                continue
            (ax, ay), (bx, by), (qx, qy) = ((image[c, :2] + 0.5) * scale - 0.5 for c in corners)
            area = (bx - ax) * (qy - ay) - (by - ay) * (qx - ax)
            if area == 0.0:
                continue
            inv = 1.0 / area
            v0, v1 = (
                max(math.ceil(min(ay, by, qy)), 0),
                min(math.floor(max(ay, by, qy)), depth.shape[0] - 1),
            )
            u0, u1 = (
                max(math.ceil(min(ax, bx, qx)), 0),
                min(math.floor(max(ax, bx, qx)), depth.shape[1] - 1),
            )
            if v0 > v1 or u0 > u1:
                continue
            v, u = np.mgrid[v0 : v1 + 1, u0 : u1 + 1]
            ea = ((qx - bx) * (v - by) - (qy - by) * (u - bx)) * inv
            eb = ((ax - qx) * (v - qy) - (ay - qy) * (u - qx)) * inv
            ec = 1.0 - ea - eb
            w = ea * image[i, 2] + eb * image[a, 2] + ec * image[b, 2]
            window = depth[v0 : v1 + 1, u0 : u1 + 1]
            wins = (ea >= 0) & (eb >= 0) & (ec >= 0) & (w > window)
            window[wins] = w[wins]
            winner[v0 : v1 + 1, u0 : u1 + 1][wins] = i * closed.shape[1] + s
    visible = np.zeros(len(points), bool)
    for i in np.flatnonzero(ahead):
        u, v = math.floor(image[i, 0] + 0.5), math.floor(image[i, 1] + 0.5)
        if not (0 <= u < width and 0 <= v < height):
            continue
        j = winner[v >> level, u >> level]
        if j < 0:
            visible[i] = True
            continue
        o, s = divmod(j, closed.shape[1])
        (ax, ay, aw), (bx, by, bw), (qx, qy, qw) = (image[c] for c in (o, fan[o, s], fan[o, s + 1]))
        area = (bx - ax) * (qy - ay) - (by - ay) * (qx - ax)
        w = 0.0
        if area != 0.0:
            px, py = image[i, 0], image[i, 1]
            ea = ((qx - bx) * (py - by) - (qy - by) * (px - bx)) / area
            eb = ((ax - qx) * (py - qy) - (ay - qy) * (px - qx)) / area
            w = ea * aw + eb * bw + (1.0 - ea - eb) * qw
        visible[i] = w <= 0.0 or 1.0 / image[i, 2] <= 1.0 / w + options.depth_tolerance * radius[i]
    return visible


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


OPTIONS = [OcclusionOptions(), OcclusionOptions(neighbors=6, normal_neighbors=4, buffer_pixels=1.0)]


@given(scenes(), st.sampled_from(OPTIONS))
def test_fans_match_the_reference(scene, options):
    points, _ = scene
    fans = build_fans(points[None], options)
    normal, radius, triangles = reference_fans(points, options)
    np.testing.assert_allclose(fans.radius[0], radius, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        np.abs((fans.normal[0] * normal).sum(1)), np.abs(normal).sum(1) > 0, atol=1e-6
    )
    assert kernel_triangles(fans, 0) == triangles


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

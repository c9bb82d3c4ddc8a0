"""The authors' one-pixel z-buffer: against a transcription of their loop, against our fans on
scenes with a known answer, determinism and bad input."""

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from c2p4d.kernels.pixel_zbuffer import PixelOptions, pixel_visible_mask
from c2p4d.kernels.zbuffer import visible_mask

IDENTITY = np.eye(4)[None, None]  # a camera at the origin looking down +z, y down


def authors_mask(cam: np.ndarray, f: float = 150.0, width: int = 120, height: int = 180):
    """The z-buffer of generation_msr.py's `oper`, transcribed loop for loop, on points
    already in camera coordinates [N,3]: which points it outputs."""
    buffer = np.full([width, height], -1.0)
    pixel_ids = [[-1, -1] for _ in range(len(cam))]
    z_vals = [10.0 for _ in range(len(cam))]
    for i in range(len(cam)):
        z = cam[i][2]
        p = cam[i] * f / z
        if p[0] < 1e6 and p[1] < 1e6:
            px, py = int(p[0] + width * 0.5), int(p[1] + height * 0.5)
            z_vals[i] = z
            pixel_ids[i] = [px, py]
            inside = 0 <= px < width and 0 <= py < height
            if inside and (buffer[px, py] > z or buffer[px, py] < 0.0):
                buffer[px, py] = z
    out = np.zeros(len(cam), bool)
    for i in range(len(cam)):
        px, py = pixel_ids[i]
        if 0 <= px < width and 0 <= py < height:
            out[i] = (z_vals[i] - buffer[px][py]) < 0.001
    return out


@st.composite
def clouds(draw):
    """Clouds in front of the camera at the origin, some wider than the screen, with clusters
    of points that share pixels at nearby depths (within and beyond the tolerance)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 300))
    spread = draw(st.sampled_from([0.2, 1.0]))
    points = np.c_[rng.uniform(-spread, spread, (n, 2)), rng.uniform(0.5, 3.0, n)]
    twins = points[: n // 3] + [0.0, 0.0, draw(st.sampled_from([0.0, 0.0005, 0.002]))]
    return np.concatenate([points, twins])


@given(clouds())
def test_matches_the_authors_loop(points):
    # Their int() truncates towards 0 and so also sends (-1, 0) to pixel 0: leave such points
    # out, and points exactly on the tolerance (theirs is strict).
    u = 150 * points[:, :2] / points[:, 2:] + [60, 90]
    points = points[((u >= 0) | (u <= -1)).all(1)]
    got = pixel_visible_mask(points[None], IDENTITY)[0, 0]
    np.testing.assert_array_equal(got, authors_mask(points))


def grid(lo: float, hi: float, step: float, z: float) -> np.ndarray:
    axis = np.arange(lo, hi + step / 2, step)
    x, y = np.meshgrid(axis, axis)
    return np.stack([x.ravel(), y.ravel(), np.full(x.size, z)], 1)


def both_rules(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pixel rule, our fans) for the camera at the origin on the authors' screen."""
    options = PixelOptions()
    pixel = pixel_visible_mask(points[None], IDENTITY, options)[0, 0]
    k = options.intrinsics()[None, None]
    fans = visible_mask(points[None], IDENTITY, k, options.screen_size)[0, 0]
    return pixel, fans


def test_a_back_wall_shows_through_the_gaps_of_a_sparse_square_under_the_pixel_rule_only():
    """A sparse square at z = 1 (points 7.5 pixels apart) in front of a dense wall at z = 2
    (0.75 pixels apart): the pixel rule keeps the wall behind the square where no square point
    shares its pixel; the fans close the square and hide all of it."""
    wall = grid(-0.5, 0.5, 0.01, 2.0)
    square = grid(-0.2, 0.2, 0.05, 1.0)
    pixel, fans = both_rules(np.concatenate([wall, square]))
    behind = (np.abs(wall[:, 0]) < 0.38) & (np.abs(wall[:, 1]) < 0.38)
    assert pixel[: len(wall)][behind].mean() > 0.8
    assert not fans[: len(wall)][behind].any()
    assert pixel[len(wall) :].all() and fans[len(wall) :].all()


def test_both_rules_agree_behind_a_dense_square_and_on_a_dense_wall():
    """A dense square (0.3 pixels apart) covers every pixel of its image: both rules hide the
    wall behind it and keep the wall around it (a 2-pixel margin at the shadow's edge left out)
    and the whole square."""
    wall = grid(-0.5, 0.5, 0.02, 2.0)
    square = grid(-0.2, 0.2, 0.002, 1.0)
    pixel, fans = both_rules(np.concatenate([wall, square]))
    edge = np.abs(np.abs(wall[:, :2]) - 0.4).min(1) < 2 * 2.0 / 150  # 2 pixels at z = 2
    shadow = (np.abs(wall[:, :2]) < 0.4).all(1)
    for kept in (pixel, fans):
        assert not kept[: len(wall)][shadow & ~edge].any()
        assert kept[: len(wall)][~shadow & ~edge].all()
        assert kept[len(wall) :].all()


def test_off_screen_and_behind_the_camera_are_not_kept():
    points = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [5.0, 0.0, 1.0], [0.0, 1e30, 1.0]])
    np.testing.assert_array_equal(pixel_visible_mask(points[None], IDENTITY)[0, 0], [1, 0, 0, 0])


def test_the_depth_tolerance_is_in_the_clouds_units():
    points = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0009], [0.0, 0.0, 1.002]])
    np.testing.assert_array_equal(pixel_visible_mask(points[None], IDENTITY)[0, 0], [1, 1, 0])
    wide = PixelOptions(depth_tolerance=0.01)
    assert pixel_visible_mask(points[None], IDENTITY, wide).all()


def test_views_and_frames_are_independent_and_threads_do_not_matter():
    rng = np.random.default_rng(0)
    points = rng.uniform(-1, 1, (3, 500, 3)) + [0.0, 0.0, 4.0]
    angle = rng.uniform(-0.3, 0.3, (2, 3))
    pose = np.tile(np.eye(4), (2, 3, 1, 1))
    pose[..., 0, 0] = pose[..., 2, 2] = np.cos(angle)
    pose[..., 0, 2], pose[..., 2, 0] = np.sin(angle), -np.sin(angle)
    together = pixel_visible_mask(points, pose)
    assert 0.1 < together.mean() < 0.9
    for v in range(2):
        for f in range(3):
            alone = pixel_visible_mask(points[f : f + 1], pose[v : v + 1, f : f + 1])
            np.testing.assert_array_equal(together[v, f], alone[0, 0])
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        assert pixel_visible_mask(points, pose).tobytes() == together.tobytes()
    finally:
        numba.set_num_threads(threads)


def test_intrinsics_put_the_principal_point_at_the_screen_centre():
    np.testing.assert_array_equal(
        PixelOptions().intrinsics(), [[150.0, 0.0, 59.5], [0.0, 150.0, 89.5], [0.0, 0.0, 1.0]]
    )


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"screen_size": (0, 180)}, "screen_size"),
        ({"screen_focal": 0.0}, "screen_focal"),
        ({"screen_focal": float("nan")}, "screen_focal"),
        ({"depth_tolerance": -1.0}, "depth_tolerance"),
        ({"depth_tolerance": float("nan")}, "depth_tolerance"),
        ({"near": 0.0}, "near"),
    ],
)
def test_bad_options_are_a_value_error(options, match):
    with pytest.raises(ValueError, match=match):
        PixelOptions(**options)


def test_bad_input_is_a_value_error():
    with pytest.raises(ValueError, match="NaN"):
        pixel_visible_mask(np.full((1, 4, 3), np.nan), IDENTITY)
    with pytest.raises(ValueError, match="world_from_camera"):
        pixel_visible_mask(np.zeros((2, 4, 3)), IDENTITY)

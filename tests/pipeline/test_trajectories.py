"""Camera trajectories: the sweep, its bounds and smoothness, the sphere, the look-at camera."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from c2p4d.pipeline.cameras import look_at
from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.trajectories import (
    TrajectoryConfig,
    camera_trajectory,
    dominant_plane_up,
    sphere_frames,
    view_angles,
    view_trajectories,
    view_trajectory,
)

DEG = math.pi / 180


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def random_sequence(seed: int, frames: int, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A drifting cloud in front of an arbitrarily posed, moving camera."""
    rng = np.random.default_rng(seed)
    camera = np.tile(np.eye(4), (frames, 1, 1))
    points = np.empty((frames, n, 3))
    for t in range(frames):
        camera[t, :3, :3] = random_rotation(rng)
        camera[t, :3, 3] = rng.normal(scale=5.0, size=3)
        local = rng.normal(scale=0.3, size=(n, 3)) + [0.2, -0.1, rng.uniform(1.0, 4.0)]
        points[t] = local @ camera[t, :3, :3].T + camera[t, :3, 3]
    return points.astype(np.float32), camera.astype(np.float32)


@given(st.integers(2, 200), st.integers(0, 2**32 - 1))
def test_sweep_spans_150_degrees_in_even_steps(frames, seed):
    theta, phi, zoom = view_angles(frames, np.random.default_rng(seed), TrajectoryConfig())
    offset = (theta - math.pi / 2) / DEG
    assert abs(abs(offset[0]) - 75) < 1e-9 and abs(offset[-1] + offset[0]) < 1e-9
    np.testing.assert_allclose(np.diff(offset), (offset[-1] - offset[0]) / (frames - 1))
    assert np.all(np.abs(phi) <= 5 * DEG + 1e-12)
    # Smooth: the elevation changes at most pi * modes * 5 degrees over the whole sequence.
    assert np.all(np.abs(np.diff(phi)) <= math.pi * 3 * 5 * DEG / (frames - 1) + 1e-12)
    assert np.all((zoom >= 0.8 - 1e-12) & (zoom <= 1.25 + 1e-12))


def test_sweep_goes_both_ways():
    firsts = {
        np.sign(view_angles(10, np.random.default_rng(s), TrajectoryConfig())[0][0] - math.pi / 2)
        for s in range(20)
    }
    assert firsts == {-1.0, 1.0}


def test_full_circle_turns_30_degrees_per_frame_over_12_frames():
    config = TrajectoryConfig(mode="full-circle")
    theta, phi, _ = view_angles(12, np.random.default_rng(0), config)
    np.testing.assert_allclose(np.abs(np.diff(theta)) / DEG, 30.0)
    assert np.all(np.abs(phi) <= 5 * DEG)


def test_full_circle_starts_at_a_random_angle_in_either_direction():
    """Each sequence's circle starts anywhere: over 64 seeds the first azimuths fall in every
    eighth of the circle, and both directions occur; each circle covers 360 degrees evenly."""
    config = TrajectoryConfig(mode="full-circle")
    thetas = [view_angles(12, np.random.default_rng(seed), config)[0] for seed in range(64)]
    starts = np.array([theta[0] for theta in thetas]) % (2 * math.pi)
    assert set(np.floor(starts / (math.pi / 4)).astype(int)) == set(range(8))
    assert {float(np.sign(theta[1] - theta[0])) for theta in thetas} == {-1.0, 1.0}
    for theta in thetas:
        np.testing.assert_allclose(np.diff(np.sort(theta % (2 * math.pi))) / DEG, 30.0)


def test_full_circle_views_of_a_sequence_start_at_different_azimuths():
    """The start is drawn per view (seeded by the view), so the views of one sequence begin
    around the whole circle, not all at the original camera."""
    points, original = table_scene(12, 30.0)
    up = np.array([0.0, 0.0, 1.0])
    config = TrajectoryConfig(mode="full-circle", up=tuple(up))
    pose, _ = view_trajectories(points, original, "synth-street", "s", range(16), config)
    eye = pose[:, 0, :3, 3].astype(np.float64) - points[0].mean(0)
    azimuth = np.degrees(np.arctan2(eye[:, 1], eye[:, 0])) % 360
    assert len(set(np.floor(azimuth / 90).astype(int))) == 4, azimuth


def test_random_mode_draws_independent_viewpoints_within_the_ranges():
    theta, phi, zoom = view_angles(500, np.random.default_rng(0), TrajectoryConfig(mode="random"))
    offset = (theta - math.pi / 2) / DEG
    assert offset.min() >= -75 and offset.max() <= 75 and np.ptp(offset) > 140
    assert np.all(np.abs(phi) <= 5 * DEG) and np.all((zoom >= 0.8) & (zoom <= 1.25))
    # Independent: consecutive frames are not close the way a sweep's are.
    assert np.median(np.abs(np.diff(offset))) > 20


@given(st.integers(0, 2**32 - 1), st.integers(1, 20))
def test_cameras_stay_on_the_sphere_and_look_at_the_centre_without_roll(seed, frames):
    points, original = random_sequence(seed, frames)
    centre, radius, axes, _ = sphere_frames(points, original)
    pose, k = camera_trajectory(points, original, np.random.default_rng(seed), TrajectoryConfig())
    assert pose.dtype == np.float32 and k.dtype == np.float32
    rotation, eye = pose[:, :3, :3].astype(np.float64), pose[:, :3, 3].astype(np.float64)
    np.testing.assert_allclose(
        rotation @ rotation.transpose(0, 2, 1), np.eye(3)[None].repeat(frames, 0), atol=1e-5
    )
    np.testing.assert_allclose(np.linalg.det(rotation), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(eye - centre, axis=1), radius, rtol=1e-5)
    forward = (centre - eye) / radius[:, None]
    np.testing.assert_allclose(rotation[:, :, 2], forward, atol=1e-5)
    up = axes[..., 2]
    # No roll: the image x axis is horizontal, and image-up (-y) leans towards the sphere's up.
    np.testing.assert_allclose((rotation[:, :, 0] * up).sum(1), 0.0, atol=1e-5)
    assert np.all((-rotation[:, :, 1] * up).sum(1) > 0.99)


@given(st.integers(0, 2**32 - 1))
def test_theta_half_pi_phi_zero_is_the_original_camera(seed):
    points, original = random_sequence(seed, 5)
    still = TrajectoryConfig(sweep_deg=0, elevation_deg=0, zoom_range=(1.0, 1.0))
    pose, k = camera_trajectory(points, original, np.random.default_rng(seed), still)
    np.testing.assert_allclose(pose[:, :3, 3], original[:, :3, 3], atol=1e-4)
    # Its up is the original camera's -y, so it looks at the centre with no roll against it.
    axes = sphere_frames(points, original).axes
    y = original[:, :3, 1].astype(np.float64)
    np.testing.assert_allclose((axes[..., 2] * -y).sum(1), 1.0, atol=0.2)
    np.testing.assert_allclose(k[:, 0, 0], 262.5)
    np.testing.assert_allclose(k[:, :2, 2], [[159.5, 119.5]] * 5)


def test_theta_below_half_pi_is_to_the_left_of_the_original_camera():
    points = np.zeros((1, 4, 3), np.float32)
    points[0, :, 2] = 2.0  # a cloud 2 m in front of a camera at the origin (identity pose)
    original = np.eye(4, dtype=np.float32)[None]
    axes = sphere_frames(points, original).axes
    side = axes[0, :, 0]  # the direction of theta = 0 from the centre
    np.testing.assert_allclose(side, [-1.0, 0.0, 0.0], atol=1e-12)  # the camera's left (-x)
    np.testing.assert_allclose(axes[0, :, 2], [0.0, -1.0, 0.0], atol=1e-12)  # up is -y


def elevation_deg(eye: np.ndarray, centre: np.ndarray, up: np.ndarray) -> np.ndarray:
    towards = eye - centre
    return np.degrees(np.arcsin(towards @ up / np.linalg.norm(towards, axis=-1)))


@given(st.integers(0, 2**32 - 1), st.integers(1, 20))
def test_with_a_world_up_cameras_circle_at_the_original_elevation_without_roll(seed, frames):
    points, original = random_sequence(seed, frames)
    up = np.random.default_rng(seed).normal(size=3)
    up /= np.linalg.norm(up)
    config = TrajectoryConfig(up=tuple(up))
    centre, radius, axes, start = sphere_frames(points, original, up=config.up)
    pose, _ = camera_trajectory(points, original, np.random.default_rng(seed), config)
    eye, rotation = pose[:, :3, 3].astype(np.float64), pose[:, :3, :3].astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(eye - centre, axis=1), radius, rtol=1e-5)
    np.testing.assert_allclose(rotation[:, :, 2], (centre - eye) / radius[:, None], atol=1e-5)
    np.testing.assert_allclose(axes[..., 2], np.broadcast_to(up, (frames, 3)), atol=1e-12)
    np.testing.assert_allclose(elevation_deg(original[:, :3, 3], centre, up), np.degrees(start))
    # Within 5 degrees of the original camera's elevation (and 85 of the poles); no roll.
    expected = np.clip(np.degrees(start), -85.0, 85.0)
    assert np.all(np.abs(elevation_deg(eye, centre, up) - expected) <= 5.0 + 1e-3)
    np.testing.assert_allclose(rotation[:, :, 0] @ up, 0.0, atol=1e-5)


@given(st.integers(0, 2**32 - 1))
def test_with_a_world_up_theta_half_pi_phi_zero_is_the_original_camera(seed):
    points, original = random_sequence(seed, 5)
    up = (0.0, 0.0, 1.0)
    still = TrajectoryConfig(sweep_deg=0, elevation_deg=0, zoom_range=(1.0, 1.0), up=up)
    pose, _ = camera_trajectory(points, original, np.random.default_rng(seed), still)
    near_pole = np.abs(sphere_frames(points, original, up=up).elevation) > np.radians(84)
    np.testing.assert_allclose(pose[~near_pole, :3, 3], original[~near_pole, :3, 3], atol=1e-4)


@pytest.mark.parametrize("mode", ["sweep", "full-circle", "random"])
@pytest.mark.parametrize("height", [1.0, -1.0])
def test_cameras_stay_5_degrees_short_of_the_poles(mode, height):
    """An original camera straight above (or below) the cloud, at 90 degrees of elevation about
    the world's up: every view's camera sits exactly at 85 degrees (the elevation of +-5 about
    90 is clipped), still looking at the centre, with no roll."""
    table, _ = table_scene(6, 50.0)
    centre = table.mean(1)
    eye = centre + [0.0, 0.0, height]
    original = look_at(eye, centre, np.array([0.0, 1.0, 0.0]))
    up = np.array([0.0, 0.0, 1.0])
    config = TrajectoryConfig(mode=mode, up=tuple(up))
    pose, _ = view_trajectories(table, original, "d", "s", range(4), config)
    eyes, rotation = pose[..., :3, 3].astype(np.float64), pose[..., :3, :3].astype(np.float64)
    np.testing.assert_allclose(elevation_deg(eyes, centre, up), 85.0 * np.sign(height), atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(eyes - centre, axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(rotation[..., 2], (centre - eyes), atol=1e-5)
    np.testing.assert_allclose(rotation[..., 0] @ up, 0.0, atol=1e-5)


@given(st.integers(0, 2**32 - 1))
def test_a_wide_elevation_range_stops_5_degrees_short_of_the_poles(seed):
    """Without a world up the sphere's up is the original camera's; an elevation range of +-89.9
    degrees still keeps every camera within 85 degrees of that sphere's equator."""
    points, original = random_sequence(seed, 200)  # some 11 of them drawn beyond 85 degrees
    centre, _, axes, _ = sphere_frames(points, original)
    config = TrajectoryConfig(mode="random", elevation_deg=89.9)
    pose, _ = camera_trajectory(points, original, np.random.default_rng(seed), config)
    eyes = pose[:, :3, 3].astype(np.float64)
    towards = eyes - centre
    elevation = np.degrees(
        np.arcsin((towards * axes[..., 2]).sum(1) / np.linalg.norm(towards, axis=1))
    )
    assert np.all(np.abs(elevation) <= 85.0 + 1e-3) and np.abs(elevation).max() > 85.0 - 1e-3


def test_a_camera_looking_down_at_a_table_stays_above_it_over_the_sweep():
    """The paper's HOI4D case: a sensor 50 degrees above a table. About the world's up the sweep
    keeps that height (+-5 degrees); about the sensor's own -y its circle is tilted by the pitch
    and its ends, 75 degrees out, drop to asin(sin 50 cos 75) = 11 (+-5) degrees."""
    table, original = table_scene(30, 50.0)
    up = np.array([0.0, 0.0, 1.0])
    lowest = {}
    for world_up in (tuple(up), None):
        config = TrajectoryConfig(up=world_up)
        pose, _ = camera_trajectory(table, original, np.random.default_rng(1), config)
        lowest[world_up] = elevation_deg(pose[:, :3, 3].astype(np.float64), table.mean(1), up).min()
    assert lowest[tuple(up)] >= 45.0 - 1e-3 and lowest[None] <= 16.5, lowest


def table_scene(frames: int, pitch_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """A noisy table top (z = 0) with a box on it, seen by a sensor pitch_deg above it."""
    rng = np.random.default_rng(0)
    table = np.c_[rng.uniform(-0.6, 0.6, (400, 2)), rng.normal(0, 0.002, 400)]
    box = np.c_[rng.uniform(-0.1, 0.1, (100, 2)), rng.uniform(0, 0.2, 100)]
    box[:50, 0] = -0.1  # a side face
    pitch = np.radians(pitch_deg)
    eye = 1.2 * np.array([0.0, -np.cos(pitch), np.sin(pitch)])
    original = look_at(eye, np.zeros(3), np.array([0.0, 0.0, 1.0]))
    return np.r_[table, box][None].repeat(frames, 0), original[None].repeat(frames, 0)


@pytest.mark.parametrize("pitch_deg", [20.0, 50.0, 70.0])
def test_the_dominant_plane_facing_the_sensor_gives_the_up(pitch_deg):
    points, original = table_scene(1, pitch_deg)
    up = dominant_plane_up(points[0], original[0])
    assert np.degrees(np.arccos(up @ [0.0, 0.0, 1.0])) < 1.0


def test_a_wall_the_sensor_faces_or_a_round_body_gives_no_up():
    rng = np.random.default_rng(0)
    wall = np.c_[rng.uniform(-1, 1, (300, 2)), np.full(300, 2.0)]  # z = 2, before a camera at 0
    assert dominant_plane_up(wall, np.eye(4)) is None
    ball = rng.normal(size=(300, 3))
    ball = ball / np.linalg.norm(ball, axis=1, keepdims=True) * 0.3 + [0.0, 0.0, 2.0]
    assert dominant_plane_up(ball, np.eye(4)) is None  # no flat quarter
    assert dominant_plane_up(wall[:2], np.eye(4)) is None  # too few points for a plane


def test_up_from_plane_keeps_a_sensor_looking_down_above_the_table():
    points, original = table_scene(30, 50.0)
    config = TrajectoryConfig(up_from_plane=True)
    pose, _ = camera_trajectory(points, original, np.random.default_rng(1), config)
    centre = points.mean(1)
    height = elevation_deg(pose[:, :3, 3].astype(np.float64), centre, np.array([0.0, 0.0, 1.0]))
    start = elevation_deg(original[0, :3, 3], centre[0], np.array([0.0, 0.0, 1.0]))
    assert np.all(np.abs(height - start) <= 5.5), (height.min(), start)


def test_look_at_handles_a_view_parallel_to_up():
    pose = look_at(np.zeros(3), np.array([0.0, 0.0, 5.0]), np.array([0.0, 0.0, 1.0]))
    rotation = pose[:3, :3]
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(rotation[:, 2], [0.0, 0.0, 1.0])
    assert np.isfinite(pose).all()


def test_look_at_keeps_image_up_towards_up():
    pose = look_at(np.array([3.0, 1.0, 0.0]), np.zeros(3), np.array([0.0, 1.0, 0.0]))
    assert pose[1, 1] < 0  # camera y (down) points down in the world
    assert abs(pose[1, 0]) < 1e-12  # camera x is horizontal


def test_views_are_seeded_by_names():
    points, original = random_sequence(0, 8)
    config = TrajectoryConfig()
    a = view_trajectory(points, original, "synth-hoi", "seq-1", 3, config)
    b = view_trajectory(points, original, "synth-hoi", "seq-1", 3, config)
    c = view_trajectory(points, original, "synth-hoi", "seq-1", 4, config)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    # Views rendered together get the cameras they get alone.
    poses, intrinsics = view_trajectories(points, original, "synth-hoi", "seq-1", [4, 3], config)
    assert np.array_equal(poses, np.stack([c[0], a[0]]))
    assert np.array_equal(intrinsics, np.stack([c[1], a[1]]))


def test_camera_at_the_centre_of_the_cloud_is_an_error_naming_the_frame():
    points, original = random_sequence(1, 4)
    original[2, :3, 3] = points[2].astype(np.float64).mean(0)
    with pytest.raises(DataError, match="'walk' frame 2"):
        view_trajectory(points, original, "d", "walk", 0, TrajectoryConfig())


@pytest.mark.parametrize(
    "options",
    [
        {"mode": "spiral"},
        {"zoom_range": (1.2, 0.8)},
        {"elevation_deg": 90},
        {"modes": 0},
        {"up": (0.0, 0.0, 0.0)},
    ],
)
def test_bad_config_is_a_data_error(options):
    with pytest.raises(DataError, match="trajectory config"):
        TrajectoryConfig(**options)


def test_negative_view_index_is_a_data_error():
    points, original = random_sequence(0, 2)
    with pytest.raises(DataError, match="view index -1"):
        view_trajectory(points, original, "d", "s", -1, TrajectoryConfig())

"""The simulated depth camera: poses, exact ray casting, and the sensor's noise and holes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from c2p4d.pipeline.worlds import meshes
from c2p4d.pipeline.worlds.render import DepthCamera, DepthSensor, look_at

CLEAN = DepthSensor(noise_floor=0, noise_quadratic=0, dropout=0, edge_dropout=0, grazing_cos=0)
FLOOR, BOX = 0, 1
points3 = st.lists(st.floats(-3, 3), min_size=3, max_size=3).map(np.array)


def top_down(height: float) -> np.ndarray:
    """A camera `height` above the origin looking straight down, image up along +y."""
    return look_at(np.array([0, 0, height]), np.zeros(3), up=np.array([0, 1.0, 0]))


@given(points3, points3)
def test_look_at_is_an_opencv_pose_facing_the_target(eye, target):
    forward = target - eye
    if np.linalg.norm(forward) < 1e-2 or np.linalg.norm(forward[:2]) < 1e-3 * np.linalg.norm(
        forward
    ):
        return
    pose = look_at(eye, target)
    r = pose[:3, :3]
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(r) == pytest.approx(1)
    np.testing.assert_allclose(pose[:3, 3], eye)
    np.testing.assert_allclose(r[:, 2], forward / np.linalg.norm(forward), atol=1e-9)
    assert abs(r[2, 0]) < 1e-9  # image x horizontal
    assert r[2, 1] < 0  # image y points down


def test_intrinsics_give_the_field_of_view():
    camera = DepthCamera(160, 120, fov_deg=90)
    k = camera.intrinsics
    assert k[0, 0] == pytest.approx(80) and k[1, 1] == k[0, 0]
    assert (k[0, 2], k[1, 2]) == (80, 60)
    rays = camera.pixel_rays
    assert rays.shape == (160 * 120, 3) and (rays[:, 2] == 1).all()
    assert np.degrees(np.arctan(np.abs(rays[:, 0]).max())) == pytest.approx(45, abs=0.5)


def test_a_floor_seen_from_above_is_recovered_exactly():
    camera = DepthCamera(64, 48, sensor=CLEAN)
    floor = meshes.quad((20, 20), (0, 0, 0), 2)
    points, labels = camera.capture([(floor, FLOOR)], top_down(1.5), np.random.default_rng(0))
    assert points.shape == (64 * 48, 3) and (labels == FLOOR).all()
    np.testing.assert_allclose(points[:, 2], 0, atol=1e-5)
    half_width = 1.5 * np.tan(np.radians(35))  # 70 degrees across
    assert np.abs(points[:, 0]).max() == pytest.approx(half_width, rel=0.03)


def test_labels_follow_the_mesh_each_ray_hits():
    camera = DepthCamera(96, 72, sensor=CLEAN)
    floor = meshes.quad((20, 20), (0, 0, 0), 2)
    box = meshes.box((0.4, 0.4, 0.3), (0.1, 0, 0.15))
    points, labels = camera.capture(
        [(floor, FLOOR), (box, BOX)], top_down(1.5), np.random.default_rng(0)
    )
    on_box = points[labels == BOX]
    assert len(on_box) > 100
    assert (np.abs(on_box[:, 0] - 0.1) <= 0.2 + 1e-4).all() and (
        np.abs(on_box[:, 1]) <= 0.2 + 1e-4
    ).all()
    np.testing.assert_allclose(on_box[:, 2], 0.3, atol=1e-5)  # the top is all a camera above sees
    on_floor = points[labels == FLOOR]
    np.testing.assert_allclose(on_floor[:, 2], 0, atol=1e-5)
    hidden = (np.abs(on_floor[:, 0] - 0.1) < 0.15) & (np.abs(on_floor[:, 1]) < 0.15)
    assert not hidden.any()  # nothing behind the box


def test_nothing_in_view_gives_no_points():
    camera = DepthCamera(32, 24)
    floor = meshes.quad((20, 20), (0, 0, 0), 2)
    sky = look_at(np.array([0, 0, 1.0]), np.array([0, 0.1, 2.0]))
    points, labels = camera.capture([(floor, FLOOR)], sky, np.random.default_rng(0))
    assert points.shape == (0, 3) and labels.shape == (0,)


@pytest.mark.parametrize("distance", [0.5, 1.0, 2.5])
def test_depth_noise_grows_with_the_square_of_depth(distance):
    sensor = DepthSensor(dropout=0, edge_dropout=0)
    depth = np.full((200, 200), distance)
    noisy = sensor.corrupt(depth, np.ones_like(depth), np.random.default_rng(0))
    expected = sensor.noise_floor + sensor.noise_quadratic * distance**2
    assert np.std(noisy - depth) == pytest.approx(expected, rel=0.05)
    assert abs(np.mean(noisy - depth)) < 4 * expected / 200


def test_random_dropout_rate():
    sensor = DepthSensor(dropout=0.1, edge_dropout=0, noise_floor=0, noise_quadratic=0)
    depth = np.ones((300, 300))
    noisy = sensor.corrupt(depth, np.ones_like(depth), np.random.default_rng(0))
    assert np.isnan(noisy).mean() == pytest.approx(0.1, abs=0.005)
    np.testing.assert_array_equal(noisy[~np.isnan(noisy)], 1.0)


def test_edges_are_dropped_on_both_sides_of_a_depth_jump():
    sensor = DepthSensor(dropout=0, edge_dropout=1.0, noise_floor=0, noise_quadratic=0)
    depth = np.ones((20, 30))
    depth[:, 15:] = 2.0  # a step
    depth[:, 5] = 1.01  # a small ripple is no edge
    noisy = sensor.corrupt(depth, np.ones_like(depth), np.random.default_rng(0))
    lost = np.isnan(noisy).all(0)
    assert np.flatnonzero(lost).tolist() == [14, 15]
    assert not np.isnan(noisy[:, ~lost]).any()


def test_grazing_surfaces_and_out_of_range_are_lost():
    sensor = DepthSensor(dropout=0, edge_dropout=0, grazing_cos=0.25)
    depth = np.ones((300, 300))
    cos = np.full_like(depth, 0.1)
    assert np.isnan(sensor.corrupt(depth, cos, np.random.default_rng(0))).mean() == pytest.approx(
        0.6, abs=0.01
    )  # 1 - 0.1 / 0.25
    far = np.array([[0.1, 1.0, sensor.max_range + 0.5, np.inf]])
    lost = np.isnan(sensor.corrupt(far, np.ones_like(far), np.random.default_rng(0)))
    assert lost.tolist() == [[True, False, True, True]]


def test_capture_is_deterministic_for_a_seed():
    camera = DepthCamera(48, 36)
    parts = [(meshes.quad((20, 20), (0, 0, 0), 2), FLOOR), (meshes.sphere(0.3), BOX)]
    a = camera.capture(parts, top_down(2.0), np.random.default_rng(5))
    b = camera.capture(parts, top_down(2.0), np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])

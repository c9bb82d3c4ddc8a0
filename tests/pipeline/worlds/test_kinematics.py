"""Rigid poses, easing, inverse kinematics and chains."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from c2p4d.pipeline.worlds.kinematics import (
    Sway,
    axis_angle,
    bone_pose,
    chain,
    frame_from_axes,
    min_jerk,
    rot_x,
    rot_z,
    segment_at,
    slerp,
    two_bone_ik,
)

vectors = st.lists(st.floats(-1, 1), min_size=3, max_size=3).map(np.array)
angles = st.floats(-np.pi, np.pi)


def assert_rotation(r: np.ndarray) -> None:
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(r) == pytest.approx(1.0)


@given(vectors, angles)
def test_axis_angle_matches_scipy(axis, angle):
    if np.linalg.norm(axis) < 1e-3:
        return
    expected = Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle).as_matrix()
    np.testing.assert_allclose(axis_angle(axis, angle), expected, atol=1e-9)


@given(angles)
def test_rot_x_and_rot_z(angle):
    np.testing.assert_allclose(rot_x(angle), axis_angle(np.array([1.0, 0, 0]), angle), atol=1e-12)
    np.testing.assert_allclose(rot_z(angle), axis_angle(np.array([0, 0, 1.0]), angle), atol=1e-12)
    np.testing.assert_allclose(rot_z(np.pi / 2) @ [1, 0, 0], [0, 1, 0], atol=1e-12)


@given(vectors, vectors)
def test_frame_from_axes_is_a_rotation_with_the_given_z(y, z):
    if np.linalg.norm(z) < 1e-2 or np.linalg.norm(np.cross(y, z)) < 1e-2 * np.linalg.norm(z):
        return
    r = frame_from_axes(y, z)
    assert_rotation(r)
    np.testing.assert_allclose(r[:, 2], z / np.linalg.norm(z), atol=1e-9)
    assert r[:, 1] @ y > 0


def test_min_jerk_starts_and_stops_at_rest():
    s = np.linspace(0, 1, 101)
    eased = min_jerk(s)
    assert eased[0] == 0 and eased[-1] == 1 and (np.diff(eased) >= 0).all()
    assert min_jerk(0.5) == pytest.approx(0.5)
    velocity = np.gradient(eased, s)
    assert (
        velocity[0] < 0.01
        and velocity[-1] < 0.01
        and velocity[50] == pytest.approx(1.875, rel=1e-3)
    )


@given(vectors, vectors, st.floats(0, 1))
def test_slerp_moves_uniformly_along_the_shortest_arc(a, b, s):
    r0, r1 = Rotation.from_rotvec(a).as_matrix(), Rotation.from_rotvec(b * 2).as_matrix()
    r = slerp(r0, r1, s)
    assert_rotation(r)
    total = Rotation.from_matrix(r0.T @ r1).magnitude()
    assert Rotation.from_matrix(r0.T @ r).magnitude() == pytest.approx(s * total, abs=1e-6)
    np.testing.assert_allclose(slerp(r0, r1, 1.0), r1, atol=1e-9)


def test_segment_at():
    boundaries = np.array([0, 4, 10])
    assert segment_at(boundaries, 0) == (0, 0.0)
    assert segment_at(boundaries, 2) == (0, 0.5)
    assert segment_at(boundaries, 4) == (1, 0.0)
    assert segment_at(boundaries, 10) == (1, 1.0)
    assert segment_at(boundaries, 99) == (1, 1.0)


@given(vectors, vectors)
def test_bone_pose_spans_start_to_end(start, end):
    if np.linalg.norm(end - start) < 1e-3:
        return
    m = bone_pose(start, end)
    np.testing.assert_allclose(m @ [0, 0, 0, 1], [*start, 1], atol=1e-9)
    np.testing.assert_allclose(m @ [0, 0, 1, 1], [*end, 1], atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(m[:3, :2], axis=0), 1, atol=1e-9)  # no fattening


@given(vectors, st.floats(0.1, 0.5), st.floats(0.1, 0.5))
def test_two_bone_ik_keeps_bone_lengths(target, upper, lower):
    root, pole = np.zeros(3), np.array([0.3, -0.2, -1.0])
    if np.linalg.norm(target) < 1e-6:
        with pytest.raises(ValueError, match="root"):
            two_bone_ik(root, target, upper, lower, pole)
        return
    joint = two_bone_ik(root, target, upper, lower, pole)
    assert np.linalg.norm(joint - root) == pytest.approx(upper)
    distance = np.linalg.norm(target)
    if abs(upper - lower) + 1e-3 < distance < upper + lower - 1e-3:  # reachable: reached
        assert np.linalg.norm(target - joint) == pytest.approx(lower)
        if np.linalg.norm(np.cross(target, pole)) > 1e-3:
            assert (joint - target * (joint @ target) / distance**2) @ pole > 0  # bends to pole
    elif distance >= upper + lower:  # stretched straight towards it
        np.testing.assert_allclose(joint, target / distance * upper, atol=1e-7)


@given(st.lists(st.tuples(st.floats(0.01, 0.1), st.floats(-2, 2)), min_size=1, max_size=4))
def test_chain_bones_have_their_lengths_and_bend_in_one_plane(bones):
    lengths, bends = (np.array(v) for v in zip(*bones, strict=True))
    poses = chain(np.eye(4), lengths, bends)
    joints = np.array(
        [p[:3, 3] for p in poses] + [poses[-1][:3, 3] + poses[-1][:3, 2] * lengths[-1]]
    )
    np.testing.assert_allclose(np.linalg.norm(np.diff(joints, axis=0), axis=1), lengths, atol=1e-12)
    np.testing.assert_allclose(joints[:, 0], 0, atol=1e-12)  # flexion about x keeps x = 0
    for p in poses:
        assert_rotation(p[:3, :3])
    straight = chain(np.eye(4), lengths, np.zeros_like(lengths))
    assert straight[-1][2, 3] == pytest.approx(lengths[:-1].sum())


def test_sway_is_small_smooth_and_seeded():
    sway = Sway(np.random.default_rng(1), 0.02, (0.1, 0.3))
    path = np.array([sway(t / 15) for t in range(300)])
    assert np.abs(path).max() <= 0.02 and np.abs(path).max() > 0.005
    assert np.linalg.norm(np.diff(path, axis=0), axis=1).max() < 0.003
    again = Sway(np.random.default_rng(1), 0.02, (0.1, 0.3))
    np.testing.assert_array_equal(path[7], again(7 / 15))

"""The articulated arm: it reaches the wrist pose, and closing the hand curls the fingers."""

import numpy as np
import pytest

from c2p4d.pipeline.worlds.hoi.arm import Arm, ArmShape
from c2p4d.pipeline.worlds.kinematics import frame_from_axes, pose

SHOULDER = np.array([0.15, -0.2, 1.05])
# palm down, fingers forward, 40 cm in front of and below the shoulder
WRIST = pose(
    frame_from_axes(np.array([0, 0, -1.0]), np.array([0, 1.0, 0])), np.array([0.1, 0.15, 0.8])
)


def local(points: np.ndarray, frame: np.ndarray) -> np.ndarray:
    return (points - frame[:3, 3]) @ frame[:3, :3]


def test_arm_runs_from_the_shoulder_to_the_wrist():
    arm = Arm()
    upper, hand = arm.posed(SHOULDER, WRIST, 0.3)
    assert np.isfinite(upper.vertices).all() and np.isfinite(hand.vertices).all()
    assert np.linalg.norm(upper.vertices - SHOULDER, axis=1).min() < 0.06
    assert np.linalg.norm(upper.vertices - WRIST[:3, 3], axis=1).min() < 0.03
    span = np.linalg.norm(upper.vertices - SHOULDER, axis=1).max()
    assert span < arm.reach() + 0.06  # no longer than its bones


def test_hand_sits_in_front_of_the_wrist():
    _, hand = Arm().posed(SHOULDER, WRIST, 0.0)
    p = local(hand.vertices, WRIST)
    assert p[:, 2].min() > -0.02  # nothing behind the wrist
    assert 0.17 < p[:, 2].max() < 0.2  # palm plus the longest finger
    assert 0.08 < np.ptp(p[:, 0]) < 0.14  # a palm wide, plus the thumb


def test_closing_the_hand_curls_the_fingers_towards_the_palm():
    arm = Arm()
    palm_centre = np.array([0, 0, arm.palm[2] / 2])
    closures = np.linspace(0, 1, 6)
    shapes = [local(arm.posed(SHOULDER, WRIST, c)[1].vertices, WRIST) for c in closures]
    size = [np.linalg.norm(p - palm_centre, axis=1).max() for p in shapes]
    assert (np.diff(size) < 0).all()  # ever more compact, from 15 cm to a fist
    assert size[0] > 0.14 and size[-1] < 0.09
    assert all(p[:, 1].min() > -arm.palm[1] for p in shapes)  # never bending backwards
    assert all(p[:, 1].mean() > shapes[0][:, 1].mean() + 0.01 for p in shapes[2:])  # palm side


def test_scale_makes_a_smaller_person():
    small, large = Arm(ArmShape(scale=0.9)), Arm(ArmShape(scale=1.1))
    assert small.reach() == pytest.approx(0.9 / 1.1 * large.reach())
    extent = [
        np.ptp(local(a.posed(SHOULDER, WRIST, 0.0)[1].vertices, WRIST)[:, 2])
        for a in (small, large)
    ]
    assert extent[0] == pytest.approx(0.9 / 1.1 * extent[1], rel=0.01)

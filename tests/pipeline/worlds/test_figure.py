"""The articulated figure (skeleton, forward and inverse kinematics, body meshes), the MSR
gesture scripts, and the toolkit pieces added for them (tapered capsules, ellipsoids, rot_y,
keyframe splines)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from c2p4d.pipeline.worlds.gesture.figure import (
    JOINTS,
    PARENTS,
    PART_NAMES,
    BodyShape,
    Figure,
    J,
    Posture,
)
from c2p4d.pipeline.worlds.gesture.gestures import MSR_ACTIONS, STAND, build_gestures
from c2p4d.pipeline.worlds.kinematics import KeyframeSpline, axis_angle, pose, rot_y, rot_z
from c2p4d.pipeline.worlds.meshes import Mesh, ellipsoid, tapered_capsule

FIGURE = Figure()
GROUND = pose(rot_z(0.7), np.array([0.4, 2.5, 0.0]))  # anywhere on the floor, turned
to_body = np.linalg.inv(GROUND)


def volume(mesh: Mesh) -> float:
    """Signed volume by the divergence theorem (positive when wound outwards)."""
    a, b, c = (mesh.vertices[mesh.triangles[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)


def euler_characteristic(mesh: Mesh) -> int:
    edges = {
        frozenset(pair) for a, b, c in mesh.triangles.tolist() for pair in ((a, b), (b, c), (c, a))
    }
    return len(mesh.vertices) - len(edges) + len(mesh.triangles)


# Toolkit additions


def test_tapered_capsule_is_a_closed_limb_of_the_asked_size():
    r0, r1, length = 0.05, 0.03, 0.4
    mesh = tapered_capsule(r0, r1, length, rings=16, segments=96)
    assert euler_characteristic(mesh) == 2  # a closed surface like a sphere
    z = mesh.vertices[:, 2]
    assert z.min() == pytest.approx(-r0) and z.max() == pytest.approx(length + r1)
    exact = 2 / 3 * np.pi * (r0**3 + r1**3) + np.pi * length * (r0**2 + r0 * r1 + r1**2) / 3
    assert volume(mesh) == pytest.approx(exact, rel=0.01)
    equal = tapered_capsule(0.02, 0.02, 0.1)
    np.testing.assert_allclose(np.linalg.norm(equal.vertices[:, :2], axis=1).max(), 0.02)


def test_ellipsoid_has_its_semi_axes_and_volume():
    mesh = ellipsoid((0.1, 0.2, 0.3), rings=32, segments=64)
    np.testing.assert_allclose(np.abs(mesh.vertices).max(0), [0.1, 0.2, 0.3], rtol=1e-3)
    assert volume(mesh) == pytest.approx(4 / 3 * np.pi * 0.006, rel=0.01)
    assert euler_characteristic(mesh) == 2


@given(st.floats(-np.pi, np.pi))
def test_rot_y_turns_about_y(angle):
    np.testing.assert_allclose(rot_y(angle), axis_angle([0, 1.0, 0], angle), atol=1e-12)


def test_keyframe_spline_passes_keys_stops_where_asked_and_flows_elsewhere():
    times = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    values = np.array([[0.0, 0], [1, 1], [2, 0], [3, 1], [4, 0]])
    spline = KeyframeSpline(times, values, np.array([True, False, True, False, True]))
    for t, v in zip(times, values, strict=True):
        np.testing.assert_allclose(spline(t), v, atol=1e-12)

    def velocity(t, h=1e-6):
        return (spline(t + h) - spline(t - h)) / (2 * h)

    np.testing.assert_allclose(velocity(2.0), 0.0, atol=1e-5)  # a turning point
    np.testing.assert_allclose(velocity(1.0), [1.0, 0.0], atol=1e-5)  # (v2 - v0) / (t2 - t0)
    np.testing.assert_allclose(velocity(1 - 1e-4), velocity(1 + 1e-4), atol=1e-2)  # no kink
    np.testing.assert_allclose(spline(-1.0), values[0])  # holds outside the keys
    np.testing.assert_allclose(spline(9.0), values[-1])
    with pytest.raises(ValueError, match="increasing"):
        KeyframeSpline(np.array([0.0, 0.0]), values[:2], np.array([True, True]))


# The skeleton and its kinematics


def test_standing_figure_has_human_proportions():
    shape = BodyShape(height=1.8)
    figure = Figure(shape)
    world = figure.joints(STAND, np.eye(4))
    z = {name: world[J[name], 2, 3] for name in JOINTS}
    assert z["left_ankle"] == pytest.approx(0.039 * 1.8)
    assert 0.5 * 1.8 < z["right_hip"] < 0.56 * 1.8  # the hip joint just above half the height
    assert 0.79 * 1.8 < z["right_shoulder"] < 0.84 * 1.8
    assert world[J["right_shoulder"], 0, 3] > 0 > world[J["left_shoulder"], 0, 3]  # x right
    assert z["right_wrist"] < z["right_hip"] + 0.05  # arms hang down
    vertices = np.concatenate([m.vertices for m, _ in figure.parts(world)])
    assert vertices[:, 2].max() == pytest.approx(1.8, abs=0.01)  # head top at the height
    assert 0.0 < vertices[:, 2].min() < 0.005  # the soles just above the floor
    width = vertices[:, 0].max() - vertices[:, 0].min()
    assert 0.26 * 1.8 < width < 0.32 * 1.8  # arms relaxed at the sides


def test_parts_cover_every_class_once():
    parts = FIGURE.parts(FIGURE.joints(STAND, GROUND))
    assert [label for _, label in parts] == list(range(len(PART_NAMES)))


def test_girth_and_limb_scales_change_the_body():
    thin, wide = Figure(BodyShape(girth=0.85)), Figure(BodyShape(girth=1.25))

    def depth(figure: Figure) -> float:
        torso = figure.parts(figure.joints(STAND, np.eye(4)))[PART_NAMES.index("torso")][0]
        return float(np.ptp(torso.vertices[:, 1]))  # front to back

    assert depth(wide) == pytest.approx(1.25 / 0.85 * depth(thin), rel=0.05)
    assert Figure(BodyShape(arms=1.05)).reach > FIGURE.reach
    assert Figure(BodyShape(legs=1.05)).pelvis_height > FIGURE.pelvis_height


postures = st.builds(
    lambda hands, elbows, feet, spine, head: Posture(
        hands=np.array(hands).reshape(2, 3),
        elbows=np.array(elbows).reshape(2, 3) + np.array([0.0, -1, 0]),  # never zero
        feet=np.array(feet).reshape(2, 3) * [0.2, 0.3, 0.3],
        toes=np.zeros(2),
        pelvis=np.zeros(3),
        spine=np.array(spine),
        head=np.array(head),
    ),
    st.lists(st.floats(-0.9, 0.9), min_size=6, max_size=6),
    st.lists(st.floats(-0.5, 0.5), min_size=6, max_size=6),
    st.lists(st.floats(0, 1), min_size=6, max_size=6),
    st.lists(st.floats(-0.8, 0.8), min_size=3, max_size=3),
    st.lists(st.floats(-0.5, 0.5), min_size=2, max_size=2),
)


@given(postures)
def test_any_posture_keeps_bones_rigid_and_rotations_proper(posture):
    world = FIGURE.joints(posture, GROUND)
    rotations = world[:, :3, :3]
    identity = np.eye(3)[None].repeat(len(JOINTS), 0)
    np.testing.assert_allclose(rotations @ rotations.transpose(0, 2, 1), identity, atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(rotations), 1.0, atol=1e-9)
    bones = np.linalg.norm(world[1:, :3, 3] - world[list(PARENTS[1:]), :3, 3], axis=1)
    np.testing.assert_allclose(bones, np.linalg.norm(FIGURE.offsets[1:], axis=1), atol=1e-9)


@given(postures)
def test_limbs_reach_their_targets_when_they_can(posture):
    world = FIGURE.joints(posture, GROUND)
    chest = world[J["chest"]]
    for s, side in enumerate(("right", "left")):
        target = posture.hands[s] * [1 if s == 0 else -1, 1, 1] * FIGURE.reach
        wanted = chest[:3, :3] @ target + chest[:3, 3]
        shoulder = world[J[f"{side}_shoulder"], :3, 3]
        folded = abs(FIGURE.upper_arm - FIGURE.forearm)  # the nearest a wrist gets
        if 1.02 * folded < np.linalg.norm(wanted - shoulder) < 0.98 * FIGURE.reach:
            np.testing.assert_allclose(world[J[f"{side}_wrist"], :3, 3], wanted, atol=1e-6)
        elbow = world[J[f"{side}_elbow"]]
        flex = elbow[:3, :3].T @ world[J[f"{side}_wrist"], :3, :3]  # the elbow is a hinge
        np.testing.assert_allclose(flex[0], [1, 0, 0], atol=1e-6)


def test_feet_stay_planted_while_the_trunk_bends_and_twists():
    still = FIGURE.joints(STAND, GROUND)
    bow = Posture(spine=np.array([1.1, 0.2, 0.6]), pelvis=np.array([0, -0.05, -0.1]))
    bent = FIGURE.joints(bow, GROUND)
    for ankle in ("right_ankle", "left_ankle"):
        np.testing.assert_allclose(bent[J[ankle]], still[J[ankle]], atol=1e-9)
    assert bent[J["head"], 2, 3] < still[J["head"], 2, 3] - 0.3
    knee = to_body @ bent[J["right_knee"]]
    assert knee[1, 3] > 0.05  # a lowered pelvis bends the knees forwards


def test_a_clap_brings_the_palms_together_whatever_the_shoulders():
    for shape in (BodyShape(shoulders=0.93, girth=1.25), BodyShape(shoulders=1.07, girth=0.85)):
        figure = Figure(shape)
        gestures = build_gestures(figure.shoulder_half / figure.reach)
        clap = gestures[MSR_ACTIONS.index("hand clap")].cycle[0].posture
        world = figure.joints(clap, GROUND)
        gap = np.linalg.norm(world[J["right_wrist"], :3, 3] - world[J["left_wrist"], :3, 3])
        assert gap < 0.1 * figure.reach


# The gesture scripts


def test_every_msr_action_has_a_script_that_returns_to_standing():
    gestures = build_gestures(FIGURE.shoulder_half / FIGURE.reach)
    assert [g.name for g in gestures] == list(MSR_ACTIONS) and len(MSR_ACTIONS) == 20
    for g in gestures:
        assert g.cycle and g.max_repetitions >= 1
        last = (g.exit or g.cycle)[-1].posture
        np.testing.assert_array_equal(last.vector(), STAND.vector())
        np.testing.assert_array_equal(g.cycle[-1].posture.vector(), g.ready.vector())
        if g.enter:
            np.testing.assert_array_equal(g.enter[-1].posture.vector(), g.ready.vector())
        assert all(k.seconds > 0 for k in (*g.enter, *g.cycle, *g.exit))


def test_posture_vectors_round_trip():
    posture = build_gestures(0.33)[MSR_ACTIONS.index("golf swing")].ready
    again = Posture.from_vector(posture.vector())
    for name in ("hands", "elbows", "feet", "toes", "pelvis", "spine", "head"):
        np.testing.assert_array_equal(getattr(again, name), getattr(posture, name))

"""The built-in MSR-Action3D stand-in: options, index, determinism, labels, motion, views,
non-triviality."""

import numpy as np
import pytest
from support import assert_reads_are_deterministic

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.sequence import SequenceInfo
from c2p4d.pipeline.worlds.gesture.figure import PART_NAMES, J
from c2p4d.pipeline.worlds.gesture.synth_gesture import (
    ACTION_NAMES,
    IDLE,
    MAX_FRAMES,
    MIN_FRAMES,
    MSR_ACTIONS,
    Plan,
    SynthGesture,
    SynthGestureConfig,
    parse_name,
    plan_sequence,
    sequence_name,
    subject,
    window,
)
from c2p4d.pipeline.worlds.render import DepthCamera, DepthSensor

TINY = dict(gestures=2, val_subjects=0, max_frames=32, points_per_frame=64, image_width=80,
            image_height=60)  # fmt: skip


def tiny(**changes) -> SynthGesture:
    return SynthGesture(SynthGestureConfig(**{**TINY, **changes}))


def tiny_plan(name: str) -> Plan:
    return plan_sequence(name, MIN_FRAMES, TINY["max_frames"])


def named(action: str, subject_number: int, episode: int = 1) -> str:
    return sequence_name(MSR_ACTIONS.index(action) + 1, subject_number, episode)


@pytest.fixture(scope="module")
def sequence():
    source = tiny()
    seq = source.index()[0]
    return source, seq, source.read(seq)


def test_index_lists_the_sequences_asked_for():
    assert len(SynthGesture.from_options(gestures=3, val_subjects=0).index()) == 3 * 10


@pytest.mark.parametrize(
    ("option", "value"),
    [  # the lower bounds, types and points_per_frame: test_sources_contract.py
        ("gestures", 21),
        ("episodes", 100),
        ("val_subjects", 90),
    ],
)
def test_bad_option_is_a_data_error_naming_it(option, value):
    with pytest.raises(DataError, match=option):
        SynthGesture.from_options(**{option: value})


def test_max_frames_below_min_frames_is_a_data_error():
    with pytest.raises(DataError, match="max_frames"):
        SynthGesture.from_options(min_frames=40, max_frames=30)


def test_info_names_msr_actions_body_parts_and_provenance():
    info = SynthGesture().info()
    assert info.label_names == MSR_ACTIONS and len(MSR_ACTIONS) == 20
    assert info.label_names[6:9] == ("draw x", "draw tick", "draw circle")
    assert info.action_names == (*MSR_ACTIONS, "idle") and ACTION_NAMES[IDLE] == "idle"
    assert info.class_names == PART_NAMES and "right_arm" in PART_NAMES
    assert "MSR-Action3D" in info.attrs["stands_in_for"]
    assert "procedural" in info.attrs["origin"] and "metres" in info.attrs["units"]
    assert info.attrs["fps"] == 15 and info.attrs["image_size"] == [320, 240]


def test_index_follows_msr_names_and_the_cross_subject_split():
    index = SynthGesture().index()
    assert len(index) == 20 * 11  # 20 actions by 10 MSR subjects and 1 validation subject
    assert (index[0].name, index[-1].name) == ("a01_s01_e01", "a20_s11_e01")
    for s in index:
        action, person, _ = parse_name(s.name)
        assert s.label == action - 1
        assert s.split == (0 if person <= 5 else 2 if person <= 10 else 1)
        assert MIN_FRAMES <= s.num_frames <= MAX_FRAMES
    lengths = np.array([s.num_frames for s in index])
    assert len(set(lengths.tolist())) > 20 and 38 < lengths.mean() < 50  # MSR: 42 on average
    episodes = SynthGesture(SynthGestureConfig(gestures=1, episodes=3, val_subjects=0)).index()
    assert [s.name for s in episodes[:4]] == [
        "a01_s01_e01", "a01_s01_e02", "a01_s01_e03", "a01_s02_e01",
    ]  # fmt: skip
    assert len({s.num_frames for s in episodes}) > 5  # episodes differ


@pytest.mark.parametrize(("least", "most"), [(50, 72), (24, 30), (60, 60)])
def test_sequence_lengths_obey_min_and_max_frames(least, most):
    config = SynthGestureConfig(min_frames=least, max_frames=most, val_subjects=0)
    for s in SynthGesture(config).index()[::7]:
        assert least <= s.num_frames <= most
        plan = plan_sequence(s.name, least, most)
        assert plan.num_frames == s.num_frames
        assert plan.script.start > 0 and plan.script.stop < s.num_frames / 15  # idle both ends


def test_sequence_matches_the_docstring_and_validates(sequence):
    source, seq, data = sequence
    t, n = seq.num_frames, TINY["points_per_frame"]
    assert data.points.shape == (t, n, 3) and data.points.dtype == np.float32
    assert data.camera.shape == (t, 4, 4) and data.camera.dtype == np.float32
    assert data.point_label.shape == (t, n) and data.point_label.dtype == np.int16
    assert data.action.shape == (t,) and data.action.dtype == np.int16
    assert data.features is None
    info = source.info()
    data.validate(
        num_frames=t,
        points_per_frame=n,
        num_classes=len(info.class_names),
        num_actions=len(info.action_names),
        num_features=0,
        where="test",
    )
    assert data.meta["action"] == "high arm wave" and data.meta["subject"] == 1


def test_the_cloud_is_the_body_without_the_floor(sequence):
    _, seq, data = sequence
    plan = tiny_plan(seq.name)
    assert set(np.unique(data.point_label).tolist()) == set(range(len(PART_NAMES)))
    assert (data.points[..., 2] < 0.01).mean() < 0.01  # the floor was dropped; soles are hidden
    height = plan.subject.figure.shape.height
    assert 0.9 * height < data.points[..., 2].max() < 1.35 * height
    around = np.linalg.norm(data.points[..., :2] - plan.ground[:2, 3], axis=-1)
    assert around.max() < 1.0  # nothing far from where the figure stands


def test_rendered_hand_rises_above_the_head_in_a_high_arm_wave(sequence):
    _, _, data = sequence
    head, hand = PART_NAMES.index("head"), PART_NAMES.index("right_arm")
    z, labels = data.points[..., 2], data.point_label
    top_of = np.array([frame[seen == head].max() for frame, seen in zip(z, labels, strict=True)])
    hand_of = np.array([frame[seen == hand].max() for frame, seen in zip(z, labels, strict=True)])
    waving = np.flatnonzero(data.action == 0)
    middle = waving[len(waving) // 3 : 2 * len(waving) // 3]  # raised, between up and down
    assert (hand_of[middle] > top_of[middle] + 0.1).all()
    idle = data.action != 0
    assert (hand_of[idle] < top_of[idle]).all()


def test_read_is_deterministic_in_any_order_process_and_after_pickling():
    assert_reads_are_deterministic("synth-gesture", TINY)


def test_the_window_casts_the_same_rays_as_the_full_image():
    """Without noise, the cropped camera sees exactly what the full image sees."""
    exact = DepthSensor(dropout=0, edge_dropout=0, grazing_cos=0, noise_floor=0, noise_quadratic=0)
    full = DepthCamera(160, 120, 57.0, exact)
    plan = plan_sequence(named("side kick", 7))
    parts = plan.parts(plan.num_frames // 2)
    cropped = window(full, plan.camera, [mesh for mesh, label in parts if label >= 0])
    assert cropped.width * cropped.height < 0.6 * full.width * full.height
    np.testing.assert_allclose(cropped.intrinsics[0, 0], full.intrinsics[0, 0], rtol=1e-12)
    rng = np.random.default_rng(0)
    a, la = full.capture(parts, plan.camera, rng)
    b, lb = cropped.capture(parts, plan.camera, rng)
    a, la, b, lb = a[la >= 0], la[la >= 0], b[lb >= 0], lb[lb >= 0]
    order_a, order_b = np.lexsort(a.T), np.lexsort(b.T)
    np.testing.assert_allclose(a[order_a], b[order_b], atol=1e-6)
    np.testing.assert_array_equal(la[order_a], lb[order_b])


def test_actions_are_idle_then_the_gesture_then_idle(sequence):
    _, seq, data = sequence
    np.testing.assert_array_equal(data.action, tiny_plan(seq.name).actions)
    for s in SynthGesture().index()[::9]:
        actions = plan_sequence(s.name).actions
        changes = np.flatnonzero(np.diff(actions)) + 1
        segments = [int(part[0]) for part in np.split(actions, changes)]
        assert segments == [IDLE, s.label, IDLE]
        assert (actions == s.label).mean() > 0.5


def test_every_class_appears_in_the_default_train_split():
    train = [s for s in SynthGesture().index() if s.split == 0]
    assert {s.label for s in train} == set(range(len(MSR_ACTIONS)))
    actions = set()
    for s in train:
        actions |= set(plan_sequence(s.name).actions.tolist())
    assert actions == set(range(len(ACTION_NAMES)))
    # every body part is on every figure; the rendered sequence test shows all of them


def test_a_subject_keeps_their_body_and_subjects_differ():
    shapes = {plan_sequence(sequence_name(a, 3, 1)).subject.figure.shape for a in (1, 9, 20)}
    assert len(shapes) == 1
    heights = [subject(k).figure.shape.height for k in range(1, 11)]
    assert len(set(heights)) == 10 and max(heights) - min(heights) > 0.15
    tempos = [subject(k).tempo for k in range(1, 11)]
    assert max(tempos) / min(tempos) > 1.15


def test_the_camera_stands_still_facing_the_figure():
    for k in (1, 6, 11):
        plan = plan_sequence(sequence_name(4, k, 1))
        eye, forward = plan.camera[:3, 3], plan.camera[:3, 2]
        away = plan.ground[:3, 3] - eye
        assert 2.7 < np.linalg.norm(away[:2]) < 3.6
        pelvis = plan.joints(0)[J["pelvis"], :3, 3] - eye
        assert np.arccos(pelvis @ forward / np.linalg.norm(pelvis)) < np.radians(10)
        assert abs(plan.camera[2, 0]) < 1e-9  # image x level
        facing = plan.ground[:2, 1] @ -away[:2] / np.linalg.norm(away[:2])
        assert facing > np.cos(np.radians(35))  # turned at most 30 degrees, and a step aside
    seq = tiny().index()[16]
    assert parse_name(seq.name)[1] == 7
    data = tiny().read(seq)
    assert (data.camera == data.camera[0]).all()


def joint_track(plan: Plan, joint: str, frame: str = "ground") -> np.ndarray:
    """[T, 3] positions of a joint over the sequence, in the figure's ground or chest frame."""
    track = []
    for t in range(plan.num_frames):
        world = plan.joints(t)
        reference = plan.ground if frame == "ground" else world[J["chest"]]
        track.append((np.linalg.inv(reference) @ world[J[joint]])[:3, 3])
    return np.array(track)


@pytest.mark.parametrize("person", [2, 8])
def test_kicks_lift_the_same_knee_and_extend_forwards_or_sideways(person):
    forward = named("forward kick", person)
    side = named("side kick", person)
    for name, along, across in ((forward, 1, 0), (side, 0, 1)):
        plan = plan_sequence(name)
        ankle = joint_track(plan, "right_ankle")
        moved = ankle - ankle[0]
        assert moved[:, 2].max() > 0.3  # the foot leaves the floor
        assert np.abs(moved[:, along]).max() > 2 * np.abs(moved[:, across]).max()
        assert moved[:, along].max() > 0.25
        standing = joint_track(plan, "left_ankle")
        assert np.abs(standing - standing[0]).max() < 1e-9


def test_waves_are_high_level_or_with_both_hands():
    for action, both, above in (
        ("high arm wave", False, True),
        ("horizontal arm wave", False, False),
        ("two hand wave", True, True),
    ):
        plan = plan_sequence(named(action, 4))
        during = np.flatnonzero(plan.actions != IDLE)
        middle = during[len(during) // 4 : 3 * len(during) // 4]
        head = joint_track(plan, "head")[middle, 2]
        right, left = (joint_track(plan, f"{s}_wrist")[middle, 2] for s in ("right", "left"))
        assert (right > head).all() == above, action
        assert (left > head).all() == both, action


def loop_area(path: np.ndarray) -> float:
    """Signed area [T, 2] a path encloses (counter-clockwise positive), over that of the
    circle of its spread: a circle gives 1 per turn, a figure eight 0."""
    centred = path - path.mean(0)
    x, y = centred.T
    area = 0.5 * (x * np.roll(y, -1) - np.roll(x, -1) * y).sum()
    return float(area / (2 * np.pi * x.std() * y.std()))


@pytest.mark.parametrize("person", [1, 6, 10])
def test_the_drawing_hand_traces_its_figure(person):
    """Seen by the figure, a circle turns clockwise once per repetition, a tick and its
    return stroke loop the other way, and the two strokes of an x cancel out."""
    areas = {}
    for action in ("draw circle", "draw tick", "draw x"):
        plan = plan_sequence(named(action, person))
        during = np.flatnonzero(plan.actions != IDLE)
        hand = joint_track(plan, "right_wrist", "chest")[during][:, [0, 2]]  # x right, z up
        areas[action] = loop_area(hand) / plan.script.repetitions
    assert areas["draw circle"] < -0.4, areas
    assert 0.15 < areas["draw tick"] < 0.6, areas
    assert abs(areas["draw x"]) < 0.15, areas


def test_bending_and_jogging_move_the_body_as_named():
    bend = plan_sequence(named("bend", 5))
    head = joint_track(bend, "head")[:, 2]
    assert head[0] - head.min() > 0.25
    jog = plan_sequence(named("jogging", 5))
    right, left = (joint_track(jog, f"{s}_ankle")[:, 2] for s in ("right", "left"))
    assert right.max() - right[0] > 0.1 and left.max() - left[0] > 0.1
    assert abs(int(right.argmax()) - int(left.argmax())) > 1  # in turn, not together


def test_idle_frames_show_a_person_standing_still():
    plan = plan_sequence(named("hammer", 9))
    idle = np.flatnonzero(plan.actions == IDLE)
    wrist = joint_track(plan, "right_wrist")[idle]
    hip = joint_track(plan, "right_hip")[idle]
    assert (wrist[:, 2] < hip[:, 2] + 0.1).all()  # arms down
    assert np.ptp(joint_track(plan, "head")[idle], axis=0).max() < 0.06  # only a sway


def test_unknown_sequence_name_is_a_data_error():
    for name in ("a21_s01_e01", "a01_s00_e01", "a1_s1_e1", "hoi00001"):
        with pytest.raises(DataError, match="a07_s03_e02"):
            tiny().read(SequenceInfo(name, MIN_FRAMES, 0))


def test_a_frame_count_from_other_options_is_a_data_error():
    seq = tiny().index()[0]
    with pytest.raises(DataError, match="min_frames"):
        tiny().read(SequenceInfo(seq.name, seq.num_frames + 1, 0))


def test_a_frame_without_points_is_a_data_error(monkeypatch):
    def floor_only(self, t):
        return [(self.floor, -1)]

    monkeypatch.setattr(Plan, "parts", floor_only)
    source = tiny()
    with pytest.raises(DataError, match=r"a01_s01_e01.*frame 0"):
        source.read(source.index()[0])


def part_centroids(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Where the head, arms and legs are relative to the torso: 15 numbers for one frame."""
    torso = points[labels == PART_NAMES.index("torso")].mean(0)
    rows = []
    for part in ("head", "left_arm", "right_arm", "left_leg", "right_leg"):
        seen = points[labels == PART_NAMES.index(part)]
        rows.append(seen.mean(0) - torso if len(seen) else np.zeros(3))
    return np.concatenate(rows)


def nearest_neighbour(train: np.ndarray, labels: np.ndarray, test: np.ndarray) -> np.ndarray:
    mean, std = train.mean(0), train.std(0) + 1e-9
    a, b = (train - mean) / std, (test - mean) / std
    return labels[np.argmin(((b[:, None] - a[None]) ** 2).sum(-1), 1)]


def test_one_frame_cannot_tell_the_actions_apart_but_a_few_frames_can():
    """1-nearest-neighbour on where the body parts are, trained on subjects 1-5 and tested on
    6-10 (MSR's protocol), over all 20 actions (chance 5 %). From one frame of the gesture,
    anywhere in it, the classifier is often wrong: waves, draws and kicks share their poses.
    Six frames spread over the gesture (their mean, spread and frame-to-frame change) say
    much more, and a network that sees the motion can learn the rest."""
    camera = DepthCamera(96, 72, 57.0)
    frames, clips, actions, people = [], [], [], []
    for action in range(1, 21):
        for person in range(1, 11):
            plan = plan_sequence(sequence_name(action, person, 1))
            during = np.flatnonzero(plan.actions != IDLE)
            rng = np.random.default_rng(person)
            some = during[np.linspace(0, len(during) - 1, 6).astype(int)]
            seen = [camera.capture(plan.parts(t), plan.camera, rng) for t in some]
            f = np.array([part_centroids(p[lab >= 0], lab[lab >= 0]) for p, lab in seen])
            frames.append(f)
            clips.append(np.concatenate([f.mean(0), f.std(0), np.abs(np.diff(f, axis=0)).mean(0)]))
            actions.append(action)
            people.append(person)
    frames, clips = np.array(frames), np.array(clips)
    actions, people = np.array(actions), np.array(people)
    train, test = people <= 5, people > 5
    one = nearest_neighbour(
        frames[train].reshape(-1, 15), np.repeat(actions[train], 6), frames[test].reshape(-1, 15)
    )
    one_frame = (one == np.repeat(actions[test], 6)).mean()
    few = nearest_neighbour(clips[train], actions[train], clips[test])
    few_frames = (few == actions[test]).mean()
    print(f"20 actions, unseen subjects: one frame {one_frame:.2f}, six frames {few_frames:.2f}")
    assert 0.15 < one_frame < 0.5
    assert few_frames > one_frame + 0.2

"""The built-in HOI4D stand-in: options, index, determinism, labels, motion, non-triviality."""

import numpy as np
import pytest
from support import assert_reads_are_deterministic

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.sequence import SequenceInfo
from c2p4d.pipeline.worlds.hoi.synth_hoi import (
    ACTION_NAMES,
    CATEGORIES,
    CLASS_NAMES,
    FIRST_OBJECT,
    HAND,
    MIN_FRAMES,
    TASK_NAMES,
    Plan,
    SynthHOI,
    SynthHOIConfig,
    plan_sequence,
    sequence_name,
)
from c2p4d.pipeline.worlds.render import look_at

TINY = dict(num_sequences=10, frames_per_sequence=MIN_FRAMES, points_per_frame=64,
            image_width=48, image_height=36)  # fmt: skip


def tiny(**changes) -> SynthHOI:
    return SynthHOI(SynthHOIConfig(**{**TINY, **changes}))


@pytest.fixture(scope="module")
def sequence():
    source = tiny()
    return source, source.read(source.index()[0])


def test_index_lists_the_sequences_asked_for():
    assert len(SynthHOI.from_options(num_sequences=3).index()) == 3


def test_info_names_every_class():
    info = SynthHOI().info()
    assert info.class_names == CLASS_NAMES and len(CLASS_NAMES) == 4 + len(CATEGORIES)
    assert info.action_names == ACTION_NAMES and len(ACTION_NAMES) >= 6
    assert info.label_names == TASK_NAMES


def test_index_is_cheap_and_fixed():
    index = SynthHOI(SynthHOIConfig(num_sequences=20_000)).index()  # no frame is made
    assert len(index) == 20_000 and len({s.name for s in index}) == 20_000
    assert all(s.num_frames == 150 for s in index[:50])
    first = SynthHOI(SynthHOIConfig(num_sequences=16)).index()
    assert index[:16] == first  # growing the dataset keeps the existing sequences
    assert [s.split for s in first[:8]] == [0, 0, 0, 0, 0, 0, 1, 2]


def test_sequence_matches_the_docstring_and_validates(sequence):
    source, data = sequence
    t, n = MIN_FRAMES, TINY["points_per_frame"]
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
    assert (data.point_label >= 0).all() and (data.action >= 0).all()  # labels everywhere


def test_points_lie_in_the_room_and_show_the_table_and_hand(sequence):
    _, data = sequence
    assert (data.points[..., 2] > -0.1).all() and (data.points[..., 2] < 3.1).all()
    classes = set(np.unique(data.point_label).tolist())
    assert {CLASS_NAMES.index("table"), HAND} <= classes


def test_read_is_deterministic_in_any_order_process_and_after_pickling():
    assert_reads_are_deterministic("synth-hoi", TINY)


def test_actions_follow_the_plan_in_contiguous_steps(sequence):
    _, data = sequence
    plan = plan_sequence(data.name, MIN_FRAMES)
    np.testing.assert_array_equal(data.action, plan.actions)
    changes = np.flatnonzero(np.diff(data.action)) + 1
    steps = np.split(data.action, changes)
    assert [int(s[0]) for s in steps] == [
        a for i, a in enumerate(plan.step_actions) if i == 0 or a != plan.step_actions[i - 1]
    ]


def test_every_class_appears_in_the_default_train_split():
    source = SynthHOI()
    train = [s for s in source.index() if s.split == 0]
    actions, classes = set(), set()
    for s in train:
        plan = plan_sequence(s.name, s.num_frames)
        actions |= set(plan.actions.tolist())
        classes |= {label for _, label in plan.static_parts} | {FIRST_OBJECT + plan.target_category}
        assert plan.task == s.label
    assert actions == set(range(len(ACTION_NAMES)))
    assert classes | {CLASS_NAMES.index("arm"), HAND} == set(range(len(CLASS_NAMES)))
    assert {s.label for s in train} == set(range(len(TASK_NAMES)))


@pytest.mark.parametrize("index", range(40))
def test_every_plan_fits_the_shortest_sequence(index):
    plan = plan_sequence(sequence_name(index), MIN_FRAMES)
    assert plan.boundaries[0] == 0 and plan.boundaries[-1] == MIN_FRAMES
    assert (np.diff(plan.boundaries) >= 2).all()
    assert plan.actions[0] == ACTION_NAMES.index("idle")


def find_plan(task: str, frames: int) -> Plan:
    return next(
        p
        for i in range(40)
        if TASK_NAMES[(p := plan_sequence(sequence_name(i), frames)).task] == task
    )


def frames_of(plan: Plan, action: str) -> np.ndarray:
    return np.flatnonzero(plan.actions == ACTION_NAMES.index(action))


@pytest.mark.parametrize("task", ["pick_and_place", "push", "rotate"])
def test_object_moves_rigidly_with_the_hand_while_held(task):
    plan = find_plan(task, 60)
    held = [t for t in range(60) if ACTION_NAMES[plan.actions[t]] in ("pick_up", "push", "rotate")]
    grips = [np.linalg.inv(plan.state(t)[0]) @ plan.state(t)[2] for t in held]
    for grip in grips:
        np.testing.assert_allclose(grip, grips[0], atol=1e-9)
    travel = plan.state(held[-1])[2][:3, 3] - plan.state(held[0])[2][:3, 3]
    turn = plan.state(held[-1])[2][:3, :3] @ plan.state(held[0])[2][:3, :3].T
    assert np.linalg.norm(travel) > 0.03 or np.arccos((np.trace(turn) - 1) / 2) > 0.3
    idle = frames_of(plan, "idle")
    np.testing.assert_array_equal(plan.state(idle[0])[2], plan.keyframes[0].object)


def test_rendered_object_rises_with_the_hand_during_pick_up():
    frames = 60
    source = tiny(frames_per_sequence=frames, points_per_frame=512, image_width=96, image_height=72)
    seq = source.index()[0]
    plan = plan_sequence(seq.name, frames)
    assert TASK_NAMES[plan.task] == "pick_and_place"
    data = source.read(seq)
    lifting = frames_of(plan, "pick_up")
    target = FIRST_OBJECT + plan.target_category

    def height(t, label):
        return data.points[t][data.point_label[t] == label].mean(0)[2]

    rise_object = height(lifting[-1], target) - height(lifting[0], target)
    rise_hand = height(lifting[-1], HAND) - height(lifting[0], HAND)
    assert rise_object > 0.04
    assert abs(rise_object - rise_hand) < 0.03


def test_camera_is_a_rigid_head_pose_looking_at_the_table():
    plan = plan_sequence(sequence_name(3), 150)
    poses = np.stack([plan.camera_pose(t) for t in range(150)])
    rotations = poses[:, :3, :3]
    np.testing.assert_allclose(
        rotations @ rotations.transpose(0, 2, 1), np.eye(3)[None].repeat(150, 0), atol=1e-9
    )
    np.testing.assert_allclose(np.linalg.det(rotations), 1.0, atol=1e-9)
    np.testing.assert_array_equal(poses[:, 3], np.tile([0, 0, 0, 1.0], (150, 1)))
    eye, forward = poses[:, :3, 3], rotations[:, :, 2]
    assert ((eye[:, 2] - plan.table.height) > 0.4).all() and (eye[:, 1] < 0).all()  # seated head
    assert (forward[:, 2] < -0.5).all()  # looking down
    hit = eye + forward * ((plan.table.height - eye[:, 2]) / forward[:, 2])[:, None]
    assert (np.abs(hit[:, 0]) < plan.table.width / 2).all()
    assert ((hit[:, 1] > 0) & (hit[:, 1] < plan.table.depth)).all()
    steps = np.linalg.norm(np.diff(eye, axis=0), axis=1)
    assert steps.max() < 0.01 and steps.sum() > 0.02  # slow, smooth, but moving
    assert (np.abs(rotations[:, 2, 0]) < 1e-9).all()  # image x stays horizontal


def test_a_frame_without_points_is_a_data_error(monkeypatch):
    def sky(self, t):
        return look_at(self.head, self.head + np.array([0, 0.1, 1.0]))

    monkeypatch.setattr(Plan, "camera_pose", sky)
    source = tiny()
    with pytest.raises(DataError, match=r"hoi00000.*frame 0"):
        source.read(source.index()[0])


def test_unknown_sequence_name_is_a_data_error():
    with pytest.raises(DataError, match="cup"):
        tiny().read(SequenceInfo("cup", MIN_FRAMES, 0))


# One frame cannot tell these actions apart; the motion across neighbouring frames can.
OPPOSITES = [("reach", "retreat"), ("grasp", "release"), ("pick_up", "put_down")]


def frame_features(data, target: int) -> np.ndarray:
    """Per frame: hand centroid, hand spread (how closed), object relative to the hand, object
    height, all measured on the rendered, labelled points; NaN where hand or object is hidden."""
    rows = []
    for points, labels in zip(data.points, data.point_label, strict=True):
        hand, obj = points[labels == HAND], points[labels == target]
        if len(hand) == 0 or len(obj) == 0:
            rows.append(np.full(8, np.nan))
            continue
        centre = hand.mean(0)
        spread = np.linalg.norm(hand - centre, axis=1).mean()
        rows.append([*centre, spread, *(obj.mean(0) - centre), obj.mean(0)[2]])
    return np.array(rows)


def knn_accuracy(x: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int = 9) -> tuple[int, int]:
    """Correct and total predictions of k-nearest-neighbours over standardised features,
    cross-validated in 3 folds of whole sequences."""
    correct = 0
    for fold in range(3):
        train, test = groups % 3 != fold, groups % 3 == fold
        mean, std = x[train].mean(0), x[train].std(0) + 1e-9
        a, b = (x[train] - mean) / std, (x[test] - mean) / std
        nearest = np.argsort(((b[:, None] - a[None]) ** 2).sum(-1), 1)[:, :k]
        votes = y[train][nearest]
        correct += sum(np.bincount(v).argmax() == t for v, t in zip(votes, y[test], strict=True))
    return int(correct), len(y)


def test_one_frame_cannot_tell_opposite_actions_apart_but_motion_can():
    frames = 40
    source = tiny(num_sequences=15, frames_per_sequence=frames, points_per_frame=512,
                  image_width=64, image_height=48)  # fmt: skip
    features, actions, groups = [], [], []
    for i, seq in enumerate(source.index()):
        data = source.read(seq)
        now = frame_features(data, FIRST_OBJECT + plan_sequence(seq.name, frames).target_category)
        t = np.arange(frames)
        motion = now[np.minimum(t + 2, frames - 1)] - now[np.maximum(t - 2, 0)]
        features.append(np.concatenate([now, motion], 1))
        actions.append(data.action)
        groups.append(np.full(frames, i))
    x, y, g = np.concatenate(features), np.concatenate(actions), np.concatenate(groups)
    seen = np.isfinite(x).all(1)  # hand and object visible in the frame and its neighbours
    x, y, g = x[seen], y[seen], g[seen]
    single, motion, total = 0, 0, 0
    for a, b in OPPOSITES:
        pair = np.isin(y, [ACTION_NAMES.index(a), ACTION_NAMES.index(b)])
        is_a = (y[pair] == ACTION_NAMES.index(a)).astype(int)
        single += knn_accuracy(x[pair, :8], is_a, g[pair])[0]
        right, count = knn_accuracy(x[pair], is_a, g[pair])
        motion, total = motion + right, total + count
    single, motion = single / total, motion / total
    print(f"opposite actions told apart: one frame {single:.2f}, with motion {motion:.2f}")
    assert single < 0.7, single
    assert motion > single + 0.2, (single, motion)


@pytest.mark.parametrize("frames", [MIN_FRAMES, 61, 150])
def test_varied_timing_keeps_every_step_and_idles_around_the_task(frames):
    for index in range(20):
        name = sequence_name(index)
        fixed, varied = plan_sequence(name, frames), plan_sequence(name, frames, True)
        assert varied.boundaries[0] == 0 and varied.boundaries[-1] == frames
        assert (np.diff(varied.boundaries) >= 2).all()
        idle = ACTION_NAMES.index("idle")
        assert varied.step_actions[0] == varied.step_actions[-1] == idle
        core = [a for a in fixed.step_actions[1:] if a != idle]
        assert [a for a in varied.step_actions[1:-1] if a != idle] == core
        assert varied.task == fixed.task and varied.target_category == fixed.target_category


def test_varied_timing_starts_the_task_at_different_times():
    """The frame-index prior it exists to weaken: with fixed timing the first reach starts
    within the first quarter of every sequence; with varied timing it starts anywhere in the
    first half, and the task's share of the sequence varies."""
    starts, shares = {}, []
    for varied in (False, True):
        firsts = []
        for index in range(40):
            plan = plan_sequence(sequence_name(index), 150, varied)
            firsts.append(frames_of(plan, "reach")[0])
            if varied:
                shares.append((plan.boundaries[-2] - plan.boundaries[1]) / 150)
        starts[varied] = np.array(firsts)
    assert starts[False].max() < 0.25 * 150
    assert starts[True].max() > 0.4 * 150 and starts[True].std() > 2 * starts[False].std()
    assert min(shares) > 0.35 and max(shares) < 0.95 and np.ptp(shares) > 0.25


def test_a_narrow_short_range_camera_sees_more_of_the_hand_and_nothing_far():
    def share_of_hand_and_farthest(**camera):
        source = tiny(num_sequences=2, **camera)
        data = source.read(source.index()[1])
        eye = data.camera[:, None, :3, 3]
        far = np.linalg.norm(data.points - eye, axis=-1).max()
        return (data.point_label == HAND).mean(), far

    wide, wide_far = share_of_hand_and_farthest()
    narrow, narrow_far = share_of_hand_and_farthest(fov_deg=45.0, max_range=1.2)
    assert narrow > 1.5 * wide
    assert wide_far > 1.5 and narrow_far < 1.2 * 1.1  # the range plus the sensor's noise


@pytest.mark.parametrize(
    ("option", "value"),
    [("fov_deg", 5.0), ("fov_deg", "wide"), ("max_range", 0.1), ("varied_timing", 1)],
)
def test_a_bad_camera_or_timing_option_is_named(option, value):
    with pytest.raises(DataError, match=option):
        SynthHOI.from_options(**{option: value})

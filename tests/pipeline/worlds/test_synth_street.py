"""The built-in Synthia 4D stand-in: options, index, determinism, classes, motion, rig,
non-triviality."""

import numpy as np
import pytest
from scipy.spatial import cKDTree
from support import assert_reads_are_deterministic

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.sequence import SequenceInfo
from c2p4d.pipeline.worlds.street.agents import EGO_FOOTPRINT
from c2p4d.pipeline.worlds.street.assets import (
    BICYCLE,
    CAR,
    LANE_MARKING,
    PEDESTRIAN,
    POLE,
    ROAD,
    TRAFFIC_LIGHT,
    TRAFFIC_SIGN,
)
from c2p4d.pipeline.worlds.street.layout import CURB
from c2p4d.pipeline.worlds.street.rig import even_sample
from c2p4d.pipeline.worlds.street.synth_street import (
    CLASS_NAMES,
    CROP,
    FPS,
    MIN_FRAMES,
    RIG_HEIGHT,
    Plan,
    SynthStreet,
    SynthStreetConfig,
    plan_sequence,
    sequence_name,
)
from c2p4d.pipeline.worlds.street.traffic import Occupancy, Path, Speeds, distance_travelled

TINY = dict(num_sequences=8, frames_per_sequence=4, points_per_frame=512,
            image_width=48, image_height=36)  # fmt: skip


def tiny(**changes) -> SynthStreet:
    return SynthStreet(SynthStreetConfig(**{**TINY, **changes}))


@pytest.fixture(scope="module")
def sequence():
    source = tiny()
    return source, source.read(source.index()[0])


@pytest.fixture(scope="module")
def plans():
    """Plans of the first 16 sequences at the default length."""
    frames = SynthStreetConfig().frames_per_sequence
    return [plan_sequence(sequence_name(i), frames) for i in range(16)]


def test_index_lists_the_sequences_asked_for():
    assert len(SynthStreet.from_options(num_sequences=3).index()) == 3


def test_classes_are_synthia_4d_in_p4transformer_order():
    # P4Transformer's datasets/synthia.py (as MeteorNet's class_mapping.py): raw SYNTHIA ids
    # named by index_to_class, kept and ordered by label_to_index (void, sky, reserved dropped).
    index_to_class = ["Void", "Sky", "Building", "Road", "Sidewalk", "Fence", "Vegetation",
                      "Pole", "Car", "Traffic Sign", "Pedestrian", "Bicycle", "Lanemarking",
                      "Reserved", "Reserved", "Traffic Light"]  # fmt: skip
    label_to_index = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15]
    expected = [index_to_class[i].lower().replace(" ", "_") for i in label_to_index]
    assert [c.replace("_", "") for c in CLASS_NAMES] == [c.replace("_", "") for c in expected]
    info = SynthStreet().info()
    assert info.class_names == CLASS_NAMES and len(CLASS_NAMES) == 12
    assert info.action_names == () and info.label_names == ()
    assert info.feature_names == ("r", "g", "b")
    assert info.views.mode == "full-circle" and info.views.up == (0.0, 0.0, 1.0)
    assert "Synthia 4D" in info.attrs["stands_in_for"]


def test_index_is_cheap_and_fixed():
    index = SynthStreet(SynthStreetConfig(num_sequences=20_000)).index()  # no frame is made
    assert len(index) == 20_000 and len({s.name for s in index}) == 20_000
    first = SynthStreet(SynthStreetConfig(num_sequences=16)).index()
    assert index[:16] == first  # growing the dataset keeps the existing sequences
    assert [s.split for s in first[:8]] == [0, 0, 0, 0, 0, 0, 1, 2]
    assert all(s.label == -1 and s.num_frames == 24 for s in first)


def test_sequence_matches_the_docstring_and_validates(sequence):
    source, data = sequence
    t, n = TINY["frames_per_sequence"], TINY["points_per_frame"]
    assert data.points.shape == (t, n, 3) and data.points.dtype == np.float32
    assert data.camera.shape == (t, 4, 4) and data.camera.dtype == np.float32
    assert data.point_label.shape == (t, n) and data.point_label.dtype == np.int16
    assert data.features.shape == (t, n, 3) and data.features.dtype == np.float32
    assert data.action is None
    info = source.info()
    data.filled().validate(
        num_frames=t,
        points_per_frame=n,
        num_classes=len(info.class_names),
        num_actions=len(info.action_names),
        num_features=len(info.feature_names),
        where="test",
    )
    assert (data.point_label >= 0).all()  # every point has a class
    assert (data.features >= 0).all() and (data.features <= 1).all()
    np.testing.assert_array_equal(data.filled().action, -1)


def test_each_frame_is_a_complete_cloud_around_the_rig(sequence):
    _, data = sequence
    for points, camera in zip(data.points, data.camera, strict=True):
        offset = points - camera[:3, 3]
        assert (np.abs(offset).max(1) < CROP).all()  # MeteorNet's 25 m Chebyshev crop
        assert (points[:, 2] > -0.3).all()
        azimuth = np.arctan2(offset[:, 1], offset[:, 0])
        sectors = np.histogram(azimuth, bins=8, range=(-np.pi, np.pi))[0]
        assert (sectors > 0.02 * len(points)).all()  # seen all around, not one camera's view


def test_read_is_deterministic_in_any_order_process_and_after_pickling():
    assert_reads_are_deterministic("synth-street", TINY)


def test_every_class_is_in_view_in_the_default_train_split():
    source = SynthStreet()
    seen = set()
    for s in source.index():
        if s.split == 0:
            plan = plan_sequence(s.name, s.num_frames)
            seen |= {p.label for p in plan.parts(s.num_frames // 2)}
    assert seen == set(range(len(CLASS_NAMES)))


def test_the_ego_car_drives_down_its_lane_with_small_speed_changes(plans):
    for plan in plans:
        track = plan.ego.track
        speed = track.speed(FPS)
        assert (speed > 4).all() and (speed < 12).all()
        assert np.abs(np.diff(speed)).max() * FPS < 2.5  # m/s², gentle
        assert speed.max() - speed.min() > 0.05  # but it does change
        lane = [plan.street.lane_y(1, k) for k in range(plan.street.lanes)]
        assert min(abs(track.pose[0, 1] - y) for y in lane) < 1e-9
        poses = np.stack([plan.camera_pose(t) for t in range(plan.num_frames)])
        rotations = poses[:, :3, :3]
        identity = np.broadcast_to(np.eye(3), rotations.shape)
        np.testing.assert_allclose(rotations @ rotations.transpose(0, 2, 1), identity, atol=1e-9)
        np.testing.assert_allclose(np.linalg.det(rotations), 1.0, atol=1e-9)
        assert (rotations[:, 0, 2] > 0.99).all()  # the front camera looks along the street
        assert (np.abs(poses[:, 2, 3] - RIG_HEIGHT) < 0.05).all()
        assert (np.abs(poses[:, 1, 3] - track.pose[0, 1]) < 0.2).all()  # stays in its lane


def test_rig_cameras_share_the_eye_and_look_around_the_car():
    source = tiny()
    front = plan_sequence(sequence_name(0), 3).camera_pose(0)
    poses = source.rig.poses(front)
    np.testing.assert_array_equal(poses[0], front)
    forward = np.array([p[:3, 2] for p in poses])
    quarter_turns = np.array([[0, 1, 2, 1], [1, 0, 1, 2], [2, 1, 0, 1], [1, 2, 1, 0]])
    np.testing.assert_allclose(forward @ forward.T, np.cos(quarter_turns * np.pi / 2), atol=1e-9)
    left = np.cross(-front[:3, 1], front[:3, 2])  # up x forward
    np.testing.assert_allclose(forward[1], left, atol=1e-9)  # the second camera looks left
    for p in poses:
        np.testing.assert_allclose(p[:3, 3], front[:3, 3])
        np.testing.assert_allclose(p[:3, 1], front[:3, 1], atol=1e-9)  # same image 'down'


def test_nothing_on_the_street_ever_touches_anything_else(plans):
    for plan in plans:
        occupancy = Occupancy(plan.num_frames)
        occupancy.add(plan.ego.track, EGO_FOOTPRINT)
        for agent in plan.agents:
            assert occupancy.clear(agent.track, agent.footprint), (agent.kind, agent.behaviour)
            occupancy.add(agent.track, agent.footprint)


def agents_of(plans: list[Plan], behaviour: str):
    return [(plan, a) for plan in plans for a in plan.agents if a.behaviour == behaviour]


def test_traffic_moves_as_scripted(plans):
    behaviours = {a.behaviour for plan in plans for a in plan.agents}
    assert {"cruise", "turn", "wait", "walk", "cross", "ride", "parked", "stand"} <= behaviours
    for _, car in agents_of(plans, "cruise"):
        assert np.ptp(car.track.pose[:, 1]) < 1e-9  # keeps its lane
        assert (car.track.speed(FPS) > 3).all()
    for _, car in agents_of(plans, "turn"):
        turned = np.unwrap(car.track.pose[:, 2]) - car.track.pose[0, 2]
        assert (np.diff(turned) <= 1e-9).all() and turned[-1] >= -np.pi / 2 - 1e-9  # right turns
    for plan, car in agents_of(plans, "wait"):
        s = plan.street
        front = np.abs(car.track.pose[:, 1]) - 2.5  # cars are at most 5 m long
        assert (front > s.half_road).all()  # never enters the main street
        assert car.track.speed(FPS)[-1] < car.track.speed(FPS)[0] + 1e-9  # slowing or stopped
    for plan, person in agents_of(plans, "walk"):
        y = np.abs(person.track.pose[:, 1])
        assert (y > plan.street.half_road + 1).all() and (y < plan.street.facade).all()
        assert (person.track.speed(FPS) > 0.5).all()
    for plan, person in agents_of(plans, "cross"):
        on_road = np.abs(person.track.pose[:, 1]) < plan.street.half_road
        zebras = [c.zebra for c in plan.street.crossings]
        x = person.track.pose[on_road, 0]
        assert all(any(a - 1.5 < v < b + 1.5 for a, b in zebras) for v in x)
    for plan, rider in agents_of(plans, "ride"):
        direction = np.sign(np.cos(rider.track.pose[0, 2]))
        assert (np.diff(rider.track.pose[:, 0]) * direction > 0).all()  # rides forwards
        assert np.abs(rider.track.pose[0, 1]) < plan.street.half_road  # on the road
        assert rider.track.pose[0, 1] * direction < 0  # on its right-hand side


def test_turning_and_stopping_cars_do_turn_and_stop():
    frames = 60  # long enough to see whole manoeuvres
    plans = [plan_sequence(sequence_name(i), frames) for i in range(8)]
    turns = [np.ptp(c.track.pose[:, 2]) for _, c in agents_of(plans, "turn")]
    assert turns and max(turns) == pytest.approx(np.pi / 2)  # a quarter turn, completed
    halted = [c.track.speed(FPS).min() for _, c in agents_of(plans, "wait")]
    assert halted and min(halted) < 1e-6


def in_box(points: np.ndarray, pose: np.ndarray, half: tuple[float, float]) -> np.ndarray:
    """Which points lie in a box of half sizes (along, across) at a track pose (x, y, heading)."""
    offset = points[:, :2] - pose[:2]
    along = offset @ [np.cos(pose[2]), np.sin(pose[2])]
    across = offset @ [-np.sin(pose[2]), np.cos(pose[2])]
    return (np.abs(along) < half[0]) & (np.abs(across) < half[1])


def test_rendered_cars_and_people_move_with_their_tracks():
    """A moving car's or walker's points are found in its body's box posed by its track at
    the same frame, and hardly any in the box where it was at the first frame."""
    frames = 16
    source = tiny(frames_per_sequence=frames, points_per_frame=8192, image_width=96,
                  image_height=72)  # fmt: skip
    seq = source.index()[1]
    plan = plan_sequence(seq.name, frames)
    data = source.read(seq)
    t = frames - 1
    found = {"car": [0, 0], "pedestrian": [0, 0]}  # points in the box now, and of those at first
    for agent in plan.agents:
        if agent.behaviour not in ("cruise", "walk"):
            continue
        label, half = (CAR, (2.8, 1.1)) if agent.kind == "car" else (PEDESTRIAN, (0.5, 0.5))
        if np.linalg.norm(agent.track.pose[t, :2] - agent.track.pose[0, :2]) < 2 * half[0] + 0.3:
            continue  # too slow to tell the frames apart
        own = (data.point_label[t] == label) & in_box(data.points[t], agent.track.pose[t], half)
        found[agent.kind][0] += own.sum()
        found[agent.kind][1] += in_box(data.points[t, own], agent.track.pose[0], half).sum()
    for kind, (now, before) in found.items():
        assert now >= 20, kind
        assert before < 0.2 * now, kind


def test_lane_markings_lie_flush_with_the_road(sequence):
    _, data = sequence
    heights = {c: data.points[data.point_label == c][:, 2] for c in (ROAD, LANE_MARKING)}
    assert len(heights[LANE_MARKING]) > 0
    assert np.abs(np.median(heights[LANE_MARKING]) - np.median(heights[ROAD])) < 0.03
    assert np.median(heights[ROAD]) < CURB / 2


def test_path_pieces_join_and_continue_straight():
    radius = 4.0
    path = Path((1.0, 2.0), 0.0, ((3.0, 0.0), (radius * np.pi / 2, -1 / radius)))
    end = 3.0 + radius * np.pi / 2
    x, y, h = path.at(np.array([-2.0, 3.0, end, end + 5])).T
    np.testing.assert_allclose(x, [-1.0, 4.0, 4.0 + radius, 4.0 + radius], atol=1e-12)
    np.testing.assert_allclose(y, [2.0, 2.0, 2.0 - radius, 2.0 - radius - 5], atol=1e-12)
    np.testing.assert_allclose(h, [0, 0, -np.pi / 2, -np.pi / 2], atol=1e-12)
    s = np.linspace(0, path.length, 200)
    steps = np.linalg.norm(np.diff(path.at(s)[:, :2], axis=0), axis=1)
    np.testing.assert_allclose(steps, s[1] - s[0], rtol=1e-3)  # unit speed along the curve


def test_speeds_integrate_and_halt():
    assert distance_travelled(Speeds((0.0,), (2.0,)), np.array([0.0, 1.0, 3.5])) == pytest.approx(
        [0.0, 2.0, 7.0])  # fmt: skip
    stop = Speeds.stop_and_go(6.0, brake=1.0, halt=2.0, go=0.0, ease=2.0)
    v = stop(np.array([0.0, 1.0, 3.0, 4.9, 5.0, 7.0, 9.0]))
    np.testing.assert_allclose(v, [6, 6, 0, 0, 0, 6, 6], atol=1e-12)
    covered = distance_travelled(stop, np.array([1.0, 3.0]))
    assert covered[1] - covered[0] == pytest.approx(6.0, rel=1e-3)  # min jerk: half the speed


def test_even_sample_spreads_points_over_space():
    rng = np.random.default_rng(0)
    dense = rng.uniform(0, 1, (9000, 3))  # 9000 points in 1 m³
    sparse = rng.uniform(0, 10, (1000, 3)) + 5  # 1000 in 1000 m³
    points = np.concatenate([dense, sparse])
    keep = even_sample(points, 1000, 0.5, np.random.default_rng(1))
    assert len(np.unique(keep)) == 1000
    assert (keep >= 9000).mean() > 0.8  # uniform sampling would give 0.1
    again = even_sample(points, 1000, 0.5, np.random.default_rng(1))
    np.testing.assert_array_equal(keep, again)
    few = even_sample(points[:10], 25, 0.5, rng)
    assert len(few) == 25 and set(few.tolist()) == set(range(10))


def test_a_frame_without_points_is_a_data_error(monkeypatch):
    monkeypatch.setattr(Plan, "parts", lambda self, t, reach=CROP: [])
    source = tiny()
    with pytest.raises(DataError, match=r"street00000.*frame 0"):
        source.read(source.index()[0])


def test_unknown_sequence_name_is_a_data_error():
    with pytest.raises(DataError, match="hoi00001"):
        tiny().read(SequenceInfo("hoi00001", 4, 0))
    with pytest.raises(DataError, match="frames"):
        plan_sequence(sequence_name(0), MIN_FRAMES - 1)


# Height and colour help but do not give the class away; local shape does better.
SMALL = [POLE, TRAFFIC_SIGN, PEDESTRIAN, BICYCLE, TRAFFIC_LIGHT]


def local_shape(points: np.ndarray) -> np.ndarray:
    """Per point: linearity, planarity, scattering and verticality of its 16 nearest
    neighbours, their vertical extent, and its height above the lowest of 32 nearby points."""
    _, nn = cKDTree(points).query(points, k=16)
    around = points[nn]
    centred = around - around.mean(1, keepdims=True)
    values, vectors = np.linalg.eigh(np.einsum("nki,nkj->nij", centred, centred) / 16)
    l3, l2, l1 = (np.maximum(values, 1e-9)[:, i] for i in range(3))
    _, flat = cKDTree(points[:, :2]).query(points[:, :2], k=32)
    return np.stack(
        [
            (l1 - l2) / l1,
            (l2 - l3) / l1,
            l3 / l1,
            np.abs(vectors[:, 2, 0]),
            np.ptp(around[:, :, 2], axis=1),
            points[:, 2] - points[flat, 2].min(1),
        ],
        1,
    )


def naive_bayes(train_x, train_y, test_x, bins: int = 24) -> np.ndarray:
    """Classes of test points by naive Bayes over per-feature histograms (quantile bins fitted
    on the training points, add-one smoothing): a fair baseline for cues of any scale."""
    classes = len(CLASS_NAMES)
    score = np.tile(np.log(np.bincount(train_y, minlength=classes) + 1.0), (len(test_x), 1))
    for f in range(train_x.shape[1]):
        edges = np.quantile(train_x[:, f], np.linspace(0, 1, bins + 1)[1:-1])
        counts = np.ones((classes, bins))
        np.add.at(counts, (train_y, np.searchsorted(edges, train_x[:, f])), 1)
        log_p = np.log(counts / counts.sum(1, keepdims=True))
        score += log_p[:, np.searchsorted(edges, test_x[:, f])].T
    return score.argmax(1)


def iou(truth: np.ndarray, guess: np.ndarray, c: int) -> float:
    return ((truth == c) & (guess == c)).sum() / max(((truth == c) | (guess == c)).sum(), 1)


def test_height_and_colour_do_not_give_small_classes_away_but_shape_helps():
    """A per-point classifier tested on held-out streets: colour adds to height (lane markings
    lie flush with the road and only their paint tells them apart), but height and colour
    leave the small classes (poles, signs, lights, people, bicycles) far from solved; the
    shape of a point's neighbourhood tells much more, so the task is learnable from geometry."""
    source = tiny(num_sequences=9, frames_per_sequence=3, points_per_frame=4096, image_width=96,
                  image_height=72)  # fmt: skip
    cues, labels, groups = [], [], []
    for i, seq in enumerate(source.index()):
        data = source.read(seq)
        for points, colours, label in zip(data.points, data.features, data.point_label,
                                          strict=True):  # fmt: skip
            shape = local_shape(points.astype(np.float64))
            cues.append(np.concatenate([points[:, 2:], colours, shape], 1))
            labels.append(label)
            groups.append(np.full(len(label), i))
    x, y, g = np.concatenate(cues), np.concatenate(labels).astype(np.int64), np.concatenate(groups)
    scores = {}
    for name, columns in (("height", 1), ("height+rgb", 4), ("+shape", x.shape[1])):
        per_class = []
        for fold in range(3):  # whole sequences held out
            train, test = g % 3 != fold, g % 3 == fold
            guess = naive_bayes(x[train, :columns], y[train], x[test, :columns])
            per_class.append([iou(y[test], guess, c) for c in range(len(CLASS_NAMES))])
        scores[name] = np.mean(per_class, 0)
    print({n: dict(zip(CLASS_NAMES, s.round(2), strict=True)) for n, s in scores.items()})
    mean = {name: s.mean() for name, s in scores.items()}
    small = {name: s[SMALL].mean() for name, s in scores.items()}
    assert scores["height"][LANE_MARKING] < 0.1 < 0.3 < scores["height+rgb"][LANE_MARKING]
    assert mean["height+rgb"] > mean["height"] + 0.05, mean  # colour helps...
    assert small["height+rgb"] < 0.15, small  # ...but does not give the small classes away
    assert mean["+shape"] > mean["height+rgb"] + 0.08, mean
    assert small["+shape"] > small["height+rgb"] + 0.08, small

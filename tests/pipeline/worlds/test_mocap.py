"""The mocap dataset: pybullet's motion clips read as pybullet reads them, rendered to depth
exactly, labelled by body part and clip, deterministic, and hard to tell from one frame."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import open3d as o3d
import pytest
from support import assert_reads_are_deterministic

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.sequence import SequenceInfo
from c2p4d.pipeline.sources import get_source
from c2p4d.pipeline.worlds import meshes
from c2p4d.pipeline.worlds.mocap.humanoid import (
    CLIP_NAMES,
    REVOLUTE_JOINTS,
    SPHERICAL_JOINTS,
    URDF_SCALE,
    Humanoid,
    Rendered,
    load_clip,
    render,
    require_pybullet,
    sense,
)
from c2p4d.pipeline.worlds.mocap.mocap import (
    FOV_DEG,
    PART_NAMES,
    PART_OF_LINK,
    SPLIT_OF_EPISODE,
    Mocap,
    MocapConfig,
    depth_camera,
    plan_sequence,
    sequence_name,
)
from c2p4d.pipeline.worlds.render import DepthCamera, DepthSensor, look_at

pybullet, DATA = require_pybullet()
CLEAN = DepthSensor(
    noise_floor=0, noise_quadratic=0, dropout=0, edge_dropout=0, grazing_cos=0, max_range=100
)
TINY = dict(num_sequences=15, frames_per_sequence=12, points_per_frame=256,
            image_width=80, image_height=60)  # fmt: skip
WALK = CLIP_NAMES.index("walk")


def tiny(**changes) -> Mocap:
    return Mocap(MocapConfig(**{**TINY, **changes}))


@pytest.fixture(scope="module")
def sequence():
    source = tiny()
    return source, source.read(source.index()[WALK])


def test_index_lists_the_sequences_asked_for():
    assert len(Mocap.from_options(num_sequences=3).index()) == 3


@pytest.mark.parametrize(
    ("option", "value"),
    [  # the options every source checks: test_sources_contract.py
        ("fps", 0),
        ("fps", "15"),
        ("fps", float("nan")),
        ("camera_orbit", -1.0),
        ("camera_orbit", 90),
    ],
)
def test_bad_option_is_a_data_error_naming_it(option, value):
    with pytest.raises(DataError, match=option):
        Mocap.from_options(**{option: value})


def test_too_short_for_the_clips_is_a_data_error_naming_both():
    with pytest.raises(DataError, match="frames_per_sequence.*clips_per_sequence=4"):
        Mocap.from_options(clips_per_sequence=4, frames_per_sequence=20)


def test_without_pybullet_the_error_names_the_package_and_the_install(monkeypatch):
    source = tiny()  # made where pybullet is, then read where it is not (a Dask worker)
    monkeypatch.setitem(sys.modules, "pybullet", None)  # what `import pybullet` then raises on
    with pytest.raises(DataError, match=r"'pybullet' is not installed.*pip install pybullet=="):
        get_source("mocap")
    with pytest.raises(DataError, match="pybullet"):
        source.read(source.index()[0])


def test_importing_the_source_does_not_import_pybullet():
    code = (
        "import sys; import c2p4d.pipeline.worlds.mocap.mocap, "
        "c2p4d.pipeline.worlds.mocap.humanoid; "
        "print('pybullet' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


def test_info_says_the_motion_is_real_and_the_depth_rendered():
    info = tiny().info()
    assert info.class_names == PART_NAMES
    assert info.action_names == info.label_names == CLIP_NAMES and len(CLIP_NAMES) == 15
    assert "REAL MOTION" in info.attrs["origin"] and "RENDERED DEPTH" in info.attrs["origin"]
    assert "pybullet" in info.attrs["origin"]
    assert set(PART_OF_LINK.tolist()) == set(range(len(PART_NAMES)))  # every part is a link


def test_index_is_cheap_fixed_and_split_by_episode():
    index = Mocap(MocapConfig(num_sequences=20_000)).index()  # no frame is made
    assert len({s.name for s in index}) == 20_000 and index[:90] == Mocap().index()
    clips = len(CLIP_NAMES)
    for i, s in enumerate(index[:200]):
        assert s.label == i % clips
        assert s.split == SPLIT_OF_EPISODE[(i // clips) % len(SPLIT_OF_EPISODE)]
    default = Mocap().index()
    for split in range(3):  # every clip in every split at the default size
        assert {s.label for s in default if s.split == split} == set(range(clips))
    joined = Mocap(MocapConfig(clips_per_sequence=2)).index()
    assert all(s.label == -1 for s in joined)  # no one label for a sequence of several clips


def test_clips_are_read_as_pybullets_own_deep_mimic_code_reads_them():
    path = (
        Path(pybullet.__file__).parent
        / "pybullet_envs/deep_mimic/env/humanoid_pose_interpolator.py"
    )
    spec = importlib.util.spec_from_file_location("interpolator", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the package's __init__ needs gym; this file does not
    reference = module.HumanoidPoseInterpolator()
    for name in ("kick", "getup_faceup", "walk"):
        frames = json.loads((DATA / f"data/motions/humanoid3d_{name}.txt").read_text())["Frames"]
        clip = load_clip(name)
        # A looping clip's keyframes are adjusted to close the loop, all but the first.
        keys = [(0, 0.0)] if clip.loop else [(3, 0.25), (17, 0.8), (30, 0.0)]
        for k, fraction in keys:
            theirs = np.array(reference.Slerp(fraction, frames[k], frames[k + 1], pybullet))
            time = clip.times[k] + fraction * (clip.times[k + 1] - clip.times[k])
            ours = clip.sample(np.array([time]))
            np.testing.assert_allclose(ours.root_position[0], theirs[:3], atol=1e-6)
            columns, at = {}, 7
            for joint in (1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13):  # DeepMimic joint order
                size = 4 if joint in SPHERICAL_JOINTS else 1
                columns[joint], at = theirs[at : at + size], at + size
            pairs = [(ours.root_rotation[0], theirs[3:7])] + [
                (ours.spherical[0, i], columns[j]) for i, j in enumerate(SPHERICAL_JOINTS)
            ]
            for q, r in pairs:  # the same rotation, q = +-r, to 0.06 degrees (pybullet
                # interpolates the file's slightly unnormalised quaternions as they are)
                assert 2 * np.arccos(min(abs(q @ r) / np.linalg.norm(r), 1.0)) < 1e-3
            revolute = [columns[j][0] for j in REVOLUTE_JOINTS]
            np.testing.assert_allclose(ours.revolute[0], revolute, atol=1e-6)


def rotation_steps(quaternions: np.ndarray) -> np.ndarray:
    """Angles (radians) between consecutive rotations [T, ..., 4] -> [T - 1, ...]."""
    dots = np.abs(np.sum(quaternions[1:] * quaternions[:-1], -1))
    return 2 * np.arccos(np.clip(dots, 0, 1))


@pytest.mark.parametrize("name", ["walk", "run", "dance_a", "spin"])
def test_a_looping_clip_repeats_without_a_jump_and_advances_each_cycle(name):
    clip = load_clip(name)
    times = np.arange(0, 3 * clip.duration, 1 / 120)
    poses = clip.sample(times)
    seam = np.flatnonzero(np.diff(np.floor(times / clip.duration)))  # steps across the seams
    for steps in (
        np.linalg.norm(np.diff(poses.root_position, axis=0), axis=1),
        rotation_steps(poses.root_rotation),
        rotation_steps(poses.spherical).max(1),
        np.abs(np.diff(poses.revolute, axis=0)).max(1),
    ):
        assert steps[seam].max() <= np.percentile(steps, 99)  # as smooth as anywhere else
    later = clip.sample(np.array([0.3 + 2 * clip.duration])).root_position[0]
    first = clip.sample(np.array([0.3])).root_position[0]
    np.testing.assert_allclose(later, first + 2 * clip.cycle[:3, 3], atol=1e-9)


def test_walking_advances_over_a_metre_a_cycle():
    walk = load_clip("walk")
    assert np.linalg.norm(walk.cycle[:3, 3]) > 1.0
    assert walk.cycle[1, 3] == 0  # along the floor (y is up in the clips)


def box_depth_reference(camera: DepthCamera, pose: np.ndarray, half, centre) -> np.ndarray:
    box = meshes.box(tuple(2 * np.asarray(half)), tuple(centre))
    scene = o3d.t.geometry.RaycastingScene(nthreads=1)
    scene.add_triangles(
        o3d.core.Tensor(box.vertices.astype(np.float32)),
        o3d.core.Tensor(box.triangles.astype(np.uint32)),
    )
    hits = scene.cast_rays(o3d.core.Tensor(camera.rays(pose)), nthreads=1)
    return hits["t_hit"].numpy().reshape(camera.height, camera.width)


@pytest.mark.parametrize("eye", [(3.0, -2.0, 2.0), (0.4, 0.3, 4.0), (-2.0, 2.5, 0.5)])
def test_rendered_depth_matches_ray_casting_pixel_for_pixel(eye):
    """pybullet's nonlinear depth buffer, turned back into depth along the optical axis with
    our view/projection matrices, equals the project's own ray caster on the same box: same
    pixels hit, depth to 0.1 mm; and back-projected, the points lie on the box."""
    half, centre = np.array([0.3, 0.5, 0.4]), np.array([0.4, 0.3, 1.2])
    camera = DepthCamera(96, 72, 60, CLEAN)
    pose = look_at(np.array(eye), np.array([0, 0, 1.0]))
    client = pybullet.connect(pybullet.DIRECT)
    try:
        shape = pybullet.createCollisionShape(
            pybullet.GEOM_BOX, halfExtents=half.tolist(), physicsClientId=client
        )
        body = pybullet.createMultiBody(
            0, shape, basePosition=centre.tolist(), physicsClientId=client
        )
        image = render(pybullet, client, pose, camera, 0.1, 20.0)
    finally:
        pybullet.disconnect(client)
    depth = np.full((camera.height, camera.width), np.inf)  # the cut-out back in the image
    rows, cols = image.depth.shape
    depth[image.top : image.top + rows, image.left : image.left + cols] = image.depth
    reference = box_depth_reference(camera, pose, half, centre)
    hit = np.isfinite(depth)
    np.testing.assert_array_equal(hit, np.isfinite(reference))
    assert hit.sum() > 500 and image.depth.size < hit.size / 4  # cut to the box
    np.testing.assert_allclose(depth[hit], reference[hit], atol=1e-4)
    seen = np.isfinite(image.depth)
    assert (image.body[seen] == body).all() and (image.body[~seen] == -1).all()
    assert (image.link == -1).all()  # the box is the base of its body
    points, _ = sense(camera, image, pose, np.random.default_rng(0))
    assert len(points) == hit.sum()
    outside = np.abs(points - centre) / half
    assert np.abs(outside.max(1) - 1).max() < 1e-3  # on the surface of the box


def test_sensor_noise_and_holes_grow_with_distance():
    camera = DepthCamera(96, 72, 60)  # the default, noisy sensor
    flat = np.full((72, 96), 1.0)
    links = np.zeros(flat.shape, np.int64)
    pose = np.eye(4)
    near, _ = sense(camera, Rendered(flat, links, links, 0, 0), pose, np.random.default_rng(1))
    far, _ = sense(camera, Rendered(3 * flat, links, links, 0, 0), pose, np.random.default_rng(1))
    assert 0.9 * flat.size < len(near) < flat.size  # some random dropout
    assert np.std(near[:, 2] - 1) < np.std(far[:, 2] - 3) / 4


def test_body_points_lie_on_the_links_they_are_labelled_with():
    """Noise-free: the points of each round part lie on the sphere pybullet placed there."""
    plan = plan_sequence(sequence_name(WALK), MocapConfig())
    camera = DepthCamera(320, 240, FOV_DEG, CLEAN)
    spheres = {0: 0.36, 1: 0.44, 2: 0.41, 8: 0.16, 14: 0.16}  # radii in humanoid.urdf
    with Humanoid(plan.scale) as body:
        body.set_pose(plan.poses, 5)
        image = body.render(plan.cameras[5], camera, 0.1, 20.0)
        points, labels = sense(camera, image, plan.cameras[5], np.random.default_rng(0))
        for index, radius in spheres.items():
            state = body.pybullet.getLinkState(body.body, index, physicsClientId=body.client)
            centre = np.array(state[0])  # the centre of mass: the sphere's centre here
            distance = np.linalg.norm(points[labels == index] - centre, axis=1)
            assert (labels == index).sum() > 5, index
            np.testing.assert_allclose(distance, radius * URDF_SCALE * plan.scale, rtol=0.08)
        base = body.pybullet.getBasePositionAndOrientation(body.body, physicsClientId=body.client)
    np.testing.assert_allclose(base[0], plan.poses.root_position[5], atol=1e-6)
    parts = PART_OF_LINK[labels]
    head, feet = (points[parts == PART_NAMES.index(p)] for p in ("head", "foot"))
    assert head[:, 2].min() > 1.3 * plan.scale and feet[:, 2].max() < 0.3  # standing on z = 0


def test_sequence_has_the_documented_shapes_and_validates(sequence):
    source, data = sequence
    t, n = TINY["frames_per_sequence"], TINY["points_per_frame"]
    assert data.points.shape == (t, n, 3) and data.points.dtype == np.float32
    assert data.camera.shape == (t, 4, 4) and data.camera.dtype == np.float32
    assert data.point_label.shape == (t, n) and data.point_label.dtype == np.int16
    assert data.action.shape == (t,) and data.action.dtype == np.int16
    info = source.info()
    data.validate(
        num_frames=t,
        points_per_frame=n,
        num_classes=len(info.class_names),
        num_actions=len(info.action_names),
        num_features=0,
        where="test",
    )
    assert (data.action == WALK).all() and data.meta["clips"] == ["walk"]
    assert {PART_NAMES.index("head"), PART_NAMES.index("foot")} <= set(data.point_label.flat)


def test_read_is_deterministic_in_any_order_process_and_after_pickling():
    assert_reads_are_deterministic("mocap", {**TINY, "num_sequences": 3, "frames_per_sequence": 8})


def test_the_body_points_follow_the_walking_root(sequence):
    """The motion is the clip's: the centroid of the rendered body keeps near the root the
    clip moves, and walks with it."""
    _, data = sequence
    plan = plan_sequence(data.name, tiny().config)
    root = plan.poses.root_position
    centroid = data.points.astype(np.float64).mean(1)
    assert np.linalg.norm(centroid[:, :2] - root[:, :2], axis=1).max() < 0.2
    walked = root[-1, :2] - root[0, :2]
    assert np.linalg.norm(walked) > 0.5  # 11 frames at 15 fps: about 0.7 s of walking
    travel = centroid[-1, :2] - centroid[0, :2]
    assert np.linalg.norm(travel - walked) < 0.12
    assert np.abs(centroid[:, 2] - root[:, 2]).max() < 0.25


def test_cameras_are_static_sensors_that_keep_the_body_in_view():
    config = MocapConfig()
    camera = depth_camera(config)
    azimuths = []
    for i in range(30):
        plan = plan_sequence(sequence_name(i), config)
        poses = plan.cameras
        rotations = poses[:, :3, :3]
        gram = np.einsum("tji,tjk->tik", rotations, rotations)
        np.testing.assert_allclose(gram, np.broadcast_to(np.eye(3), gram.shape), atol=1e-9)
        np.testing.assert_allclose(np.linalg.det(rotations), 1)
        root = plan.poses.root_position
        local = np.einsum("tji,tj->ti", rotations, root - poses[:, :3, 3])
        assert (local[:, 2] > 1.5).all()  # in front, at a distance
        k = camera.intrinsics
        pixels = local[:, :2] / local[:, 2:] * k[0, 0] + k[:2, 2]
        assert ((pixels >= 0) & (pixels < [camera.width, camera.height])).all()
        moving = np.ptp(poses[:, :3, 3], axis=0).max() > 1e-9
        if CLIP_NAMES[plan.clips[0]] == "run":
            assert moving  # a runner would leave any tripod's range: the sensor follows
        elif CLIP_NAMES[plan.clips[0]] not in ("walk", "cartwheel"):
            assert not moving  # a tripod
        azimuths.append(np.arctan2(*(poses[0, :2, 3] - root.mean(0)[:2])[::-1]))
    assert np.ptp(np.unwrap(np.sort(azimuths))) > np.radians(270)  # from all around
    orbiting = plan_sequence(sequence_name(2), MocapConfig(camera_orbit=10.0)).cameras[:, :3, 3]
    steps = np.linalg.norm(np.diff(orbiting, axis=0), axis=1)
    assert steps.min() > 0 and steps.max() < 0.1  # slowly circling


def test_joined_clips_label_every_frame_with_the_clip_playing():
    config = MocapConfig(clips_per_sequence=3, frames_per_sequence=60)
    for i in range(20):
        plan = plan_sequence(sequence_name(i), config)
        actions = plan.actions
        assert actions.shape == (60,) and actions.dtype == np.int16
        changes = np.flatnonzero(np.diff(actions)) + 1
        runs = np.split(actions, changes)
        assert [int(r[0]) for r in runs] == list(plan.clips)  # contiguous, one run per clip
        assert plan.clips[0] == i % len(CLIP_NAMES)
        assert all(a != b for a, b in zip(plan.clips, plan.clips[1:], strict=False))
        assert min(len(r) for r in runs) >= config.segment_frames
        steps = np.linalg.norm(np.diff(plan.poses.root_position, axis=0), axis=1)
        assert steps.max() < 0.45  # no jump where clips meet: a blend, at most a sprint
    train = [s for s in Mocap(config).index() if s.split == 0]
    seen = set()
    for s in train:
        seen |= set(plan_sequence(s.name, config).actions.tolist())
    assert seen == set(range(len(CLIP_NAMES)))


def test_joined_sequence_reads_and_validates():
    source = tiny(num_sequences=2, clips_per_sequence=2, frames_per_sequence=20)
    data = source.read(source.index()[1])
    assert len(set(data.action.tolist())) == 2 and data.meta["clips"][0] == CLIP_NAMES[1]
    data.validate(num_frames=20, points_per_frame=256, num_classes=len(PART_NAMES),
                  num_actions=len(CLIP_NAMES), num_features=0, where="test")  # fmt: skip


def test_unknown_sequence_name_is_a_data_error():
    with pytest.raises(DataError, match="mocap00007"):
        tiny().read(SequenceInfo("walk", 12, 0))


def test_a_frame_without_points_is_a_data_error(monkeypatch):
    source = tiny()

    def nothing(self, *args):
        none = np.empty((0, 0), np.int64)
        return Rendered(np.empty((0, 0)), none, none, 0, 0)

    monkeypatch.setattr(Humanoid, "render", nothing)  # as if the body had left the view
    with pytest.raises(DataError, match=r"mocap00000.*frame 0"):
        source.read(source.index()[0])


def knn_accuracy(x: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int = 3) -> float:
    """Accuracy of k-nearest-neighbours over standardised features, cross-validated in 3 folds
    of whole episodes (never the same sequence in training and test)."""
    correct = 0
    for fold in range(3):
        train, test = groups % 3 != fold, groups % 3 == fold
        mean, std = x[train].mean(0), x[train].std(0) + 1e-9
        a, b = (x[train] - mean) / std, (x[test] - mean) / std
        nearest = np.argsort(((b[:, None] - a[None]) ** 2).sum(-1), 1)[:, :k]
        votes = y[train][nearest]
        correct += sum(np.bincount(v).argmax() == t for v, t in zip(votes, y[test], strict=True))
    return correct / len(y)


def test_one_frame_cannot_tell_the_clips_apart_but_the_motion_can():
    """Shape features of one frame (height, spread) confuse the clips; the same features over
    time, with the body's speed, separate many more: the task needs the motion, and has it."""
    source = tiny(num_sequences=90, frames_per_sequence=16, points_per_frame=128,
                  image_width=64, image_height=48)  # fmt: skip
    frames, sequences, labels, groups = [], [], [], []
    for i, seq in enumerate(source.index()):
        points = source.read(seq).points.astype(np.float64)
        centre = points.mean(1)
        z = points[..., 2]
        spread = np.linalg.norm(points[..., :2] - centre[:, None, :2], axis=-1).mean(1)
        height = np.percentile(z, 95, 1) - np.percentile(z, 5, 1)
        shape = np.stack([centre[:, 2], height, spread, z.std(1)], 1)  # per frame
        speed = np.linalg.norm(np.diff(centre[:, :2], axis=0), axis=1)
        bounce = np.diff(centre[:, 2]).std()
        change = np.abs(np.diff(shape, axis=0)).mean(0)
        frames.append(shape[len(shape) // 2])
        sequences.append(np.r_[shape.mean(0), shape.std(0), change, speed.mean(), bounce])
        labels.append(seq.label)
        groups.append(i // len(CLIP_NAMES))
    y, g = np.array(labels), np.array(groups)
    one_frame = knn_accuracy(np.array(frames), y, g)
    motion = knn_accuracy(np.array(sequences), y, g)
    print(f"15 clips told apart: one frame {one_frame:.2f}, with motion {motion:.2f}")
    assert one_frame < 0.5, one_frame
    assert motion > one_frame + 0.15, (one_frame, motion)

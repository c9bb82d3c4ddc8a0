"""synth-hoi: a procedural stand-in for HOI4D, hand-object interaction seen by a depth camera.

A person sits at a table with a few everyday objects. Their right arm performs a scripted task
on one of them (pick and place, pick and inspect, push, pull, rotate), composed of per-frame
actions (reach, grasp, pick up, carry, put down, rotate, push, pull, release, retreat, idle)
whose durations and speeds vary; the object moves rigidly with the hand while held. A
head-mounted depth camera that sways slightly watches the table; its frames are ray cast,
corrupted like a real sensor's and back-projected to world points (metres, z up, the table's
front edge on y = 0) with a semantic class per point.

Everything follows from the sequence's name through `rng_from`, so `read` gives the same bytes
in any process and any order, and `plan_sequence` exposes the script without rendering.
Actions were chosen so that one frame is not enough: reach/retreat, grasp/release and pick
up/put down pass through the same poses and differ only in the direction of motion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.seeding import rng_from
from c2p4d.pipeline.sequence import SequenceData, SequenceInfo, ViewDefaults
from c2p4d.pipeline.sources.base import DatasetInfo, SourceConfig
from c2p4d.pipeline.sources.rendered import (
    IMAGE_MINIMUMS,
    UP_Z,
    NumberedNames,
    RenderedSource,
    split_of_index,
)
from c2p4d.pipeline.worlds import meshes
from c2p4d.pipeline.worlds.hoi.arm import Arm, ArmShape
from c2p4d.pipeline.worlds.kinematics import (
    Sway,
    frame_from_axes,
    min_jerk,
    pose,
    rot_z,
    segment_at,
    slerp,
)
from c2p4d.pipeline.worlds.meshes import Mesh
from c2p4d.pipeline.worlds.render import DepthCamera, DepthSensor, look_at

NAME = "synth-hoi"
FPS = 15.0  # HOI4D's frame rate: 150 frames are 10 s
CATEGORIES = ("mug", "bottle", "bowl", "box", "toy_car")
CLASS_NAMES = ("background", "table", "arm", "hand", *CATEGORIES)
BACKGROUND, TABLE, ARM, HAND, FIRST_OBJECT = range(5)  # object classes follow CATEGORIES
ACTION_NAMES = (
    "idle", "reach", "grasp", "pick_up", "carry", "put_down",
    "rotate", "push", "pull", "release", "retreat",
)  # fmt: skip
TASK_NAMES = ("pick_and_place", "pick_and_inspect", "push", "pull", "rotate")
TASK_STEPS = {
    "pick_and_place": ("reach", "grasp", "pick_up", "carry", "put_down", "release", "retreat"),
    "pick_and_inspect": ("reach", "grasp", "pick_up", "rotate", "put_down", "release", "retreat"),
    "push": ("reach", "push", "retreat"),
    "pull": ("reach", "grasp", "pull", "release", "retreat"),
    "rotate": ("reach", "grasp", "rotate", "release", "retreat"),
}
HELD = frozenset({"pick_up", "carry", "put_down", "rotate", "push", "pull"})  # object in hand
MEAN_SECONDS = {
    "idle": 0.7, "reach": 1.2, "grasp": 0.6, "pick_up": 0.9, "carry": 1.4, "put_down": 0.9,
    "rotate": 1.3, "push": 1.3, "pull": 1.3, "release": 0.6, "retreat": 1.2,
}  # fmt: skip
MIN_FRAMES = 24  # two frames for each step of the longest script
UP = np.array([0, 0, 1.0])
ON_TABLE = 0.0005  # objects float this far above the top, so no two faces are ever coplanar


@dataclass(frozen=True)
class SynthHOIConfig(SourceConfig):
    """Sizes of the built-in HOI dataset. The defaults ingest in about a minute on 2 cores."""

    num_sequences: int = 64
    frames_per_sequence: int = 150
    image_width: int = 128
    image_height: int = 96
    # How the head camera frames the table: a narrower view and a shorter range leave more of
    # each frame to the hand and the objects (at 70 degrees and 4 m they are about 8 %).
    fov_deg: float = 70.0
    max_range: float = 4.0  # metres beyond which the sensor returns nothing
    # The task starts at a random time and takes 40-85 % of the sequence, idle before and after,
    # so that the frame index alone no longer tells the action (every script starts the same).
    varied_timing: bool = False

    minimums: ClassVar[dict[str, int]] = {
        "num_sequences": 1,
        "frames_per_sequence": MIN_FRAMES,
        **IMAGE_MINIMUMS,
    }
    ranges: ClassVar[dict[str, tuple[float, float]]] = {
        "fov_deg": (20, 120),
        "max_range": (0.5, 10),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.varied_timing, bool):
            raise DataError(
                f"option varied_timing must be true or false, got {self.varied_timing!r}"
            )


@dataclass(frozen=True)
class Keyframe:
    """The state at a step boundary: wrist pose (hand frame of arm.py), grip closure and the
    pose of the manipulated object's bottom centre."""

    wrist: np.ndarray
    closure: float
    object: np.ndarray


@dataclass(frozen=True)
class Plan:
    """The whole script of one sequence: scene, steps, timing and camera path."""

    task: int
    target_category: int
    step_actions: tuple[int, ...]  # action of each step
    boundaries: np.ndarray  # int64 [steps + 1]: step i covers frames [b[i], b[i+1])
    keyframes: tuple[Keyframe, ...]  # steps + 1 states
    arcs: tuple[float, ...]  # height of the arc each step's moving part follows (m)
    table: Table
    shoulder: np.ndarray
    arm: Arm
    static_parts: tuple[tuple[Mesh, int], ...]  # background, table, other objects
    target_mesh: Mesh
    head: np.ndarray
    gaze: np.ndarray  # the table point the camera looks at
    head_sway: Sway
    gaze_sway: Sway

    @property
    def num_frames(self) -> int:
        return int(self.boundaries[-1])

    @property
    def actions(self) -> np.ndarray:
        """int16 [T]: the action of every frame."""
        return np.repeat(np.array(self.step_actions, np.int16), np.diff(self.boundaries))

    def state(self, t: int) -> tuple[np.ndarray, float, np.ndarray]:
        """Wrist pose, closure and object pose at frame t (the middle of its time slot)."""
        i, phase = segment_at(self.boundaries, t + 0.5)
        eased = float(min_jerk(phase))
        k0, k1 = self.keyframes[i], self.keyframes[i + 1]
        lift = pose(np.eye(3), UP * self.arcs[i] * np.sin(np.pi * eased))
        closure = k0.closure + (k1.closure - k0.closure) * eased
        if ACTION_NAMES[self.step_actions[i]] in HELD:
            obj = lift @ _blend(k0.object, k1.object, eased)
            return obj @ np.linalg.inv(k0.object) @ k0.wrist, closure, obj
        return lift @ _blend(k0.wrist, k1.wrist, eased), closure, k0.object

    def camera_pose(self, t: int) -> np.ndarray:
        """World-from-camera pose (OpenCV axes) of the head-mounted camera at frame t."""
        seconds = t / FPS
        return look_at(self.head + self.head_sway(seconds), self.gaze + self.gaze_sway(seconds))

    def parts(self, t: int) -> list[tuple[Mesh, int]]:
        """Every mesh of frame t in world coordinates, with its semantic class."""
        wrist, closure, obj = self.state(t)
        arm, hand = self.arm.posed(self.shoulder, wrist, closure)
        target = (self.target_mesh.transformed(obj), FIRST_OBJECT + self.target_category)
        return [*self.static_parts, target, (arm, ARM), (hand, HAND)]


class SynthHOI(RenderedSource):
    """The built-in HOI4D stand-in; see the module docstring."""

    name = NAME
    config_class = SynthHOIConfig

    def __init__(self, config: SynthHOIConfig = SynthHOIConfig()) -> None:
        super().__init__(config)
        sensor = DepthSensor(max_range=config.max_range)
        self.camera = DepthCamera(config.image_width, config.image_height, config.fov_deg, sensor)

    def info(self) -> DatasetInfo:
        return DatasetInfo(
            class_names=CLASS_NAMES,
            action_names=ACTION_NAMES,
            label_names=TASK_NAMES,
            views=ViewDefaults(up=UP_Z),
            attrs={
                "origin": "procedural: ray-cast depth frames of a scripted arm at a table",
                "units": "metres; world z up, table front edge on y = 0",
                "fps": FPS,
                "image_size": [self.config.image_width, self.config.image_height],
                "fov_deg": self.camera.fov_deg,
            },
        )

    def index(self) -> list[SequenceInfo]:
        return [
            SequenceInfo(
                name=sequence_name(i),
                num_frames=self.config.frames_per_sequence,
                split=split_of_index(i),
                label=i % len(TASK_NAMES),
            )
            for i in range(self.config.num_sequences)
        ]

    def read(self, seq: SequenceInfo) -> SequenceData:
        plan = plan_sequence(seq.name, seq.num_frames, self.config.varied_timing)
        rng = self.sensor_rng(seq)
        cameras = np.empty((plan.num_frames, 4, 4), np.float32)

        def captures():
            for t in range(plan.num_frames):
                cameras[t] = plan.camera_pose(t)
                yield self.camera.capture(plan.parts(t), cameras[t], rng)

        points, labels = self.resample_captures(seq, captures(), plan.num_frames, rng)
        return SequenceData(
            name=seq.name,
            points=points,
            camera=cameras,
            point_label=labels,
            action=plan.actions,
            meta={"task": TASK_NAMES[plan.task], "object": CATEGORIES[plan.target_category]},
        )


NAMES = NumberedNames(NAME, "hoi")
sequence_name = NAMES.name
sequence_index = NAMES.index


def plan_sequence(name: str, num_frames: int, varied_timing: bool = False) -> Plan:
    """The script of sequence `name`: deterministic from the name, no rendering.

    The task cycles with the index and the manipulated category with index // 5, so that any
    run of consecutive indices covers every task and every category. `varied_timing`: the
    option of SynthHOIConfig.
    """
    index = sequence_index(name)
    if num_frames < MIN_FRAMES:
        raise DataError(
            f"{NAME}: sequence {name!r} needs at least {MIN_FRAMES} frames, not {num_frames}"
        )
    rng = rng_from(NAME, name, "plan")
    task = TASK_NAMES[index % len(TASK_NAMES)]
    category = (index // len(TASK_NAMES)) % len(CATEGORIES)
    table = Table(rng)
    shoulder = np.array(
        [rng.uniform(0.1, 0.2), -rng.uniform(0.15, 0.22), table.height + rng.uniform(0.28, 0.34)]
    )
    arm = Arm(ArmShape(scale=rng.uniform(0.92, 1.08)))
    while True:  # rejection sampling: a few tries find a layout the arm can reach
        steps = _script(task, rng, idle_after=True if varied_timing else None)
        layout = _Layout.sample(task, CATEGORIES[category], table, shoulder, arm, rng)
        keyframes, arcs = _keyframes(steps, layout, shoulder, arm, rng)
        if all(np.linalg.norm(k.wrist[:3, 3] - shoulder) < 0.95 * arm.reach() for k in keyframes):
            break
    others = _distractors(category, layout, keyframes, shoulder, arm, table, rng)
    head = shoulder + np.array([-0.18, 0.04, 0.26]) + rng.uniform(-0.02, 0.02, 3)
    around = np.array([rng.uniform(-0.12, 0.08), rng.uniform(0.25, 0.38), table.height])
    gaze = (around + (layout.start + layout.goal) / 2) / 2  # people look at what they handle
    return Plan(
        task=TASK_NAMES.index(task),
        target_category=category,
        step_actions=tuple(ACTION_NAMES.index(s) for s in steps),
        boundaries=(_varied_timing if varied_timing else _timing)(steps, num_frames, rng),
        keyframes=tuple(keyframes),
        arcs=tuple(arcs),
        table=table,
        shoulder=shoulder,
        arm=arm,
        static_parts=(*table.parts(rng), *others),
        target_mesh=layout.mesh,
        head=head,
        gaze=gaze,
        head_sway=Sway(rng, 0.025, (0.07, 0.13, 0.29)),
        gaze_sway=Sway(rng, 0.05, (0.05, 0.11, 0.19)),
    )


def _blend(p0: np.ndarray, p1: np.ndarray, s: float) -> np.ndarray:
    """The pose a fraction s of the way from p0 to p1 (straight line, shortest rotation)."""
    return pose(slerp(p0[:3, :3], p1[:3, :3], s), p0[:3, 3] + s * (p1[:3, 3] - p0[:3, 3]))


def _script(task: str, rng: np.random.Generator, idle_after: bool | None = None) -> list[str]:
    """The steps of a task, with optional pauses and repetitions; a final idle step when
    `idle_after`, or at random when it is None."""
    core = list(TASK_STEPS[task])
    if task == "rotate" and rng.random() < 0.5:  # turn, let go, take hold again, turn back
        core = core[:4] + ["grasp", "rotate", "release", "retreat"]
    if core[-2] == "release" and rng.random() < 0.4:  # a pause before withdrawing the hand
        core = core[:-1] + ["idle", "retreat"]
    if idle_after is None:
        idle_after = bool(rng.random() < 0.5)
    return ["idle", *core, *(["idle"] if idle_after else [])]


def _timing(steps: list[str], num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Step boundaries in frames: random durations around each action's mean, stretched to
    fill the sequence, at least two frames per step."""
    seconds = np.array([MEAN_SECONDS[s] for s in steps]) * rng.uniform(0.6, 1.6, len(steps))
    spare = num_frames - 2 * len(steps)
    cumulative = np.round(np.cumsum(seconds) / seconds.sum() * spare).astype(np.int64)
    return np.concatenate([[0], cumulative + 2 * np.arange(1, len(steps) + 1)])


def _varied_timing(steps: list[str], num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Step boundaries when the task (every step but the first and last, both idle) starts at
    a random time and takes a random 40-85 % of the frames that are not the two-frame minimums."""
    task = steps[1:-1]
    spare = num_frames - 2 * len(steps)
    active = rng.uniform(0.4, 0.85)
    lead = 2 + int(rng.uniform(0.0, 1.0 - active) * spare)  # floor: the last idle keeps 2
    inner = _timing(task, 2 * len(task) + round(active * spare), rng)
    return np.concatenate([[0], lead + inner, [num_frames]])


class Table:
    """A table with its front edge on y = 0, centred on x = 0, in a room."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.width, self.depth = rng.uniform(1.0, 1.4), rng.uniform(0.7, 0.9)
        self.height = rng.uniform(0.70, 0.78)

    def contains(self, xy: np.ndarray, margin: float) -> bool:
        return abs(xy[0]) < self.width / 2 - margin and margin < xy[1] < self.depth - margin

    def parts(self, rng: np.random.Generator) -> list[tuple[Mesh, int]]:
        top = 0.03
        legs = [
            meshes.box(
                (0.05, 0.05, self.height - top),
                (
                    sx * (self.width / 2 - 0.06),
                    self.depth / 2 + sy * (self.depth / 2 - 0.06),
                    (self.height - top) / 2,
                ),
            )
            for sx in (-1, 1)
            for sy in (-1, 1)
        ]
        table = meshes.box(
            (self.width, self.depth, top), (0, self.depth / 2, self.height - top / 2)
        )
        back, side = rng.uniform(1.6, 2.4), rng.uniform(1.5, 2.5) * rng.choice([-1, 1])
        room = [
            meshes.quad((10, 10), (0, 0, 0), 2),
            meshes.quad((10, 3), (0, back, 1.5), 1),
            meshes.quad((10, 3), (side, 0, 1.5), 0),
        ]
        return [(Mesh.merge(room), BACKGROUND), (Mesh.merge([table, *legs]), TABLE)]


def _object_mesh(category: str, rng: np.random.Generator) -> Mesh:
    """An instance of a category with random proportions (bottom centre at the origin)."""
    u = rng.uniform
    if category == "mug":
        return meshes.mug(u(0.035, 0.048), u(0.08, 0.12))
    if category == "bottle":
        radius = u(0.03, 0.042)
        return meshes.bottle(radius, u(0.17, 0.26), radius * u(0.35, 0.5), u(0.55, 0.7))
    if category == "bowl":
        return meshes.bowl(u(0.065, 0.09), u(0.045, 0.07))
    if category == "box":
        return meshes.carton((u(0.07, 0.15), u(0.06, 0.12), u(0.04, 0.11)))
    return meshes.toy_car(u(0.11, 0.16), u(0.06, 0.08), u(0.06, 0.08))


def _support(mesh: Mesh, yaw: float, direction: np.ndarray) -> float:
    """How far the object turned by `yaw` reaches from its axis towards `direction`."""
    return float((mesh.vertices @ rot_z(yaw).T @ direction).max())


@dataclass(frozen=True)
class _Layout:
    """Where the manipulated object starts and goes, and how the hand holds it."""

    mesh: Mesh
    grasp: str  # "side" (around the body), "top" (over it) or "push" (palm against it)
    yaw: float
    start: np.ndarray  # bottom centre on the table, [3]
    goal: np.ndarray  # where carrying, pushing or pulling takes it
    rests: tuple[np.ndarray, np.ndarray]  # wrist poses before reaching and after retreating

    @staticmethod
    def sample(
        task: str,
        category: str,
        table: Table,
        shoulder: np.ndarray,
        arm: Arm,
        rng: np.random.Generator,
    ) -> _Layout:
        mesh = _object_mesh(category, rng)
        footprint = _footprint(mesh)
        rests = (_rest_pose(shoulder, table, arm, rng), _rest_pose(shoulder, table, arm, rng))
        while True:
            a, b = _reachable_spot(table, shoulder, footprint, rng), None
            if task == "pick_and_place":
                b = _reachable_spot(table, shoulder, footprint, rng)
                ok = np.linalg.norm(a - b) > 0.15
            elif task in ("push", "pull"):  # a near and a far spot on one line from the body
                towards = (a - shoulder) * np.array([1, 1, 0])
                b = a + towards / np.linalg.norm(towards) * rng.uniform(0.08, 0.16)
                ok = table.contains(b[:2], footprint + 0.03)
                a, b = (a, b) if task == "push" else (b, a)
            else:
                b, ok = a, True
            clear = all(
                _segment_distance(p, r[:3, 3], r[:3, 3] + r[:3, 2] * arm.hand_length)
                > footprint + 0.03
                for p in (a, b)
                for r in rests
            )
            if ok and clear:
                break
        if task == "push":
            grasp = "push"
        elif task == "rotate" or category in ("bowl", "box", "toy_car"):
            grasp = "top"  # wide or low objects, and any object turned in place
        else:
            grasp = "side"
        forward = _horizontal(a - shoulder)
        yaw = rng.uniform(0, 2 * np.pi)
        if category == "mug":  # keep the handle away from the hand, which comes from the right
            yaw = np.arctan2(forward[1], forward[0]) + rng.uniform(-0.35, 3.5)
        return _Layout(mesh, grasp, yaw, a, b, rests)


def _horizontal(v: np.ndarray) -> np.ndarray:
    v = v * np.array([1, 1, 0])
    return v / np.linalg.norm(v)


def _reachable_spot(
    table: Table, shoulder: np.ndarray, footprint: float, rng: np.random.Generator
) -> np.ndarray:
    """A point on the table in front of and a little left of the right shoulder."""
    while True:
        xy = shoulder[:2] + rng.uniform([-0.38, 0.2], [0.12, 0.62])
        if table.contains(xy, footprint + 0.03) and 0.24 < np.linalg.norm(xy - shoulder[:2]) < 0.48:
            return np.array([xy[0], xy[1], table.height + ON_TABLE])


def _rest_pose(
    shoulder: np.ndarray, table: Table, arm: Arm, rng: np.random.Generator
) -> np.ndarray:
    """A hand lying relaxed, palm down, on the near edge of the table."""
    forward = rot_z(rng.uniform(-0.45, 0.15)) @ np.array([0, 1.0, 0])
    wrist = shoulder + forward * rng.uniform(0.2, 0.27) + np.array([rng.uniform(-0.03, 0.08), 0, 0])
    wrist[1] = max(wrist[1], 0.02)
    wrist[2] = table.height + arm.palm[1] / 2 + 0.006
    return pose(frame_from_axes(-UP, forward), wrist)


def _footprint(mesh: Mesh) -> float:
    """The radius of the circle an object covers on the table, whatever its yaw."""
    return float(np.linalg.norm(mesh.vertices[:, :2], axis=1).max())


def _grip(
    layout: _Layout, place: np.ndarray, yaw: float, shoulder: np.ndarray, arm: Arm
) -> np.ndarray:
    """The wrist pose holding (or, for a push, touching) the object at `place` turned by yaw."""
    width, thickness, length = arm.palm
    forward = _horizontal(place - shoulder)
    left = np.cross(UP, forward)
    top = float(layout.mesh.vertices[:, 2].max())
    if layout.grasp == "side":  # palm on the object's right, fingers around its far side
        reach = _support(layout.mesh, yaw, -left)
        centre = place + UP * max(0.45 * top, 0.55 * width + 0.01)
        return pose(
            frame_from_axes(left, forward),
            centre - left * (reach + thickness / 2) - forward * 0.7 * length,
        )
    if layout.grasp == "top":  # palm down on top, fingers over the far side
        centre = place + UP * (top + thickness / 2 + 0.004)
        return pose(frame_from_axes(-UP, forward), centre - forward * 0.55 * length)
    reach = _support(layout.mesh, yaw, -forward)  # push: palm upright against the near side
    return pose(
        frame_from_axes(forward, UP), place - forward * (reach + thickness / 2 + 0.003) + UP * 0.012
    )


def _keyframes(
    steps: list[str], layout: _Layout, shoulder: np.ndarray, arm: Arm, rng: np.random.Generator
) -> tuple[list[Keyframe], list[float]]:
    """Walk the script from the first rest pose, recording the state after every step.

    Opposite actions draw their end states from the same distributions (the open hand of a
    reach and of a release, the grip of a grasp, the lift of pick up and put down), so a single
    frame cannot tell them apart.
    """
    yaw, turn = layout.yaw, rng.choice([-1, 1]) * rng.uniform(0.8, 1.9)
    obj = pose(rot_z(yaw), layout.start)
    wrist, closure = layout.rests[0], rng.uniform(0.25, 0.45)
    lift = rng.uniform(0.08, 0.16)
    keyframes, arcs = [Keyframe(wrist, closure, obj)], []
    for step in steps:
        arc = 0.0
        if step == "reach":
            wrist = _grip(layout, obj[:3, 3], yaw, shoulder, arm)
            closure, arc = rng.uniform(0.0, 0.12), rng.uniform(0.03, 0.08)
        elif step == "retreat":
            wrist = layout.rests[1]
            closure, arc = rng.uniform(0.25, 0.45), rng.uniform(0.03, 0.08)
        elif step == "grasp":
            closure = rng.uniform(0.5, 0.7)
        elif step == "release":
            closure = rng.uniform(0.0, 0.12)
        elif step in HELD:
            place = obj[:3, 3].copy()
            if step == "pick_up":
                place += UP * lift
            elif step == "put_down":
                place[2] = layout.start[2]
            elif step == "rotate":
                yaw, turn = yaw + turn, -turn  # a second turn goes back
            else:  # carry, push, pull
                place[:2] = layout.goal[:2]
                arc = rng.uniform(0.02, 0.05) if step == "carry" else 0.0
            moved = pose(rot_z(yaw), place)
            wrist, obj = moved @ np.linalg.inv(obj) @ wrist, moved
        keyframes.append(Keyframe(wrist, closure, obj))
        arcs.append(arc)
    return keyframes, arcs


def _segment_distance(point: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Horizontal distance from a point to the segment a-b."""
    p, a, b = point[:2], a[:2], b[:2]
    span = b - a
    along = np.clip((p - a) @ span / max(span @ span, 1e-12), 0.0, 1.0)
    return float(np.linalg.norm(p - a - along * span))


def _distractors(
    category: int,
    layout: _Layout,
    keyframes: list[Keyframe],
    shoulder: np.ndarray,
    arm: Arm,
    table: Table,
    rng: np.random.Generator,
) -> list[tuple[Mesh, int]]:
    """Two or three objects of other categories, placed clear of the arm's and target's way."""
    fingers = [k.wrist[:3, 3] + k.wrist[:3, 2] * arm.hand_length for k in keyframes]
    hand_path = [(k.wrist[:3, 3], f) for k, f in zip(keyframes, fingers, strict=True)]
    hand_path += [
        (a.wrist[:3, 3], b.wrist[:3, 3]) for a, b in zip(keyframes, keyframes[1:], strict=False)
    ]
    hand_path += [(shoulder, k.wrist[:3, 3]) for k in keyframes]
    target = _footprint(layout.mesh)
    others = [c for c in range(len(CATEGORIES)) if c != category]
    placed: list[tuple[np.ndarray, float]] = []
    parts = []
    for c in rng.permutation(others)[: rng.integers(2, 4)]:
        mesh = _object_mesh(CATEGORIES[c], rng)
        yaw = rng.uniform(0, 2 * np.pi)
        footprint = _footprint(mesh)
        for _ in range(50):
            at = np.array([*rng.uniform([-0.5, 0.05], [0.45, 0.7]), table.height + ON_TABLE])
            if (
                table.contains(at[:2], footprint + 0.02)
                and all(_segment_distance(at, a, b) > footprint + 0.07 for a, b in hand_path)
                and _segment_distance(at, layout.start, layout.goal) > footprint + target + 0.05
                and all(np.linalg.norm(at[:2] - p[:2]) > footprint + f + 0.03 for p, f in placed)
            ):
                placed.append((at, footprint))
                parts.append((mesh.transformed(pose(rot_z(yaw), at)), FIRST_OBJECT + int(c)))
                break
    return parts

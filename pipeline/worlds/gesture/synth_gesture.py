"""synth-gesture: a procedural stand-in for MSR-Action3D, a person gesturing at a depth camera.

An articulated figure (figure.py: capsules and ellipsoids on a 17-joint skeleton, forward
kinematics) performs one of MSR-Action3D's 20 actions (gestures.py) in front of a static,
Kinect-like depth camera 2.8-3.5 m away, as MSR's subjects did. Like MSR, there are 10
subjects, each with their own body (height, girth, limb lengths) and style (tempo, amplitude,
habitual posture), and the cross-subject split: subjects 1-5 train, 6-10 test; extra subjects
11.. (one by default) are the validation split, unseen in both. Each sequence varies the
repetitions, the tempo and amplitude of each one, the viewpoint (how far, how high and at what
angle to the figure the camera stands) and the small idle sway of a standing person.

Frames are ray cast at MSR's 320x240 and 15 fps, corrupted like a real sensor's, and
back-projected to world points (metres, z up, floor z = 0, camera above the origin looking
along +y). The floor is rendered, so the feet meet it as in a real depth map, and then dropped
as MSR's background removal does: the cloud is the body, labelled by body part. Only the
centred window of the image that the body reaches during the sequence is cast (`window`): the
same rays as the full image for those pixels, at a third of the cost. The sequence label is
the action; frames before and after the action are "idle".

Everything follows from the sequence's name (a01_s03_e02: action, subject, episode), so
`read` gives the same bytes in any process and order, and `plan_sequence` gives the script
without rendering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import ClassVar

import numpy as np

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.seeding import rng_from
from c2p4d.pipeline.sequence import SequenceData, SequenceInfo, ViewDefaults
from c2p4d.pipeline.sources.base import DatasetInfo, SourceConfig
from c2p4d.pipeline.sources.rendered import IMAGE_MINIMUMS, UP_Z, RenderedSource
from c2p4d.pipeline.worlds.gesture.figure import PART_NAMES, BodyShape, Figure, Posture
from c2p4d.pipeline.worlds.gesture.gestures import MSR_ACTIONS, STAND, Gesture, build_gestures
from c2p4d.pipeline.worlds.kinematics import KeyframeSpline, Sway, pose, rot_z
from c2p4d.pipeline.worlds.meshes import Mesh, quad
from c2p4d.pipeline.worlds.render import DepthCamera, look_at

NAME = "synth-gesture"
FPS = 15.0  # MSR-Action3D's frame rate
ACTION_NAMES = (*MSR_ACTIONS, "idle")
IDLE = len(MSR_ACTIONS)
NUM_SUBJECTS, TRAIN_SUBJECTS = 10, 5  # MSR's cross-subject protocol: 1-5 train, 6-10 test
TRAIN, VAL, TEST = 0, 1, 2
MIN_FRAMES = 24  # the reference's clip length
MAX_FRAMES = 72  # MSR's videos run 20-70 frames, 42 on average
KINECT_FOV_DEG = 57.0  # horizontal field of view of the Kinect v1 depth camera
FLOOR = -1  # rendered so that the feet meet it, then dropped like MSR's background
_NAME = re.compile(r"^a(\d{2})_s(\d{2})_e(\d{2})$")
# How much each control of a posture wanders between repetitions, subjects and sequences.
# Not the feet: a foot on the floor stays where it stands.
WANDER = Posture(
    hands=np.full((2, 3), 0.03),
    elbows=np.full((2, 3), 0.1),
    feet=np.zeros((2, 3)),
    toes=np.zeros(2),
    pelvis=np.full(3, 0.004),
    spine=np.full(3, 0.04),
    head=np.full(2, 0.05),
).vector()


@dataclass(frozen=True)
class SynthGestureConfig(SourceConfig):
    """Sizes of the built-in gesture dataset. The defaults ingest in about a minute on 2 cores:
    all 20 actions, once by each of 11 subjects (10 as MSR, one for validation)."""

    gestures: int = len(MSR_ACTIONS)  # make the first n MSR actions (a01..)
    episodes: int = 1  # sequences per subject and action (MSR has 2-3)
    val_subjects: int = 1  # subjects after the 10 of MSR, held out for validation
    min_frames: int = MIN_FRAMES
    max_frames: int = MAX_FRAMES
    image_width: int = 320  # MSR's depth maps
    image_height: int = 240

    minimums: ClassVar[dict[str, int]] = {
        "gestures": 1,
        "episodes": 1,
        "val_subjects": 0,
        "min_frames": MIN_FRAMES,
        "max_frames": MIN_FRAMES,
        **IMAGE_MINIMUMS,
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_frames < self.min_frames:
            raise DataError(
                f"option max_frames ({self.max_frames}) must be at least min_frames "
                f"({self.min_frames})"
            )
        if self.gestures > len(MSR_ACTIONS) or self.episodes > 99 or self.val_subjects > 89:
            raise DataError(
                f"options gestures <= {len(MSR_ACTIONS)}, episodes <= 99 and "
                f"val_subjects <= 89 (names hold two digits), got {self.gestures}, "
                f"{self.episodes}, {self.val_subjects}"
            )


@dataclass(frozen=True)
class Subject:
    """One person: their body, their version of every gesture, and their manner."""

    number: int
    figure: Figure
    gestures: tuple[Gesture, ...]
    tempo: float  # how fast they move, relative to the gesture scripts
    amplitude: float  # how large
    style: np.ndarray  # posture vector offsets they keep throughout (a slouch, wider arms)


@lru_cache(maxsize=128)
def subject(number: int) -> Subject:
    """Subject `number` (1-based), the same in every sequence and every process."""
    rng = rng_from(NAME, "subject", number)
    shape = BodyShape(
        height=rng.uniform(1.55, 1.92),
        girth=rng.uniform(0.85, 1.25),
        shoulders=rng.uniform(0.93, 1.07),
        arms=rng.uniform(0.95, 1.05),
        legs=rng.uniform(0.95, 1.05),
    )
    figure = Figure(shape)
    return Subject(
        number=number,
        figure=figure,
        gestures=build_gestures(figure.shoulder_half / figure.reach),
        tempo=rng.uniform(0.95, 1.3),
        amplitude=rng.uniform(0.85, 1.15),
        style=rng.normal(0.0, WANDER),
    )


def split_of(subject_number: int) -> int:
    """MSR's cross-subject split, and validation for the subjects after MSR's ten."""
    if subject_number <= TRAIN_SUBJECTS:
        return TRAIN
    return TEST if subject_number <= NUM_SUBJECTS else VAL


def sequence_name(action: int, subject_number: int, episode: int) -> str:
    """MSR's naming, 1-based: a01_s03_e02 is action 1 by subject 3, its second episode."""
    return f"a{action:02d}_s{subject_number:02d}_e{episode:02d}"


def parse_name(name: str) -> tuple[int, int, int]:
    """(action, subject, episode) of a name, 1-based; DataError for a name never made here."""
    match = _NAME.match(name)
    if match is None or not (1 <= int(match[1]) <= len(MSR_ACTIONS)) or "00" in match.groups():
        raise DataError(
            f"{NAME}: no sequence named {name!r}; names look like {sequence_name(7, 3, 2)!r} "
            f"(action 01-{len(MSR_ACTIONS)}, subject, episode)"
        )
    action, subject_number, episode = (int(g) for g in match.groups())
    return action, subject_number, episode


@dataclass(frozen=True)
class Script:
    """The timing of one sequence: keyframes in seconds and where the gesture runs."""

    spline: KeyframeSpline  # posture vectors over time
    start: float  # seconds at which the gesture begins
    stop: float  # and ends
    num_frames: int
    repetitions: int


def script(name: str, min_frames: int = MIN_FRAMES, max_frames: int = MAX_FRAMES) -> Script:
    """Keyframes of sequence `name`: idle, enter, one cycle per repetition, exit, idle.

    Each repetition has its own tempo and amplitude. Repetitions are dropped, and if need be
    the whole is sped up, to fit `max_frames`; idle time is added to reach `min_frames`.
    """
    action, subject_number, _ = parse_name(name)
    person = subject(subject_number)
    gesture = person.gestures[action - 1]
    rng = rng_from(NAME, name, "script")
    reps = int(rng.integers(1, gesture.max_repetitions + 1))
    tempo = person.tempo * rng.uniform(0.85, 1.3, reps)
    amplitude = person.amplitude * rng.uniform(0.85, 1.15, reps)
    idle = rng.uniform(0.1, 0.4, 2)

    def seconds(n: int) -> float:
        cycle = sum(k.seconds for k in gesture.cycle)
        return (
            sum(k.seconds for k in gesture.enter) / tempo[0]
            + sum(cycle / tempo[r] for r in range(n))
            + sum(k.seconds for k in gesture.exit) / tempo[n - 1]
        )

    while reps > 1 and round((idle.sum() + seconds(reps)) * FPS) > max_frames:
        reps -= 1
    natural = idle.sum() + seconds(reps)
    speed = max(1.0, natural * FPS / max_frames)  # > 1 only if one repetition is too long
    num_frames = int(np.clip(round(natural * FPS / speed), min_frames, max_frames))
    idle *= (num_frames / FPS - seconds(reps) / speed) / idle.sum()  # fill the rest

    ready = gesture.ready.vector()
    keys = [(0.0, STAND.vector(), True), (idle[0], STAND.vector(), True)]
    t = idle[0]

    def add(k, rate: float, scale: float = 1.0) -> None:
        nonlocal t
        t += k.seconds / (rate * speed)
        wander = rng.normal(0.0, WANDER)
        keys.append((t, ready + scale * (k.posture.vector() - ready) + wander, k.stop))

    for k in gesture.enter:
        add(k, tempo[0])
    for r in range(reps):
        for k in gesture.cycle:
            add(k, tempo[r], amplitude[r])
    for k in gesture.exit:
        add(k, tempo[reps - 1])
    stop = t
    keys.append((num_frames / FPS, STAND.vector(), True))
    times, values, stops = zip(*keys, strict=True)
    values = np.array(values) + person.style
    spline = KeyframeSpline(np.array(times), values, np.array(stops))
    return Script(spline, idle[0], stop, num_frames, reps)


@dataclass(frozen=True)
class Plan:
    """Everything about one sequence but the sensor noise: who, what, when, seen from where."""

    action: int  # 0-based label
    subject: Subject
    episode: int
    script: Script
    ground: np.ndarray  # [4, 4] the figure's ground frame in the world
    camera: np.ndarray  # [4, 4] world-from-camera (OpenCV axes); MSR's camera stood still
    pelvis_sway: Sway  # metres, horizontal
    head_sway: Sway  # radians

    @property
    def num_frames(self) -> int:
        return self.script.num_frames

    @property
    def actions(self) -> np.ndarray:
        """int16 [T]: the action during the gesture, idle before and after."""
        seconds = np.arange(self.num_frames) / FPS
        during = (seconds >= self.script.start) & (seconds < self.script.stop)
        return np.where(during, self.action, IDLE).astype(np.int16)

    def posture(self, t: int) -> Posture:
        """The scripted posture at frame t, plus the sway of a person standing."""
        seconds = t / FPS
        posture = Posture.from_vector(self.script.spline(seconds))
        sway = self.pelvis_sway(seconds) * [1, 1, 0] / self.subject.figure.shape.height
        return replace(
            posture,
            pelvis=posture.pelvis + sway,
            head=posture.head + self.head_sway(seconds)[:2],
        )

    def joints(self, t: int) -> np.ndarray:
        """World frames [J, 4, 4] of the figure's joints at frame t."""
        return self.subject.figure.joints(self.posture(t), self.ground)

    @cached_property
    def floor(self) -> Mesh:
        return quad((1.8, 1.8), tuple(self.ground[:3, 3]), 2)

    def parts(self, t: int) -> list[tuple[Mesh, int]]:
        """Body part meshes of frame t in world coordinates with their classes, and the floor."""
        return [*self.subject.figure.parts(self.joints(t)), (self.floor, FLOOR)]


def plan_sequence(name: str, min_frames: int = MIN_FRAMES, max_frames: int = MAX_FRAMES) -> Plan:
    """The plan of sequence `name`: deterministic from the name, no rendering.

    The figure stands `distance` metres in front of a camera at the origin, turned `azimuth`
    away from facing it; the camera, at a tripod's height, looks at the figure's middle.
    """
    action, subject_number, episode = parse_name(name)
    person = subject(subject_number)
    rng = rng_from(NAME, name, "view")
    distance, azimuth = rng.uniform(2.8, 3.5), np.radians(rng.uniform(-30, 30))
    height = person.figure.shape.height
    ground = pose(rot_z(np.pi + azimuth), np.array([rng.uniform(-0.15, 0.15), distance, 0]))
    eye = np.array([0.0, 0.0, rng.uniform(0.8, 1.5)])
    target = ground[:3, 3] + np.array([0, 0, 0.62 * height]) + rng.uniform(-0.03, 0.03, 3)
    return Plan(
        action=action - 1,
        subject=person,
        episode=episode,
        script=script(name, min_frames, max_frames),
        ground=ground,
        camera=look_at(eye, target),
        pelvis_sway=Sway(rng, 0.012, (0.13, 0.29, 0.47)),
        head_sway=Sway(rng, 0.04, (0.11, 0.23, 0.41)),
    )


class SynthGesture(RenderedSource):
    """The built-in MSR-Action3D stand-in; see the module docstring."""

    name = NAME
    config_class = SynthGestureConfig

    def __init__(self, config: SynthGestureConfig = SynthGestureConfig()) -> None:
        super().__init__(config)
        self.camera = DepthCamera(config.image_width, config.image_height, KINECT_FOV_DEG)

    def info(self) -> DatasetInfo:
        return DatasetInfo(
            class_names=PART_NAMES,
            action_names=ACTION_NAMES,
            label_names=MSR_ACTIONS,
            views=ViewDefaults(up=UP_Z),
            attrs={
                "origin": "procedural: ray-cast depth frames of an articulated figure (capsules "
                "and ellipsoids on a 17-joint skeleton, forward kinematics) performing scripted "
                "gestures; body and motion are made up, not captured",
                "stands_in_for": "MSR-Action3D (Li, Zhang, Liu 2010): 20 actions by 10 subjects "
                "before a static depth camera, background removed",
                "units": "metres; world z up, floor z = 0, camera above the origin looking "
                "along +y at the figure 2.8-3.5 m away",
                "camera": "static per sequence; pinhole, Kinect v1 field of view",
                "fps": FPS,
                "image_size": [self.config.image_width, self.config.image_height],
                "fov_deg": self.camera.fov_deg,
                "split": f"subjects 1-{TRAIN_SUBJECTS} train, {TRAIN_SUBJECTS + 1}-"
                f"{NUM_SUBJECTS} test (MSR's cross-subject protocol), the "
                f"{self.config.val_subjects} after them val",
                "sequence_names": "aAA_sSS_eEE: action, subject, episode (1-based, as MSR)",
            },
        )

    def index(self) -> list[SequenceInfo]:
        c = self.config
        out = []
        for action in range(1, c.gestures + 1):
            for person in range(1, NUM_SUBJECTS + c.val_subjects + 1):
                for episode in range(1, c.episodes + 1):
                    name = sequence_name(action, person, episode)
                    frames = script(name, c.min_frames, c.max_frames).num_frames
                    out.append(SequenceInfo(name, frames, split_of(person), label=action - 1))
        return out

    def read(self, seq: SequenceInfo) -> SequenceData:
        plan = plan_sequence(seq.name, self.config.min_frames, self.config.max_frames)
        if plan.num_frames != seq.num_frames:
            raise DataError(
                f"{NAME}: sequence {seq.name!r} has {plan.num_frames} frames with options "
                f"min_frames={self.config.min_frames}, max_frames={self.config.max_frames}, "
                f"not {seq.num_frames}: index it with the same options"
            )
        rng = self.sensor_rng(seq)
        cameras = np.repeat(plan.camera[None].astype(np.float32), plan.num_frames, 0)
        scenes = [plan.parts(t) for t in range(plan.num_frames)]
        body = [mesh for parts in scenes for mesh, label in parts if label != FLOOR]
        camera = window(self.camera, cameras[0].astype(np.float64), body)

        def captures():
            for t, parts in enumerate(scenes):
                frame, frame_labels = camera.capture(parts, cameras[t], rng)
                seen = frame_labels != FLOOR
                yield frame[seen], frame_labels[seen]

        points, labels = self.resample_captures(seq, captures(), plan.num_frames, rng)
        return SequenceData(
            name=seq.name,
            points=points,
            camera=cameras,
            point_label=labels,
            action=plan.actions,
            meta={
                "action": MSR_ACTIONS[plan.action],
                "subject": plan.subject.number,
                "episode": plan.episode,
                "repetitions": plan.script.repetitions,
            },
        )


def window(camera: DepthCamera, camera_pose: np.ndarray, meshes: list[Mesh]) -> DepthCamera:
    """The centred crop of `camera`'s image that holds every vertex of `meshes`, with a margin.

    Its pixels are the same rays as the full image's (same focal length and pixel centres),
    so the body comes out as the full image would show it, depth edges included, while the
    empty rest of the image (the background MSR removed) costs nothing. A vertex outside the
    full image stays outside: the crop is never larger than the image.
    """
    if not meshes:
        return camera
    vertices = np.concatenate([mesh.vertices for mesh in meshes])
    local = (vertices - camera_pose[:3, 3]) @ camera_pose[:3, :3]
    ahead = local[:, 2] > 1e-6
    if not ahead.any():
        return camera
    focal = camera.intrinsics[0, 0]
    margin = 3  # pixels: the sensor compares each pixel with its neighbours
    sizes = []
    for axis, full in ((0, camera.width), (1, camera.height)):
        extent = np.abs(local[ahead, axis] / local[ahead, 2]).max() * focal
        needed = min(full, 2 * int(np.ceil(extent)) + 2 * margin)
        sizes.append(full - 2 * ((full - needed) // 2))  # an even cut on each side
    width, height = sizes
    fov = 2 * np.degrees(np.arctan(width / 2 / focal))
    return DepthCamera(width, height, fov, camera.sensor)

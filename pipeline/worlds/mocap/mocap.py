"""mocap: real human motion (pybullet's motion-capture clips) seen by a simulated depth sensor.

The motion is real: the 15 DeepMimic clips that ship with pybullet (walk, run, jump, kick,
punch, spins, flips, cartwheel, crawl, roll, two dances, two get-ups), motion capture retargeted
to one humanoid body. The depth is rendered: a static depth sensor (optionally circling slowly;
travelling along with a runner, who would leave any tripod's view) watches the posed body,
pybullet's software renderer gives depth and the link under each pixel, the sensor model of
the procedural worlds adds noise and holes, and what is left is back-projected to world points
(metres, z up, floor on z = 0) labelled by body part. The floor is not rendered: like the
person-segmented depth of MSR-Action3D, a frame holds only the body.

A sequence plays one clip (recognition: its label is the clip) or, with clips_per_sequence > 1,
several joined end to end with a short blend, each continuing where the last one left off
(segmentation: the per-frame action is the clip playing). Each play has its own speed and start
within the clip; the body size, the placement and the camera vary per sequence. Everything
follows from the sequence's name through `rng_from`, and `plan_sequence` gives poses, labels
and cameras without rendering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
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
from c2p4d.pipeline.worlds.kinematics import min_jerk, pose, rot_x, rot_z
from c2p4d.pipeline.worlds.mocap.humanoid import (
    CLIP_NAMES,
    LINK_NAMES,
    Clip,
    Humanoid,
    Poses,
    ground_alignment,
    interpolate,
    load_clip,
    require_pybullet,
    sense,
)
from c2p4d.pipeline.worlds.render import DepthCamera, DepthSensor, look_at

NAME = "mocap"
PART_NAMES = ("head", "torso", "upper_arm", "forearm", "hand", "thigh", "shin", "foot")
# Each link of the humanoid is named after the joint it hangs from: the hip joint moves the
# thigh, the neck the head; the root is the pelvis.
PART_OF_JOINT = {
    "root": "torso", "chest": "torso", "neck": "head", "shoulder": "upper_arm",
    "elbow": "forearm", "wrist": "hand", "hip": "thigh", "knee": "shin", "ankle": "foot",
}  # fmt: skip
PART_OF_LINK = np.array(
    [PART_NAMES.index(PART_OF_JOINT[link.split("_")[-1]]) for link in LINK_NAMES], np.int16
)
SPLIT_OF_EPISODE = (0, 0, 0, 0, 1, 2)  # episode e = index // 15 is in split [e % 6]
SPEEDS = (0.8, 1.25)  # playback speed range (log-uniform)
SCALES = (0.9, 1.1)  # body size range: people of about 1.55 to 1.9 m
BLEND_SECONDS = 0.3  # cross-fade between joined clips
MIN_SEGMENT_SECONDS = 0.6  # the shortest play of one clip in a joined sequence
MIN_FRAMES = 8
# A Kinect-like sensor (MSR-Action3D's): 58.5 degrees across, the noise and holes of the other
# worlds, and the range of a room-scale sensor (8 m, Kinect v2's far limit) for whole bodies.
FOV_DEG = 58.5
SENSOR = DepthSensor(max_range=8.0)
NEAR, FAR = 0.1, 10.0  # clipping planes of the renderer
DISTANCES = (2.5, 4.0)  # sensor to the middle of the motion, before framing pushes it back
ELEVATIONS_DEG = (0.0, 25.0)
MIN_DISTANCE = 1.5  # the sensor keeps this far from the body
MAX_STATIC_DISTANCE = 6.5  # beyond this a tripod would lose the person: the sensor follows
Y_UP_TO_Z_UP = pose(rot_x(np.pi / 2), np.zeros(3))


@dataclass(frozen=True)
class MocapConfig(SourceConfig):
    """Sizes of the mocap dataset. The defaults (every clip from 6 cameras) ingest in about a
    minute on 2 cores."""

    num_sequences: int = 90
    frames_per_sequence: int = 40  # 2.7 s at 15 fps: most clips once through
    fps: float = 15.0  # MSR-Action3D's frame rate
    clips_per_sequence: int = 1
    # A Kinect's native depth resolution: a whole body 3-6 m away covers 2000-5000 pixels, so
    # 2048 points per frame are mostly distinct (at 320 x 240 each would be drawn twice).
    image_width: int = 640
    image_height: int = 480
    camera_orbit: float = 0.0  # degrees per second the sensor circles the person; 0: static

    minimums: ClassVar[dict[str, int]] = {
        "num_sequences": 1,
        "frames_per_sequence": MIN_FRAMES,
        "clips_per_sequence": 1,
        **IMAGE_MINIMUMS,
    }
    ranges: ClassVar[dict[str, tuple[float, float]]] = {"fps": (5, 120), "camera_orbit": (0, 45)}

    def __post_init__(self) -> None:
        super().__post_init__()
        need = self.clips_per_sequence * self.segment_frames
        if self.clips_per_sequence > 1 and self.frames_per_sequence < need:
            raise DataError(
                f"option frames_per_sequence must be at least {need} to play "
                f"clips_per_sequence={self.clips_per_sequence} clips of at least "
                f"{MIN_SEGMENT_SECONDS} s each at {self.fps} fps, got {self.frames_per_sequence}"
            )

    @property
    def segment_frames(self) -> int:
        """The fewest frames one clip plays for in a sequence."""
        return max(1, math.ceil(MIN_SEGMENT_SECONDS * self.fps))


@dataclass(frozen=True)
class Play:
    """One clip played in a sequence: frames [start, stop) show the clip at time
    offset + speed * (seconds since `start`), moved on the floor by `ground` (4x4, y up) so
    that it follows on from the play before."""

    clip: Clip
    start: int
    stop: int
    speed: float
    offset: float
    ground: np.ndarray

    @property
    def label(self) -> int:
        return CLIP_NAMES.index(self.clip.name)

    def poses(self, seconds: np.ndarray, fps: float, scale: float) -> Poses:
        """The play's poses at output times (seconds), y up, before and after its own frames
        too (for the fades)."""
        times = self.offset + self.speed * (seconds - self.start / fps)
        return self.clip.sample(times).scaled(scale).transformed(self.ground)


@dataclass(frozen=True)
class Plan:
    """The whole script of one sequence: what plays when, the body and the camera."""

    plays: tuple[Play, ...]
    scale: float  # body size relative to the clips' body
    poses: Poses  # every frame, world coordinates (z up)
    cameras: np.ndarray  # float64 [T, 4, 4] world-from-camera, OpenCV axes

    @property
    def num_frames(self) -> int:
        return len(self.poses)

    @property
    def clips(self) -> tuple[int, ...]:
        return tuple(p.label for p in self.plays)

    @property
    def actions(self) -> np.ndarray:
        """int16 [T]: the clip playing at every frame."""
        return np.repeat(np.array(self.clips, np.int16), [p.stop - p.start for p in self.plays])


class Mocap(RenderedSource):
    """Motion-capture clips rendered to depth; see the module docstring."""

    name = NAME
    config_class = MocapConfig

    def __init__(self, config: MocapConfig = MocapConfig()) -> None:
        super().__init__(config)
        require_pybullet()  # fail at once, with the install command, rather than on a worker
        self.camera = depth_camera(config)

    def info(self) -> DatasetInfo:
        return DatasetInfo(
            class_names=PART_NAMES,
            action_names=CLIP_NAMES,
            label_names=CLIP_NAMES,
            views=ViewDefaults(up=UP_Z),
            attrs={
                "origin": (
                    "REAL MOTION, RENDERED DEPTH: motion capture (the 15 DeepMimic clips "
                    "retargeted to the DeepMimic humanoid, shipped with pybullet) posed frame by "
                    "frame in pybullet and rendered to depth by its software renderer, with "
                    "simulated sensor noise and dropout"
                ),
                "units": "metres; world z up, floor on z = 0 (not in the points)",
                "camera": (
                    "a depth sensor on a tripod per sequence (random azimuth, elevation 0-25 "
                    "degrees, distance framing the whole motion); it travels along with a "
                    "person who would leave a tripod's range (running)"
                ),
                "points": "the person only (floor dropped, as a person-segmented depth sensor)",
                "labels": (
                    "per point: body part from the rendered link; per frame and per sequence: "
                    "the clip playing (every clip is one performance, so splits differ in "
                    "camera, speed, start, body size, not in performer)"
                ),
                "fps": self.config.fps,
                "image_size": [self.config.image_width, self.config.image_height],
                "fov_deg": FOV_DEG,
            },
        )

    def index(self) -> list[SequenceInfo]:
        single = self.config.clips_per_sequence == 1
        return [
            SequenceInfo(
                name=sequence_name(i),
                num_frames=self.config.frames_per_sequence,
                split=split_of_index(i, SPLIT_OF_EPISODE, every=len(CLIP_NAMES)),
                label=i % len(CLIP_NAMES) if single else -1,
            )
            for i in range(self.config.num_sequences)
        ]

    def read(self, seq: SequenceInfo) -> SequenceData:
        plan = plan_sequence(seq.name, self.config)
        rng = self.sensor_rng(seq)
        frames = plan.num_frames

        def captures(body: Humanoid):
            for t in range(frames):
                body.set_pose(plan.poses, t)
                image = body.render(plan.cameras[t], self.camera, NEAR, FAR)
                frame, links = sense(self.camera, image, plan.cameras[t], rng)
                yield frame, PART_OF_LINK[links]

        with Humanoid(plan.scale) as body:
            points, labels = self.resample_captures(seq, captures(body), frames, rng)
        return SequenceData(
            name=seq.name,
            points=points,
            camera=plan.cameras.astype(np.float32),
            point_label=labels,
            action=plan.actions,
            meta={"clips": [CLIP_NAMES[c] for c in plan.clips], "body_scale": plan.scale},
        )


NAMES = NumberedNames(NAME, "mocap")
sequence_name = NAMES.name
sequence_index = NAMES.index


def depth_camera(config: MocapConfig) -> DepthCamera:
    return DepthCamera(config.image_width, config.image_height, FOV_DEG, SENSOR)


def plan_sequence(name: str, config: MocapConfig) -> Plan:
    """The script of sequence `name`: deterministic from the name and options, no rendering.

    The first clip cycles with the index, so any 15 consecutive sequences cover every clip;
    further clips (clips_per_sequence > 1) are drawn at random, never the same twice in a row.
    """
    index = sequence_index(name)
    frames = config.frames_per_sequence
    rng = rng_from(NAME, name, "plan")
    labels = [index % len(CLIP_NAMES)]
    while len(labels) < config.clips_per_sequence:
        labels.append(int(rng.choice([c for c in range(len(CLIP_NAMES)) if c != labels[-1]])))
    scale = float(rng.uniform(*SCALES))
    bounds = _boundaries(len(labels), frames, config.segment_frames, rng)
    seconds = np.arange(frames) / config.fps
    plays: list[Play] = []
    poses: Poses | None = None
    for label, start, stop in zip(labels, bounds[:-1], bounds[1:], strict=True):
        clip = load_clip(CLIP_NAMES[label])
        speed = float(np.exp(rng.uniform(*np.log(SPEEDS))))
        offset = _offset(clip, speed * (stop - start) / config.fps, rng)
        play = Play(clip, int(start), int(stop), speed, offset, np.eye(4))
        if poses is None:
            poses = play.poses(seconds, config.fps, scale)
        else:
            play, poses = _join(plays[-1], play, poses, seconds, config.fps, scale)
        plays.append(play)
    poses = poses.transformed(_placement(poses, rng))
    cameras = _cameras(poses, seconds, config, scale, rng)
    return Plan(tuple(plays), scale, poses, cameras)


def _boundaries(plays: int, frames: int, least: int, rng: np.random.Generator) -> np.ndarray:
    """Frame boundaries [plays + 1] of the plays: random lengths, each at least `least`."""
    if plays == 1:
        return np.array([0, frames])
    weights = rng.uniform(0.6, 1.4, plays)
    extra = np.round(np.cumsum(weights) / weights.sum() * (frames - plays * least))
    return np.concatenate([[0], extra.astype(np.int64) + least * np.arange(1, plays + 1)])


def _offset(clip: Clip, span: float, rng: np.random.Generator) -> float:
    """Where in the clip a play of `span` clip-seconds starts. A looping clip may start
    anywhere; any other is seen whole if it fits (holding its first and last poses around it,
    as a person stands before and after an action), else a random stretch of it."""
    if clip.loop:
        return float(rng.uniform(0, clip.duration))
    slack = clip.duration - span
    return float(rng.uniform(min(0.0, slack), max(0.0, slack)))


def _join(
    previous: Play, play: Play, poses: Poses, seconds: np.ndarray, fps: float, scale: float
) -> tuple[Play, Poses]:
    """`play` moved on the floor to carry on from where the body is at the switch, and the
    poses cross-faded from the previous play's to it over BLEND_SECONDS around the switch."""
    switch = np.array([(play.start - 0.5) / fps])  # between the last and first frames
    before = previous.poses(switch, fps, scale)
    after = play.poses(switch, fps, scale)
    ground = ground_alignment(
        (after.root_position[0], after.root_rotation[0]),
        (before.root_position[0], before.root_rotation[0]),
    )
    play = replace(play, ground=ground)
    fade = min_jerk((seconds - switch[0]) / BLEND_SECONDS + 0.5)
    return play, interpolate(poses, play.poses(seconds, fps, scale), fade)


def _placement(poses: Poses, rng: np.random.Generator) -> np.ndarray:
    """World-from-clip transform: z up instead of y, a random heading, and the middle of the
    root's path over the origin."""
    turn = rot_z(rng.uniform(0, 2 * np.pi)) @ Y_UP_TO_Z_UP[:3, :3]
    path = poses.root_position @ turn.T
    middle = (path.min(0) + path.max(0)) / 2
    return pose(turn, -middle * np.array([1, 1, 0]))


def _cameras(
    poses: Poses, seconds: np.ndarray, config: MocapConfig, scale: float, rng: np.random.Generator
) -> np.ndarray:
    """World-from-camera poses [T, 4, 4] of the sensor: on a tripod at a random azimuth,
    elevation and distance, looking at the middle of the motion, optionally circling it.

    A sensor that would have to stand further than MAX_STATIC_DISTANCE from the body to keep
    it in view (a runner crossing the room) instead travels along with the person at their
    mean velocity, as a camera operator would.
    """
    root = poses.root_position
    orbit = rng.choice([-1, 1]) * np.radians(config.camera_orbit)  # radians per second
    azimuth = rng.uniform(0, 2 * np.pi) + orbit * seconds
    elevation = np.radians(rng.uniform(*ELEVATIONS_DEG))
    distance = rng.uniform(*DISTANCES)
    directions = np.stack(
        [np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
         np.full_like(azimuth, np.sin(elevation))], -1
    )  # fmt: skip
    # The body around its root: 0.7 m to each side, from the floor to 0.95 m above the root.
    side, low, high = 0.7 * scale, np.zeros_like(root[:, 2]), root[:, 2] + 0.95 * scale
    corners = np.stack(
        [np.stack([root[:, 0] + dx, root[:, 1] + dy, z], -1)
         for dx in (-side, side) for dy in (-side, side) for z in (low, high)], 1
    )  # fmt: skip
    middle = np.array([0.0, 0.0, root[:, 2].mean()])
    velocity = (root[-1] - root[0]) * np.array([1, 1, 0]) / seconds[-1]
    for follow in (False, True):
        targets = middle + follow * velocity * (seconds - seconds.mean())[:, None]
        cameras = _framed(targets, directions, distance, corners, depth_camera(config))
        farthest = np.linalg.norm(root - cameras[:, :3, 3], axis=1).max()
        if farthest <= MAX_STATIC_DISTANCE:
            break
    return cameras


def _framed(
    targets: np.ndarray,
    directions: np.ndarray,
    distance: float,
    corners: np.ndarray,
    camera: DepthCamera,
) -> np.ndarray:
    """Cameras [T, 4, 4] looking at targets [T, 3] from `distance` along directions [T, 3],
    moved back until corners [T, 8, 3] are inside the image with a margin and no nearer than
    MIN_DISTANCE."""
    unique, which = np.unique(directions, axis=0, return_inverse=True)  # one when static
    cameras = np.stack([look_at(d, np.zeros(3)) for d in unique])[which.reshape(-1)]
    half_width = 0.9 * camera.width / 2 / camera.intrinsics[0, 0]
    half_height = 0.9 * camera.height / 2 / camera.intrinsics[1, 1]
    while True:
        cameras[:, :3, 3] = targets + distance * directions
        local = np.einsum("tji,tkj->tki", cameras[:, :3, :3], corners - cameras[:, None, :3, 3])
        depth = local[..., 2]
        if (
            (depth >= MIN_DISTANCE).all()
            and (np.abs(local[..., 0]) <= half_width * depth).all()
            and (np.abs(local[..., 1]) <= half_height * depth).all()
        ):
            return cameras
        distance *= 1.1

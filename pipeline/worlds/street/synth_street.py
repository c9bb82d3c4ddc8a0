"""synth-street: a procedural stand-in for Synthia 4D, a street seen from a driving car.

Each sequence is a different street (one or two lanes each way, parking strips, sidewalks,
buildings, yards, an intersection or a zebra crossing with traffic lights, lamps, trees and
signs) and its traffic: cars driving both ways, turning, waiting or pulling over, people
walking, standing and crossing, cyclists, parked cars and bicycles. The ego car drives down
its lane with small changes of speed. As in Synthia 4D (MeteorNet's processing of the
SYNTHIA-SEQS videos), every frame fuses four depth cameras on the car (front, left, back,
right) into one complete cloud, cropped to 25 m around the car and thinned evenly over
space; each point carries one of Synthia's 12 classes and a shaded colour.

World axes: metres, z up, the main street along x with its centre line on y = 0. The stored
camera of a frame is the rig's front camera (world-from-camera, OpenCV axes).
Everything follows from the sequence's name through `rng_from`, so `read` gives the same
bytes in any process and any order, and `plan_sequence` gives the script without rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.seeding import rng_from
from c2p4d.pipeline.sequence import SequenceData, SequenceInfo, ViewDefaults
from c2p4d.pipeline.sources.base import DatasetInfo, SourceConfig, check_frame
from c2p4d.pipeline.sources.rendered import (
    IMAGE_MINIMUMS,
    UP_Z,
    NumberedNames,
    RenderedSource,
    split_of_index,
)
from c2p4d.pipeline.worlds.kinematics import Sway, pose, rot_x, rot_z
from c2p4d.pipeline.worlds.render import DepthCamera, DepthSensor
from c2p4d.pipeline.worlds.street.agents import Agent, populate
from c2p4d.pipeline.worlds.street.assets import CLASS_NAMES, Part
from c2p4d.pipeline.worlds.street.layout import (
    Street,
    sample_street,
    street_parts,
    with_extent,
)
from c2p4d.pipeline.worlds.street.rig import Lighting, Rig, even_sample
from c2p4d.pipeline.worlds.street.traffic import Path, Speeds, Track

NAME = "synth-street"
FPS = 10.0  # a car at 8 m/s moves 0.8 m a frame, about P4Transformer's Synthia radius (0.9 m)
CROP = 25.0  # MeteorNet keeps points within 25 m (Chebyshev) of the car
RIG_HEIGHT = 1.7  # metres above the road, on the car's roof
BOUNCE = 0.15  # the car's body bounces this fraction of its wander across the lane
FOV_DEG = 90.0  # four cameras at 90° cover the full circle
VOXEL_AT_16K = 0.5  # even thinning's voxel (m) at 16384 points; it scales with 1 / sqrt(N)
SENSOR = DepthSensor(
    min_range=0.3,
    max_range=CROP * np.sqrt(3),
    noise_floor=0.005,
    noise_quadratic=0.0001,  # rendered depth: 6 cm at 25 m
    dropout=0.01,
    edge_dropout=0.3,
    grazing_cos=0.02,  # a renderer sees the far road at grazing angles; a real sensor would not
)
MIN_FRAMES = 3  # one P4Transformer Synthia clip
CAR_FROM_CAMERA = np.array([[0, 0, 1.0], [-1, 0, 0], [0, -1, 0]])  # OpenCV axes on a car


@dataclass(frozen=True)
class SynthStreetConfig(SourceConfig):
    """Sizes of the built-in street dataset. The defaults ingest in about a minute or two on
    2 cores; cost grows linearly with sequences x frames."""

    points_per_frame: int = 16384
    num_sequences: int = 32
    frames_per_sequence: int = 24
    image_width: int = 160
    image_height: int = 120

    minimums: ClassVar[dict[str, int]] = {
        "num_sequences": 1,
        "frames_per_sequence": MIN_FRAMES,
        **IMAGE_MINIMUMS,
    }


@dataclass(frozen=True)
class Ego:
    """The car carrying the rig: its track in its lane, and the small sway of its body."""

    track: Track
    drift: Sway  # its x: wander across the lane (m); its y: bounce (m, times BOUNCE)
    attitude: Sway  # roll, pitch, yaw wobble (rad)

    def camera_pose(self, t: int) -> np.ndarray:
        """World-from-camera pose of the rig's front camera at frame t."""
        x, y, heading = self.track.pose[t]
        seconds = t / FPS
        lateral, bounce = self.drift(seconds)[:2] * [1.0, BOUNCE]
        roll, pitch, yaw = self.attitude(seconds)
        car = rot_z(heading + yaw) @ rot_x(roll) @ _rot_y(pitch)
        eye = np.array([x, y + lateral, RIG_HEIGHT + bounce])
        return pose(car @ CAR_FROM_CAMERA, eye)


def _rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])


@dataclass(frozen=True)
class Plan:
    """The whole script of one sequence: street, traffic, ego drive and light."""

    street: Street
    ego: Ego
    static_parts: tuple[Part, ...]
    agents: tuple[Agent, ...]
    lighting: Lighting

    @property
    def num_frames(self) -> int:
        return len(self.ego.track.travelled)

    def camera_pose(self, t: int) -> np.ndarray:
        return self.ego.camera_pose(t)

    def parts(self, t: int, reach: float = CROP) -> list[Part]:
        """Every part of frame t that comes within `reach` (Chebyshev) of the rig; those
        farther can neither be seen inside the crop nor hide anything inside it."""
        centre = self.camera_pose(t)[:3, 3]
        low, high = self._static_boxes
        gap = np.maximum(np.maximum(low - centre, centre - high), 0).max(1)
        near = [
            a for a in self.agents if (np.abs(a.track.pose[t, :2] - centre[:2]) < reach + 6).all()
        ]
        posed = [part for agent in near for part in agent.parts(t)]
        return [p for p, g in zip(self.static_parts, gap, strict=True) if g < reach] + posed

    @cached_property
    def _static_boxes(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper corners [P, 3] of each static part's bounding box."""
        low = np.array([p.mesh.vertices.min(0) for p in self.static_parts])
        high = np.array([p.mesh.vertices.max(0) for p in self.static_parts])
        return low, high


class SynthStreet(RenderedSource):
    """The built-in Synthia 4D stand-in; see the module docstring."""

    name = NAME
    config_class = SynthStreetConfig

    def __init__(self, config: SynthStreetConfig = SynthStreetConfig()) -> None:
        super().__init__(config)
        camera = DepthCamera(config.image_width, config.image_height, FOV_DEG, SENSOR)
        self.rig = Rig(camera, CROP)

    def info(self) -> DatasetInfo:
        return DatasetInfo(
            class_names=CLASS_NAMES,
            feature_names=("r", "g", "b"),
            views=ViewDefaults(mode="full-circle", up=UP_Z),
            attrs={
                "origin": "procedural: streets with traffic, ray cast by four depth cameras on "
                "a driving car and fused per frame",
                "stands_in_for": "Synthia 4D (SYNTHIA-SEQS as processed by MeteorNet and read "
                "by P4Transformer): 12 classes in P4Transformer's order, complete clouds",
                "units": "metres; world z up, main street along x, its centre line on y = 0",
                "camera": "frame/camera is the rig's front camera (world-from-camera, OpenCV); "
                "the rig turns it by 90, 180 and 270 degrees about the car's up axis",
                "fps": FPS,
                "crop_chebyshev_m": CROP,
                "rig_height_m": RIG_HEIGHT,
                "image_size": [self.config.image_width, self.config.image_height],
                "fov_deg": FOV_DEG,
                "features": "rgb in [0, 1]: per-object base colours from overlapping per-class "
                "palettes, shaded by sun and sky",
            },
        )

    def index(self) -> list[SequenceInfo]:
        return [
            SequenceInfo(
                name=sequence_name(i),
                num_frames=self.config.frames_per_sequence,
                split=split_of_index(i),
            )
            for i in range(self.config.num_sequences)
        ]

    def read(self, seq: SequenceInfo) -> SequenceData:
        plan = plan_sequence(seq.name, seq.num_frames)
        rng = self.sensor_rng(seq)
        n = self.points_per_frame
        voxel = VOXEL_AT_16K * np.sqrt(16384 / n)
        points = np.empty((plan.num_frames, n, 3), np.float32)
        labels = np.empty((plan.num_frames, n), np.int16)
        colours = np.empty((plan.num_frames, n, 3), np.float32)
        cameras = np.empty((plan.num_frames, 4, 4), np.float32)
        for t in range(plan.num_frames):
            camera = plan.camera_pose(t)
            parts = plan.parts(t)
            hits = self.rig.capture(parts, camera, rng)
            check_frame(hits.points, f"{NAME} sequence {seq.name!r} frame {t}")
            kept = hits.subset(even_sample(hits.points, n, voxel, rng))
            base = np.array([p.colour for p in parts])[kept.part]
            points[t], cameras[t] = kept.points, camera
            labels[t] = np.array([p.label for p in parts])[kept.part]
            colours[t] = plan.lighting.shade(base, kept.normals, rng)
        return SequenceData(
            name=seq.name,
            points=points,
            camera=cameras,
            point_label=labels,
            features=colours,
            meta={
                "lanes_per_direction": plan.street.lanes,
                "crossings": ["intersection" if c.side else "zebra" for c in plan.street.crossings],
                "agents": len(plan.agents),
            },
        )


NAMES = NumberedNames(NAME, "street")
sequence_name = NAMES.name
sequence_index = NAMES.index


def plan_sequence(name: str, num_frames: int) -> Plan:
    """The script of sequence `name`: deterministic from the name, no rendering."""
    sequence_index(name)
    if num_frames < MIN_FRAMES:
        raise DataError(
            f"{NAME}: sequence {name!r} needs at least {MIN_FRAMES} frames, not {num_frames}"
        )
    rng = rng_from(NAME, name, "plan")
    duration = (num_frames - 1) / FPS
    street = sample_street(rng)
    lane = int(rng.integers(street.lanes))
    speeds = Speeds.cruise(rng, rng.uniform(5.0, 10.0), duration, 0.12)
    ego_path = Path((0.0, street.lane_y(1, lane)), 0.0, ())
    track = Track.along(ego_path, speeds, (0.0, 0.0), num_frames, FPS)
    ego = Ego(track, Sway(rng, 0.12, (0.13, 0.31, 0.9)), Sway(rng, 0.01, (0.2, 0.5, 1.1)))
    end = float(track.pose[-1, 0])
    reach = CROP + 20  # the street goes on out of view behind the start and past the end
    street = with_extent(street, -reach, end + reach, rng.uniform(-5, end + 5), rng)
    static = street_parts(street, rng)
    agents = populate(street, track, num_frames, FPS, rng)
    return Plan(street, ego, tuple(static), tuple(agents), Lighting.sample(rng))

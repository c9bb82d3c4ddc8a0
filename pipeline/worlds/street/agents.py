"""The traffic of synth-street: cars, pedestrians and cyclists, scripted and kept apart.

`populate` fills a street around the ego car's drive: parked cars, cars driving both ways,
cars turning into side streets, cars waiting at a side street's stop line or pulling over
to park, people walking along the sidewalks, standing, or crossing at a zebra (some wait at
the curb first), cyclists riding along the right edge of the road, and bicycles parked by
the walls. Each candidate is rejected and drawn again if its footprint would ever touch one
already placed, the ego car's included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from c2p4d.pipeline.worlds.street.assets import (
    BikeShape,
    Part,
    Person,
    bicycle,
    car,
    ground_pose,
    paint,
    place,
)
from c2p4d.pipeline.worlds.street.layout import Crossing, Street
from c2p4d.pipeline.worlds.street.traffic import Footprint, Occupancy, Path, Speeds, Track

WALK_SPEED = 1.35  # m/s at which the gait's swing is full
EGO_FOOTPRINT = Footprint.vehicle(4.6, 1.85)


@dataclass(frozen=True)
class Vehicle:
    """A rigid car: its parts in its own frame."""

    parts: tuple[Part, ...]

    def posed(self, track: Track, t: int) -> list[Part]:
        return place(list(self.parts), ground_pose(*track.pose[t]))


@dataclass(frozen=True)
class Walker:
    """A person walking (or standing: stride 0) on the ground heights [T] along its track."""

    person: Person
    stride: np.ndarray  # [T] swing of the gait in [0, 1], from the walking speed
    ground: np.ndarray  # [T] height of the ground under the feet

    def posed(self, track: Track, t: int) -> list[Part]:
        phase = 2 * np.pi * track.travelled[t] / (0.8 * self.person.height)
        body = self.person.walking(phase, float(self.stride[t]))
        return place(body, ground_pose(*track.pose[t], z=float(self.ground[t])))


@dataclass(frozen=True)
class Cycle:
    """A bicycle, ridden (pedalling with the distance covered) or parked (rider None)."""

    shape: BikeShape
    frame: np.ndarray
    tyre: np.ndarray
    rider: Person | None

    def posed(self, track: Track, t: int) -> list[Part]:
        crank = track.travelled[t] / (2.6 * self.shape.wheel)  # about 2.6 wheel turns a crank
        parts = bicycle(self.shape, crank, self.frame, self.tyre)
        if self.rider is not None:
            parts += self.rider.riding(self.shape, crank)
        return place(parts, ground_pose(*track.pose[t]))


@dataclass(frozen=True)
class Agent:
    """Anything on the street that has a track: what it is, what it does, where it is."""

    kind: str  # car, pedestrian, cyclist, bicycle
    behaviour: str  # parked, cruise, turn, wait, pull_over, walk, stand, cross, ride
    track: Track
    footprint: Footprint
    body: Vehicle | Walker | Cycle

    def parts(self, t: int) -> list[Part]:
        return self.body.posed(self.track, t)


@dataclass
class _Traffic:
    """The planner's state: the street, the ego's drive, and everything placed so far."""

    street: Street
    ego: Track
    num_frames: int
    fps: float
    rng: np.random.Generator
    agents: list[Agent]
    placed: Occupancy

    @property
    def duration(self) -> float:
        return (self.num_frames - 1) / self.fps

    def add(self, make: Callable[[], Agent | None], tries: int = 12) -> bool:
        """Draw candidates until one keeps clear of everything placed; False if none did."""
        for _ in range(tries):
            agent = make()
            if agent is not None and self.placed.clear(agent.track, agent.footprint):
                self.agents.append(agent)
                self.placed.add(agent.track, agent.footprint)
                return True
        return False

    def near_ego(self, spread: float) -> tuple[float, float]:
        """A random time and an x within `spread` of where the ego is then."""
        t = self.rng.uniform(0, self.duration)
        frame = min(int(round(t * self.fps)), self.num_frames - 1)
        return t, float(self.ego.pose[frame, 0] + self.rng.uniform(-spread, spread))

    def along(self, path: Path, speeds: Speeds, anchor: tuple[float, float]) -> Track:
        return Track.along(path, speeds, anchor, self.num_frames, self.fps)

    def walk_band(self, side: int) -> float:
        """A random y on the sidewalk of `side` (+1: y > 0), clear of the curb furniture and of
        the walls."""
        s = self.street
        return side * self.rng.uniform(s.half_road + 1.2, s.facade - 1.0)


def populate(
    street: Street, ego: Track, num_frames: int, fps: float, rng: np.random.Generator
) -> list[Agent]:
    """Everything that moves or stands on `street` around the ego's drive, kept apart."""
    traffic = _Traffic(street, ego, num_frames, fps, rng, [], Occupancy(num_frames))
    traffic.placed.add(ego, EGO_FOOTPRINT)
    per_100m = (street.x_max - street.x_min) / 100

    def count(low: float, high: float) -> int:
        return int(round(rng.uniform(low, high) * per_100m))

    if street.parking:
        for _ in range(count(6, 16)):
            traffic.add(lambda: _parked_car(traffic), tries=4)
    # First the few that make sure every class is there: a bicycle, an oncoming car, walkers.
    traffic.add(lambda: _parked_bicycle(traffic), tries=40)
    traffic.add(lambda: _through_car(traffic, -1), tries=40)
    for _ in range(2):
        traffic.add(lambda: _walker(traffic, "walk"), tries=40)
    for c in street.crossings:
        if c.side:
            for _ in range(rng.integers(0, 3)):
                traffic.add(lambda c=c: _turning_car(traffic, c))
            for _ in range(rng.integers(0, 3)):
                traffic.add(lambda c=c: _waiting_car(traffic, c))
        for _ in range(rng.integers(0, 4)):
            traffic.add(lambda c=c: _crossing_walker(traffic, c))
    for _ in range(count(2, 8)):
        traffic.add(lambda: _through_car(traffic, int(rng.choice([-1, 1]))))
    if street.parking:
        for _ in range(rng.integers(0, 2)):
            traffic.add(lambda: _pulling_over_car(traffic))
    for _ in range(count(0, 3)):
        traffic.add(lambda: _cyclist(traffic))
    for _ in range(count(0, 3)):
        traffic.add(lambda: _parked_bicycle(traffic))
    for _ in range(count(8, 24)):
        traffic.add(lambda: _walker(traffic, "stand" if rng.random() < 0.15 else "walk"))
    return traffic.agents


def _vehicle(rng: np.random.Generator) -> tuple[Vehicle, Footprint, float]:
    parts, length, width = car(rng)
    return Vehicle(tuple(parts)), Footprint.vehicle(length, width), length


def _heading(direction: int) -> float:
    return 0.0 if direction > 0 else np.pi


def _parked_car(tr: _Traffic) -> Agent | None:
    s, rng = tr.street, tr.rng
    side = int(rng.choice([-1, 1]))
    x = rng.uniform(s.x_min, s.x_max)
    if any(abs(x - c.x) < c.side + 8 or c.span[0] - 6 < x < c.span[1] + 6 for c in s.crossings):
        return None
    body, footprint, _ = _vehicle(rng)
    y = side * (s.lanes * s.lane_width + s.parking / 2)
    track = Track.still(x, y, _heading(-side), tr.num_frames)
    return Agent("car", "parked", track, footprint, body)


def _through_car(tr: _Traffic, direction: int) -> Agent:
    s, rng = tr.street, tr.rng
    body, footprint, _ = _vehicle(rng)
    y = s.lane_y(direction, int(rng.integers(s.lanes)))
    t, x = tr.near_ego(35)
    speeds = Speeds.cruise(rng, rng.uniform(6, 13), tr.duration, 0.1)
    track = tr.along(Path((0.0, y), _heading(direction), ()), speeds, (t, direction * x))
    return Agent("car", "cruise", track, footprint, body)


def _turning_car(tr: _Traffic, c: Crossing) -> Agent:
    """Turns right from the outer lane of the main street into side street `c`."""
    s, rng = tr.street, tr.rng
    body, footprint, _ = _vehicle(rng)
    direction = int(rng.choice([-1, 1]))
    radius = rng.uniform(3.5, 5.5)
    start = (c.x - direction * (c.side / 2 + radius), s.lane_y(direction, s.lanes - 1))
    path = Path(start, _heading(direction), ((radius * np.pi / 2, -1 / radius),))
    speeds = Speeds.cruise(rng, rng.uniform(3.5, 6.0), tr.duration, 0.05)
    anchor = (rng.uniform(0, tr.duration), radius * np.pi / 4 + rng.uniform(-12, 12))
    return Agent("car", "turn", tr.along(path, speeds, anchor), footprint, body)


def _waiting_car(tr: _Traffic, c: Crossing) -> Agent:
    """Comes up side street `c` towards the main street and stops at its stop line."""
    s, rng = tr.street, tr.rng
    body, footprint, length = _vehicle(rng)
    side = int(rng.choice([-1, 1]))  # the half of the side street it comes from
    path = Path((c.x - side * c.side / 2, 0.0), -side * np.pi / 2, ())
    halt = -(s.half_road + s.sidewalk / 2 + 2.5 + length / 2)
    brake, ease = rng.uniform(-3, tr.duration), rng.uniform(2.0, 3.5)
    speeds = Speeds.stop_and_go(rng.uniform(5, 9), brake, 0.0, brake + ease + 60, ease)
    track = tr.along(path, speeds, (max(brake + ease, 0.0), halt))
    return Agent("car", "wait", track, footprint, body)


def _pulling_over_car(tr: _Traffic) -> Agent:
    """Leaves the outer lane with an S-bend into the parking strip and stops there."""
    s, rng = tr.street, tr.rng
    body, footprint, _ = _vehicle(rng)
    direction = int(rng.choice([-1, 1]))
    shift, bend = (s.lane_width + s.parking) / 2, 0.4
    radius = shift / (2 * (1 - np.cos(bend)))
    _, x = tr.near_ego(30)
    start = (x, s.lane_y(direction, s.lanes - 1))
    s_bend = ((radius * bend, -1 / radius), (radius * bend, 1 / radius))  # right, then left
    path = Path(start, _heading(direction), s_bend)
    brake, ease = rng.uniform(0, tr.duration), rng.uniform(2.0, 3.5)
    speeds = Speeds.stop_and_go(rng.uniform(4, 8), brake, 0.0, brake + ease + 60, ease)
    halt = 2 * radius * bend + rng.uniform(1, 5)
    track = tr.along(path, speeds, (brake + ease, halt))
    return Agent("car", "pull_over", track, footprint, body)


def _person_footprint() -> Footprint:
    return Footprint((0.0,), 0.35)


def _pedestrian(tr: _Traffic, person: Person, track: Track, behaviour: str) -> Agent:
    stride = np.clip(track.speed(tr.fps) / WALK_SPEED, 0.0, 1.0)
    ground = np.array([tr.street.ground(x, y) for x, y in track.pose[:, :2]])
    return Agent(
        "pedestrian", behaviour, track, _person_footprint(), Walker(person, stride, ground)
    )


def _walker(tr: _Traffic, behaviour: str) -> Agent:
    rng = tr.rng
    person = Person.sample(rng, child=rng.random() < 0.1)
    direction, side = int(rng.choice([-1, 1])), int(rng.choice([-1, 1]))
    t, x = tr.near_ego(30)
    y = tr.walk_band(side)
    if behaviour == "stand":
        track = Track.still(x, y, rng.uniform(0, 2 * np.pi), tr.num_frames)
    else:
        speeds = Speeds.cruise(rng, rng.uniform(0.9, 1.7), tr.duration, 0.1)
        path = Path((0.0, y), _heading(direction), ())
        track = tr.along(path, speeds, (t, direction * x))
    return _pedestrian(tr, person, track, behaviour)


def _crossing_walker(tr: _Traffic, c: Crossing) -> Agent:
    """Walks along a sidewalk to the zebra of crossing c, crosses, walks on; half of them
    wait at the curb for a while first."""
    rng = tr.rng
    person = Person.sample(rng, child=rng.random() < 0.1)
    direction, side = int(rng.choice([-1, 1])), int(rng.choice([-1, 1]))
    y, turn = tr.walk_band(side), 0.5
    zebra = (c.zebra[0] + c.zebra[1]) / 2 + rng.uniform(-1.2, 1.2)
    start = zebra - direction * rng.uniform(6, 30)
    bend = -side * direction / turn
    approach = abs(zebra - start) - turn
    across = 2 * abs(y) - 2 * turn
    corner = turn * np.pi / 2
    pieces = ((approach, 0.0), (corner, bend), (across, 0.0), (corner, -bend))
    path = Path((start, y), _heading(direction), pieces)
    curb = approach + turn * np.pi / 2 + abs(y) - tr.street.half_road - turn - 0.3
    speed = rng.uniform(1.0, 1.7)
    if rng.random() < 0.5:
        brake, ease = rng.uniform(-2, tr.duration), 1.0
        speeds = Speeds.stop_and_go(speed, brake, 0.0, brake + ease + rng.uniform(2, 8), ease)
        track = tr.along(path, speeds, (max(brake + ease, 0.0), curb))
    else:
        speeds = Speeds.cruise(rng, speed, tr.duration, 0.1)
        track = tr.along(path, speeds, (rng.uniform(0, tr.duration), curb + rng.uniform(-4, 8)))
    return _pedestrian(tr, person, track, "cross")


def _cyclist(tr: _Traffic) -> Agent:
    s, rng = tr.street, tr.rng
    rider = Person.sample(rng)
    shape = BikeShape.sample(rng, rider.height / 1.75)
    direction = int(rng.choice([-1, 1]))
    y = -direction * (s.lanes * s.lane_width - 0.8)
    t, x = tr.near_ego(30)
    speeds = Speeds.cruise(rng, rng.uniform(3.5, 6.5), tr.duration, 0.08)
    track = tr.along(Path((0.0, y), _heading(direction), ()), speeds, (t, direction * x))
    body = Cycle(shape, paint(rng, "car_paint"), paint(rng, "tyre"), rider)
    return Agent("cyclist", "ride", track, Footprint((-0.45, 0.45), 0.45), body)


def _parked_bicycle(tr: _Traffic) -> Agent | None:
    """A bicycle standing by a wall, along it."""
    s, rng = tr.street, tr.rng
    _, x = tr.near_ego(20)
    if s.in_side_street(x, margin=1.0):
        return None
    side = int(rng.choice([-1, 1]))
    track = Track.still(x, side * (s.facade - 0.45), rng.choice([0.0, np.pi]), tr.num_frames)
    shape = BikeShape.sample(rng, rng.uniform(0.9, 1.1))
    body = Cycle(shape, paint(rng, "car_paint"), paint(rng, "tyre"), None)
    return Agent("bicycle", "parked", track, Footprint((-0.45, 0.45), 0.35), body)

"""Motion on a street: paths of straight and curved pieces, speed profiles, tracks, footprints.

Every moving thing follows a planar `Path` at a speed that changes smoothly between keyframed
values (minimum-jerk easing, as drivers and walkers do), so a car can cruise, slow into a
turn, stop at a line and pull away again. A `Track` is where the thing is at each frame; the
planner checks tracks against each other with a few discs per footprint and rejects any that
would touch, so nothing drives through anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from c2p4d.pipeline.worlds.kinematics import min_jerk

STEP = 0.01  # seconds per integration step of the distance travelled


@dataclass(frozen=True)
class Path:
    """A planar curve from a start position and heading, made of pieces of constant curvature
    (length, curvature: 0 straight, 1/r a left turn of radius r, -1/r a right turn). Before its
    start and past its end it continues straight, so any distance has a place."""

    start: tuple[float, float]
    heading: float
    pieces: tuple[tuple[float, float], ...]

    @cached_property
    def _starts(self) -> np.ndarray:
        """[P + 1, 4]: x, y, heading and distance along the path at each piece's start."""
        rows = [np.array([*self.start, self.heading, 0.0])]
        for length, curvature in self.pieces:
            x, y, h, s = rows[-1]
            rows.append(np.array([*_advance(x, y, h, length, curvature), s + length]))
        return np.stack(rows)

    @property
    def length(self) -> float:
        return float(self._starts[-1, 3])

    def at(self, distance: np.ndarray) -> np.ndarray:
        """x, y, heading [K, 3] at distances [K] along the path."""
        distance = np.asarray(distance, float)
        starts = self._starts
        curvature = np.array([c for _, c in self.pieces] + [0.0])
        i = np.clip(np.searchsorted(starts[:, 3], distance, side="right") - 1, 0, len(starts) - 1)
        before = distance < 0
        i[before] = 0
        k = np.where(before, 0.0, curvature[i])
        x, y, h = _advance(*starts[i, :3].T, distance - starts[i, 3], k)
        return np.stack([x, y, h], -1)


def _advance(x, y, heading, length, curvature):
    """Position and heading after `length` along an arc of `curvature` (arrays or floats)."""
    x, y, heading, length, curvature = np.broadcast_arrays(
        *(np.asarray(a, float) for a in (x, y, heading, length, curvature))
    )
    straight = np.abs(curvature) < 1e-12
    k = np.where(straight, 1.0, curvature)
    end = heading + curvature * length
    x1 = np.where(straight, x + length * np.cos(heading), x + (np.sin(end) - np.sin(heading)) / k)
    y1 = np.where(straight, y + length * np.sin(heading), y - (np.cos(end) - np.cos(heading)) / k)
    return x1, y1, end


@dataclass(frozen=True)
class Speeds:
    """A speed profile: keyframed speeds (m/s) eased from one to the next with minimum jerk,
    held before the first keyframe and after the last. Keyframe times increase; they may lie
    before 0 or after the sequence."""

    times: tuple[float, ...]
    values: tuple[float, ...]

    def __call__(self, t: np.ndarray) -> np.ndarray:
        times, values = np.array(self.times), np.array(self.values)
        i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1)
        j = np.minimum(i + 1, len(times) - 1)
        span = np.maximum(times[j] - times[i], 1e-9)
        eased = min_jerk(np.clip((t - times[i]) / span, 0.0, 1.0))
        return values[i] + (values[j] - values[i]) * eased

    @staticmethod
    def cruise(rng: np.random.Generator, speed: float, duration: float, wobble: float) -> Speeds:
        """Around `speed`, drifting by up to `wobble` (relative) every one to three seconds."""
        times = np.concatenate([[0.0], np.cumsum(rng.uniform(1.0, 3.0, int(duration) + 2))])
        return Speeds(tuple(times), tuple(speed * (1 + rng.uniform(-wobble, wobble, len(times)))))

    @staticmethod
    def stop_and_go(speed: float, brake: float, halt: float, go: float, ease: float) -> Speeds:
        """Cruise, brake from time `brake` to a halt `ease` seconds later, wait at least `halt`
        seconds and pull away at `go` (which may lie past the end of the sequence)."""
        stopped = brake + ease
        go = max(go, stopped + halt)
        return Speeds((brake, stopped, go, go + ease), (speed, 0.0, 0.0, speed))


def distance_travelled(speeds: Speeds, times: np.ndarray) -> np.ndarray:
    """Distance covered from time 0 to each of `times` (seconds, >= 0), integrated finely."""
    grid = np.arange(0.0, np.max(times) + 2 * STEP, STEP)
    v = speeds(grid)
    covered = np.concatenate([[0.0], np.cumsum((v[1:] + v[:-1]) / 2) * STEP])
    return np.interp(times, grid, covered)


@dataclass(frozen=True)
class Track:
    """Where a thing is at each frame: x, y, heading [T, 3], and the distance it has covered
    since the first frame [T] (for gait and pedalling phases)."""

    pose: np.ndarray
    travelled: np.ndarray

    @staticmethod
    def along(
        path: Path, speeds: Speeds, anchor: tuple[float, float], num_frames: int, fps: float
    ) -> Track:
        """Follow `path` at `speeds`, passing distance anchor[1] along it at time anchor[0]."""
        times = np.append(np.arange(num_frames) / fps, anchor[0])
        covered = distance_travelled(speeds, times)
        frames = covered[:-1]
        return Track(path.at(frames - covered[-1] + anchor[1]), frames - frames[0])

    @staticmethod
    def still(x: float, y: float, heading: float, num_frames: int) -> Track:
        return Track(np.tile([x, y, heading], (num_frames, 1)), np.zeros(num_frames))

    def speed(self, fps: float) -> np.ndarray:
        """Speed [T] in m/s from the distance covered (one-sided at the ends)."""
        if len(self.travelled) < 2:
            return np.zeros(len(self.travelled))
        return np.gradient(self.travelled) * fps


@dataclass(frozen=True)
class Footprint:
    """Discs (x offset along the heading, radius) covering a thing seen from above."""

    offsets: tuple[float, ...]
    radius: float

    @staticmethod
    def vehicle(length: float, width: float) -> Footprint:
        return Footprint((-length / 3, 0.0, length / 3), width / 2 + 0.25)

    def centres(self, track: Track) -> np.ndarray:
        """Disc centres [T, K, 2] along a track."""
        x, y, h = track.pose.T
        along = np.array(self.offsets)
        return np.stack(
            [x[:, None] + np.cos(h)[:, None] * along, y[:, None] + np.sin(h)[:, None] * along], -1
        )


class Occupancy:
    """The footprint discs of everything placed so far, at every frame, so that a candidate
    is checked against all of them at once."""

    def __init__(self, num_frames: int) -> None:
        self.centres = np.zeros((num_frames, 0, 2))
        self.radii = np.zeros(0)

    def clear(self, track: Track, footprint: Footprint) -> bool:
        """Whether the footprint along the track keeps apart from everything, at every frame."""
        centres = footprint.centres(track)
        gap = np.linalg.norm(centres[:, :, None] - self.centres[:, None], axis=-1)
        return bool((gap >= footprint.radius + self.radii).all())

    def add(self, track: Track, footprint: Footprint) -> None:
        self.centres = np.concatenate([self.centres, footprint.centres(track)], axis=1)
        self.radii = np.concatenate([self.radii, np.full(len(footprint.offsets), footprint.radius)])

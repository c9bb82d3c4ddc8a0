"""The static street of synth-street: road, lane markings, sidewalks, buildings and furniture.

The main street runs along x (world z up, the road's centre line on y = 0, right-hand traffic:
lanes towards +x lie at y < 0). It has one or two lanes per direction, sometimes a parking
strip, raised sidewalks, and rows of buildings whose gaps hold fences, trees and hedges.
Crossings are either an intersection with a side street along y or a mid-block zebra
crossing; both have traffic lights. Lamps, trees and signs stand in a strip along the curb.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from c2p4d.pipeline.worlds import meshes
from c2p4d.pipeline.worlds.meshes import Mesh
from c2p4d.pipeline.worlds.street.assets import (
    GREEN,
    LANE_MARKING,
    RED,
    ROAD,
    SIDEWALK,
    Part,
    building,
    bush,
    fence,
    ground_pose,
    paint,
    place,
    street_lamp,
    traffic_light,
    traffic_sign,
    tree,
)

CURB = 0.15  # sidewalk height above the road
PAINT = 0.001  # lane markings stand this far above the road: flush within the sensor noise
FURNITURE = 0.6  # distance of lamps, trees and signs from the curb
DEPTH_BEHIND = 30.0  # how far the ground reaches behind the facades


@dataclass(frozen=True)
class Crossing:
    """Where pedestrians cross the main street: an intersection with a side street along y
    (side > 0, its road half width) or a mid-block zebra crossing (side == 0)."""

    x: float
    side: float

    @property
    def zebra(self) -> tuple[float, float]:
        """The x range of the zebra stripes across the main street (past the side street)."""
        start = self.x + self.side + 1.0 if self.side else self.x - 2.0
        return start, start + 4.0

    @property
    def span(self) -> tuple[float, float]:
        """The x range where traffic on the main street must not stop: side street and zebra."""
        return min(self.x - self.side, self.zebra[0]), max(self.x + self.side, self.zebra[1])


@dataclass(frozen=True)
class Street:
    """The cross-section and extent of a street; everything else is placed from it."""

    x_min: float
    x_max: float
    lanes: int  # per direction
    lane_width: float
    parking: float  # width of the parking strip along each curb (0: none)
    sidewalk: float
    crossings: tuple[Crossing, ...]

    @property
    def half_road(self) -> float:
        return self.lanes * self.lane_width + self.parking

    @property
    def facade(self) -> float:
        """|y| of the building line."""
        return self.half_road + self.sidewalk

    def lane_y(self, direction: int, lane: int) -> float:
        """Centre of lane `lane` (0: next to the centre line) of traffic going `direction`
        (+1 along +x, on the right: y < 0; -1 along -x)."""
        return -direction * (lane + 0.5) * self.lane_width

    def blocks(self) -> list[tuple[float, float]]:
        """x ranges of the main street not cut by a side street."""
        edges, start = [], self.x_min
        for c in sorted(self.crossings, key=lambda c: c.x):
            if c.side:
                edges.append((start, c.x - c.side))
                start = c.x + c.side
        return [*edges, (start, self.x_max)]

    def in_side_street(self, x: float, margin: float = 0.0) -> bool:
        return any(c.side and abs(x - c.x) < c.side + margin for c in self.crossings)

    def ground(self, x: float, y: float) -> float:
        """Height of the ground at (x, y): roads at 0, sidewalks at CURB."""
        return 0.0 if abs(y) < self.half_road or self.in_side_street(x) else CURB


def sample_street(rng: np.random.Generator) -> Street:
    """A random cross-section: lanes, parking strips and sidewalks; no extent yet."""
    return Street(
        x_min=0.0,
        x_max=0.0,
        lanes=int(rng.choice([1, 1, 2])),
        lane_width=rng.uniform(3.0, 3.6),
        parking=rng.uniform(2.0, 2.5) if rng.random() < 0.6 else 0.0,
        sidewalk=rng.uniform(3.0, 5.5),
        crossings=(),
    )


def with_extent(
    street: Street, x_min: float, x_max: float, first: float, rng: np.random.Generator
) -> Street:
    """The street spanning [x_min, x_max] with its first crossing at x = first and further
    ones every 70 to 130 m, each an intersection (60 %) or a zebra crossing."""
    crossings, x = [], first
    while x < x_max - 20:
        side = rng.uniform(3.2, 4.5) if rng.random() < 0.6 else 0.0
        crossings.append(Crossing(x, side))
        x += rng.uniform(70, 130)
    return dataclasses.replace(street, x_min=x_min, x_max=x_max, crossings=tuple(crossings))


def street_parts(street: Street, rng: np.random.Generator) -> list[Part]:
    """Every static part of the street in world coordinates."""
    return [
        *_ground(street, rng),
        *_markings(street, rng),
        *_crossing_furniture(street, rng),
        *_buildings(street, rng),
        *_curb_furniture(street, rng),
    ]


def _ground(street: Street, rng: np.random.Generator) -> list[Part]:
    """The road (main and side streets) at z = 0 and the raised sidewalk blocks around it."""
    length = street.x_max - street.x_min
    middle = (street.x_max + street.x_min) / 2
    far = street.facade + DEPTH_BEHIND
    roads = [meshes.box((length, 2 * street.half_road, 0.2), (middle, 0, -0.1))]
    slabs = []
    for c in street.crossings:
        if c.side:
            span = (far - street.half_road) / 2 + street.half_road
            roads += [
                meshes.box((2 * c.side, far - street.half_road, 0.2), (c.x, s * span, -0.1))
                for s in (-1, 1)
            ]
    for a, b in street.blocks():
        for s in (-1, 1):
            centre = s * (street.half_road + far) / 2
            size = (b - a, far - street.half_road, CURB)
            slabs.append(meshes.box(size, ((a + b) / 2, centre, CURB / 2)))
    return [
        Part(Mesh.merge(roads), ROAD, paint(rng, "asphalt")),
        Part(Mesh.merge(slabs), SIDEWALK, paint(rng, "paving")),
    ]


def _stripe(x0: float, x1: float, y: float, width: float) -> Mesh:
    """A painted stripe along x from x0 to x1, centred on y."""
    return meshes.box((x1 - x0, width, PAINT), ((x0 + x1) / 2, y, PAINT / 2))


def _dashes(x0: float, x1: float, y: float, width: float, dash: float, gap: float) -> list[Mesh]:
    starts = np.arange(x0, x1 - dash, dash + gap)
    return [_stripe(s, s + dash, y, width) for s in starts]


def _markings(street: Street, rng: np.random.Generator) -> list[Part]:
    """Centre line, lane lines, edge lines, zebra crossings and stop lines on the main street;
    centre lines and zebras on the side streets. Lines stop where a side street crosses."""
    american = rng.random() < 0.4  # a double yellow centre line
    runs, start = [], street.x_min
    for a, b in sorted(c.span for c in street.crossings):
        runs.append((start, a))
        start = b
    runs.append((start, street.x_max))
    white, yellow = [], []
    for x0, x1 in runs:
        if american:
            yellow += [_stripe(x0, x1, y, 0.12) for y in (-0.12, 0.12)]
        elif street.lanes == 1:
            white += _dashes(x0, x1, 0.0, 0.12, 3.0, 5.0)
        else:
            white.append(_stripe(x0, x1, 0.0, 0.15))
        for side in (-1, 1):
            for lane in range(1, street.lanes):
                white += _dashes(x0, x1, side * lane * street.lane_width, 0.12, 3.0, 6.0)
            if street.parking:
                white.append(_stripe(x0, x1, side * street.lanes * street.lane_width, 0.15))
    for c in street.crossings:
        z0, z1 = c.zebra
        width = 2 * street.half_road - 1.0
        ys = np.arange(-width / 2, width / 2, 1.0) + 0.25
        white += [meshes.box((z1 - z0, 0.5, PAINT), ((z0 + z1) / 2, y, PAINT / 2)) for y in ys]
        lanes = street.lanes * street.lane_width  # stop lines before the crossing
        white.append(meshes.box((0.3, lanes, PAINT), (c.span[0] - 1.5, -lanes / 2, PAINT / 2)))
        white.append(meshes.box((0.3, lanes, PAINT), (c.span[1] + 1.5, lanes / 2, PAINT / 2)))
        if c.side:  # zebras across the side street in line with the sidewalks, centre dashes
            for s in (-1, 1):
                y0 = s * (street.half_road + street.sidewalk / 2)
                white += [
                    meshes.box((0.5, min(3.5, street.sidewalk), PAINT), (x, y0, PAINT / 2))
                    for x in np.arange(c.x - c.side + 0.5, c.x + c.side - 0.25, 1.0)
                ]
                white += [
                    meshes.box((0.12, 3.0, PAINT), (c.x, s * y, PAINT / 2))
                    for y in np.arange(street.half_road + 9.0, street.facade + DEPTH_BEHIND, 8.0)
                ]
    parts = [Part(Mesh.merge(white), LANE_MARKING, _worn(rng, 0))]
    if yellow:
        parts.append(Part(Mesh.merge(yellow), LANE_MARKING, _worn(rng, 1)))
    return parts


def _worn(rng: np.random.Generator, choice: int) -> np.ndarray:
    """Paint faded towards the asphalt's grey by a random amount."""
    fade = rng.uniform(0.0, 0.45)
    return (1 - fade) * paint(rng, "marking", choice) + fade * paint(rng, "asphalt")


def _crossing_furniture(street: Street, rng: np.random.Generator) -> list[Part]:
    """At every crossing: a traffic light at the near right corner for each direction of the
    main street (green, with a mast arm over the lanes at intersections) and for each
    direction of a side street (red), a railing along the curb beyond each main street
    light, and a sign on each of the other two corners."""
    parts = []
    y = street.half_road + FURNITURE
    for c in street.crossings:
        arm = street.half_road - 0.5 if c.side else 0.0
        (a, b), length = c.span, rng.uniform(4, 10)
        parts += place(traffic_light(rng, GREEN, arm), ground_pose(a - 1.0, -y, np.pi, CURB))
        parts += place(traffic_light(rng, GREEN, arm), ground_pose(b + 1.0, y, 0.0, CURB))
        rail_y = y - FURNITURE / 2
        for x, side in ((a - 2 - length / 2, -1), (b + 2 + length / 2, 1)):
            parts += place(fence(rng, length, railing=True), ground_pose(x, side * rail_y, 0, CURB))
        parts += place(traffic_sign(rng), ground_pose(b + 1.0, -y, np.pi, CURB))
        parts += place(traffic_sign(rng), ground_pose(a - 1.0, y, 0.0, CURB))
        if c.side:  # for the side street's traffic, facing along y
            x = c.side + FURNITURE
            parts += place(traffic_light(rng, RED), ground_pose(c.x + x, -y, -np.pi / 2, CURB))
            parts += place(traffic_light(rng, RED), ground_pose(c.x - x, y, np.pi / 2, CURB))
    return parts


def _buildings(street: Street, rng: np.random.Generator) -> list[Part]:
    """Rows of buildings along both building lines, some set back behind a front garden;
    gaps between them show a yard behind a fence or a hedge."""
    parts = []
    for a, b in street.blocks():
        for side in (-1, 1):
            x = a + rng.uniform(0, 2)
            while x < b - 4:
                width = min(rng.uniform(8, 30), b - x)
                if rng.random() < 0.35 and width > 4:  # a yard instead of a building
                    width = min(width, rng.uniform(4, 12))
                    parts += _garden(street, rng, x, width, side, rng.uniform(4, 8))
                else:
                    setback = rng.uniform(0, 1.5)
                    if rng.random() < 0.3:
                        setback = rng.uniform(2.5, 5)
                        parts += _garden(street, rng, x, width, side, setback)
                    body = building(rng, width, rng.uniform(10, 16))
                    facing = np.pi if side > 0 else 0.0  # the facade towards the road
                    at = ground_pose(x + width / 2, side * (street.facade + setback), facing, CURB)
                    parts += place(body, at)
                x += width + rng.uniform(0, 1.0)
    return parts


def _garden(
    street: Street, rng: np.random.Generator, x: float, width: float, side: int, depth: float
) -> list[Part]:
    """A fence or hedge along the building line from x over `width`, and perhaps a tree in
    the `depth` of ground behind it."""
    centre = x + width / 2
    front = fence(rng, width) if rng.random() < 0.5 else bush(rng, width)
    parts = place(front, ground_pose(centre, side * (street.facade + 0.3), 0.0, CURB))
    if rng.random() < 0.7 and depth > 3.5:
        x = centre + rng.uniform(-0.3, 0.3) * width
        at = ground_pose(x, side * (street.facade + depth / 2), rng.uniform(0, 2 * np.pi), CURB)
        parts += place(tree(rng), at)
    return parts


def _curb_furniture(street: Street, rng: np.random.Generator) -> list[Part]:
    """Lamps at a steady spacing, then trees and signs in free spots of the curb strip, kept
    clear of crossings. Signs face the traffic on their side of the road."""
    parts = []
    y = street.half_road + FURNITURE
    for side in (-1, 1):
        taken = [(c.span[0] - 13.0, c.span[1] + 13.0) for c in street.crossings]

        def free(x: float, room: float, taken=taken) -> bool:
            return all(x + room < a or x - room > b for a, b in taken)

        x = street.x_min + rng.uniform(0, 10)
        spacing = rng.uniform(18, 32)
        while x < street.x_max:
            if free(x, 0.5):
                taken.append((x - 0.5, x + 0.5))
                parts += place(street_lamp(rng), ground_pose(x, side * y, -side * np.pi / 2, CURB))
            x += spacing
        facing = 0.0 if side > 0 else np.pi
        for kind, count in (("tree", rng.integers(3, 14)), ("sign", rng.integers(3, 7))):
            for _ in range(int(count * (street.x_max - street.x_min) / 100)):
                x = rng.uniform(street.x_min, street.x_max)
                room = 1.5 if kind == "tree" else 0.6
                if not free(x, room):
                    continue
                taken.append((x - room, x + room))
                thing = tree(rng) if kind == "tree" else traffic_sign(rng)
                parts += place(thing, ground_pose(x, side * y, facing, CURB))
    return parts

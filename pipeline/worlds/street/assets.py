"""Things on a street for synth-street: the 12 Synthia classes, their colours and their meshes.

Every object is a list of `Part`s: a mesh, its Synthia class and a base colour, so that one
object can mix classes as Synthia labels them (a sign's post is a pole, its plate a traffic
sign; a cyclist is a pedestrian on a bicycle). Objects are built in a local frame: ground
contact at the origin, +x forward (the way it travels or faces), +y left, +z up.

Colours come from per-class palettes that overlap on purpose: grey buildings, grey road, grey
poles, grey sign backs and silver cars, green fences and green trees, so colour helps a
classifier without giving the class away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from c2p4d.pipeline.worlds import meshes
from c2p4d.pipeline.worlds.kinematics import bone_pose, pose, rot_z, two_bone_ik
from c2p4d.pipeline.worlds.meshes import Mesh

# Synthia 4D's 12 classes in the order P4Transformer and MeteorNet train on: raw SYNTHIA ids
# 2..12 and 15 through `index_to_label` (void, sky and the reserved ids are dropped).
CLASS_NAMES = (
    "building", "road", "sidewalk", "fence", "vegetation", "pole", "car",
    "traffic_sign", "pedestrian", "bicycle", "lane_marking", "traffic_light",
)  # fmt: skip
(
    BUILDING, ROAD, SIDEWALK, FENCE, VEGETATION, POLE, CAR,
    TRAFFIC_SIGN, PEDESTRIAN, BICYCLE, LANE_MARKING, TRAFFIC_LIGHT,
) = range(len(CLASS_NAMES))  # fmt: skip


@dataclass(frozen=True)
class Part:
    """A mesh in world (or object) coordinates, its class and its base colour (rgb in [0, 1])."""

    mesh: Mesh
    label: int
    colour: np.ndarray

    def placed(self, matrix: np.ndarray) -> Part:
        return Part(self.mesh.transformed(matrix), self.label, self.colour)


def place(parts: list[Part], matrix: np.ndarray) -> list[Part]:
    """An object's parts moved by a 4x4 pose."""
    return [p.placed(matrix) for p in parts]


def ground_pose(x: float, y: float, yaw: float, z: float = 0.0) -> np.ndarray:
    """The pose of an object standing at (x, y, z) facing yaw (radians from +x)."""
    return pose(rot_z(yaw), np.array([x, y, z]))


# Base colours (rgb); `paint` varies them per object.
PALETTES = {
    "asphalt": [(0.27, 0.27, 0.29), (0.33, 0.33, 0.34), (0.22, 0.23, 0.25)],
    "paving": [(0.58, 0.57, 0.55), (0.66, 0.63, 0.57), (0.5, 0.5, 0.52), (0.62, 0.52, 0.45)],
    "wall": [
        (0.62, 0.62, 0.62), (0.78, 0.72, 0.6), (0.6, 0.33, 0.25), (0.85, 0.84, 0.8),
        (0.45, 0.44, 0.45), (0.72, 0.62, 0.48), (0.55, 0.6, 0.66), (0.4, 0.3, 0.24),
    ],
    "glass": [(0.16, 0.2, 0.26), (0.26, 0.31, 0.36), (0.12, 0.13, 0.15)],
    "metal": [(0.5, 0.51, 0.52), (0.36, 0.37, 0.38), (0.62, 0.62, 0.6)],
    "dark_metal": [(0.12, 0.12, 0.13), (0.16, 0.24, 0.18), (0.2, 0.2, 0.22)],
    "wood": [(0.45, 0.31, 0.19), (0.55, 0.42, 0.28)],
    "foliage": [(0.18, 0.36, 0.14), (0.26, 0.42, 0.16), (0.14, 0.28, 0.13), (0.45, 0.42, 0.16)],
    "bark": [(0.33, 0.25, 0.17), (0.4, 0.33, 0.25)],
    "car_paint": [
        (0.85, 0.85, 0.85), (0.62, 0.63, 0.65), (0.4, 0.4, 0.42), (0.1, 0.1, 0.11),
        (0.65, 0.1, 0.1), (0.12, 0.22, 0.5), (0.15, 0.3, 0.2), (0.85, 0.7, 0.12),
    ],
    "tyre": [(0.07, 0.07, 0.07)],
    "sign": [(0.75, 0.1, 0.1), (0.1, 0.25, 0.62), (0.88, 0.88, 0.86), (0.9, 0.74, 0.1),
             (0.1, 0.42, 0.2)],
    "light_housing": [(0.1, 0.1, 0.1), (0.72, 0.6, 0.12), (0.15, 0.22, 0.16)],
    "lamp": [(0.8, 0.12, 0.08), (0.9, 0.6, 0.1), (0.1, 0.75, 0.35)],
    "skin": [(0.85, 0.68, 0.56), (0.65, 0.47, 0.35), (0.42, 0.29, 0.2), (0.92, 0.78, 0.66)],
    "clothes": [
        (0.1, 0.1, 0.12), (0.2, 0.25, 0.45), (0.6, 0.6, 0.62), (0.7, 0.15, 0.15),
        (0.85, 0.85, 0.82), (0.3, 0.42, 0.25), (0.55, 0.42, 0.3), (0.85, 0.6, 0.2),
    ],
    "marking": [(0.88, 0.88, 0.86), (0.86, 0.72, 0.18)],
}  # fmt: skip


def paint(rng: np.random.Generator, palette: str, choice: int | None = None) -> np.ndarray:
    """A colour from a palette (entry `choice` or a random one), varied per object."""
    colours = PALETTES[palette]
    base = np.array(colours[rng.integers(len(colours)) if choice is None else choice])
    return np.clip(base * rng.uniform(0.85, 1.15) + rng.normal(0, 0.025, 3), 0.0, 1.0)


def along_x(mesh: Mesh) -> Mesh:
    """A mesh built along +z turned to lie along +x (a disc facing x, a wheel axle...)."""
    return mesh.transformed(pose(np.array([[0, 0, 1.0], [0, 1, 0], [-1, 0, 0]]), np.zeros(3)))


def along_y(mesh: Mesh) -> Mesh:
    """A mesh built along +z turned to lie along +y."""
    return mesh.transformed(pose(np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]), np.zeros(3)))


_UNIT_ROD = meshes.frustum(1.0, 1.0, 6)


def rods(ends: list[tuple[np.ndarray, np.ndarray, float]]) -> Mesh:
    """Round bars (hexagonal prisms), each (start, end, radius), as one mesh. Posed in one
    batch: people and bicycles are rebuilt from dozens of bars every frame."""
    starts = np.array([a for a, _, _ in ends], float)
    axes = np.array([b for _, b, _ in ends], float) - starts
    radii = np.array([r for _, _, r in ends], float)
    lengths = np.linalg.norm(axes, axis=1)
    z = axes / lengths[:, None]
    helper = np.where(np.abs(z[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.cross(z, x)
    unit = _UNIT_ROD.vertices
    vertices = (
        starts[:, None]
        + unit[None, :, :1] * (radii[:, None, None] * x[:, None])
        + unit[None, :, 1:2] * (radii[:, None, None] * y[:, None])
        + unit[None, :, 2:] * (lengths[:, None, None] * z[:, None])
    )
    offsets = np.arange(len(ends))[:, None, None] * len(unit)
    triangles = (_UNIT_ROD.triangles[None] + offsets).reshape(-1, 3)
    return Mesh(vertices.reshape(-1, 3), triangles)


# Vehicles

_UNIT_WHEEL = along_y(meshes.cylinder(1.0, 1.0, 12))  # axle along y from 0 to 1


def car(rng: np.random.Generator) -> tuple[list[Part], float, float]:
    """A car or van facing +x: body, glass cabin and tyres. Returns the parts, length, width."""
    van = rng.random() < 0.2
    length = rng.uniform(4.8, 5.4) if van else rng.uniform(3.8, 4.8)
    width = rng.uniform(1.72, 1.95)
    height = rng.uniform(1.9, 2.3) if van else rng.uniform(1.38, 1.6)
    wheel = rng.uniform(0.3, 0.35)
    sill, belt = 0.55 * wheel, rng.uniform(0.85, 1.0)
    body = meshes.box((length, width, belt - sill), (0, 0, (belt + sill) / 2))
    cabin_len = length * (rng.uniform(0.75, 0.85) if van else rng.uniform(0.45, 0.55))
    back = -length / 2 + (0.15 if van else rng.uniform(0.5, 0.8))
    roof = height - 0.04
    cabin = _tapered_box(cabin_len, 0.94 * width, roof - belt, 0.75 if van else 0.6)
    glass = cabin.transformed(pose(np.eye(3), np.array([back + cabin_len / 2, 0, belt])))
    lid = meshes.box((cabin_len * 0.7, 0.8 * width, 0.04), (back + cabin_len / 2, 0, roof + 0.02))
    tyre = _UNIT_WHEEL.transformed(pose(np.diag([wheel, 0.22, wheel]), np.array([0, -0.11, 0])))
    axle = length / 2 - rng.uniform(0.7, 0.95)
    tyres = [
        meshes.translate(tyre, (x * axle, y * (width / 2 - 0.12), wheel))
        for x in (-1, 1)
        for y in (-1, 1)
    ]
    paint_colour = paint(rng, "car_paint")
    parts = [
        Part(Mesh.merge([body, lid]), CAR, paint_colour),
        Part(glass, CAR, paint(rng, "glass")),
        Part(Mesh.merge(tyres), CAR, paint(rng, "tyre")),
    ]
    return parts, length, width


def _tapered_box(length: float, width: float, height: float, top_fraction: float) -> Mesh:
    """A box standing on z = 0 whose top face is shorter along x (a car's cabin)."""
    bottom = meshes.box((length, width, height), (0, 0, height / 2))
    v = bottom.vertices.copy()
    top = v[:, 2] > height / 2
    v[top, 0] *= top_fraction
    v[top, 1] *= 0.92
    return Mesh(v, bottom.triangles)


@dataclass(frozen=True)
class BikeShape:
    """Key points of a bicycle frame in its local frame (x forward, ground at z = 0)."""

    wheel: float
    wheelbase: float
    saddle: np.ndarray  # top of the seat post
    bracket: np.ndarray  # bottom bracket (crank axle)
    head: np.ndarray  # top of the head tube
    bars: np.ndarray  # centre of the handlebar
    crank: float = 0.17

    @staticmethod
    def sample(rng: np.random.Generator, scale: float) -> BikeShape:
        wheel = rng.uniform(0.32, 0.36)
        base = rng.uniform(1.0, 1.1)
        return BikeShape(
            wheel=wheel,
            wheelbase=base,
            saddle=np.array([-0.24, 0, 0.88 * scale + rng.uniform(-0.03, 0.05)]),
            bracket=np.array([-0.08, 0, 0.29]),
            head=np.array([0.36, 0, 0.82 * scale]),
            bars=np.array([0.3, 0, 0.98 * scale + rng.uniform(-0.05, 0.05)]),
        )

    def hubs(self) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.array([-self.wheelbase / 2, 0, self.wheel]),
            np.array([self.wheelbase / 2, 0, self.wheel]),
        )

    def pedals(self, crank_angle: float) -> tuple[np.ndarray, np.ndarray]:
        """Left and right pedal positions; the cranks are half a turn apart."""
        left = self.crank * np.array([np.cos(crank_angle), 0, np.sin(crank_angle)])
        return (
            self.bracket + left + np.array([0, 0.1, 0]),
            self.bracket - left + np.array([0, -0.1, 0]),
        )

    def grips(self) -> tuple[np.ndarray, np.ndarray]:
        return self.bars + np.array([0, 0.24, 0]), self.bars + np.array([0, -0.24, 0])


def bicycle(
    shape: BikeShape, crank_angle: float, frame: np.ndarray, tyre: np.ndarray
) -> list[Part]:
    """A bicycle facing +x: two wheels, a diamond frame, fork, bars, saddle and cranks."""
    rear, front = shape.hubs()
    hoop = meshes.torus_arc(shape.wheel - 0.02, 0.022, 0, 2 * np.pi, 14, 5)
    wheels = [meshes.translate(hoop, tuple(h)) for h in (rear, front)]
    fork_top = shape.head + np.array([0.03, 0, -0.16])
    left, right = shape.pedals(crank_angle)
    grip_l, grip_r = shape.grips()
    tubes = rods(
        [
            (shape.bracket, shape.saddle, 0.018),
            (shape.saddle, shape.head, 0.016),
            (shape.bracket, fork_top, 0.02),
            (shape.bracket, rear, 0.012),
            (shape.saddle, rear, 0.011),
            (fork_top, front, 0.014),
            (fork_top, shape.head, 0.02),
            (shape.head, shape.bars, 0.014),
            (grip_l, grip_r, 0.013),
            (left, right, 0.012),
        ]
    )
    saddle = meshes.box((0.26, 0.14, 0.05), tuple(shape.saddle + np.array([0, 0, 0.03])))
    return [
        Part(Mesh.merge([tubes, saddle]), BICYCLE, frame),
        Part(Mesh.merge(wheels), BICYCLE, tyre),
    ]


# People


@dataclass(frozen=True)
class Person:
    """A person's size and clothes. Joints are placed from the height; the body is built
    from round limbs between joints, an elliptic torso and an egg-shaped head."""

    height: float
    girth: float  # multiplies the body's widths
    skin: np.ndarray
    top: np.ndarray  # shirt or coat: torso and arms
    bottom: np.ndarray  # trousers or skirt: legs

    @staticmethod
    def sample(rng: np.random.Generator, child: bool = False) -> Person:
        return Person(
            height=rng.uniform(1.05, 1.4) if child else rng.uniform(1.55, 1.95),
            girth=rng.uniform(0.85, 1.2),
            skin=paint(rng, "skin"),
            top=paint(rng, "clothes"),
            bottom=paint(rng, "clothes"),
        )

    @property
    def thigh(self) -> float:
        return 0.245 * self.height

    @property
    def shin(self) -> float:
        return 0.25 * self.height

    @property
    def upper_arm(self) -> float:
        return 0.17 * self.height

    @property
    def forearm(self) -> float:
        return 0.16 * self.height

    def walking(self, phase: float, stride: float) -> list[Part]:
        """Mid-stride at gait `phase` (radians); stride in [0, 1] scales the swing (0: still)."""
        h = self.height
        pelvis = np.array([0, 0, 0.53 * h + 0.008 * h * stride * abs(np.cos(phase))])
        lean = np.array([0.02 * h * stride, 0, 0])
        shoulder_centre = np.array([0, 0, 0.815 * h]) + lean
        legs, arms = [], []
        for side, sign in ((1, 1.0), (-1, -1.0)):
            swing = sign * 0.42 * stride * np.sin(phase)  # hip flexion, forward positive
            knee_bend = stride * (0.08 + 0.6 * max(0.0, np.cos(phase + sign * np.pi / 4)))
            hip = pelvis + np.array([0, side * 0.055 * h * self.girth, 0])
            knee = hip + self.thigh * _down_tilted(swing)
            ankle = knee + self.shin * _down_tilted(swing - knee_bend)
            legs.append((hip, knee, ankle))
            arm_swing = -sign * 0.35 * stride * np.sin(phase)
            shoulder = shoulder_centre + np.array([0, side * 0.12 * h * self.girth, -0.02 * h])
            elbow = shoulder + self.upper_arm * _down_tilted(arm_swing, side * 0.08)
            hand = elbow + self.forearm * _down_tilted(arm_swing + 0.2 + 0.3 * stride, side * 0.05)
            arms.append((shoulder, elbow, hand))
        return self._body(pelvis, shoulder_centre, legs, arms)

    def riding(self, bike: BikeShape, crank_angle: float) -> list[Part]:
        """Seated on `bike` (its local frame), feet on the pedals, hands on the grips."""
        pelvis = bike.saddle + np.array([-0.02, 0, 0.09])
        reach = np.mean(bike.grips(), axis=0) - pelvis
        torso = 0.3 * self.height
        direction = reach / np.linalg.norm(reach)
        up = np.array([0, 0, 1.0])
        back = (up + 0.8 * direction) / np.linalg.norm(up + 0.8 * direction)
        shoulder_centre = pelvis + back * torso
        legs, arms = [], []
        for (foot, grip), side in zip(
            zip(bike.pedals(crank_angle), bike.grips(), strict=True), (1, -1), strict=True
        ):
            hip = pelvis + np.array([0, side * 0.055 * self.height * self.girth, 0])
            ankle = foot + np.array([-0.02, 0, 0.07])
            knee = two_bone_ik(hip, ankle, self.thigh, self.shin, np.array([1.0, 0.1 * side, 0]))
            ankle = knee + self.shin * _unit(ankle - knee)
            legs.append((hip, knee, ankle))
            shoulder = shoulder_centre + np.array([0, side * 0.12 * self.height * self.girth, 0])
            elbow = two_bone_ik(
                shoulder, grip, self.upper_arm, self.forearm, np.array([-0.3, 0.5 * side, -1.0])
            )
            arms.append((shoulder, elbow, elbow + self.forearm * _unit(grip - elbow)))
        return self._body(pelvis, shoulder_centre, legs, arms)

    def _body(
        self,
        pelvis: np.ndarray,
        shoulders: np.ndarray,
        legs: list[tuple[np.ndarray, ...]],
        arms: list[tuple[np.ndarray, ...]],
    ) -> list[Part]:
        h, g = self.height, self.girth
        axis = shoulders - pelvis
        torso = meshes.frustum(0.85, 1.0, 10).transformed(
            bone_pose(pelvis, shoulders) @ np.diag([0.065 * h * g, 0.1 * h * g, 1.0, 1])
        )
        head_centre = shoulders + _unit(axis) * 0.115 * h
        head = meshes.ellipsoid((0.058 * h, 0.052 * h, 0.068 * h), 6, 10, head_centre)
        neck = (shoulders, head_centre, 0.022 * h)
        legs_mesh = rods(
            [
                bar
                for hip, knee, ankle in legs
                for bar in (
                    (hip, knee, 0.034 * h * g),
                    (knee, ankle, 0.026 * h * g),
                    (ankle, ankle + np.array([0.13 * h / 1.75, 0, -0.03]), 0.03),
                )
            ]
        )
        arms_mesh = rods(
            [
                (a, b, r * h * g)
                for shoulder, elbow, hand in arms
                for a, b, r in ((shoulder, elbow, 0.024), (elbow, hand, 0.02))
            ]
        )
        return [
            Part(Mesh.merge([head, rods([neck])]), PEDESTRIAN, self.skin),
            Part(Mesh.merge([torso, arms_mesh]), PEDESTRIAN, self.top),
            Part(legs_mesh, PEDESTRIAN, self.bottom),
        ]


def _down_tilted(forward: float, outward: float = 0.0) -> np.ndarray:
    """The downward unit vector swung forward (about y) and out to the side (about x)."""
    return _unit(np.array([np.sin(forward), np.sin(outward), -np.cos(forward)]))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


# Street furniture


def tree(rng: np.random.Generator) -> list[Part]:
    """A trunk and a crown of one to three overlapping ellipsoids."""
    trunk_h, r = rng.uniform(1.8, 3.5), rng.uniform(0.1, 0.22)
    crown = rng.uniform(1.2, 2.6)
    blobs = [
        meshes.ellipsoid(
            tuple(crown * rng.uniform(0.7, 1.0, 3) * [1, 1, rng.uniform(0.9, 1.4)]),
            6,
            10,
            np.array([*rng.uniform(-0.5, 0.5, 2) * crown, trunk_h + crown * rng.uniform(0.6, 1)]),
        )
        for _ in range(rng.integers(1, 4))
    ]
    trunk = meshes.lathe(
        [0, r * 1.3, r, 0.6 * r, 0], [0, 0, 0.4, trunk_h + crown, trunk_h + crown], 8
    )
    return [
        Part(trunk, VEGETATION, paint(rng, "bark")),
        Part(Mesh.merge(blobs), VEGETATION, paint(rng, "foliage")),
    ]


def bush(rng: np.random.Generator, length: float) -> list[Part]:
    """A hedge of flattened ellipsoids along x, about `length` long."""
    count = max(1, int(length / 1.2))
    xs = np.linspace(-length / 2, length / 2, count + 2)[1:-1]
    height = rng.uniform(0.5, 1.3)
    blobs = [
        meshes.ellipsoid(
            (length / count * 0.75, rng.uniform(0.4, 0.7), height * rng.uniform(0.45, 0.55)),
            6,
            10,
            np.array([x, 0, height * 0.45]),
        )
        for x in xs
    ]
    return [Part(Mesh.merge(blobs), VEGETATION, paint(rng, "foliage"))]


def street_lamp(rng: np.random.Generator) -> list[Part]:
    """A lamp post whose arm and head reach over the road on its +x side."""
    height, arm = rng.uniform(5.0, 8.0), rng.uniform(0.8, 2.0)
    post = meshes.lathe([0, 0.1, 0.07, 0.05, 0], [0, 0, 0.5, height, height], 8)
    top = np.array([0, 0, height - 0.05])
    reach = top + np.array([arm, 0, 0.25])
    head = meshes.box((0.55, 0.25, 0.12), tuple(reach + np.array([0.2, 0, -0.06])))
    parts = Mesh.merge([post, rods([(top, reach, 0.04)]), head])
    return [Part(parts, POLE, paint(rng, rng.choice(["metal", "dark_metal"])))]


def traffic_sign(rng: np.random.Generator) -> list[Part]:
    """A post with a plate facing +x (round, triangular or square), coloured in front, metal
    behind; a second, smaller plate below it sometimes."""
    height = rng.uniform(2.0, 2.8)
    post_colour = paint(rng, "metal")
    parts = [Part(meshes.cylinder(0.035, height + 0.1, 8), POLE, post_colour)]
    plates = [(height - 0.25, rng.uniform(0.55, 0.85))]
    if rng.random() < 0.3:
        plates.append((height - 0.25 - plates[0][1] / 2 - 0.25, 0.35))
    for centre, size in plates:
        shape = rng.integers(3)
        segments = (24, 3, 4)[shape]
        radius = size / 2 if shape != 2 else size / np.sqrt(2)
        plate = meshes.lathe([0, radius, radius, 0], [0, 0, 0.015, 0.015], segments)
        if shape == 2:  # a square standing on its side, not on a corner
            plate = plate.transformed(pose(rot_z(np.pi / 4), np.zeros(3)))
        if shape == 1 and rng.random() < 0.5:  # a give-way sign points down
            plate = plate.transformed(pose(rot_z(np.pi / 2), np.zeros(3)))
        else:
            plate = plate.transformed(pose(rot_z(-np.pi / 2), np.zeros(3)))
        face = along_x(plate).transformed(pose(np.eye(3), np.array([0.05, 0, centre])))
        back = along_x(plate).transformed(pose(np.eye(3), np.array([0.033, 0, centre])))
        parts += [
            Part(face, TRAFFIC_SIGN, paint(rng, "sign")),
            Part(back, TRAFFIC_SIGN, post_colour),
        ]
    return parts


RED, AMBER, GREEN = range(3)  # lamps of a signal head, top to bottom


def traffic_light(rng: np.random.Generator, lit: int, arm: float = 0.0) -> list[Part]:
    """A post with a signal head facing +x showing lamp `lit`; with `arm` > 0 a mast arm
    reaches that far to the head's right (-y, over the road) and carries a second head."""
    height = rng.uniform(3.0, 3.6) + (1.8 if arm > 0 else 0.0)
    post_colour = paint(rng, rng.choice(["metal", "dark_metal"]))
    housing_colour = paint(rng, "light_housing")
    poles = [meshes.lathe([0, 0.09, 0.07, 0], [0, 0, height, height], 8)]
    heads = [np.array([0.12, 0, min(height, 3.4) - 0.5])]
    if arm > 0:
        bar = (np.array([0, 0, height - 0.2]), np.array([0, -arm, height - 0.2]), 0.06)
        poles.append(rods([bar]))
        heads.append(np.array([0.12, 0.3 - arm, height - 0.75]))
    housings, lamps, dark = [], [], []
    for centre in heads:
        housings.append(meshes.box((0.24, 0.32, 0.9), tuple(centre)))
        for k in range(3):
            lens = along_x(meshes.cylinder(0.1, 0.03, 10)).transformed(
                pose(np.eye(3), centre + np.array([0.12, 0, 0.28 - 0.28 * k]))
            )
            (lamps if k == lit else dark).append(lens)
    lamp_colour = np.array(PALETTES["lamp"][lit])
    return [
        Part(Mesh.merge(poles), POLE, post_colour),
        Part(Mesh.merge(housings), TRAFFIC_LIGHT, housing_colour),
        Part(Mesh.merge(lamps), TRAFFIC_LIGHT, lamp_colour * rng.uniform(0.9, 1.1)),
        Part(Mesh.merge(dark), TRAFFIC_LIGHT, lamp_colour * 0.25),
    ]


def fence(rng: np.random.Generator, length: float, railing: bool | None = None) -> list[Part]:
    """A fence along x: a metal railing of posts, rails and bars, or close boards (wooden or
    metal); `railing` None picks one at random."""
    railing = rng.random() < 0.5 if railing is None else railing
    height = rng.uniform(0.9, 1.2) if railing else rng.uniform(1.0, 1.8)
    count = max(2, int(length / 2.0) + 1)
    xs = np.linspace(-length / 2, length / 2, count)
    posts = [meshes.box((0.06, 0.06, height), (x, 0, height / 2)) for x in xs]
    if railing:
        rails = [meshes.box((length, 0.04, 0.05), (0, 0, z * height)) for z in (0.3, 0.95)]
        bars = [
            meshes.box((0.025, 0.025, 0.65 * height), (x, 0, 0.625 * height))
            for x in np.arange(-length / 2 + 0.15, length / 2, 0.15)
        ]
        return [Part(Mesh.merge(posts + rails + bars), FENCE, paint(rng, "dark_metal"))]
    boards = meshes.box((length, 0.03, 0.85 * height), (0, 0.04, 0.5 * height))
    return [Part(Mesh.merge([*posts, boards]), FENCE, paint(rng, rng.choice(["wood", "metal"])))]


def building(rng: np.random.Generator, width: float, depth: float) -> list[Part]:
    """A block of `width` along x and `depth` along -y (its facade on y = 0 faces +y): walls,
    a cornice, and rows of windows standing slightly proud of the facade."""
    height = rng.uniform(5.0, 12.0) if rng.random() < 0.65 else rng.uniform(12.0, 22.0)
    wall = meshes.box((width, depth, height), (0, -depth / 2, height / 2))
    cornice = meshes.box((width + 0.1, 0.5, 0.4), (0, -0.15, height - 0.2))
    floor_h = rng.uniform(2.8, 3.6)
    spacing = rng.uniform(2.0, 3.5)
    pane = (min(spacing - 0.6, rng.uniform(1.0, 1.8)), rng.uniform(1.2, min(2.0, floor_h - 0.8)))
    shop = rng.random() < 0.5
    windows = []
    for floor in range(int((height - 0.8) / floor_h)):
        z = floor * floor_h + floor_h / 2 + 0.3
        if floor == 0 and shop:  # a wide shop window on the ground floor
            windows.append(meshes.box((width * 0.7, 0.12, floor_h - 0.9), (0, 0, z - 0.2)))
            continue
        count = max(1, int((width - 1.0) / spacing))
        for x in (np.arange(count) - (count - 1) / 2) * spacing:
            windows.append(meshes.box((pane[0], 0.12, pane[1]), (x, 0.0, z)))
    colour = paint(rng, "wall")
    parts = [Part(Mesh.merge([wall, cornice]), BUILDING, colour)]
    if windows:
        parts.append(Part(Mesh.merge(windows), BUILDING, paint(rng, "glass")))
    return parts

"""An articulated human figure: a 17-joint skeleton, forward kinematics, and a body of
tapered capsules and ellipsoids on its bones.

Every joint frame has the body's axes at rest: x to the figure's right, y forward, z up; the
figure stands on z = 0 of its ground frame with its arms hanging, and each limb bone points
along its joint's -z. A pose is the root (pelvis) pose plus one local rotation per joint, and
forward kinematics chains them from the pelvis out. Other worlds can drive the skeleton with
joint rotations directly (motion capture); gestures drive it with a `Posture`: where the
wrists and ankles should be, how the spine bends and the head turns. `Figure.solve` turns a
posture into joint rotations, placing elbows and knees by two-bone inverse kinematics.

Proportions are fractions of body height after anthropometric tables (Drillis & Contini, as
quoted by Winter, "Biomechanics and Motor Control of Human Movement"), so one `BodyShape`
(height, girth, limb scales) makes a whole person.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from c2p4d.pipeline.worlds.kinematics import pose, rot_x, rot_y, rot_z, two_bone_ik
from c2p4d.pipeline.worlds.meshes import Mesh, ellipsoid, tapered_capsule

JOINTS = (
    "pelvis", "spine", "chest", "neck", "head",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
)  # fmt: skip
PARENTS = (-1, 0, 1, 2, 3, 2, 5, 6, 2, 8, 9, 0, 11, 12, 0, 14, 15)  # parents come first
J = {name: i for i, name in enumerate(JOINTS)}
PART_NAMES = ("head", "torso", "left_arm", "right_arm", "left_leg", "right_leg")
HEAD, TORSO, LEFT_ARM, RIGHT_ARM, LEFT_LEG, RIGHT_LEG = range(len(PART_NAMES))
SIDES = ("right", "left")
OUTWARD = np.array([[1.0, 1, 1], [-1.0, 1, 1]])  # x mirror per side: posture x points outwards
# How a posture's spine bend, lean and twist is shared by the pelvis, lumbar and chest joints.
SPINE_SHARE = np.array([[0.45, 0.2, 0.3], [0.3, 0.4, 0.35], [0.25, 0.4, 0.35]])
FLIP = np.diag([1.0, -1.0, -1.0, 1.0])  # turns a +z limb mesh to hang along -z
STRAIGHT = 0.998  # hip-ankle distance of a standing leg over its length: knees almost locked


@dataclass(frozen=True)
class BodyShape:
    """One person: height in metres and relative scales (1 is the average adult)."""

    height: float = 1.75
    girth: float = 1.0  # widths and depths of trunk and limbs
    shoulders: float = 1.0  # shoulder breadth
    arms: float = 1.0  # arm bone lengths
    legs: float = 1.0  # leg bone lengths; the trunk takes the rest of the height


def _default(value: list) -> Any:
    return field(default_factory=lambda: np.array(value, float))


@dataclass(frozen=True)
class Posture:
    """What a gesture controls, in the figure's own frames; the defaults stand relaxed.

    hands   [2, 3]  wrist targets (right, left) in the chest frame, from the chest joint (the
                    middle of the shoulder line), in arm reaches; x points outwards per side
    elbows  [2, 3]  directions the elbows bend towards (chest frame, x outwards)
    feet    [2, 3]  ankle offsets from standing in the ground frame, in body heights
    toes    [2]     foot pitch in radians, positive points the toes down
    pelvis  [3]     pelvis offset from standing in the ground frame, in body heights
    spine   [3]     forward bend, lean to the right, twist to the left (radians)
    head    [2]     nod down, turn to the left (radians)
    """

    hands: np.ndarray = _default([[0.41, 0.04, -0.95], [0.41, 0.04, -0.95]])
    elbows: np.ndarray = _default([[0.25, -1.0, -0.2], [0.25, -1.0, -0.2]])
    feet: np.ndarray = _default([[0.0, 0, 0], [0, 0, 0]])
    toes: np.ndarray = _default([0.0, 0])
    pelvis: np.ndarray = _default([0.0, 0, 0])
    spine: np.ndarray = _default([0.0, 0, 0])
    head: np.ndarray = _default([0.0, 0])

    def vector(self) -> np.ndarray:
        """Every control in one flat vector, to interpolate and perturb postures as points."""
        return np.concatenate([np.ravel(getattr(self, f.name)) for f in fields(self)])

    @classmethod
    def from_vector(cls, vector: np.ndarray) -> Posture:
        """The posture a `vector()` came from."""
        values, start = {}, 0
        for f in fields(cls):
            shape = np.shape(f.default_factory())
            size = int(np.prod(shape))
            values[f.name] = np.asarray(vector[start : start + size], float).reshape(shape)
            start += size
        return cls(**values)


class Figure:
    """A person of a given shape: skeleton offsets, limb lengths and part meshes."""

    def __init__(self, shape: BodyShape = BodyShape()) -> None:
        self.shape = shape
        h, g = shape.height, shape.girth
        self.upper_arm, self.forearm = 0.186 * h * shape.arms, 0.146 * h * shape.arms
        self.thigh, self.shin = 0.245 * h * shape.legs, 0.246 * h * shape.legs
        self.ankle_height = 0.039 * h
        hip = self.ankle_height + STRAIGHT * (self.shin + self.thigh)
        trunk = h - hip  # from the hip joints to the top of the head, 0.47 h on average
        self.shoulder_half = 0.108 * h * shape.shoulders * (0.85 + 0.15 * g)
        self.hip_half = 0.05 * h * (0.8 + 0.2 * g)
        self._rest_ankle = np.array([self.hip_half, 0, self.ankle_height])  # x outwards
        self.pelvis_height = hip + 0.04 * trunk
        offsets = np.zeros((len(JOINTS), 3))
        offsets[J["spine"]] = (0, 0, 0.15 * trunk)
        offsets[J["chest"]] = (0, 0, 0.423 * trunk)
        offsets[J["neck"]] = (0, 0, 0.057 * trunk)
        offsets[J["head"]] = (0, 0, 0.13 * trunk)
        for side, sign in zip(SIDES, (1, -1), strict=True):
            offsets[J[f"{side}_shoulder"]] = (sign * self.shoulder_half, 0, 0)
            offsets[J[f"{side}_elbow"]] = (0, 0, -self.upper_arm)
            offsets[J[f"{side}_wrist"]] = (0, 0, -self.forearm)
            offsets[J[f"{side}_hip"]] = (sign * self.hip_half, 0, -0.04 * trunk)
            offsets[J[f"{side}_knee"]] = (0, 0, -self.thigh)
            offsets[J[f"{side}_ankle"]] = (0, 0, -self.shin)
        self.offsets = offsets
        self._skin(self._build_parts(h, g, trunk))

    @property
    def reach(self) -> float:
        """Shoulder to wrist, the unit of `Posture.hands`."""
        return self.upper_arm + self.forearm

    def _build_parts(self, h: float, g: float, trunk: float) -> list[tuple[int, Mesh, int]]:
        """(joint, mesh in that joint's frame, part label) for every piece of the body."""

        def at(mesh: Mesh, *offset: float) -> Mesh:
            return mesh.transformed(pose(np.eye(3), np.array(offset)))

        def limb(r0: float, r1: float, length: float) -> Mesh:
            return tapered_capsule(r0, r1, length).transformed(FLIP)  # r0 at the joint

        span = 2 * self.shoulder_half  # a bar from shoulder to shoulder: collar bones, trapezius
        collar = tapered_capsule(0.034 * h * g, 0.034 * h * g, span, 2, 10)
        parts = [
            (J["head"], at(ellipsoid((0.047 * h, 0.058 * h, 0.125 * trunk)), 0, 0.01 * h,
                           0.075 * trunk), HEAD),
            (J["neck"], tapered_capsule(0.03 * h, 0.027 * h, 0.13 * trunk, 2, 10), HEAD),
            (J["chest"], at(ellipsoid((0.1 * h * g, 0.062 * h * g, 0.27 * trunk)), 0,
                            0.004 * h, -0.2 * trunk), TORSO),
            (J["chest"], collar.transformed(pose(rot_y(np.pi / 2), np.array([-span / 2, 0, 0]))),
             TORSO),
            (J["spine"], at(ellipsoid((0.087 * h * g, 0.058 * h * g, 0.15 * trunk)), 0, 0,
                            0.05 * trunk), TORSO),
            (J["pelvis"], at(ellipsoid((0.095 * h * g, 0.06 * h * g, 0.14 * trunk)), 0,
                             -0.005 * h, -0.03 * trunk), TORSO),
        ]  # fmt: skip
        for side, arm, leg in (("right", RIGHT_ARM, RIGHT_LEG), ("left", LEFT_ARM, LEFT_LEG)):
            parts += [
                (J[f"{side}_shoulder"], ellipsoid((0.032 * h * g,) * 3, 6, 12), arm),
                (J[f"{side}_shoulder"], limb(0.028 * h * g, 0.021 * h * g, self.upper_arm), arm),
                (J[f"{side}_elbow"], limb(0.022 * h * g, 0.016 * h * g, self.forearm), arm),
                (J[f"{side}_wrist"], at(ellipsoid((0.013 * h, 0.026 * h, 0.052 * h), 6, 12),
                                        0, 0, -0.048 * h), arm),
                (J[f"{side}_hip"], limb(0.05 * h * g, 0.032 * h * g, self.thigh), leg),
                (J[f"{side}_knee"], limb(0.032 * h * g, 0.021 * h * g, self.shin), leg),
                (J[f"{side}_ankle"], at(ellipsoid((0.026 * h, 0.075 * h, 0.02 * h), 6, 12), 0,
                                        0.042 * h, 0.02 * h + 0.002 - self.ankle_height), leg),
            ]  # fmt: skip
        return parts

    def forward_kinematics(self, root: np.ndarray, local: np.ndarray) -> np.ndarray:
        """World frames [J, 4, 4] of every joint from the pelvis pose [4, 4] and the local
        rotations [J, 3, 3] (each relative to its parent; the pelvis's is ignored)."""
        world = np.empty((len(JOINTS), 4, 4))
        world[0] = root
        for j in range(1, len(JOINTS)):
            world[j] = world[PARENTS[j]] @ pose(local[j], self.offsets[j])
        return world

    def solve(self, posture: Posture, ground: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The pelvis pose [4, 4] and local joint rotations [J, 3, 3] that realise `posture`
        for a figure standing on `ground` (a pose whose xy plane is the floor).

        A foot whose target is on the floor stays there: if the posture would lift the pelvis
        out of that leg's reach, the pelvis is lowered until the leg reaches the floor.
        """
        local = np.tile(np.eye(3), (len(JOINTS), 1, 1))
        trunk = [rot_z(t) @ rot_y(side) @ rot_x(-b) for b, side, t in SPINE_SHARE * posture.spine]
        standing = np.array([0, 0, self.pelvis_height]) + posture.pelvis * self.shape.height
        root = ground @ pose(trunk[0], standing)
        hips = [root[:3, :3] @ self.offsets[J[f"{side}_hip"]] + root[:3, 3] for side in SIDES]
        ankles = [
            ground[:3, :3] @ (m * (self._rest_ankle + posture.feet[s] * self.shape.height))
            + ground[:3, 3]
            for s, m in enumerate(OUTWARD)
        ]
        planted = [s for s in range(2) if posture.feet[s, 2] <= 0]
        drop = max([0.0, *(self._overreach(hips[s], ankles[s], ground[:3, 2]) for s in planted)])
        root[:3, 3] -= drop * ground[:3, 2]
        hips = [hip - drop * ground[:3, 2] for hip in hips]
        local[J["spine"]], local[J["chest"]] = trunk[1], trunk[2]
        nod, turn = posture.head / 2
        local[J["neck"]] = local[J["head"]] = rot_z(turn) @ rot_x(-nod)
        spine = root @ pose(trunk[1], self.offsets[J["spine"]])
        chest = spine @ pose(trunk[2], self.offsets[J["chest"]])
        for s, side in enumerate(SIDES):
            wrist = chest[:3, :3] @ (OUTWARD[s] * posture.hands[s]) * self.reach + chest[:3, 3]
            shoulder = J[f"{side}_shoulder"]
            upper, lower = self._limb(
                chest[:3, :3] @ self.offsets[shoulder] + chest[:3, 3],
                wrist,
                self.upper_arm,
                self.forearm,
                chest[:3, :3] @ (OUTWARD[s] * posture.elbows[s]),
                -1.0,
            )
            local[shoulder] = chest[:3, :3].T @ upper
            local[shoulder + 1] = upper.T @ lower
            hip = J[f"{side}_hip"]
            thigh, shin = self._limb(hips[s], ankles[s], self.thigh, self.shin, ground[:3, 1], 1.0)
            local[hip] = root[:3, :3].T @ thigh
            local[hip + 1] = thigh.T @ shin
            local[hip + 2] = shin.T @ ground[:3, :3] @ rot_x(-posture.toes[s])
        return root, local

    def _overreach(self, hip: np.ndarray, ankle: np.ndarray, up: np.ndarray) -> float:
        """How far the hip must come down for the leg to reach `ankle` (0 if it does)."""
        offset = hip - ankle
        height = offset @ up
        leg = STRAIGHT * (self.thigh + self.shin)
        across = np.linalg.norm(offset - height * up)
        if np.linalg.norm(offset) <= leg or across >= leg:
            return 0.0
        return float(height - np.sqrt(leg**2 - across**2))

    @staticmethod
    def _limb(
        root: np.ndarray,
        end: np.ndarray,
        length1: float,
        length2: float,
        pole: np.ndarray,
        front: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """World rotations of the two bones of a limb reaching from root towards end.

        The middle joint bends towards `pole`; each bone hangs along its local -z and hinges
        about its local x, and local +y is the limb's front: away from the pole for an arm
        (front = -1: the forearm folds forwards), towards it for a leg (front = 1: the knee).
        """
        middle = two_bone_ik(root, end, length1, length2, pole)
        along1 = (middle - root) / length1
        reached = root + (end - root) * min(1.0, (length1 + length2) / np.linalg.norm(end - root))
        along2 = (reached - middle) / np.linalg.norm(reached - middle)
        side = pole - (pole @ along1) * along1
        if np.linalg.norm(side) < 1e-9:  # the pole lies along the bone: any hinge will do
            side = _cross(along1, np.array([1.0, 0, 0] if abs(along1[0]) < 0.9 else [0, 1.0, 0]))
        front_axis = front * side / np.linalg.norm(side)
        hinge = _cross(front_axis, -along1)
        upper = np.stack([hinge, front_axis, -along1], 1)
        lower = np.stack([hinge, _cross(-along2, hinge), -along2], 1)
        return upper, lower

    def joints(self, posture: Posture, ground: np.ndarray) -> np.ndarray:
        """World frames [J, 4, 4] of every joint in `posture`."""
        return self.forward_kinematics(*self.solve(posture, ground))

    def _skin(self, parts: list[tuple[int, Mesh, int]]) -> None:
        """Lay every part's vertices out in one array, each tagged with its joint and grouped
        by label, so that posing the body is one batched transform rather than one per part."""
        by_label = [[(j, m) for j, m, label in parts if label == k] for k in range(len(PART_NAMES))]
        merged = [Mesh.merge([m for _, m in group]) for group in by_label]
        self._vertices = np.concatenate([m.vertices for m in merged])
        self._joint_of_vertex = np.concatenate(
            [
                np.repeat([j for j, _ in group], [len(m.vertices) for _, m in group])
                for group in by_label
            ]
        )
        stops = np.cumsum([len(m.vertices) for m in merged])
        self._label_ranges = [
            (label, stop - len(m.vertices), stop, m.triangles)
            for label, (stop, m) in enumerate(zip(stops, merged, strict=True))
        ]

    def parts(self, world: np.ndarray) -> list[tuple[Mesh, int]]:
        """World meshes of the body in joint frames `world`, one mesh per part label."""
        frames = world[self._joint_of_vertex]
        posed = np.einsum("nij,nj->ni", frames[:, :3, :3], self._vertices) + frames[:, :3, 3]
        return [
            (Mesh(posed[start:stop], triangles), label)
            for label, start, stop, triangles in self._label_ranges
        ]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The cross product of two 3-vectors (np.cross costs ten times as much at this size)."""
    return np.array(
        [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    )

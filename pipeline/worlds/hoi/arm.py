"""An articulated human arm with a five-fingered hand, posed from a shoulder and a wrist pose.

The hand frame sits at the wrist: +z points along the fingers, +y out of the palm (fingers
curl towards +y) and the thumb lies on the -x side (a right hand). One closure value in [0, 1]
drives every finger joint, from a flat open hand to a closed power grasp; the elbow follows
from two-bone inverse kinematics. Part meshes are built once and only posed per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from c2p4d.pipeline.worlds.kinematics import (
    bone_pose,
    chain,
    frame_from_axes,
    pose,
    rot_x,
    two_bone_ik,
)
from c2p4d.pipeline.worlds.meshes import Mesh, box, capsule, frustum, sphere

# Finger bone lengths (metres, adult hand) from index to little finger, and the thumb's.
FINGER_BONES = (
    (0.044, 0.026, 0.020),
    (0.048, 0.029, 0.021),
    (0.044, 0.027, 0.020),
    (0.035, 0.020, 0.018),
)
THUMB_BONES = (0.040, 0.032, 0.027)
FINGER_FLEX = np.radians([80.0, 95.0, 65.0])  # joint angles of a fully closed finger
THUMB_FLEX = np.radians([25.0, 35.0, 45.0])
RELAXED = np.radians(6.0)  # the slight bend of a relaxed open hand


@dataclass(frozen=True)
class ArmShape:
    """Bone lengths and thicknesses; `scale` makes a smaller or larger person."""

    upper_arm: float = 0.30
    forearm: float = 0.27
    palm_length: float = 0.09
    palm_width: float = 0.08
    palm_thickness: float = 0.025
    finger_radius: float = 0.0085
    scale: float = 1.0


class Arm:
    """A right arm: shoulder, upper arm, elbow, forearm, palm and five digits."""

    def __init__(self, shape: ArmShape = ArmShape(), elbow_pole: np.ndarray | None = None) -> None:
        s = shape.scale
        self.shape = shape
        self.upper_arm, self.forearm = shape.upper_arm * s, shape.forearm * s
        self.palm = np.array([shape.palm_width, shape.palm_thickness, shape.palm_length]) * s
        self.elbow_pole = np.array([0.8, -0.5, -0.6]) if elbow_pole is None else elbow_pole
        self._shoulder = sphere(0.05 * s, 6, 12)
        self._elbow = sphere(0.04 * s, 6, 12)
        self._upper = frustum(0.047 * s, 0.04 * s)
        self._lower = frustum(0.037 * s, 0.026 * s)
        self._palm = box(tuple(self.palm), (0, 0, self.palm[2] / 2))
        radius = shape.finger_radius * s
        self.finger_bones = [np.array(b) * s for b in FINGER_BONES]
        self.thumb_bones = np.array(THUMB_BONES) * s
        self._fingers = [[capsule(radius, b, 2, 8) for b in bones] for bones in self.finger_bones]
        self._thumb = [capsule(radius * 1.1, b, 2, 8) for b in self.thumb_bones]
        width, length = self.palm[0], self.palm[2]
        self._knuckles = [
            pose(np.eye(3), np.array([(i - 1.5) * width / 4, 0, length - d * s]))
            for i, d in enumerate((0.004, 0.0, 0.004, 0.012))
        ]
        thumb_axis = np.array([-0.55, 0.35, 0.75])
        towards_palm = np.array([1.0, 0.8, 0.0])
        self._thumb_base = pose(
            frame_from_axes(towards_palm, thumb_axis), np.array([-0.4 * width, 0.005, 0.2 * length])
        )

    @property
    def hand_length(self) -> float:
        """From the wrist to the tip of the open middle finger."""
        return float(self.palm[2] + self.finger_bones[1].sum())

    def reach(self) -> float:
        """The farthest the wrist can be from the shoulder."""
        return self.upper_arm + self.forearm

    def posed(self, shoulder: np.ndarray, wrist: np.ndarray, closure: float) -> tuple[Mesh, Mesh]:
        """World meshes of the arm (shoulder to wrist) and of the hand, for a wrist pose [4, 4]
        in the hand frame described above and a grip closure in [0, 1]."""
        wrist_at = wrist[:3, 3]
        elbow = two_bone_ik(shoulder, wrist_at, self.upper_arm, self.forearm, self.elbow_pole)
        arm = Mesh.merge(
            [
                self._shoulder.transformed(pose(np.eye(3), shoulder)),
                self._upper.transformed(bone_pose(shoulder, elbow)),
                self._elbow.transformed(pose(np.eye(3), elbow)),
                self._lower.transformed(bone_pose(elbow, wrist_at)),
            ]
        )
        hand = [self._palm.transformed(wrist)]
        angles = -(RELAXED + closure * FINGER_FLEX)  # negative about x curls towards +y
        for knuckle, bones, meshes in zip(
            self._knuckles, self.finger_bones, self._fingers, strict=True
        ):
            for bone, mesh in zip(chain(wrist @ knuckle, bones, angles), meshes, strict=True):
                hand.append(mesh.transformed(bone))
        thumb_angles = -(RELAXED + closure * THUMB_FLEX)
        thumb_base = wrist @ self._thumb_base @ pose(rot_x(-0.4 * closure), np.zeros(3))
        for bone, mesh in zip(
            chain(thumb_base, self.thumb_bones, thumb_angles), self._thumb, strict=True
        ):
            hand.append(mesh.transformed(bone))
        return arm, Mesh.merge(hand)

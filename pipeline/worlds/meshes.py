"""Triangle meshes for the procedural worlds: primitives and everyday objects, built in numpy.

Meshes are plain vertex/triangle arrays rather than open3d objects so that posing a part every
frame is one matrix product, and so that they pickle to Dask workers. Objects stand on the
plane z = 0 with their vertical axis along +z, so a pose places them on any surface. Every
solid is closed; the ray caster does not care about winding, only about surfaces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Mesh:
    """vertices float64 [V, 3], triangles int64 [F, 3] (indices into vertices)."""

    vertices: np.ndarray
    triangles: np.ndarray

    def transformed(self, matrix: np.ndarray) -> Mesh:
        """The mesh under a 4x4 affine map (a pose, possibly with scale)."""
        return Mesh(self.vertices @ matrix[:3, :3].T + matrix[:3, 3], self.triangles)

    @staticmethod
    def merge(meshes: list[Mesh]) -> Mesh:
        """One mesh holding all the given ones (so the ray caster sees one geometry)."""
        offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
        return Mesh(
            np.concatenate([m.vertices for m in meshes]),
            np.concatenate([m.triangles + o for m, o in zip(meshes, offsets, strict=True)]),
        )


def lathe(radii: np.ndarray, heights: np.ndarray, segments: int = 24) -> Mesh:
    """The surface swept by the profile (radius_i, height_i) turning about the z axis.

    A profile point with radius 0 becomes a single pole vertex, so a profile that starts and
    ends on the axis gives a closed solid; one that turns back inside itself (outer wall, rim,
    inner wall) gives a hollow vessel.
    """
    radii, heights = np.asarray(radii, float), np.asarray(heights, float)
    angles = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    ring_starts, vertices = [], []
    for r, z in zip(radii, heights, strict=True):
        ring_starts.append(sum(len(v) for v in vertices))
        if r == 0:
            vertices.append(np.array([[0.0, 0.0, z]]))
        else:
            vertices.append(
                np.stack([r * np.cos(angles), r * np.sin(angles), np.full_like(angles, z)], 1)
            )
    k = np.arange(segments)
    k1 = (k + 1) % segments
    triangles = []
    for i in range(len(radii) - 1):
        a, b = ring_starts[i], ring_starts[i + 1]
        if radii[i] == 0 and radii[i + 1] == 0:
            continue
        if radii[i] == 0:
            triangles.append(np.stack([np.full(segments, a), b + k1, b + k], 1))
        elif radii[i + 1] == 0:
            triangles.append(np.stack([a + k, a + k1, np.full(segments, b)], 1))
        else:
            triangles.append(np.stack([a + k, a + k1, b + k1], 1))
            triangles.append(np.stack([a + k, b + k1, b + k], 1))
    return Mesh(np.concatenate(vertices), np.concatenate(triangles).astype(np.int64))


def box(size: tuple[float, float, float], center: tuple[float, float, float] = (0, 0, 0)) -> Mesh:
    """An axis-aligned box of the given edge lengths."""
    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    faces = [  # two triangles per face, corners indexed as 4x + 2y + z over {0, 1}
        (0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1),
        (2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3),
    ]  # fmt: skip
    return Mesh(corners * np.asarray(size) + np.asarray(center), np.array(faces, np.int64))


def cylinder(radius: float, height: float, segments: int = 24) -> Mesh:
    """A closed cylinder from z = 0 to z = height."""
    return lathe([0, radius, radius, 0], [0, 0, height, height], segments)


def frustum(radius0: float, radius1: float, segments: int = 12) -> Mesh:
    """A closed truncated cone of unit length along +z: scale z to stretch it between joints."""
    return lathe([0, radius0, radius1, 0], [0, 0, 1, 1], segments)


def sphere(radius: float, rings: int = 8, segments: int = 16) -> Mesh:
    """A UV sphere centred at the origin."""
    polar = np.linspace(np.pi, 0, rings + 1)
    return lathe(np.abs(radius * np.sin(polar)).round(12), radius * np.cos(polar), segments)


def capsule(radius: float, length: float, rings: int = 3, segments: int = 10) -> Mesh:
    """A cylinder with round ends from z = 0 to z = length (a finger bone, say)."""
    polar = np.linspace(0, np.pi / 2, rings + 1)
    r_cap, z_cap = radius * np.sin(polar), radius * (1 - np.cos(polar))
    radii = np.concatenate([r_cap, r_cap[::-1]]).round(12)
    heights = np.concatenate([z_cap - radius, length + radius - z_cap[::-1]])
    return lathe(radii, heights, segments)


def torus_arc(
    major: float, minor: float, start: float, stop: float, segments: int = 12, sides: int = 8
) -> Mesh:
    """Part of a torus about the y axis (in the xz plane) between two angles, ends capped."""
    u = np.linspace(start, stop, segments + 1)
    v = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    ring = major + minor * np.cos(vv)
    ring_vertices = np.stack([ring * np.cos(uu), minor * np.sin(vv), ring * np.sin(uu)], -1)
    centres = np.stack([major * np.cos(u[[0, -1]]), np.zeros(2), major * np.sin(u[[0, -1]])], 1)
    vertices = np.concatenate([ring_vertices.reshape(-1, 3), centres])
    i = np.arange(segments)[:, None] * sides
    j = np.arange(sides)[None, :]
    j1 = (j + 1) % sides
    a, b, c, d = i + j, i + j1, i + sides + j1, i + sides + j
    tube = np.concatenate([np.stack([a, b, c], -1), np.stack([a, c, d], -1)]).reshape(-1, 3)
    first, last = len(vertices) - 2, len(vertices) - 1
    ring, ring1 = np.arange(sides), (np.arange(sides) + 1) % sides
    caps = np.concatenate(
        [
            np.stack([np.full(sides, first), ring1, ring], 1),
            np.stack([np.full(sides, last), segments * sides + ring, segments * sides + ring1], 1),
        ]
    )
    return Mesh(vertices, np.concatenate([tube, caps]).astype(np.int64))


def translate(mesh: Mesh, offset: tuple[float, float, float]) -> Mesh:
    return Mesh(mesh.vertices + np.asarray(offset, float), mesh.triangles)


# Everyday objects: the bottom centre at the origin, +z up, dimensions in metres.


def mug(radius: float, height: float, wall: float = 0.006) -> Mesh:
    """A hollow cup with a handle on its +x side."""
    body = lathe(
        [0, radius, radius, radius - wall, radius - wall, 0],
        [0, 0, height, height, wall, wall],
    )
    handle_height = 0.55 * height
    handle = torus_arc(handle_height / 2, 0.18 * handle_height / 2 + 0.004, -np.pi / 2, np.pi / 2)
    return Mesh.merge([body, translate(handle, (radius - 0.003, 0, height / 2))])


def bottle(radius: float, height: float, neck_radius: float, shoulder: float = 0.65) -> Mesh:
    """A solid bottle: a cylinder, a rounded shoulder, a neck and a cap."""
    s = shoulder * height
    neck_start = s + 0.5 * (height - s)
    radii = [0, radius, radius, 0.8 * radius + 0.2 * neck_radius, neck_radius, neck_radius, 0]
    heights = [0, 0, s, (s + neck_start) / 2, neck_start, height, height]
    return lathe(radii, heights)


def bowl(radius: float, height: float, wall: float = 0.005) -> Mesh:
    """A hollow bowl that widens from a foot to its rim."""
    z = np.linspace(0, 1, 6)
    foot = 0.45 * radius
    outer = foot + (radius - foot) * np.sqrt(z)
    inner = np.maximum(outer - wall, wall)[::-1]
    radii = np.concatenate([[0], outer, inner, [0]])
    heights = np.concatenate([[0], z * height, (z * (height - wall) + wall)[::-1], [wall]])
    return lathe(radii, heights)


def carton(size: tuple[float, float, float]) -> Mesh:
    """A closed box standing on z = 0."""
    return box(size, (0, 0, size[2] / 2))


def toy_car(length: float, width: float, height: float) -> Mesh:
    """A body, a cabin and four wheels, driving along +x."""
    wheel_r = 0.3 * height
    body_h = 0.45 * height
    body = box((length, width, body_h), (0, 0, wheel_r + body_h / 2 - 0.3 * wheel_r))
    cabin_h = height - (wheel_r + 0.7 * body_h)
    cabin = box((0.5 * length, 0.85 * width, cabin_h), (-0.05 * length, 0, height - cabin_h / 2))
    tyre = translate(cylinder(wheel_r, 0.18 * width, 12), (0, 0, -0.09 * width))
    axle_along_y = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1.0]])
    wheels = [
        translate(tyre.transformed(axle_along_y), (x * 0.32 * length, y * 0.45 * width, wheel_r))
        for x in (-1, 1)
        for y in (-1, 1)
    ]
    return Mesh.merge([body, cabin, *wheels])


def quad(size: tuple[float, float], center: tuple[float, float, float], normal_axis: int) -> Mesh:
    """A flat rectangle (two triangles) perpendicular to one axis: a floor or a wall."""
    axes = [a for a in range(3) if a != normal_axis]
    corners = np.zeros((4, 3))
    corners[:, axes[0]] = np.array([-0.5, 0.5, 0.5, -0.5]) * size[0]
    corners[:, axes[1]] = np.array([-0.5, -0.5, 0.5, 0.5]) * size[1]
    return Mesh(corners + np.asarray(center, float), np.array([[0, 1, 2], [0, 2, 3]], np.int64))


# Added for synth-gesture (the articulated figure): round-ended limbs that taper, ellipsoids.


def tapered_capsule(
    radius0: float, radius1: float, length: float, rings: int = 3, segments: int = 12
) -> Mesh:
    """A limb from z = 0 (radius0) to z = length (radius1): a cone between two hemispheres,
    like a thigh or a forearm. Equal radii give `capsule`'s shape."""
    polar = np.linspace(0, np.pi / 2, rings + 1)
    radii = np.concatenate([radius0 * np.sin(polar), radius1 * np.sin(polar[::-1])]).round(12)
    heights = np.concatenate([-radius0 * np.cos(polar), length + radius1 * np.cos(polar[::-1])])
    return lathe(radii, heights, segments)


def ellipsoid(
    radii: tuple[float, float, float],
    rings: int = 8,
    segments: int = 16,
    center: tuple[float, float, float] | np.ndarray = (0.0, 0.0, 0.0),
) -> Mesh:
    """An ellipsoid centred at `center` with the given semi-axes along x, y and z."""
    matrix = np.eye(4)
    matrix[:3, :3] = np.diag(radii)
    matrix[:3, 3] = center
    return sphere(1.0, rings, segments).transformed(matrix)

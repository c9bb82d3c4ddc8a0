"""Procedural meshes: closed, consistently wound, of the size asked for."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from c2p4d.pipeline.worlds import meshes
from c2p4d.pipeline.worlds.kinematics import pose, rot_z
from c2p4d.pipeline.worlds.meshes import Mesh


def edge_counts(mesh: Mesh) -> dict[tuple[int, int], int]:
    """How often each directed edge occurs: a closed, consistently wound surface has every
    edge exactly once in each direction."""
    counts: dict[tuple[int, int], int] = {}
    for a, b, c in mesh.triangles.tolist():
        for edge in ((a, b), (b, c), (c, a)):
            counts[edge] = counts.get(edge, 0) + 1
    return counts


def assert_closed(mesh: Mesh) -> None:
    counts = edge_counts(mesh)
    assert all(n == 1 for n in counts.values())
    assert all((b, a) in counts for a, b in counts)


def volume(mesh: Mesh) -> float:
    """Signed volume by the divergence theorem (positive when wound outwards)."""
    a, b, c = (mesh.vertices[mesh.triangles[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)


def polygon_area(radius: float, segments: int) -> float:
    return segments / 2 * radius**2 * np.sin(2 * np.pi / segments)


SOLIDS = {
    "box": meshes.box((0.1, 0.2, 0.3)),
    "cylinder": meshes.cylinder(0.05, 0.2),
    "frustum": meshes.frustum(0.04, 0.02),
    "sphere": meshes.sphere(0.1),
    "capsule": meshes.capsule(0.01, 0.05),
    "torus_arc": meshes.torus_arc(0.03, 0.006, -np.pi / 2, np.pi / 2),
    "bottle": meshes.bottle(0.035, 0.22, 0.014),
    "bowl": meshes.bowl(0.08, 0.06),
    "carton": meshes.carton((0.1, 0.08, 0.06)),
}


@pytest.mark.parametrize("name", SOLIDS)
def test_solids_are_closed_and_wound_outwards(name):
    mesh = SOLIDS[name]
    assert_closed(mesh)
    assert volume(mesh) > 0
    assert mesh.triangles.min() == 0 and mesh.triangles.max() == len(mesh.vertices) - 1


def test_volumes_match_the_shapes():
    assert volume(meshes.box((0.1, 0.2, 0.3))) == pytest.approx(0.006)
    assert volume(meshes.cylinder(0.05, 0.2, 24)) == pytest.approx(polygon_area(0.05, 24) * 0.2)
    assert volume(meshes.sphere(0.1, 32, 64)) == pytest.approx(4 / 3 * np.pi * 0.001, rel=0.01)
    capsule = 4 / 3 * np.pi * 0.01**3 + np.pi * 0.01**2 * 0.05
    assert volume(meshes.capsule(0.01, 0.05, 16, 64)) == pytest.approx(capsule, rel=0.01)
    torus = np.pi * 0.006**2 * np.pi * 0.03  # half a torus: tube area times half the ring
    assert volume(meshes.torus_arc(0.03, 0.006, 0, np.pi, 64, 32)) == pytest.approx(torus, rel=0.01)


def test_a_mug_is_hollow():
    radius, height, wall = 0.04, 0.1, 0.006
    body = meshes.lathe(
        [0, radius, radius, radius - wall, radius - wall, 0], [0, 0, height, height, wall, wall]
    )
    assert_closed(body)
    shell = polygon_area(radius, 24) * height - polygon_area(radius - wall, 24) * (height - wall)
    assert volume(body) == pytest.approx(shell)
    assert volume(meshes.mug(radius, height, wall)) > volume(body)  # plus the handle


@given(
    st.lists(st.floats(0.01, 0.2), min_size=1, max_size=6),
    st.integers(3, 32),
)
def test_any_closed_profile_gives_a_closed_lathe(radii, segments):
    heights = np.cumsum(np.full(len(radii) + 2, 0.01))
    mesh = meshes.lathe([0, *radii, 0], heights, segments)
    assert_closed(mesh)
    assert len(mesh.vertices) == 2 + len(radii) * segments


@pytest.mark.parametrize(
    "mesh, height",
    [
        (meshes.mug(0.04, 0.1), 0.1),
        (meshes.bottle(0.035, 0.22, 0.014), 0.22),
        (meshes.bowl(0.08, 0.06), 0.06),
        (meshes.carton((0.1, 0.08, 0.06)), 0.06),
        (meshes.toy_car(0.14, 0.07, 0.07), 0.07),
    ],
)
def test_objects_stand_on_the_ground_with_the_height_asked(mesh, height):
    assert mesh.vertices[:, 2].min() == pytest.approx(0, abs=1e-12)
    assert mesh.vertices[:, 2].max() == pytest.approx(height)


def test_transform_and_merge():
    a, b = meshes.box((1, 1, 1)), meshes.box((1, 1, 1), (3, 0, 0))
    moved = a.transformed(pose(rot_z(np.pi / 2), np.array([3.0, 0, 0])))
    np.testing.assert_allclose(np.sort(moved.vertices, 0), np.sort(b.vertices, 0), atol=1e-12)
    both = Mesh.merge([a, b])
    assert len(both.vertices) == 16 and len(both.triangles) == 24
    np.testing.assert_array_equal(both.triangles[12:], b.triangles + 8)
    assert volume(both) == pytest.approx(2.0)


def test_quad_is_flat():
    floor = meshes.quad((4, 2), (0, 0, 0), 2)
    assert (floor.vertices[:, 2] == 0).all()
    assert np.ptp(floor.vertices[:, 0]) == 4 and np.ptp(floor.vertices[:, 1]) == 2

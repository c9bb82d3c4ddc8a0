"""render_views: shapes, determinism per view index, the image contract, bad input."""

import subprocess
import sys

import numpy as np
import pytest

from c2p4d.kernels.pixel_zbuffer import PixelOptions, pixel_visible_mask
from c2p4d.kernels.zbuffer import unpack_mask
from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.trajectories import TrajectoryConfig
from c2p4d.pipeline.views import ViewConfig, render_views


def sequence(frames: int = 6, n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A box-like room corner with a ball, seen by a camera drifting in front of it."""
    rng = np.random.default_rng(seed)
    floor = np.c_[rng.uniform(-1, 1, n // 3), np.zeros(n // 3), rng.uniform(0, 2, n // 3)]
    wall = np.c_[rng.uniform(-1, 1, n // 3), rng.uniform(0, 1.5, n // 3), np.full(n // 3, 2.0)]
    ball = rng.normal(size=(n - 2 * (n // 3), 3))
    ball = 0.3 * ball / np.linalg.norm(ball, axis=1, keepdims=True) + [0.0, 0.3, 1.2]
    cloud = np.concatenate([floor, wall, ball])
    points = np.stack([cloud + [0.02 * t, 0.0, 0.0] for t in range(frames)]).astype(np.float32)
    camera = np.tile(np.eye(4, dtype=np.float32), (frames, 1, 1))
    camera[:, :3, 1] = [0, -1, 0]  # y down = world -y, so up is +y
    camera[:, :3, 0] = [-1, 0, 0]  # x right, z forward (+z)
    camera[:, :3, 3] = np.c_[0.1 * np.arange(frames), np.full(frames, 0.8), np.full(frames, -1.5)]
    return points, camera


def test_shapes_and_dtypes():
    points, camera = sequence(n=301)
    visible, cam, k = render_views(points, camera, "synth", "s0", [0, 1, 2], ViewConfig())
    assert visible.dtype == np.uint8 and visible.shape == (3, 6, 38)  # ceil(301 / 8)
    assert cam.dtype == np.float32 and cam.shape == (3, 6, 4, 4)
    assert k.dtype == np.float32 and k.shape == (3, 6, 3, 3)
    mask = unpack_mask(visible, 301)
    assert 0 < mask.mean() < 1


def test_a_view_is_the_same_alone_or_with_others_and_twice():
    points, camera = sequence()
    together = render_views(points, camera, "synth", "s0", [0, 5, 2], ViewConfig())
    again = render_views(points, camera, "synth", "s0", [0, 5, 2], ViewConfig())
    alone = render_views(points, camera, "synth", "s0", [5], ViewConfig())
    for a, b, c in zip(together, again, alone, strict=True):
        assert a.tobytes() == b.tobytes()
        assert a[1].tobytes() == c[0].tobytes()
    other = render_views(points, camera, "synth", "s1", [5], ViewConfig())
    assert other[1].tobytes() != alone[1].tobytes()


def test_visible_points_project_inside_the_image_in_front_of_their_camera():
    points, camera = sequence(frames=4)
    config = ViewConfig()
    visible, cam, k = render_views(points, camera, "synth", "s0", range(4), config)
    mask = unpack_mask(visible, points.shape[1])
    width, height = config.trajectory.image_size
    for v in range(4):
        for f in range(4):
            pose, kk = cam[v, f].astype(np.float64), k[v, f].astype(np.float64)
            local = (points[f][mask[v, f]] - pose[:3, 3]) @ pose[:3, :3]
            assert np.all(local[:, 2] > 0)
            u = np.floor(kk[0, 0] * local[:, 0] / local[:, 2] + kk[0, 2] + 0.5)
            vv = np.floor(kk[1, 1] * local[:, 1] / local[:, 2] + kk[1, 2] + 0.5)
            assert np.all((u >= 0) & (u < width) & (vv >= 0) & (vv < height))


def test_the_pixel_rule_sees_from_the_same_cameras_on_its_own_screen():
    points, camera = sequence(frames=4)
    fans = render_views(points, camera, "synth", "s0", [0, 3], ViewConfig())
    options = PixelOptions()
    visible, cam, k = render_views(
        points, camera, "synth", "s0", [0, 3], ViewConfig(occlusion=options)
    )
    assert cam.tobytes() == fans[1].tobytes()  # the same cameras: only the occlusion differs
    assert k.dtype == np.float32 and k.shape == (2, 4, 3, 3)
    np.testing.assert_array_equal(k, np.broadcast_to(options.intrinsics(), k.shape))
    mask = unpack_mask(visible, points.shape[1])
    np.testing.assert_array_equal(mask, pixel_visible_mask(points, cam, options))
    assert not np.array_equal(mask, unpack_mask(fans[0], points.shape[1]))


def test_view_sets_are_named_after_the_mode_and_the_rule_which_the_settings_record():
    pixel = ViewConfig(occlusion=PixelOptions())
    assert (ViewConfig().set_name, pixel.set_name) == ("sweep", "sweep-pixel")
    random = ViewConfig(trajectory=TrajectoryConfig(mode="random"), occlusion=PixelOptions())
    assert random.set_name == "random-pixel"
    assert pixel.settings()["occlusion"] == {
        "rule": "pixel",
        "screen_size": (120, 180),
        "screen_focal": 150.0,
        "depth_tolerance": 0.001,
        "near": 0.001,
    }
    assert ViewConfig().settings()["occlusion"]["rule"] == "fans"
    assert pixel.settings()["trajectory"] == ViewConfig().settings()["trajectory"]


def test_a_nan_frame_is_an_error_naming_sequence_and_frame():
    points, camera = sequence()
    points[3, 10, 1] = np.nan
    with pytest.raises(DataError, match=r"sequence 'walk' frame 3: NaN"):
        render_views(points, camera, "synth", "walk", [0], ViewConfig())


def test_frames_without_points_are_an_error():
    with pytest.raises(DataError, match="'walk': its frames have no points"):
        render_views(
            np.zeros((2, 0, 3), np.float32),
            np.tile(np.eye(4), (2, 1, 1)),
            "d",
            "walk",
            [0],
            ViewConfig(),
        )


def test_no_views_is_an_error():
    points, camera = sequence()
    with pytest.raises(DataError, match="no view indices"):
        render_views(points, camera, "synth", "walk", [], ViewConfig())
    with pytest.raises(DataError, match="num_views 0"):
        ViewConfig(num_views=0)


def test_pipeline_views_do_not_import_torch():
    code = "import sys, c2p4d.pipeline.views; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

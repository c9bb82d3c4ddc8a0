"""`c2p-data partial-views`: views in the store, determinism, kill and resume, bad input."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from support import c2p_data, colour_pixels, copy_store, kill_when_flagged, store_digests

from c2p4d.pipeline.run import ClusterOptions, partial_views
from c2p4d.pipeline.store import Store
from c2p4d.pipeline.views import ViewRequest

VIEWS = ["--views", 3]


@pytest.fixture(scope="module")
def viewed(tiny_store, tmp_path_factory):
    """The tiny store with 3 views, rendered by one worker, uninterrupted."""
    store = copy_store(tiny_store, tmp_path_factory.mktemp("viewed"))
    result = c2p_data("partial-views", store, *VIEWS, "--workers", 1)
    assert re.search(r"rendered 18 views \(432 frames\) .* views/s", result.stdout)
    return store


def test_views_are_in_the_store_and_in_front_of_their_cameras(viewed):
    store = Store.open(viewed)
    assert store.view_sets() == ["sweep"]  # named after the mode
    assert store.num_views() == 3 and store.views_done().all()
    assert store.view_config()["trajectory"]["mode"] == "sweep"
    assert store.view_config()["trajectory"]["up"] == [0.0, 0.0, 1.0]  # synth-hoi's world up
    for s in range(store.num_sequences):
        assert store.view_up(s).tolist() == [0.0, 0.0, 1.0]  # the up its views circled
        seq = store.read_sequence(s)
        points, centre = seq.points, seq.points.astype(np.float64).mean(1)
        for v in range(3):
            visible, camera, intrinsics = store.read_view(s, v)
            # The sweep circles the table at the sensor's height (+-5 degrees).
            heights = [(c[:, 2, 3] - centre[:, 2]) / np.linalg.norm(c[:, :3, 3] - centre, axis=1)
                       for c in (camera, seq.camera)]  # fmt: skip
            assert np.all(np.abs(np.degrees(np.arcsin(heights[0]) - np.arcsin(heights[1]))) < 5.01)
            assert 0.05 < visible.mean() < 0.95  # partial, not empty, not everything
            local = np.einsum("fij,fnj->fni", np.linalg.inv(camera)[:, :3, :3], points)
            local += np.linalg.inv(camera)[:, None, :3, 3]
            pixels = np.einsum("fij,fnj->fni", intrinsics, local)
            u, v_, z = (
                pixels[..., 0] / pixels[..., 2],
                pixels[..., 1] / pixels[..., 2],
                local[..., 2],
            )
            seen = visible & (z > 0) & (u >= -0.5) & (u < 319.5) & (v_ >= -0.5) & (v_ < 239.5)
            assert (seen == visible).all()  # every visible point is in the image, in front


def test_the_api_makes_the_views_the_cli_makes(tiny_store, viewed, tmp_path):
    """run.partial_views resolves a ViewRequest over the dataset's view settings, as the CLI."""
    store = copy_store(tiny_store, tmp_path)
    result = partial_views(store, ViewRequest(num_views=3), ClusterOptions(workers=1))
    assert result.view_set == "sweep" and result.views == 18
    assert store_digests(store) == store_digests(viewed)


def test_two_workers_write_the_same_bytes(tiny_store, viewed, tmp_path):
    store = copy_store(tiny_store, tmp_path)
    c2p_data("partial-views", store, *VIEWS, "--workers", 2, "--block-size", 1)
    assert store_digests(store) == store_digests(viewed)


def test_a_rerun_removes_the_temporary_files_of_a_killed_writer(viewed, tmp_path):
    store = copy_store(viewed, tmp_path)
    stray = store / "view" / "sweep" / "camera" / "c" / "1" / "0.db89.partial"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"")  # as a kill -9 between zarr's write and its rename left it
    c2p_data("partial-views", store, *VIEWS)
    assert store_digests(store) == store_digests(viewed)


def test_killed_run_resumes_to_the_same_bytes(tiny_store, viewed, tmp_path):
    store = copy_store(tiny_store, tmp_path)
    args = ["partial-views", store, *VIEWS, "--block-size", 1]
    kill_when_flagged([*args, "--workers", 2], store / "view" / "sweep" / "done" / "c", at_least=3)
    killed, finished = Store.open(store), Store.open(viewed)
    done = killed.views_done()
    assert 3 <= done.sum() < done.size
    for v, s in np.argwhere(done):  # whatever is marked done is whole and right
        for got, want in zip(killed.read_view(s, v), finished.read_view(s, v), strict=True):
            np.testing.assert_array_equal(got, want)
    result = c2p_data(*args)
    assert f"rendered {done.size - done.sum()} views" in result.stdout
    assert store_digests(store) == store_digests(viewed)


def test_rerun_skips_done_views_and_other_settings_need_replace(viewed, tmp_path):
    store = copy_store(viewed, tmp_path)
    assert "rendered 0 views" in c2p_data("partial-views", store, *VIEWS).stdout
    refused = c2p_data("partial-views", store, "--views", 2, check=False)
    assert refused.returncode != 0 and "pass --replace" in refused.stderr
    assert "(num_views: 3 here, 2 asked)" in refused.stderr
    replaced = c2p_data("partial-views", store, "--views", 2, "--replace")
    assert "rendered 12 views" in replaced.stdout
    assert Store.open(store).num_views() == 2


def test_view_sets_coexist_and_replace_touches_only_its_own(viewed, tmp_path):
    store = copy_store(viewed, tmp_path)
    sweep = store_digests(store / "view" / "sweep")
    random = c2p_data("partial-views", store, "--views", 2, "--mode", "random", "--workers", 1)
    assert "(view set 'random')" in random.stdout  # named after the mode
    both = Store.open(store)
    assert both.view_sets() == ["random", "sweep"] and both.view_set_name() == "sweep"
    assert (both.num_views("random"), both.num_views("sweep")) == (2, 3)
    assert both.view_config("random")["trajectory"]["mode"] == "random"
    assert not np.array_equal(both.read_visible(0, 0, view_set="random"), both.read_visible(0, 0))
    replaced = c2p_data("partial-views", store, "--views", 1, "--mode", "random", "--replace")
    assert "rendered 6 views" in replaced.stdout
    assert store_digests(store / "view" / "sweep") == sweep
    info = c2p_data("info", store).stdout
    assert "view set 'random': 1 views, 6 of 6 (view, sequence) pairs done" in info
    assert "view set 'sweep': 3 views, 18 of 18 (view, sequence) pairs done" in info
    missing = c2p_data("preview", store, "--views", "--view-set", "nope", check=False)
    assert "has no view set 'nope'; it has random, sweep" in missing.stderr


def test_pixel_rule_views_sit_beside_ours_with_the_same_cameras(tiny_store, viewed, tmp_path):
    store = copy_store(viewed, tmp_path / "one")
    sweep = store_digests(store / "view" / "sweep")
    pixel = ["partial-views", *VIEWS, "--occlusion", "pixel"]
    result = c2p_data(pixel[0], store, *pixel[1:], "--workers", 1)
    assert "rendered 18 views" in result.stdout and "(view set 'sweep-pixel')" in result.stdout
    assert store_digests(store / "view" / "sweep") == sweep
    both = Store.open(store)
    assert both.view_sets() == ["sweep", "sweep-pixel"] and both.view_set_name() == "sweep"
    config = both.view_config("sweep-pixel")
    assert config["occlusion"] == {
        "rule": "pixel",
        "screen_size": [120, 180],
        "screen_focal": 150.0,
        "depth_tolerance": 0.001,
        "near": 0.001,
    }
    assert config["trajectory"] == both.view_config("sweep")["trajectory"]
    for s in range(both.num_sequences):
        for v in range(3):
            ours, theirs = both.read_view(s, v), both.read_view(s, v, view_set="sweep-pixel")
            np.testing.assert_array_equal(ours[1], theirs[1])  # the same cameras
            assert not np.array_equal(ours[0], theirs[0])
    assert "rendered 0 views" in c2p_data(pixel[0], store, *pixel[1:]).stdout
    # The same bytes from two workers, with the pixel set alone in its store.
    alone = copy_store(tiny_store, tmp_path / "two")
    c2p_data(pixel[0], alone, *pixel[1:], "--workers", 2, "--block-size", 1)
    set_path = Path("view") / "sweep-pixel"
    assert store_digests(alone / set_path) == store_digests(store / set_path)


def test_preview_views(viewed, tmp_path):
    png = tmp_path / "views.png"
    c2p_data("preview", viewed, "--views", "--view-set", "sweep", "--out", png, "--frames", 2)
    # Hidden points are drawn faint: grey 0.85 at alpha 0.6 over white is 0.91 (the edges of
    # solid grey 0.85 markers would be 0.91 too, but fewer than their solid centres).
    faint, solid = (colour_pixels(png, (g, g, g)) for g in (0.91, 0.85))
    assert faint > 1000 and faint > 10 * solid, (faint, solid)
    # A set made before the ups were recorded: the same picture, its up found again.
    older = copy_store(viewed, tmp_path / "older")
    shutil.rmtree(older / "view" / "sweep" / "up")
    again = tmp_path / "older.png"
    c2p_data("preview", older, "--views", "--out", again, "--frames", 2)
    assert again.read_bytes() == png.read_bytes()


def test_slurm_dry_run_prints_the_job_script(viewed):
    result = c2p_data("partial-views", viewed, "--slurm", "--queue", "gpu-short", "--cores", 4,
                      "--memory", "16GB", "--walltime", "00:30:00", "--dry-run")  # fmt: skip
    script = result.stdout
    for line in ("#SBATCH -p gpu-short", "#SBATCH --cpus-per-task=4", "#SBATCH -t 00:30:00",
                 "export NUMBA_NUM_THREADS=1", "--nworkers 4"):  # fmt: skip
        assert line in script, script
    assert re.search(r"#SBATCH --mem=1[45]G", script)
    assert "rendered" not in script  # nothing ran


def test_incomplete_or_foreign_store_is_refused(tiny_store, tmp_path):
    store = copy_store(tiny_store, tmp_path / "incomplete")
    zarr.open_group(store, mode="r+")["seq/done"][2] = False
    result = c2p_data("partial-views", store, *VIEWS, check=False)
    assert result.returncode != 0 and "1 sequences are not written" in result.stderr
    assert "view" not in zarr.open_group(store, mode="r")  # nothing was started

    other = copy_store(tiny_store, tmp_path / "other")
    zarr.open_group(other, mode="r+").attrs["format_version"] = 0
    result = c2p_data("partial-views", other, *VIEWS, check=False)
    assert result.returncode != 0 and "format version 0" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--views", 0], r"Invalid value for '--views': 0 is not in the range x>=1"),
        (["-o", "fov=3"], "partial-views --occlusion fans takes: .*image_size"),
        (["-o", "image_size=320"], r"image_size='320': expected tuple\[int, int\]"),
        (
            ["-o", "grow=0.7"],
            r"--occlusion fans: OcclusionOptions: grow=0.7 \(need in \[0, 0.5\)\)",
        ),
        (["--occlusion", "pixel", "-o", "grow=0.1"], "--occlusion pixel takes: .*screen_focal"),
        (
            ["--occlusion", "pixel", "-o", "screen_focal=nan"],
            r"--occlusion pixel: PixelOptions: screen_focal=nan \(need finite, > 0\)",
        ),
    ],
)
def test_bad_options(viewed, args, message):
    result = c2p_data("partial-views", viewed, *args, check=False)
    assert result.returncode != 0 and re.search(message, result.stderr), result.stderr

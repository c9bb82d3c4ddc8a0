"""Every bad input to `c2p-data` ends in one line that names the thing and says what to do,
never a traceback or a hang: options, sizes, paths, cluster settings, damaged metadata (its
attributes, its JSON, the arrays that index the sequences) and shards, files in other
encodings, failed writes, Ctrl-C and runs that overlap."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import zarr
from support import TINY_ARGS, c2p_data, copy_store

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.run import run_lock
from c2p4d.pipeline.store import Store

NOT_UTF8 = "caf\udce9"  # 'café' in Latin-1, as a file name from another system arrives
INGEST = ["ingest", "--dataset", "synth-hoi", *TINY_ARGS]


def store_with(change: Callable[[Path], None]) -> Callable[[Path, Path], list]:
    """A case on a copy of the tiny store, changed by `change(store)`; the command's STORE."""

    def setup(tmp_path: Path, tiny: Path) -> Path:
        store = copy_store(tiny, tmp_path)
        change(store)
        return store

    return setup


def drop_attribute(store: Path) -> None:
    meta = json.loads((store / "zarr.json").read_text())
    del meta["attributes"]["points_per_frame"]
    (store / "zarr.json").write_text(json.dumps(meta))


def edit_json(relative: str, change: Callable[[dict], object]) -> Callable[[Path], None]:
    """A change to a store: `change(metadata)` on the zarr.json at `relative`."""

    def edit(store: Path) -> None:
        meta = json.loads((store / relative / "zarr.json").read_text())
        change(meta)
        (store / relative / "zarr.json").write_text(json.dumps(meta))

    return edit


def with_view_set(change: Callable[[Path], None]) -> Callable[[Path], None]:
    """A change to a store that first gives it an empty view set `v` (no view rendered)."""

    def edit(store: Path) -> None:
        Store.open(store, writable=True).prepare_views(1, {"a": 1}, view_set="v")
        change(store / "view" / "v")

    return edit


def full_disk_png(tmp_path: Path) -> Path:
    """A PNG name whose writes fail as on a full disk (ENOSPC, without a file name)."""
    png = tmp_path / "full.png"
    png.symlink_to("/dev/full")
    return png


def flip_checksum(store: Path) -> None:
    shard = store / "frame/points/c/0/0/0"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF  # the shard index's crc32c
    shard.write_bytes(bytes(data))


def folder_source(tmp_path: Path, name: str = "s", classes: bytes | None = None) -> Path:
    root = tmp_path / "captures"
    (root / name).mkdir(parents=True)
    np.save(root / name / "0.npy", np.random.default_rng(0).normal(size=(20, 3)) + [0, 0, 3])
    if classes is not None:
        (root / "classes.txt").write_bytes(classes)
    return root


def huge_folder(tmp_path: Path) -> Path:
    root = folder_source(tmp_path)
    np.save(root / "s" / "0.npy", np.random.default_rng(0).normal(size=(20, 3)) * 1e37)
    return root


def views(*args: object) -> Callable:
    return lambda tmp_path, tiny: ["partial-views", tiny, "--views", 1, *args]


CASES = {
    # cluster settings, checked before anything is written
    "slurm without sbatch": (
        lambda tmp_path, tiny: [*INGEST, "--out", tmp_path, "--slurm"],
        r"--slurm submits jobs with sbatch, which is not on the PATH",
    ),
    "scheduler without a port": (
        lambda tmp_path, tiny: [*INGEST, "--out", tmp_path, "--scheduler", "tcp://localhost"],
        r"--scheduler 'tcp://localhost': missing port number .* e\.g\. tcp://",
    ),
    "memory that is no size": (
        lambda tmp_path, tiny: [*INGEST, "--slurm", "--memory", "lots", "--dry-run"],
        r"--memory 'lots' is not a size",
    ),
    # sizes
    "absurd sequence count": (
        lambda tmp_path, tiny: [*INGEST, "--out", tmp_path, "-o", "num_sequences=100000000"],
        r"option num_sequences must be at most 1,000,000, got 100,000,000",
    ),
    "absurd point count": (
        lambda tmp_path, tiny: [*INGEST, "--out", tmp_path, "--points", 10**11],
        r"option points_per_frame must be at most 1,048,576",
    ),
    "a store larger than the disk": (
        lambda tmp_path, tiny: [
            *INGEST,
            "--out",
            tmp_path,
            "-o",
            "num_sequences=1000000",
            "-o",
            "frames_per_sequence=100000",
        ],  # fmt: skip
        r"may take up to [\d,.]+ GiB and .* GiB free: free some space",
    ),
    "min_frames of 0": (
        lambda tmp_path, tiny: [
            "ingest",
            "--dataset",
            "msr-action3d",
            "--source",
            tmp_path,
            "-o",
            "min_frames=0",
        ],  # fmt: skip
        r"option min_frames must be an integer of at least 1, got 0",
    ),
    # trajectory and occlusion options that are 0, negative, infinite or NaN
    "NaN focal": (views("-o", "focal=nan,nan"), r"focal \(nan, nan\) must be finite and > 0"),
    "infinite principal point": (
        views("-o", "principal_point=inf,1"),
        r"principal_point \(inf, 1.0\) must be finite",
    ),
    "infinite zoom": (views("-o", "zoom_range=1,inf"), r"zoom_range \(1.0, inf\) must be"),
    "zero zoom": (views("-o", "zoom_range=0,1"), r"zoom_range \(0.0, 1.0\) must be"),
    "huge image": (views("-o", "image_size=100000000,10"), r"image_size .* within \[1, 16384\]"),
    "huge modes": (views("-o", "modes=100000000"), r"modes 100000000 must be within \[1, 64\]"),
    "negative elevation": (views("-o", "elevation_deg=-1"), r"elevation_deg -1.0 must be"),
    "NaN sweep": (views("-o", "sweep_deg=nan"), r"sweep_deg nan must be within"),
    "NaN up": (views("-o", "up=nan,0,1"), r"up \(nan, 0.0, 1.0\) must be 3 finite numbers"),
    "infinite near": (views("-o", "near=inf"), r"OcclusionOptions: near=inf \(need finite"),
    "NaN reach": (views("-o", "reach=nan"), r"OcclusionOptions: reach=nan"),
    "zero neighbours": (views("-o", "neighbors=0"), r"neighbors=0 \(need 1 to 64\)"),
    "empty pixel screen": (
        views("--occlusion", "pixel", "-o", "screen_size=0,5"),
        r"PixelOptions: screen_size=\(0, 5\) \(need two sizes",
    ),
    "negative pixel tolerance": (
        views("--occlusion", "pixel", "-o", "depth_tolerance=-1"),
        r"PixelOptions: depth_tolerance=-1.0",
    ),
    # damaged metadata and shards
    "empty zarr.json": (
        lambda tmp_path, tiny: [
            "info",
            store_with(lambda s: (s / "zarr.json").write_text(""))(tmp_path, tiny),
        ],
        r"synth-hoi.zarr/zarr.json is damaged \(Expecting value",
    ),
    "truncated zarr.json of an array": (
        lambda tmp_path, tiny: [
            "partial-views",
            store_with(lambda s: (s / "frame/camera/zarr.json").write_text('{"shape": [1'))(
                tmp_path, tiny
            ),
        ],
        r"frame/camera/zarr.json is damaged",
    ),
    "a lost attribute": (
        lambda tmp_path, tiny: ["info", store_with(drop_attribute)(tmp_path, tiny)],
        r"lacks 'points_per_frame'",
    ),
    "a lost array": (
        lambda tmp_path, tiny: [
            "verify",
            store_with(lambda s: shutil.rmtree(s / "seq/done"))(tmp_path, tiny),
        ],
        r"lacks 'seq/done'",
    ),
    "a shard whose checksum does not match, in preview": (
        lambda tmp_path, tiny: [
            "preview",
            store_with(flip_checksum)(tmp_path, tiny),
            "--out",
            tmp_path / "p.png",
        ],
        r"frame/points cannot be read \(Stored and computed checksum.*c2p-data verify",
    ),
    "a shard whose checksum does not match, in a worker": (
        lambda tmp_path, tiny: [
            "partial-views",
            store_with(flip_checksum)(tmp_path, tiny),
            "--workers",
            1,
        ],
        r"frame/points cannot be read \(Stored and computed checksum.*c2p-data verify",
    ),
    # names and text in other encodings
    "--out not UTF-8": (
        lambda tmp_path, tiny: [*INGEST, "--out", tmp_path / NOT_UTF8],
        r"'--out' '.*caf\\udce9' is not UTF-8 text",
    ),
    "a folder source's sequence not UTF-8": (
        lambda tmp_path, tiny: [
            "ingest",
            "--dataset",
            "folder",
            "--source",
            folder_source(tmp_path, NOT_UTF8),
            "--out",
            tmp_path,
        ],  # fmt: skip
        r"caf\\udce9': the folder's name is not UTF-8 text; rename it",
    ),
    "a folder source's classes.txt not UTF-8": (
        lambda tmp_path, tiny: [
            "ingest",
            "--dataset",
            "folder",
            "--source",
            folder_source(tmp_path, classes="café\n".encode("latin-1")),
            "--out",
            tmp_path,
        ],  # fmt: skip
        r"classes.txt: not UTF-8 text \(byte 0xe9 at offset 3\); save it as UTF-8",
    ),
    "coordinates of 1e37": (
        lambda tmp_path, tiny: [
            "ingest",
            "--dataset",
            "folder",
            "--source",
            huge_folder(tmp_path),
            "--out",
            tmp_path,
            "--points",
            16,
            "--workers",
            1,
        ],  # fmt: skip
        r"0.npy: a coordinate of [\d.]+e\+37 is beyond \+-1e\+09 .* rescale the data",
    ),
    "a lost attribute that partial-views reads": (
        lambda tmp_path, tiny: [
            "partial-views",
            store_with(edit_json(".", lambda m: m["attributes"].pop("source")))(tmp_path, tiny),
        ],
        r"synth-hoi.zarr lacks 'source' \(an attribute of its zarr.json\)",
    ),
    "a lost attribute that a resumed ingest reads": (
        lambda tmp_path, tiny: [
            *INGEST,
            "--out",
            store_with(edit_json(".", lambda m: m["attributes"].pop("config")))(
                tmp_path, tiny
            ).parent,
        ],  # fmt: skip
        r"synth-hoi.zarr lacks 'config'",
    ),
    "an attribute of the wrong type": (
        lambda tmp_path, tiny: [
            "info",
            store_with(edit_json(".", lambda m: m["attributes"].update(points_per_frame="abc")))(
                tmp_path, tiny
            ),
        ],
        r"zarr.json: attribute 'points_per_frame' is 'abc', not an integer",
    ),
    "a zarr.json that is JSON but no metadata": (
        lambda tmp_path, tiny: [
            "info",
            store_with(lambda s: (s / "zarr.json").write_text("[]"))(tmp_path, tiny),
        ],
        r"synth-hoi.zarr/zarr.json is damaged \(not the metadata of a zarr group or array\)",
    ),
    "a view set's zarr.json lost": (
        lambda tmp_path, tiny: [
            "info",
            store_with(with_view_set(lambda v: (v / "zarr.json").unlink()))(tmp_path, tiny),
        ],
        r"view/v/zarr.json is missing: restore it, or delete the folder .*view/v and run "
        r"`c2p-data partial-views` again",
    ),
    "a view set's settings lost": (
        lambda tmp_path, tiny: [
            "partial-views",
            store_with(with_view_set(edit_json(".", lambda m: m["attributes"].clear())))(
                tmp_path, tiny
            ),
            "--view-set",
            "v",
        ],
        r"view/v/zarr.json lacks the view set's settings \(attribute 'config'\)",
    ),
    "a lost file of the sequence labels": (
        lambda tmp_path, tiny: [
            "verify",
            store_with(lambda s: (s / "seq/label/c/0").unlink())(tmp_path, tiny),
        ],
        r"is damaged: seq/label differs from the digest written with it",
    ),
    "a lost file of the frame offsets": (
        lambda tmp_path, tiny: [
            "info",
            store_with(lambda s: (s / "seq/frame_offset/c/0").unlink())(tmp_path, tiny),
        ],
        r"is damaged: seq/frame_offset does not rise from 0 to the 144 frames stored",
    ),
    "a view set name that names no folder": (
        views("--view-set", "a b/c"),
        r"view set name 'a b/c': use letters, digits",
    ),
    "memory that is negative": (
        lambda tmp_path, tiny: [*INGEST, "--slurm", "--memory=-5GB", "--dry-run"],
        r"--memory '-5GB' is not a size",
    ),
    # misleading messages that were
    "check of a built-in dataset": (
        lambda tmp_path, tiny: ["check", "--dataset", "synth-hoi", "--source", tmp_path],
        r"'synth-hoi' is built in: there is no download to check",
    ),
    "--out naming a file": (
        lambda tmp_path, tiny: [*INGEST, "--out", tiny / "zarr.json"],
        r"--out .*zarr.json is a file: name a folder",
    ),
    # writes that fail
    "a preview onto a full disk": (
        lambda tmp_path, tiny: ["preview", tiny, "--out", full_disk_png(tmp_path)],
        r"full.png: No space left on device \(ENOSPC\); free some space",
    ),
    "a preview into a folder that cannot exist": (
        lambda tmp_path, tiny: ["preview", tiny, "--out", "/proc/c2p4d/p.png"],
        r"/proc/c2p4d: No such file or directory \(ENOENT\)",
    ),
    "a write the system refuses, in a worker": (
        lambda tmp_path, tiny: [
            *INGEST,
            "--workers",
            1,
            "--out",
            store_with(blocked_flags)(tmp_path, tiny).parent,
        ],  # fmt: skip
        r"seq/done/c.*\(E[A-Z]+\); check that path",
    ),
}


def blocked_flags(store: Path) -> None:
    """Sequence 2 to write again, where a file stands in the way of its done flag's folder."""
    zarr.open_group(store, mode="r+")["seq/done"][2] = False
    shutil.rmtree(store / "seq/done/c")
    (store / "seq/done/c").write_text("")


def assert_one_line(result: subprocess.CompletedProcess, message: str) -> None:
    """Exit != 0, no traceback, one error (a scan of a download lists its problems below it)."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1 and re.search(message, result.stderr), result.stderr


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_input_ends_in_one_clear_line(case, tiny_store, tmp_path):
    build, message = CASES[case]
    result = c2p_data(*build(tmp_path, tiny_store), check=False, timeout=120)
    assert_one_line(result, message)


def test_ctrl_c_says_how_to_resume(tiny_store, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "c2p4d.pipeline", *map(str, INGEST), "--out", str(out)]
    job = subprocess.Popen(
        [*command, "--workers", "2", "-o", "num_sequences=40"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's job
    )
    flags = out / "synth-hoi.zarr" / "seq" / "done" / "c"
    deadline = time.monotonic() + 120
    while not (flags.is_dir() and any(flags.iterdir())):  # the cluster is up and working
        assert job.poll() is None and time.monotonic() < deadline, job.communicate()
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGINT)  # Ctrl-C reaches the whole group
    _, stderr = job.communicate(timeout=120)
    assert job.returncode == 130
    assert stderr.strip() == "interrupted: run the same command again to resume", stderr


def test_a_second_run_on_the_same_target_is_refused(tiny_store, tmp_path):
    """This process holds the lock a first partial-views run holds for its whole length (a real
    first run on a tiny store can end before the second one starts, which made this flaky)."""
    store = copy_store(tiny_store, tmp_path)
    with run_lock(store.with_name(f"{store.name}.sweep"), "rendering view set 'sweep'"):
        second = c2p_data("partial-views", store, "--views", 2, check=False)
    assert_one_line(second, r"another run is rendering view set 'sweep' of .* right now: wait")
    assert not Store.open(store).view_sets()  # it wrote nothing
    c2p_data("partial-views", store, "--views", 2)  # once the lock is free, the same command runs
    assert "OK" in c2p_data("verify", store).stdout


def test_a_view_set_appears_whole_or_not_at_all(tiny_store, tmp_path):
    """Two runs that both find no set and create it: the one that comes second finds the
    first one's set, with its settings, and compares them (it read a half-made set before)."""
    store = copy_store(tiny_store, tmp_path)
    first, second = Store.open(store, writable=True), Store.open(store, writable=True)
    first.prepare_views(2, {"a": 1}, view_set="v")
    looked, real = [[]], second.view_sets
    second.view_sets = lambda: looked.pop() if looked else real()  # looked before it was made
    assert second.prepare_views(2, {"a": 1}, view_set="v") == "v"
    with pytest.raises(DataError, match=r"other settings \(a: 1 here, 2 asked\)"):
        second.prepare_views(2, {"a": 2}, view_set="v")
    assert Store.open(store).view_sets() == ["v"]
    assert not [p for p in (store / "view").iterdir() if p.name.startswith(".")]
    zarr.open_group(store / "view" / ".w.creating-0000", mode="w-")  # another run's, half made
    assert Store.open(store).view_sets() == ["v"]


def test_preview_into_a_folder_and_ingest_into_an_empty_store_folder(tiny_store, tmp_path):
    result = c2p_data("preview", tiny_store, "--out", tmp_path)
    assert result.stdout.strip() == f"wrote {tmp_path / 'synth-hoi-hoi00000.png'}"
    assert (tmp_path / "synth-hoi-hoi00000.png").is_file()
    named = c2p_data("preview", tiny_store, "--out", tmp_path / "seq")
    assert named.stdout.strip() == f"wrote {tmp_path / 'seq.png'}"
    (tmp_path / "out" / "synth-hoi.zarr").mkdir(parents=True)  # made by hand, empty
    c2p_data(*INGEST, "--out", tmp_path / "out", "--workers", 1)
    assert Store.open(tmp_path / "out" / "synth-hoi.zarr").complete


def test_run_lock_refuses_a_second_holder(tmp_path):
    target = tmp_path / "x.zarr"
    refused = pytest.raises(DataError, match="another run is writing x right now")
    with run_lock(target, "writing x"), refused, run_lock(target, "writing x"):
        pass
    with run_lock(target, "writing x"):  # released when the first run ends
        pass


def test_a_closed_pipe_is_quiet(tiny_store):
    reader = subprocess.Popen(
        [sys.executable, "-m", "c2p4d.pipeline", "info", str(tiny_store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    reader.stdout.close()  # as `| head -1` does once it has its line
    _, stderr = reader.communicate(timeout=60)
    assert reader.returncode == 1 and stderr == b"", stderr

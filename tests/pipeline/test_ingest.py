"""Ingest through the CLI: determinism across worker counts, kill -9 and resume, bad input."""

from __future__ import annotations

import re

import distributed
import numpy as np
import pytest
import zarr
from support import (
    TINY,
    TINY_ARGS,
    c2p_data,
    colour_pixels,
    copy_store,
    kill_when_flagged,
    store_digests,
)

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.preview import class_colours
from c2p4d.pipeline.run import ClusterOptions, ingest
from c2p4d.pipeline.store import Store
from c2p4d.pipeline.worlds.hoi.synth_hoi import SynthHOI


@pytest.fixture
def reference(tiny_store):
    return tiny_store


def test_two_workers_write_the_same_bytes(reference, tmp_path):
    c2p_data("ingest", "--dataset", "synth-hoi", "--out", tmp_path, *TINY_ARGS,
             "--workers", 2, "--block-size", 1)  # fmt: skip
    assert store_digests(tmp_path / "synth-hoi.zarr") == store_digests(reference)


def test_rerun_skips_done_sequences(reference, tmp_path):
    copy = copy_store(reference, tmp_path)
    result = c2p_data("ingest", "--dataset", "synth-hoi", "--out", copy.parent, *TINY_ARGS)
    assert "(0 sequences written by this run)" in result.stdout


def test_a_rerun_removes_the_temporary_files_of_a_killed_writer(reference, tmp_path):
    """zarr writes a chunk to <chunk>.<uuid>.partial, then renames it: a kill between the two
    leaves the temporary file, which the next run deletes."""
    copy = copy_store(reference, tmp_path)
    stray = [copy / "frame" / "points" / "c" / "0.5f3a.partial", copy / "seq" / "1.77.partial"]
    for path in stray:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    c2p_data("ingest", "--dataset", "synth-hoi", "--out", copy.parent, *TINY_ARGS)
    assert store_digests(copy) == store_digests(reference)


def test_killed_run_resumes_to_the_same_bytes(reference, tmp_path):
    """SIGKILL the whole job (client, scheduler and workers) midway, then run it again."""
    args = ["ingest", "--dataset", "synth-hoi", "--out", tmp_path, *TINY_ARGS]
    flags = tmp_path / "synth-hoi.zarr" / "seq" / "done" / "c"
    kill_when_flagged([*args, "--workers", 2, "--block-size", 1], flags, at_least=2)

    killed = Store.open(tmp_path / "synth-hoi.zarr")
    done = killed.done()
    assert not killed.complete and 2 <= done.sum() < len(done)
    finished = Store.open(reference)
    for s in np.flatnonzero(done):  # whatever is marked done is whole and right
        np.testing.assert_array_equal(
            killed.read_sequence(s).points, finished.read_sequence(s).points
        )

    result = c2p_data(*args)
    assert f"({len(done) - done.sum()} sequences written by this run)" in result.stdout
    assert store_digests(tmp_path / "synth-hoi.zarr") == store_digests(reference)


def test_info_and_preview(reference, tmp_path):
    info = c2p_data("info", reference).stdout
    assert "synth-hoi, 256 points/frame, complete" in info
    for section in ("sequences per split", "frames per action", "points per class"):
        assert section in info
    png = tmp_path / "seq.png"
    c2p_data("preview", reference, "--out", png, "--frames", 3)
    store = Store.open(reference)
    labels = np.unique(store.read_sequence(0).filled().point_label)
    colours = class_colours(len(store.class_names))
    for c in labels[labels >= 0]:  # each class of the first sequence is drawn in its colour
        assert colour_pixels(png, colours[c]) > 0, store.class_names[c]


@pytest.mark.parametrize(
    "args, message",
    [
        (["ingest", "--dataset", "hoi5d"], "unknown dataset 'hoi5d'; known datasets: .*synth-hoi"),
        (
            ["ingest", "--dataset", "synth-hoi", "-o", "size=3"],
            "synth-hoi.* takes: .*num_sequences",
        ),
        (
            ["ingest", "--dataset", "synth-hoi", "-o", "num_sequences=many"],
            "num_sequences='many': expected int",
        ),
        (["info", "nowhere.zarr"], "nowhere.zarr is not a c2p4d store"),
        (["preview", "nowhere.zarr"], "nowhere.zarr is not a c2p4d store"),
        (["ingest", "--dataset", "synth-hoi", "--dry-run"], "use it with --slurm"),
    ],
)
def test_bad_arguments_fail_with_one_line(tmp_path, args, message):
    result = c2p_data(*args, check=False, cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert re.search(message, result.stderr), result.stderr


def test_store_of_another_version_or_dataset_is_refused(reference, tmp_path):
    for key, value, message in [
        ("format_version", 99, "format version 99.*delete it and run `c2p-data ingest`"),
        ("dataset", "hoi4d", "already holds 'hoi4d'"),
    ]:
        copy = copy_store(reference, tmp_path / key)
        zarr.open_group(copy, mode="r+").attrs[key] = value
        before = store_digests(copy)
        result = c2p_data("ingest", "--dataset", "synth-hoi", "--out", copy.parent, *TINY_ARGS,
                          check=False)  # fmt: skip
        assert result.returncode != 0 and re.search(message, result.stderr)
        assert store_digests(copy) == before  # nothing already done is lost


def test_unwritable_output_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = c2p_data("ingest", "--dataset", "synth-hoi", "--out", blocker, *TINY_ARGS, check=False)
    assert result.returncode != 0 and "is a file: name a folder" in result.stderr


class NaNInThirdSequence(SynthHOI):
    """synth-hoi with a NaN in one frame of its third sequence, as a corrupt file would have."""

    def read(self, seq):
        data = super().read(seq)
        if seq.name == self.index()[2].name:
            data.points[3, 7] = np.nan
        return data


def test_bad_frame_stops_ingest_and_keeps_what_is_done(tmp_path):
    source = NaNInThirdSequence.from_options(points_per_frame=256, **TINY)
    # In-process workers: the wrapper class above lives in this test module only. One thread,
    # so that the blocks run in order and the first two are done before the third fails.
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        options = ClusterOptions(scheduler=cluster.scheduler_address)
        with pytest.raises(DataError, match="frame 3 has NaN or infinite points"):
            ingest(source, tmp_path, options, block_size=1)
    store = Store.open(tmp_path / "synth-hoi.zarr")
    assert store.done()[:2].all() and not store.done()[2] and not store.complete

"""Damage is found before anyone trains on it: each way a store can lose or garble a file,
through `info`, `verify`, the resumed run that writes it again, `preview` and the loader."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import zarr
from support import TINY_ARGS, c2p_data, copy_store, store_digests

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.integrity import Verification, damage, file_problem
from c2p4d.pipeline.store import Store

INGEST = ["ingest", "--dataset", "synth-hoi", *TINY_ARGS, "--workers", 1]
VIEWS = ["--views", 2, "--workers", 1]
POINTS = "frame/points/c/0/0/0"  # the tiny store's frames all lie in one shard per array
VISIBLE = "view/sweep/visible/c/1/0/0"  # view 1's visibility of every sequence


@pytest.fixture(scope="module")
def viewed(tiny_store, tmp_path_factory):
    store = copy_store(tiny_store, tmp_path_factory.mktemp("integrity"))
    c2p_data("partial-views", store, *VIEWS)
    return store


@pytest.fixture
def store(viewed, tmp_path):
    """A private copy to damage."""
    return copy_store(viewed, tmp_path / "out")


def truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def flip(path: Path, offset: int = 5000) -> None:
    """Change one byte of a shard's compressed data: it still decodes, to other values."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def open_loader(store: Path, views: int = 0):
    from c2p4d.train.data import ClipDataset

    return ClipDataset(store, clip_frames=4, partial_views=views)


def test_an_intact_store_verifies(viewed):
    result = c2p_data("verify", viewed)
    assert "OK: 6 sequences and 12 views match their digests" in result.stdout
    store = Store.open(viewed)
    check = Verification(store, store.items_done(view_sets=["sweep"]))
    assert check.frames == 144 * (4 + 2 * 3)  # frames read: 4 frame arrays, 3 per view
    assert not [d for _, found in check.run() for d in found]
    info = c2p_data("info", viewed).stdout
    assert "sequences: 6 of 6 written" in info and "12 of 12 (view, sequence)" in info


@pytest.mark.parametrize("harm", [os.remove, truncate], ids=["deleted", "truncated"])
def test_a_lost_frame_shard_is_found_everywhere_and_written_again(viewed, store, harm):
    harm(store / POINTS)
    problem = "is missing" if harm is os.remove else "is truncated"
    info = c2p_data("info", store, check=False)
    assert info.returncode != 0 and "DAMAGED" in info.stdout
    assert f"damaged: sequence 'hoi00003': {POINTS} {problem}" in info.stdout
    assert "Traceback" not in info.stderr
    verify = c2p_data("verify", store, check=False)
    assert verify.returncode != 0 and f"sequence 'hoi00000': {POINTS} {problem}" in verify.stdout
    assert "6 of 18 items are damaged" in verify.stderr
    preview = c2p_data("preview", store, "--out", store.parent / "p.png", check=False)
    assert preview.returncode != 0 and f"{POINTS} {problem}" in preview.stderr
    views = c2p_data("partial-views", store, *VIEWS, check=False)
    assert views.returncode != 0 and "c2p-data verify" in views.stderr
    with pytest.raises(DataError, match=f"is damaged .*{POINTS}.*c2p-data verify"):
        open_loader(store)
    again = c2p_data(*INGEST, "--out", store.parent)
    assert "6 items marked done were damaged or shared a damaged file" in again.stdout
    assert "(6 sequences written by this run)" in again.stdout
    assert store_digests(store) == store_digests(viewed)  # as written the first time


def test_a_truncated_view_shard_is_rendered_again(viewed, store):
    truncate(store / VISIBLE)
    info = c2p_data("info", store, check=False)
    assert info.returncode != 0
    assert f"view 1 of sequence 'hoi00002' in view set 'sweep': {VISIBLE} is truncated" in (
        info.stdout
    )
    preview = c2p_data("preview", store, "--views", "--out", store.parent / "p.png", check=False)
    assert preview.returncode != 0 and VISIBLE in preview.stderr
    open_loader(store)  # the complete clips are intact
    with pytest.raises(DataError, match=VISIBLE):
        open_loader(store, views=1)
    again = c2p_data("partial-views", store, *VIEWS)
    assert "rendered 6 views" in again.stdout and "damaged: view 1 of" in again.stdout
    assert store_digests(store) == store_digests(viewed)


def test_cleared_done_flags_count_as_never_written(viewed, store):
    root = zarr.open_group(store, mode="r+")
    root["seq/done"][4] = False
    root["view/sweep/done"][1, 0] = False
    info = c2p_data("info", store).stdout
    assert "INCOMPLETE" in info and "sequences: 5 of 6 written" in info
    assert "11 of 12 (view, sequence) pairs done" in info
    never = c2p_data("preview", store, "--sequence", "hoi00004", check=False)
    assert never.returncode != 0
    assert "sequence 'hoi00004' was never written" in never.stderr
    view = c2p_data("preview", store, "--views", "--sequence", "hoi00000", check=False)
    assert view.returncode != 0
    assert "view 1 of sequence 'hoi00000' in view set 'sweep' was never written" in view.stderr
    with pytest.raises(DataError, match="not complete"):
        open_loader(store)
    assert "(1 sequences written by this run)" in c2p_data(*INGEST, "--out", store.parent).stdout
    assert "rendered 1 views" in c2p_data("partial-views", store, *VIEWS).stdout
    assert store_digests(store) == store_digests(viewed)


def test_changed_content_is_found_by_verify_and_written_again_after_unmark(viewed, store):
    flip(store / POINTS)
    assert c2p_data("info", store).returncode == 0  # the files are all there
    verify = c2p_data("verify", store, check=False)
    assert verify.returncode != 0 and "--unmark" in verify.stderr
    assert f"sequence 'hoi00000': {POINTS} differs from its digest" in verify.stdout
    unmark = c2p_data("verify", "--unmark", store, check=False)
    assert unmark.returncode != 0 and "marked 1 not written" in unmark.stderr
    assert "(1 sequences written by this run)" in c2p_data(*INGEST, "--out", store.parent).stdout
    assert "OK" in c2p_data("verify", store).stdout
    assert store_digests(store) == store_digests(viewed)


def test_a_shard_that_does_not_decode_is_named_and_deleted_by_unmark(viewed, store):
    path = store / "frame/point_label/c/0/0"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # the shard index's checksum
    path.write_bytes(bytes(data))
    verify = c2p_data("verify", store, check=False)
    assert "frame/point_label/c/0/0 cannot be read (Stored and computed checksum" in verify.stdout
    c2p_data("verify", "--unmark", store, check=False)
    assert not path.exists()  # a write that merges into it would fail to read it
    assert "(6 sequences written by this run)" in c2p_data(*INGEST, "--out", store.parent).stdout
    assert store_digests(store) == store_digests(viewed)


def test_file_problem_reads_only_the_shard_index(viewed, tmp_path):
    shard = viewed / POINTS
    inner = 8  # chunks per shard of the tiny store's arrays
    assert file_problem(shard, inner) is None
    assert file_problem(tmp_path / "nothing", inner) == "is missing"
    cut = tmp_path / "cut"
    cut.write_bytes(shard.read_bytes()[:-100])
    assert "points past its end" in file_problem(cut, inner)
    cut.write_bytes(b"x")
    assert "shorter than its shard index" in file_problem(cut, inner)
    store = Store.open(viewed)
    assert not damage(store, store.items_done(view_sets=["sweep"]))

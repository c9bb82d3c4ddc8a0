"""The Zarr store: round trip, resume rules, locking of shared shards, and bad input."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import zarr

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.run import partial_views
from c2p4d.pipeline.sequence import DatasetInfo, SequenceData, SequenceInfo
from c2p4d.pipeline.store import FORMAT_VERSION, Store, StoreLayout, ViewDefaults
from c2p4d.pipeline.views import ViewConfig

N = 64  # points per frame: chunks of 1365 -> 1024 frames, shards of 8192 frames


def make_layout(frames=(5, 7, 3), features: bool = False, **config) -> StoreLayout:
    info = DatasetInfo(
        class_names=("floor", "hand", "mug"),
        action_names=("reach", "grasp"),
        label_names=("pick", "push"),
        feature_names=("r", "g", "b") if features else (),
        attrs={"units": "metres"},
    )
    seqs = tuple(SequenceInfo(f"seq{i}", t, split=i % 3, label=i % 2) for i, t in enumerate(frames))
    return StoreLayout("toy", N, seqs, info, config={"seed": 1, **config})


def make_sequence(info: SequenceInfo, features: bool = False) -> SequenceData:
    rng = np.random.default_rng(len(info.name) * 100 + info.num_frames)
    t = info.num_frames
    return SequenceData(
        name=info.name,
        points=rng.normal(size=(t, N, 3)).astype(np.float32),
        camera=np.tile(np.eye(4, dtype=np.float32), (t, 1, 1)),
        point_label=rng.integers(-1, 3, (t, N)).astype(np.int16),
        action=rng.integers(-1, 2, t).astype(np.int16),
        features=rng.random((t, N, 3)).astype(np.float32) if features else None,
    )


def write_all(store: Store, layout: StoreLayout, order=None, features: bool = False) -> None:
    for s in order if order is not None else range(len(layout.sequences)):
        store.write_sequence(s, make_sequence(layout.sequences[s], features))
        store.mark_done(s)
    store.mark_complete()


def file_digests(path: Path) -> dict[str, str]:
    return {
        str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(path.rglob("*"))
        if f.is_file()
    }


@pytest.mark.parametrize("features", [False, True])
def test_round_trip(tmp_path, features):
    layout = make_layout(features=features)
    store = Store.create_or_resume(tmp_path / "toy.zarr", layout)
    write_all(store, layout, features=features)

    store = Store.open(tmp_path / "toy.zarr")
    store.validate()
    assert store.sequences() == list(layout.sequences)
    assert store.class_names == ["floor", "hand", "mug"]
    assert store.feature_names == (["r", "g", "b"] if features else [])
    assert store.attrs["source"] == {"units": "metres"}
    for s, info in enumerate(layout.sequences):
        expected, got = make_sequence(info, features), store.read_sequence(s)
        for key in ("points", "camera", "point_label", "action", "features"):
            if getattr(expected, key) is None:
                assert getattr(got, key) is None
            else:
                np.testing.assert_array_equal(getattr(got, key), getattr(expected, key))
    part = store.read_sequence(1, slice(2, 6, 2))
    np.testing.assert_array_equal(part.points, make_sequence(layout.sequences[1]).points[2:6:2])
    assert [seq.name for seq in store.iter_sequences(split=0)] == ["seq0"]
    for name in ("action", "point_label"):  # one array alone, as read_sequence reads it
        np.testing.assert_array_equal(
            store.read_frame_array(1, name), getattr(make_sequence(layout.sequences[1]), name)
        )
    with pytest.raises(ValueError, match="no frame array 'nope'"):
        store.read_frame_array(0, "nope")


def test_write_order_does_not_change_bytes(tmp_path):
    layout = make_layout(frames=(5, 7, 3, 9))
    forward = Store.create_or_resume(tmp_path / "a" / "toy.zarr", layout)
    backward = Store.create_or_resume(tmp_path / "b" / "toy.zarr", layout)
    write_all(forward, layout)
    write_all(backward, layout, order=[3, 1, 0, 2])
    assert file_digests(forward.path) == file_digests(backward.path)


def test_locks_exactly_the_shards_a_write_shares(tmp_path, monkeypatch):
    monkeypatch.setattr("c2p4d.pipeline.store._CHUNK_BYTES", N * 12 * 2)  # 2-frame chunks
    layout = make_layout(frames=(10, 20, 33, 16, 1))  # 16-frame shards: 0|10|30|63|79|80
    store = Store.create_or_resume(tmp_path / "toy.zarr", layout)
    assert store.shard_frames == 16
    taken: list[str] = []

    @contextmanager
    def recording_lock(key: str):
        taken.append(key.rsplit("/", 1)[-1])
        yield

    expected = {0: ["0"], 1: ["0", "1"], 2: ["1", "3"], 3: ["3", "4"], 4: ["4"]}
    for s, shards in expected.items():
        taken.clear()
        store.write_sequence(s, make_sequence(layout.sequences[s]), lock=recording_lock)
        assert taken == shards, s


def test_resume_keeps_done_sequences(tmp_path):
    layout = make_layout()
    store = Store.create_or_resume(tmp_path / "toy.zarr", layout)
    store.write_sequence(0, make_sequence(layout.sequences[0]))
    store.mark_done(0)
    again = Store.create_or_resume(tmp_path / "toy.zarr", layout)
    assert again.done().tolist() == [True, False, False]
    assert not again.complete
    with pytest.raises(DataError, match="2 sequences are not written"):
        again.mark_complete()
    with pytest.raises(DataError, match="not written"):
        again.validate()


@pytest.mark.parametrize(
    "change, named",
    [
        ({"config": {"seed": 2}}, "settings"),
        ({"frames": (5, 7, 4)}, "frame counts"),
    ],
)
def test_resume_refuses_other_settings(tmp_path, change, named):
    Store.create_or_resume(tmp_path / "toy.zarr", make_layout())
    other = make_layout(frames=change.get("frames", (5, 7, 3)), **change.get("config", {}))
    with pytest.raises(DataError, match=f"other {named}.*another --out"):
        Store.create_or_resume(tmp_path / "toy.zarr", other)


def changed(layout: StoreLayout, s: int, **change) -> StoreLayout:
    """The layout with sequence s changed (its name, split or label), frame counts kept."""
    sequences = list(layout.sequences)
    sequences[s] = dataclasses.replace(sequences[s], **change)
    return dataclasses.replace(layout, sequences=tuple(sequences))


@pytest.mark.parametrize(
    "change, named",
    [({"name": "seq9"}, "sequences"), ({"split": 2}, "splits"), ({"label": 0}, "labels")],
)
def test_resume_refuses_sequences_renamed_or_relabelled_with_the_same_frame_counts(
    tmp_path, change, named
):
    """A source whose sequence 1 now has another name, split or label (a renamed file, another
    split list), with every frame count as before: resuming would keep the store's."""
    layout = make_layout()
    store = Store.create_or_resume(tmp_path / "toy.zarr", layout)
    write_all(store, layout)
    before = file_digests(store.path)
    other = changed(layout, 1, **change)
    assert other.frame_offset.tolist() == layout.frame_offset.tolist()
    with pytest.raises(DataError, match=f"made with other {named}; choose another --out"):
        Store.create_or_resume(tmp_path / "toy.zarr", other)
    assert file_digests(store.path) == before


@pytest.mark.parametrize("layout_digest", [True, False])
def test_a_sequence_renamed_in_the_store_is_refused(tmp_path, layout_digest):
    """seq/name changed in place (sequence 1 renamed, frame counts kept). With the digest of the
    index arrays it is damage, refused on any open; an older store without that digest is
    refused by a resumed ingest, whose source still names it as before."""
    layout = make_layout()
    store = Store.create_or_resume(tmp_path / "toy.zarr", layout)
    write_all(store, layout)
    root = zarr.open_group(store.path, mode="r+")
    root["seq/name"][1] = "seq9"
    if not layout_digest:
        attrs = root.attrs.asdict()
        del attrs["layout_digest"]
        root.attrs.put(attrs)
        assert Store.open(store.path).names == ["seq0", "seq9", "seq2"]
    message = "seq/name differs from the digest" if layout_digest else "made with other sequences"
    with pytest.raises(DataError, match=message):
        Store.create_or_resume(store.path, layout)
    if layout_digest:
        with pytest.raises(DataError, match=message):
            partial_views(store.path, ViewConfig(num_views=1))


def test_validate_names_a_store_not_marked_complete(tmp_path):
    """Every sequence written and marked done, but the run ended before `complete` was set."""
    layout = make_layout()
    store = Store.create_or_resume(tmp_path / "toy.zarr", layout)
    for s, info in enumerate(layout.sequences):
        store.write_sequence(s, make_sequence(info))
        store.mark_done(s)
    reopened = Store.open(store.path)
    assert reopened.done().all() and not reopened.complete
    with pytest.raises(DataError, match=r"toy.zarr: the store is not marked complete \(run"):
        reopened.validate()
    store.mark_complete()
    Store.open(store.path).validate()


def test_other_format_version_says_how_to_rebuild(tmp_path):
    Store.create_or_resume(tmp_path / "toy.zarr", make_layout())
    zarr.open_group(tmp_path / "toy.zarr", mode="r+").attrs["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(DataError, match=rf"format version {FORMAT_VERSION + 1}.*ingest.*rebuild"):
        Store.open(tmp_path / "toy.zarr")


def test_not_a_store(tmp_path):
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(DataError, match="not a c2p4d store"):
        Store.open(tmp_path / "empty.zarr")
    Store.create_or_resume(tmp_path / "empty.zarr", make_layout())  # an empty folder is filled
    assert Store.open(tmp_path / "empty.zarr").dataset == "toy"
    (tmp_path / "other.zarr").mkdir()
    (tmp_path / "other.zarr" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not a c2p4d store"):
        Store.create_or_resume(tmp_path / "other.zarr", make_layout())


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(DataError, match="cannot create the store"):
        Store.create_or_resume(blocker / "toy.zarr", make_layout())
    assert list(tmp_path.iterdir()) == [blocker]  # no scratch folder left behind


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda d: d.points.__setitem__((2, 5, 1), np.nan), "frame 2 has NaN"),
        (lambda d: d.point_label.__setitem__((4, 0), 3), "frame 4 has point_label 3 outside"),
        (lambda d: setattr(d, "points", d.points[:, :10]), r"points float32\[5, 10, 3\]"),
        (lambda d: setattr(d, "action", d.action.astype(np.int64)), "action int64"),
    ],
)
def test_bad_sequence_is_refused_and_not_done(tmp_path, spoil, message):
    layout = make_layout()
    store = Store.create_or_resume(tmp_path / "toy.zarr", layout)
    data = make_sequence(layout.sequences[0])
    spoil(data)
    with pytest.raises(DataError, match=f"seq0.*{message}|{message}"):
        store.write_sequence(0, data)
    assert not store.done().any()


def _cameras(t: int) -> tuple[np.ndarray, np.ndarray]:
    """Identity cameras and intrinsics for t frames."""
    return np.tile(np.eye(4, dtype=np.float32), (t, 1, 1)), np.tile(
        np.eye(3, dtype=np.float32), (t, 1, 1)
    )


def test_strided_reads_match_the_frames_they_skip(tmp_path):
    layout = make_layout()
    store = Store.create_or_resume(tmp_path / "toy.zarr", layout)
    write_all(store, layout)
    store.prepare_views(1, {})
    visible = np.random.default_rng(0).random((7, N)) < 0.5
    store.write_view(1, 0, np.packbits(visible, axis=-1), *_cameras(7))
    part = store.read_sequence(1, slice(1, 7, 3))
    np.testing.assert_array_equal(part.points, make_sequence(layout.sequences[1]).points[1:7:3])
    np.testing.assert_array_equal(store.read_visible(1, 0, slice(1, 7, 3)), visible[1:7:3])
    with pytest.raises(ValueError, match="step must be >= 1"):
        store.read_sequence(1, slice(None, None, -1))


def test_view_sets_are_named_and_replaced_one_at_a_time(tmp_path):
    layout = make_layout()
    store = Store.create_or_resume(tmp_path / "toy.zarr", layout)
    write_all(store, layout)
    with pytest.raises(DataError, match="no partial views; run `c2p-data partial-views"):
        store.read_visible(0, 0)
    assert store.prepare_views(2, {"mode": "random"}, view_set="random") == "random"
    assert store.view_set_name() == "random"  # the only set
    seen = np.packbits(np.ones((5, N), bool), axis=-1)
    store.write_view(0, 1, seen, *_cameras(5))
    store.mark_view_done(0, 1)
    assert store.prepare_views(1, {"mode": "sweep"}) == "sweep"  # the default name
    assert store.view_sets() == ["random", "sweep"]
    assert store.view_set_name() == "sweep"  # the default set, among several
    assert not store.read_visible(0, 0).any() and store.read_visible(0, 1, view_set="random").all()
    with pytest.raises(DataError, match="view set 'sweep' of 1 views .*pass --replace"):
        store.prepare_views(3, {"mode": "sweep"})
    store.prepare_views(3, {"mode": "sweep"}, replace=True)
    assert store.num_views() == 3 and store.num_views("random") == 2
    assert store.views_done("random")[1, 0] and not store.views_done().any()
    with pytest.raises(DataError, match="no view set 'nope'; it has random, sweep"):
        store.read_view(0, 0, view_set="nope")
    with pytest.raises(DataError, match="view set name '../x'"):
        store.prepare_views(1, {}, view_set="../x")
    other = Store.create_or_resume(tmp_path / "other.zarr", layout)
    for name in ("a", "b"):
        other.prepare_views(1, {}, view_set=name)
    with pytest.raises(DataError, match="no default view set; it has a, b: name one"):
        other.num_views()


def test_view_defaults_are_what_the_source_declared(tmp_path):
    plain = Store.create_or_resume(tmp_path / "plain" / "toy.zarr", make_layout())
    assert plain.view_defaults == ViewDefaults("sweep", None, False)
    assert plain.attrs["source"] == {"units": "metres"}  # the defaults record nothing
    assert plain.world_up is None and plain.default_view_set == "sweep"
    assert plain.view_defaults.trajectory_options() == {"mode": "sweep", "up_from_plane": False}

    views = ViewDefaults("full-circle", (0.0, 0.0, 1.0), False)
    layout = make_layout()
    layout = dataclasses.replace(layout, info=dataclasses.replace(layout.info, views=views))
    world = Store.create_or_resume(tmp_path / "world" / "toy.zarr", layout)
    # Kept where stores have always kept them: keys of `source`, after the source's own.
    source = {"units": "metres", "world_up": [0.0, 0.0, 1.0], "view_mode": "full-circle"}
    assert list(world.attrs["source"].items()) == list(source.items())
    assert world.view_defaults == views
    assert world.world_up == (0.0, 0.0, 1.0) and world.default_view_set == "full-circle"
    assert world.view_defaults.trajectory_options("random") == {
        "mode": "random",
        "up_from_plane": False,
        "up": (0.0, 0.0, 1.0),
    }
    plane = ViewDefaults(up_from_plane=True)
    assert plane.trajectory_options()["up_from_plane"] is True
    assert ViewDefaults.from_attrs(plane.attrs()) == plane
    with pytest.raises(ValueError, match=r"DatasetInfo.attrs \['world_up'\]: give them as `views`"):
        DatasetInfo(attrs={"world_up": [0.0, 0.0, 1.0]})


def test_sequence_meta_is_kept(tmp_path):
    layout = make_layout()
    store = Store.create_or_resume(tmp_path / "toy.zarr", layout)
    metas = [{"task": "push", "object": "mug"}, {}, {"clips": ["walk", "run"], "scale": 1.05}]
    for s, meta in enumerate(metas):
        store.write_sequence(s, dataclasses.replace(make_sequence(layout.sequences[s]), meta=meta))
    assert [Store.open(store.path).sequence_meta(s) for s in range(3)] == metas
    # A store made before meta was kept reads {} and writes its sequences without it.
    shutil.rmtree(store.path / "seq" / "meta")
    older = Store.open(store.path, writable=True)
    older.write_sequence(0, make_sequence(layout.sequences[0]))
    assert older.sequence_meta(0) == {}


def test_view_up_is_recorded_per_sequence(tmp_path):
    layout = make_layout()
    store = Store.create_or_resume(tmp_path / "toy.zarr", layout)
    write_all(store, layout)
    store.prepare_views(1, {})
    with pytest.raises(KeyError, match="records no up for sequence 0"):
        store.view_up(0)  # not rendered yet
    store.write_view_up(0, np.array([0.0, 0.0, 2.0]))
    store.write_view_up(1, None)
    assert Store.open(store.path).view_up(0).tolist() == [0.0, 0.0, 1.0]  # a unit vector
    assert Store.open(store.path).view_up(1) is None  # each camera its own
    # A set made before ups were recorded has none, and takes none.
    shutil.rmtree(store.path / "view" / "sweep" / "up")
    older = Store.open(store.path, writable=True)
    older.write_view_up(2, np.array([0.0, 1.0, 0.0]))
    with pytest.raises(KeyError):
        older.view_up(2)

"""ClipDataset: clip contents, sharding over ranks and workers, determinism, bad input."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest
import torch
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from support import copy_store
from torch.utils.data import DataLoader, default_collate

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.sequence import DatasetInfo, SequenceData, SequenceInfo
from c2p4d.pipeline.store import Store, StoreLayout
from c2p4d.train.data import Augment, ClipDataset, ClipKey

M = 256  # points per frame of the tiny store (support.TINY_ARGS)
SMALL = settings(max_examples=8, deadline=None)


def add_view_set(store: Store, name: str, views: int, masks) -> None:
    """A view set from masks(s, frames) -> bool [V, T, M] per sequence, without rendering."""
    store.prepare_views(views, {"synthetic": name}, view_set=name)
    for s in range(store.num_sequences):
        t = int(np.diff(store.frame_range(s))[0])
        for v, mask in enumerate(masks(s, t)):
            camera = np.tile(np.eye(4, dtype=np.float32), (t, 1, 1))
            intrinsics = np.tile(np.eye(3, dtype=np.float32), (t, 1, 1))
            store.write_view(s, v, np.packbits(mask, axis=-1), camera, intrinsics, view_set=name)
            store.mark_view_done(s, v, view_set=name)


def random_masks(s: int, t: int) -> list[np.ndarray]:
    rng = np.random.default_rng(s)
    return [rng.random((t, M)) < 0.4 for _ in range(3)]


def edge_masks(s: int, t: int) -> list[np.ndarray]:
    """View 0 sees point 7 alone, and nothing in frames 0-2 and 5; view 1 sees nothing."""
    one = np.zeros((t, M), bool)
    one[:, 7] = True
    one[[0, 1, 2, 5]] = False
    return [one, np.zeros((t, M), bool)]


@pytest.fixture(scope="module")
def viewed(tiny_store, tmp_path_factory):
    """The tiny synth-hoi store (6 train sequences x 24 frames x 256 points) with two view sets:
    'sweep' (3 views, random masks) and 'edge' (a view of one point, a view of none)."""
    path = copy_store(tiny_store, tmp_path_factory.mktemp("data"))
    store = Store.open(path, writable=True)
    add_view_set(store, "sweep", 3, random_masks)
    add_view_set(store, "edge", 2, edge_masks)
    return Store.open(path)


FRAMES = (20, 12, 30, 9, 17, 25, 14, 22)


@pytest.fixture(scope="module")
def coloured(tmp_path_factory):
    """A store with rgb features (= 2 xyz + 1) and sequences of unequal lengths, 16-frame shards
    (so its sequences fall into several blocks), 16 points per frame and 2 views."""
    n = 16
    info = DatasetInfo(("a", "b"), ("x",), ("p", "q"), ("r", "g", "b"), {})
    sequences = tuple(
        SequenceInfo(f"s{i}", t, split=1 if i == 5 else 0, label=i % 2)
        for i, t in enumerate(FRAMES)
    )
    layout = StoreLayout("toy", n, sequences, info)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("c2p4d.pipeline.store._CHUNK_BYTES", n * 12 * 2)
        store = Store.create_or_resume(tmp_path_factory.mktemp("toy") / "toy.zarr", layout)
    for s, seq in enumerate(sequences):
        rng = np.random.default_rng(s)
        points = rng.normal(size=(seq.num_frames, n, 3)).astype(np.float32)
        store.write_sequence(
            s,
            SequenceData(
                seq.name,
                points,
                np.tile(np.eye(4, dtype=np.float32), (seq.num_frames, 1, 1)),
                point_label=rng.integers(0, 2, (seq.num_frames, n)).astype(np.int16),
                action=np.zeros(seq.num_frames, np.int16),
                features=points * 2 + 1,
            ),
        )
        store.mark_done(s)
    store.mark_complete()
    store.prepare_views(2, {"synthetic": True})
    for s, seq in enumerate(sequences):
        t = seq.num_frames
        for v in range(2):
            mask = np.random.default_rng([s, v]).random((t, n)) < 0.5
            eye = np.tile(np.eye(4, dtype=np.float32), (t, 1, 1))
            store.write_view(s, v, np.packbits(mask, axis=-1), eye, eye[:, :3, :3].copy())
            store.mark_view_done(s, v)
    assert store.shard_frames == 16
    return Store.open(store.path)


def rows(points: torch.Tensor) -> set[bytes]:
    return {p.tobytes() for p in points.numpy()}


def digest(clip: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(clip):
        h.update(key.encode() + clip[key].numpy().tobytes())
    return h.hexdigest()


@SMALL
@given(
    frames=st.integers(1, 8),
    stride=st.integers(1, 3),
    points=st.sampled_from([1, 100, 256, 300]),
    views=st.integers(0, 2),
    augment=st.booleans(),
)
def test_clip_shapes_and_dtypes_collate(viewed, frames, stride, points, views, augment):
    data = ClipDataset(viewed, clip_frames=frames, frame_stride=stride, points=points,
                       partial_views=views, view_set="sweep",
                       augment=Augment() if augment else None)  # fmt: skip
    clips = [data.clip(key) for key in data.epoch_clips(0)[:2]]
    clip = clips[0]
    expected = {
        "complete": ((frames, points, 3), torch.float32),
        "point_label": ((frames, points), torch.int64),
        "action": ((frames,), torch.int64),
        "label": ((), torch.int64),
        "sequence": ((), torch.int64),
        "start": ((), torch.int64),
        "empty_frames": ((), torch.int64),
    }
    if views:
        expected["partial"] = ((views, frames, points, 3), torch.float32)
    assert {k: (tuple(v.shape), v.dtype) for k, v in clip.items()} == expected
    batch = default_collate(clips)
    assert batch["complete"].shape == (2, frames, points, 3) and batch["label"].shape == (2,)
    assert 0 <= clip["start"] <= 24 - (frames - 1) * stride - 1


def test_partial_points_are_the_frames_visible_points(viewed):
    data = ClipDataset(viewed, clip_frames=6, frame_stride=2, points=M, partial_views=2)
    masks_of = {s: random_masks(s, 24) for s in range(6)}
    for key in data.epoch_clips(0):
        clip = data.clip(key)
        seq = viewed.read_sequence(key.sequence)
        frames = range(key.start, key.start + 11, 2)
        for t, f in enumerate(frames):
            stored = {p.tobytes(): i for i, p in enumerate(seq.points[f])}
            assert rows(clip["complete"][t]) == set(stored)  # N = M: every point, reordered
            at = [stored[p.tobytes()] for p in clip["complete"][t].numpy()]
            np.testing.assert_array_equal(clip["point_label"][t], seq.point_label[f][at])
            assert clip["action"][t] == seq.action[f]
            seen = [
                {p.tobytes() for p in seq.points[f][mask[f]]} for mask in masks_of[key.sequence]
            ]
            views = [next(v for v in range(3) if rows(clip["partial"][p, t]) <= seen[v])
                     for p in range(2)]  # fmt: skip
            assert views[0] != views[1]  # two distinct views
        assert clip["label"] == viewed.labels[key.sequence] and clip["empty_frames"] == 0


def test_features_follow_the_points(coloured):
    data = ClipDataset(coloured, clip_frames=4, points=10, partial_views=2, split=None)
    for key in data.epoch_clips(0):
        clip = data.clip(key)
        assert clip["features"].shape == (4, 10, 3) and clip["partial_features"].shape == (
            2,
            4,
            10,
            3,
        )
        torch.testing.assert_close(clip["features"], clip["complete"] * 2 + 1)
        torch.testing.assert_close(clip["partial_features"], clip["partial"] * 2 + 1)


def test_a_view_of_one_point_and_frames_it_misses(viewed):
    seq = viewed.read_sequence(0)
    data = ClipDataset(viewed, sequences=[0], clip_frames=0, points=5, partial_views=1,
                       view_set="edge", shuffle=False)  # fmt: skip
    clips = {}
    for epoch in range(12):  # until both views were drawn
        clip = data.clip(ClipKey(0, 0, 0), epoch)
        clips[int(clip["empty_frames"])] = clip
    one, none = clips[4], clips[24]  # view 0 misses frames 0-2 and 5; view 1 sees nothing
    for t in range(24):
        nearest = {0: 3, 1: 3, 2: 3, 5: 4}.get(t, t)  # frame 5: 4 and 6 tie, the earlier wins
        assert rows(one["partial"][0, t]) == {seq.points[nearest, 7].tobytes()}
        assert rows(none["partial"][0, t]) <= {p.tobytes() for p in seq.points[t]}
    two = ClipDataset(viewed, sequences=[0], clip_frames=3, points=2, partial_views=2,
                      view_set="edge").clip(ClipKey(0, 0, 0))  # fmt: skip
    assert two["partial"].shape == (2, 3, 2, 3) and two["empty_frames"] == 3 + 3


def test_augmentation_moves_complete_and_partial_alike(viewed):
    plain = ClipDataset(viewed, clip_frames=4, points=M, partial_views=1)
    still = ClipDataset(viewed, clip_frames=4, points=M, partial_views=1,
                        augment=Augment(jitter=0.0))  # fmt: skip
    shaken = ClipDataset(viewed, clip_frames=4, points=M, partial_views=1, augment=Augment())
    key = plain.epoch_clips(0)[0]
    raw, moved, noisy = plain.clip(key), still.clip(key), shaken.clip(key)
    before = raw["complete"].reshape(-1, 3).double()
    after = moved["complete"].reshape(-1, 3).double()
    centre = before.mean(0)
    assert torch.allclose(after.mean(0), centre, atol=1e-5)  # about the clip's centre
    # A rotation about +z (synth-hoi's up) and a scale: z scales, xy turns.
    scale = (after[:, 2] - centre[2]).norm() / (before[:, 2] - centre[2]).norm()
    assert 0.8 <= scale <= 1.2
    solve = torch.linalg.lstsq(before - centre, after - centre).solution.T
    torch.testing.assert_close(solve[:, 2], torch.tensor([0, 0, scale], dtype=solve.dtype))
    torch.testing.assert_close(solve[:2, :2] @ solve[:2, :2].T / scale**2, torch.eye(2).double())
    partial = (raw["partial"].reshape(-1, 3).double() - centre) @ solve.T + centre
    torch.testing.assert_close(partial.float(), moved["partial"].reshape(-1, 3), atol=1e-5, rtol=0)
    noise = torch.cat([(noisy[k] - moved[k]).flatten() for k in ("complete", "partial")])
    assert noise.abs().max() <= 0.05 + 1e-6 and 0.008 < noise.std() < 0.012


@SMALL
@given(
    world=st.integers(1, 3),
    workers=st.integers(1, 3),
    starts=st.sampled_from(["random", "all"]),
    clips=st.integers(1, 3),
    epoch=st.integers(0, 3),
)
def test_shares_partition_the_epoch_equally(coloured, world, workers, starts, clips, epoch):
    shape = dict(clip_frames=5, starts=starts, clips_per_sequence=clips, start_step=4)
    datasets = [ClipDataset(coloured, rank=r, world_size=world, **shape) for r in range(world)]
    every = datasets[0].epoch_clips(epoch)
    assert len({len(d) for d in datasets}) == 1
    per_rank = len(datasets[0])
    shares = [d.share(epoch, w, workers) for d in datasets for w in range(workers)]
    taken = [key for share in shares for key in share]
    assert len(taken) == len(set(taken)) == per_rank * world  # disjoint, equal per rank
    assert taken == every[: per_rank * world] and len(every) - len(taken) < world
    assert {k.sequence for k in every} == set(np.flatnonzero(coloured.splits == 0).tolist())
    if starts == "all":
        assert len(every) == sum(len(range(0, t - 4, 4)) for i, t in enumerate(FRAMES) if i != 5)
    # Clips come in blocks of sequences that start in one shard (16 frames): 6 and 7 share one.
    blocks = [coloured.frame_offset[k.sequence] // 16 for k in every]
    runs = [b for i, b in enumerate(blocks) if i == 0 or b != blocks[i - 1]]
    assert sorted(runs) == [0, 1, 2, 3, 4, 7]


def batches(data: ClipDataset, workers: int = 0) -> list[dict[str, torch.Tensor]]:
    return list(DataLoader(data, batch_size=2, num_workers=workers))


def test_same_seed_same_batches_other_epoch_other_batches(viewed):
    def make(seed: int) -> ClipDataset:
        return ClipDataset(viewed, clip_frames=4, points=64, partial_views=1, seed=seed,
                           augment=Augment(), clips_per_sequence=2)  # fmt: skip

    first, again = batches(make(0)), batches(make(0))
    assert [digest(b) for b in first] == [digest(b) for b in again]
    assert [digest(b) for b in first] != [digest(b) for b in batches(make(1))]
    later = make(0)
    later.set_epoch(1)
    assert not {digest(b) for b in first} & {digest(b) for b in batches(later)}


def test_one_or_two_workers_yield_the_same_clips(coloured):
    data = ClipDataset(coloured, clip_frames=3, points=8, partial_views=2, augment=Augment(),
                       clips_per_sequence=3, shuffle_buffer=4)  # fmt: skip
    data.set_epoch(2)

    def clips(workers: int) -> Counter:
        loader = DataLoader(data, batch_size=None, num_workers=workers)
        return Counter((int(c["sequence"]), int(c["start"]), digest(c)) for c in loader)

    one = clips(0)
    assert one == clips(2) and sum(one.values()) == len(data) == 7 * 3


def test_unequal_sequences_need_a_clip_length(coloured):
    with pytest.raises(DataError, match="clip_frames=0 .* 9 to 30 frames: set clip_frames"):
        ClipDataset(coloured, clip_frames=0)
    assert ClipDataset(coloured, split="val", clip_frames=0).clip_frames == 25


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"partial_views": 1}, r"no partial views; run `c2p-data partial-views .*` first"),
        ({"clip_frames": 25}, "sequence 'hoi00000' has 24 frames, fewer than a clip of 25"),
        ({"clip_frames": 9, "frame_stride": 3}, "clip of 9 frames at stride 3 \\(25\\)"),
        ({"split": "training"}, "split 'training' is not one of train, val, test"),
        ({"points": 0}, "points=0 must be >= 1"),
        ({"split": "val"}, "split 'val' has no sequences"),
        ({"sequences": [2, 9]}, r"sequences \[9\] are not in split 'train'"),
        ({"partial_views": 3}, "partial_views must be 0, 1 or 2"),
    ],
)
def test_bad_input_is_one_clear_error(tiny_store, kwargs, message):
    with pytest.raises(DataError, match=message):
        ClipDataset(tiny_store, **kwargs)


def test_incomplete_store_and_views_are_refused(viewed, tmp_path):
    with pytest.raises(DataError, match="no view set 'nope'; it has edge, sweep"):
        ClipDataset(viewed, partial_views=1, view_set="nope")
    assert ClipDataset(viewed, partial_views=1).view_set == "sweep"  # the default set
    path = copy_store(viewed.path, tmp_path)
    zarr.open_group(path, mode="r+")["view/sweep/done"][1, 2] = False
    with pytest.raises(DataError, match="view set 'sweep' is unfinished .*partial-views"):
        ClipDataset(path, partial_views=1, view_set="sweep")
    zarr.open_group(path, mode="r+").attrs["complete"] = False
    with pytest.raises(DataError, match="not complete; run the same `c2p-data ingest` again"):
        ClipDataset(path)

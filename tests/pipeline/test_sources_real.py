"""The real-dataset adapters: each ingests tiny files written in its released format, the store
holds what went in (up to resampling), and every kind of bad input gets its DataError."""

from __future__ import annotations

import pickle
import re
import tracemalloc

import h5py
import numpy as np
import open3d as o3d
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import c2p_data

from c2p4d.pipeline import sources
from c2p4d.pipeline.cameras import look_at, sensor_at_origin
from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.run import ClusterOptions, ingest
from c2p4d.pipeline.sequence import SPLITS
from c2p4d.pipeline.sources.files import npz_header, ply_header, read_ply
from c2p4d.pipeline.store import Store, StoreLayout

TRAIN, VAL, TEST = (SPLITS.index(s) for s in SPLITS)


def build_store(source, tmp_path) -> Store:
    """Ingest without Dask (the Dask path is tested once per adapter family below)."""
    source = pickle.loads(pickle.dumps(source))  # as the workers receive it
    layout = StoreLayout(
        source.name,
        source.points_per_frame,
        tuple(source.index()),
        source.info(),
        source.config_dict(),
    )
    store = Store.create_or_resume(tmp_path / f"{source.name}.zarr", layout)
    for s, info in enumerate(layout.sequences):
        store.write_sequence(s, source.read(info))
        store.mark_done(s)
    store.mark_complete()
    return Store.open(store.path)


def raw_indices(stored: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Index in `raw` of every stored point; fails if a stored point is not a raw point."""
    lookup = {row.tobytes(): i for i, row in enumerate(np.ascontiguousarray(raw, np.float32))}
    return np.array([lookup[row.tobytes()] for row in np.ascontiguousarray(stored)])


def assert_resampled(stored: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Stored points are raw points, and all of them when there are enough slots."""
    idx = raw_indices(stored, raw)
    if len(stored) >= len(raw):
        assert set(idx) == set(range(len(raw)))
    else:
        assert len(set(idx)) == len(stored)  # a subset without repeats
    return idx


def camera_looks_at(pose: np.ndarray, target: np.ndarray) -> float:
    """Cosine between the camera's optical axis and the direction to target."""
    direction = target - pose[:3, 3]
    return float(pose[:3, 2] @ direction / np.linalg.norm(direction))


# ============================================================================ hoi4d


def test_hoi4d_ingests_through_dask(tmp_path, formats):
    src = tmp_path / "release"
    src.mkdir()
    train = formats.hoi4d_file(src / "train1.h5", videos=3, frames=4, points=40, seed=1)
    test = formats.hoi4d_file(src / "test1.h5", videos=2, frames=4, points=40, seed=2)
    source = sources.get_source("hoi4d", source=src, points_per_frame=32)
    result = ingest(source, tmp_path / "out", ClusterOptions(workers=1))
    store = Store.open(tmp_path / "out" / "hoi4d.zarr")
    store.validate()
    assert result.written == 5
    assert store.names == ["train1_0000", "train1_0001", "train1_0002", "test1_0000", "test1_0001"]
    assert store.splits.tolist() == [TRAIN] * 3 + [TEST] * 2
    assert len(store.action_names) == 19 and store.attrs["source"]["units"] == "metres"
    for s, (arrays, i) in enumerate([(train, 0), (train, 1), (train, 2), (test, 0), (test, 1)]):
        data = store.read_sequence(s)
        np.testing.assert_array_equal(data.action, arrays["label"][i])
        assert (data.point_label == -1).all()
        for t in range(4):
            assert_resampled(data.points[t], arrays["pcd"][i, t])
            np.testing.assert_allclose(data.camera[t, :3, 3], 0)  # the reconstruction's origin
            assert camera_looks_at(data.camera[t], arrays["center"][i, t]) == pytest.approx(1)
    # Its scenes' up is unknown: partial views take it from each scene's dominant plane.
    c2p_data("partial-views", tmp_path / "out" / "hoi4d.zarr", "--views", 1, "--workers", 1)
    assert Store.open(tmp_path / "out" / "hoi4d.zarr").view_config()["trajectory"]["up_from_plane"]


def test_hoi4d_semseg_keeps_each_points_class(tmp_path, formats):
    arrays = formats.hoi4d_file(
        tmp_path / "train1.h5", 2, 3, 50, label_key="semantic", classes=49, seed=3
    )
    formats.hoi4d_file(tmp_path / "test1_right.h5", 1, 3, 50, label_key="semantic", classes=49)
    store = build_store(
        sources.get_source("hoi4d-semseg", source=tmp_path, points_per_frame=64), tmp_path
    )
    assert len(store.class_names) == 49 and store.class_names[47] == "hand"
    assert store.attrs["source"]["miou_skip_ids"] == [0, 1]
    assert store.splits.tolist() == [TRAIN, TRAIN, TEST]
    for i in range(2):
        data = store.read_sequence(i)
        assert (data.action == -1).all()
        for t in range(3):
            idx = assert_resampled(data.points[t], arrays["pcd"][i, t])
            np.testing.assert_array_equal(data.point_label[t], arrays["semantic"][i, t][idx])


def test_hoi4d_reads_one_video_at_a_time(tmp_path, formats):
    """Reading every video of a ~40 MB file never holds much more than one video."""
    path = tmp_path / "train1.h5"
    formats.hoi4d_file(path, videos=80, frames=150, points=256, seed=4)
    size = path.stat().st_size
    source = sources.get_source("hoi4d", source=tmp_path, points_per_frame=256)
    infos = source.index()
    tracemalloc.start()
    try:
        for info in infos:
            source.read(info)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    one_video = 150 * 256 * 3 * 4
    assert size > 35e6 and len(infos) == 80
    assert peak < 5 * one_video < size / 15, (peak, size)


def test_hoi4d_unlabelled_test_file(tmp_path, formats):
    formats.hoi4d_file(tmp_path / "train1.h5", 1, 2, 10)
    formats.hoi4d_file(tmp_path / "test_wolabel.h5", 2, 2, 10, label_key=None)
    with pytest.raises(DataError, match=r"test_wolabel.h5: no key 'label'.*-o unlabelled=true"):
        sources.get_source("hoi4d", source=tmp_path).index()
    source = sources.get_source("hoi4d", source=tmp_path, unlabelled=True, points_per_frame=8)
    store = build_store(source, tmp_path)
    assert store.splits.tolist() == [TRAIN, TEST, TEST]
    assert (store.read_sequence(1).action == -1).all()


def _h5(path, **arrays):
    with h5py.File(path, "w") as handle:
        for key, value in arrays.items():
            handle[key] = value


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"center": np.zeros((1, 2, 3))}, r"train1.h5: no key pcd"),
        ({"pcd": np.zeros((1, 2, 5, 2), np.float32)}, r"train1.h5: no key center"),
        (
            {"pcd": np.zeros((1, 2, 5, 2), np.float32), "center": np.zeros((1, 2, 3))},
            r"train1.h5: pcd is float32\[1, 2, 5, 2\], expected float \[S, T, N, 3\]",
        ),
        (
            {"pcd": np.ones((1, 2, 5, 3), np.float32), "center": np.zeros((1, 3, 3))},
            r"train1.h5: center has shape \[1, 3, 3\], expected \[1, 2, 3\]",
        ),
        (
            {"pcd": np.ones((1, 2, 5, 3), np.float32), "center": np.zeros((1, 2, 3))},
            r"train1.h5: no key 'label'; a training file needs labels",
        ),
        (
            {
                "pcd": np.ones((1, 2, 5, 3), np.float32),
                "center": np.zeros((1, 2, 3)),
                "label": np.zeros((1, 3)),
            },
            r"train1.h5: label has shape \[1, 3\], expected \[1, 2\]",
        ),
    ],
)
def test_hoi4d_malformed_files(tmp_path, arrays, message):
    _h5(tmp_path / "train1.h5", **arrays)
    with pytest.raises(DataError, match=message):
        sources.get_source("hoi4d", source=tmp_path).index()


def test_hoi4d_bad_names_and_non_hdf5(tmp_path, formats):
    with pytest.raises(DataError, match="does not exist"):
        sources.get_source("hoi4d", source=tmp_path / "nowhere").index()
    with pytest.raises(DataError, match="no .h5 files"):
        sources.get_source("hoi4d", source=tmp_path).index()
    formats.hoi4d_file(tmp_path / "val1.h5", 1, 2, 4)
    (tmp_path / "train1.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError, match=r"2 problems") as error:
        sources.get_source("hoi4d", source=tmp_path).index()
    assert "val1.h5: not a HOI4D release file name" in str(error.value)
    assert "train1.h5: cannot open as HDF5" in str(error.value)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda a: a["pcd"].__setitem__((0, 1, 3, 0), np.nan),
            r"video 0 frame 1: the frame has NaN",
        ),
        (lambda a: a["pcd"].__setitem__((0, 2), 0), r"video 0 frame 2: the frame has no points"),
        (lambda a: a["label"].__setitem__((0, 1), 19), r"video 0: label 19 is outside the 19"),
        (lambda a: a["center"].__setitem__((0, 0, 0), np.inf), r"video 0: center has NaN"),
    ],
)
def test_hoi4d_bad_frames(tmp_path, formats, damage, message):
    arrays = formats.hoi4d_file(tmp_path / "train1.h5", 1, 3, 6)
    damage(arrays)
    _h5(tmp_path / "train1.h5", **arrays)
    source = sources.get_source("hoi4d", source=tmp_path)
    with pytest.raises(DataError, match=r"train1.h5 " + message):
        source.read(source.index()[0])


# ============================================================================ synthia


def _synthia(root, formats, listed, unlisted=(), points=30):
    """Frames on disk and split lists in the P4Transformer layout (lists next to the folder)."""
    seq = formats.synthia_sequence
    frames = {}
    for frame in sorted({f for frames_ in listed.values() for f in frames_} | set(unlisted)):
        frames[frame] = formats.synthia_frame(root / f"{seq}-{frame:06d}.npz", points, seed=frame)
    for name, numbers in listed.items():
        formats.synthia_list(root.parent / name, [(seq, f) for f in numbers])
    return frames


def test_synthia_runs_labels_features_and_cameras(tmp_path, formats):
    root = tmp_path / "sequences"
    root.mkdir()
    listed = {"trainval_raw.txt": [0, 1, 2, 5, 6], "test_raw.txt": [3, 4]}
    frames = _synthia(root, formats, listed, unlisted=[7])
    (root / "labelweights.npz").write_bytes(b"")  # the class weights file is ignored
    store = build_store(sources.get_source("synthia", source=root, points_per_frame=24), tmp_path)
    seq = formats.synthia_sequence
    assert store.names == [f"{seq}-000000", f"{seq}-000005", f"{seq}-000003"]
    assert store.splits.tolist() == [TRAIN, TRAIN, TEST]
    assert np.diff(store.frame_offset).tolist() == [3, 2, 2]
    assert store.feature_names == ["r", "g", "b"] and len(store.class_names) == 12
    assert store.attrs["source"]["unlisted_frames_skipped"] == 1
    to_class = np.array([-1, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -1, -1, 11])  # MeteorNet's map
    for s, first in enumerate([0, 5, 3]):
        data = store.read_sequence(s)
        for t in range(data.num_frames):
            raw = frames[first + t]
            idx = assert_resampled(data.points[t], raw["pc"])
            np.testing.assert_array_equal(data.point_label[t], to_class[raw["semantic"][idx]])
            np.testing.assert_array_equal(data.features[t], raw["rgb"][idx])
            pose = data.camera[t]
            np.testing.assert_allclose(pose[:3, 3], raw["center"], rtol=1e-6)
            assert abs(pose[1, 2]) < 1e-6  # level: the optical axis has no vertical part
            assert pose[1, 1] == pytest.approx(1)  # the camera's down is the world's down (+y)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root, f: None, r"no Synthia split lists .* -o meta=DIR"),
        (
            lambda root, f: f.synthia_list(root.parent / "test_raw.txt", [(f.synthia_sequence, 9)]),
            r"SYNTHIA-SEQS-01-DAWN: 1 listed frames have no file .*\(000009\)",
        ),
        (
            lambda root, f: (root / "frame7.npz").write_bytes(b""),
            r"frame7.npz: name does not parse as <sequence>-<frame:06d>.npz",
        ),
        (
            lambda root, f: (root.parent / "test_raw.txt").write_text("garbage\n"),
            r"test_raw.txt line 1: cannot parse 'garbage'",
        ),
        (
            lambda root, f: f.synthia_list(root.parent / "test_raw.txt", [(f.synthia_sequence, 1)]),
            r"frame SYNTHIA-SEQS-01-DAWN/000001 is also in a train or val list",
        ),
    ],
)
def test_synthia_bad_downloads(tmp_path, formats, setup, message):
    root = tmp_path / "sequences"
    root.mkdir()
    formats.synthia_frame(root / f"{formats.synthia_sequence}-000001.npz", 10, seed=1)
    if "no Synthia" not in message:
        formats.synthia_list(tmp_path / "trainval_raw.txt", [(formats.synthia_sequence, 1)])
    setup(root, formats)
    with pytest.raises(DataError, match=message):
        sources.get_source("synthia", source=root).index()


def test_synthia_bad_frames(tmp_path, formats):
    root = tmp_path / "sequences"
    root.mkdir()
    seq = formats.synthia_sequence
    frame = formats.synthia_frame(root / f"{seq}-000001.npz", 10, seed=1)
    formats.synthia_list(tmp_path / "trainval_raw.txt", [(seq, 1)])
    np.savez(root / f"{seq}-000001.npz", **{k: v for k, v in frame.items() if k != "rgb"})
    with pytest.raises(DataError, match=r"000001.npz: no key rgb"):
        sources.get_source("synthia", source=root).index()
    frame["semantic"][3] = 16
    np.savez(root / f"{seq}-000001.npz", **frame)
    source = sources.get_source("synthia", source=root, meta=tmp_path)
    with pytest.raises(DataError, match=r"000001.npz: semantic id 16 is not a Synthia id"):
        source.read(source.index()[0])
    frame["semantic"][3], frame["pc"][2, 1] = 3, np.nan
    np.savez(root / f"{seq}-000001.npz", **frame)
    with pytest.raises(DataError, match=r"000001.npz: the frame has NaN"):
        source.read(source.index()[0])
    empty = {"pc": np.zeros((0, 3)), "rgb": np.zeros((0, 3)), "semantic": np.zeros(0, np.int32)}
    np.savez(root / f"{seq}-000001.npz", **empty, center=frame["center"])
    with pytest.raises(DataError, match=r"000001.npz: the frame has no points; drop it"):
        sources.get_source("synthia", source=root).index()


# ============================================================================ msr-action3d


def test_msr_ingests_through_dask(tmp_path, formats):
    src = tmp_path / "msr"
    src.mkdir()
    videos = {
        name: formats.msr_video(src / f"{name}.npz", frames, seed=i)
        for i, (name, frames) in enumerate(
            [("a01_s01_e01_sdepth", 5), ("a07_s06_e02_sdepth", 6), ("a20_s05_e03_sdepth", 4)]
        )
    }
    source = sources.get_source("msr-action3d", source=src, min_frames=4, points_per_frame=48)
    ingest(source, tmp_path / "out", ClusterOptions(workers=1))
    store = Store.open(tmp_path / "out" / "msr-action3d.zarr")
    assert store.names == list(videos)  # natural order of the file names
    assert store.labels.tolist() == [0, 6, 19] and store.splits.tolist() == [TRAIN, TEST, TRAIN]
    assert store.label_names[0] == "high arm wave" and len(store.label_names) == 20
    assert store.attrs["source"]["reference_divisor"] == 300
    for s, video in enumerate(videos.values()):
        data = store.read_sequence(s)
        np.testing.assert_array_equal(data.camera, np.tile(np.eye(4), (len(video), 1, 1)))
        for t, frame in enumerate(video):
            assert_resampled(data.points[t], (frame * 0.001).astype(np.float32))


def test_cli_ingests_a_real_format_and_stops_at_a_bad_frame(tmp_path, formats):
    """`c2p-data ingest --source` as a user runs it: a good folder gives a complete store; a
    NaN frame gives exit != 0 with one line naming the file and frame, and the store keeps the
    videos done before it without marking the bad one or the store complete."""
    src = tmp_path / "msr"
    src.mkdir()
    for i, name in enumerate(["a01_s01_e01_sdepth", "a02_s02_e01_sdepth", "a03_s07_e01_sdepth"]):
        formats.msr_video(src / f"{name}.npz", 5, seed=i)
    args = ["ingest", "--dataset", "msr-action3d", "--source", src, "--workers", "1",
            "--block-size", "1", "-o", "min_frames=4", "-o", "points_per_frame=48"]  # fmt: skip
    result = c2p_data(*args, "--out", tmp_path / "good")
    assert "3 sequences" in result.stdout + result.stderr
    store = Store.open(tmp_path / "good" / "msr-action3d.zarr")
    assert store.complete and store.labels.tolist() == [0, 1, 2]

    video = formats.msr_video(src / "a03_s07_e01_sdepth.npz", 5, seed=2)
    video[1][0, 2] = np.nan
    formats.save_msr_video(src / "a03_s07_e01_sdepth.npz", video)
    result = c2p_data(*args, "--out", tmp_path / "bad", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert re.search(r"a03_s07_e01_sdepth.npz frame 1: the frame has NaN", result.stderr)
    store = Store.open(tmp_path / "bad" / "msr-action3d.zarr")
    assert store.done().tolist() == [True, True, False] and not store.complete


def test_msr_resampling_is_seeded_by_name(tmp_path, formats):
    formats.msr_video(tmp_path / "a01_s01_e01_sdepth.npz", 3, seed=0)
    formats.msr_video(tmp_path / "a01_s01_e02_sdepth.npz", 3, seed=0)  # same frames, other name
    np.savez(tmp_path / "a02_s02_e01_sdepth.npz", point_clouds=np.ones((3, 7, 3)))  # not ragged
    source = sources.get_source("msr-action3d", source=tmp_path, min_frames=3, points_per_frame=16)
    first, second, regular = source.index()
    again = sources.get_source("msr-action3d", source=tmp_path, min_frames=3, points_per_frame=16)
    np.testing.assert_array_equal(source.read(first).points, again.read(first).points)
    assert not np.array_equal(source.read(first).points, source.read(second).points)
    assert source.read(regular).points.shape == (3, 16, 3)


def test_msr_short_videos(tmp_path, formats):
    formats.msr_video(tmp_path / "a01_s01_e01_sdepth.npz", 30, seed=0, points=(3, 5))
    formats.msr_video(tmp_path / "a02_s07_e01_sdepth.npz", 20, seed=1, points=(3, 5))
    with pytest.raises(DataError, match=r"a02_s07_e01_sdepth.npz: 20 frames, fewer than the 24"):
        sources.get_source("msr-action3d", source=tmp_path).index()
    source = sources.get_source("msr-action3d", source=tmp_path, skip_short=True)
    assert [s.name for s in source.index()] == ["a01_s01_e01_sdepth"]
    assert source.info().attrs["skipped_short_videos"] == ["a02_s07_e01_sdepth"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a01_s01.npz", r"a01_s01.npz: name does not parse as a<action>_s<subject>"),
        ("a21_s01_e01_sdepth.npz", r"action 21 / subject 1 outside the 20 actions"),
        ("a01_s11_e01_sdepth.npz", r"action 1 / subject 11 outside .* 10 subjects"),
    ],
)
def test_msr_bad_names(tmp_path, formats, name, message):
    formats.msr_video(tmp_path / name, 3, seed=0)
    with pytest.raises(DataError, match=message):
        sources.get_source("msr-action3d", source=tmp_path, min_frames=1).index()


def test_msr_bad_contents(tmp_path, formats):
    np.savez(tmp_path / "a01_s01_e01_sdepth.npz", clouds=np.ones((3, 4, 3)))
    with pytest.raises(DataError, match=r"no key 'point_clouds'; it has clouds"):
        sources.get_source("msr-action3d", source=tmp_path, min_frames=1).index()
    video = [np.ones((4, 3)), np.zeros((0, 3)), np.ones((2, 3))]
    formats.save_msr_video(tmp_path / "a01_s01_e01_sdepth.npz", video)
    source = sources.get_source("msr-action3d", source=tmp_path, min_frames=1)
    with pytest.raises(DataError, match=r"a01_s01_e01_sdepth.npz frame 1: the frame has no points"):
        source.read(source.index()[0])


# ============================================================================ folder


def _o3d_ply(path, points, colors, labels, ascii_=False):
    cloud = o3d.t.geometry.PointCloud(o3d.core.Tensor(points.astype(np.float32)))
    cloud.point["colors"] = o3d.core.Tensor(colors.astype(np.float32))
    cloud.point["label"] = o3d.core.Tensor(labels.astype(np.int32)[:, None])
    o3d.t.io.write_point_cloud(str(path), cloud, write_ascii=ascii_)


def test_folder_layout(tmp_path):
    rng = np.random.default_rng(0)
    raw = {}
    (tmp_path / "classes.txt").write_text("floor\nhand\nmug\n")
    (tmp_path / "labels.csv").write_text("sequence,label,split\nseq10,push,test\nseq2,pick,val\n")
    for name, files in {
        "seq2": ["f2.npz", "f10.ply"],
        "seq10": ["a.ply", "b.npz", "c.ply"],
    }.items():
        (tmp_path / name).mkdir()
        for i, file in enumerate(files):
            n = int(rng.integers(5, 12))
            points, rgb = rng.normal(size=(n, 3)) + [0, 0, 3], rng.random((n, 3))
            labels = rng.integers(0, 3, n)
            if file.endswith(".npz"):
                np.savez(tmp_path / name / file, points=points, label=labels, rgb=rgb)
            else:  # what went in is what open3d reads back (ascii keeps 6 digits)
                _o3d_ply(tmp_path / name / file, points, rgb, labels, ascii_=i % 2 == 0)
                cloud = o3d.t.io.read_point_cloud(str(tmp_path / name / file)).point
                points, rgb = cloud["positions"].numpy(), cloud["colors"].numpy()
            raw[name, i] = points.astype(np.float32), labels, rgb.astype(np.float32)
    store = build_store(
        sources.get_source("folder", source=tmp_path, points_per_frame=16), tmp_path
    )
    assert store.names == ["seq2", "seq10"]  # natural order
    assert store.splits.tolist() == [VAL, TEST] and store.labels.tolist() == [0, 1]
    assert store.label_names == ["pick", "push"] and store.class_names == ["floor", "hand", "mug"]
    assert store.feature_names == ["r", "g", "b"]
    for s, name in enumerate(["seq2", "seq10"]):
        data = store.read_sequence(s)
        for t in range(data.num_frames):
            points, labels, rgb = raw[name, t]
            idx = assert_resampled(data.points[t], points)
            np.testing.assert_array_equal(data.point_label[t], labels[idx])
            np.testing.assert_allclose(data.features[t], rgb[idx], rtol=1e-6)
            assert camera_looks_at(data.camera[t], points.mean(0)) == pytest.approx(1, abs=1e-5)


def test_folder_poses_and_centred_clouds(tmp_path):
    for name in ("posed", "centred"):
        (tmp_path / name).mkdir()
        for t in range(3):
            np.save(tmp_path / name / f"{t}.npy", np.random.default_rng(t).normal(size=(20, 3)))
    poses = np.tile(np.eye(4, dtype=np.float32), (3, 1, 1))
    poses[:, :3, 3] = [[1, 2, 3], [1, 2, 4], [1, 2, 5]]
    np.save(tmp_path / "posed" / "poses.npy", poses)
    store = build_store(sources.get_source("folder", source=tmp_path, points_per_frame=8), tmp_path)
    np.testing.assert_array_equal(store.read_sequence(store.index_of("posed")).camera, poses)
    camera = store.read_sequence(store.index_of("centred")).camera
    assert camera[0, 2, 3] < -2  # outside the centred cloud, behind it along -z
    assert (camera[:, 2, 2] > 0.9).all()  # looking along +z towards it


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: None, r"has no sequence folders"),
        (lambda root: (root / "s").mkdir(), r"s: no frame files"),
        (
            lambda root: (
                (root / "s").mkdir()
                or np.savez(root / "s" / "0.npz", points=np.ones((4, 3)), label=np.ones(4))
            ),
            r"frames have per-point labels but .* has no classes.txt",
        ),
        (
            lambda root: (
                (root / "s").mkdir()
                or np.savez(root / "s" / "0.npz", points=np.ones((4, 3)), rgb=np.ones((4, 3)))
                or np.save(root / "s" / "1.npy", np.ones((4, 3)))
            ),
            r"some frames have rgb and others do not",
        ),
        (
            lambda root: (root / "s").mkdir() or np.save(root / "s" / "0.npy", np.ones((4, 2))),
            r"0.npy: points are float64\[4, 2\], expected numbers \[n, 3\]",
        ),
        (
            lambda root: (
                (root / "s").mkdir()
                or np.save(root / "s" / "0.npy", np.ones((4, 3)))
                or (root / "labels.csv").write_text("name,class\ns,a\n")
            ),
            r"labels.csv: the first row must be `sequence,label\[,split\]`",
        ),
        (
            lambda root: (
                (root / "s").mkdir()
                or np.save(root / "s" / "0.npy", np.ones((4, 3)))
                or (root / "labels.csv").write_text("sequence,label,split\ns,a,dev\nt,b,test\n")
            ),
            r"line 2: split 'dev' is not train, val, test",
        ),
        (
            lambda root: (
                (root / "s").mkdir()
                or np.save(root / "s" / "0.npy", np.ones((4, 3)))
                or np.save(root / "s" / "poses.npy", np.ones((2, 4, 4)))
            ),
            r"poses.npy: shape \[2, 4, 4\], expected \[1, 4, 4\]",
        ),
        (
            lambda root: (
                (root / "s").mkdir()
                or (root / "s" / "0.ply").write_bytes(
                    b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n0\n"
                )
            ),
            r"0.ply: the PLY vertices have no x, y, z",
        ),
    ],
)
def test_folder_bad_layouts(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(DataError, match=message):
        sources.get_source("folder", source=tmp_path).index()


def test_folder_bad_frames(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "classes.txt").write_text("a\nb\n")
    np.savez(tmp_path / "s" / "0.npz", points=np.ones((4, 3)), label=np.array([0, 1, 2, 1]))
    source = sources.get_source("folder", source=tmp_path)
    with pytest.raises(DataError, match=r"0.npz: label 2 is outside the 2 known classes"):
        source.read(source.index()[0])
    np.savez(tmp_path / "s" / "0.npz", points=np.full((4, 3), np.nan))
    with pytest.raises(DataError, match=r"0.npz: the frame has NaN"):
        source.read(source.index()[0])


# ============================================================================ shared pieces


@pytest.mark.parametrize("fmt", ["binary_little_endian", "binary_big_endian", "ascii"])
def test_ply_reader_matches_numpy(tmp_path, fmt):
    rng = np.random.default_rng(1)
    table = np.zeros(7, [("x", "f4"), ("y", "f4"), ("z", "f8"), ("red", "u1"), ("label", "i2")])
    for name in table.dtype.names:
        table[name] = rng.integers(0, 100, 7)
    header = "".join(
        f"property {kind} {name}\n"
        for name, kind in zip(
            table.dtype.names, ["float", "float", "double", "uchar", "short"], strict=True
        )
    )
    text = f"ply\nformat {fmt} 1.0\ncomment made by a test\nelement vertex 7\n{header}end_header\n"
    if fmt == "ascii":
        body = "".join(" ".join(str(v) for v in row) + "\n" for row in table.tolist()).encode()
    else:
        body = table.astype(table.dtype.newbyteorder(">" if "big" in fmt else "<")).tobytes()
    (tmp_path / "a.ply").write_bytes(text.encode() + body)
    got = read_ply(tmp_path / "a.ply")
    assert ply_header(tmp_path / "a.ply") == (7, {n: table.dtype[n] for n in table.dtype.names})
    for name in table.dtype.names:
        np.testing.assert_array_equal(got[name], table[name])


def test_npz_header_reads_shapes_of_object_arrays(tmp_path, formats):
    formats.msr_video(tmp_path / "v.npz", 5, seed=0)
    shape, dtype = npz_header(tmp_path / "v.npz")["point_clouds"]
    assert shape == (5,) and dtype.kind == "O"
    (tmp_path / "bad.npz").write_bytes(b"PK not really")
    with pytest.raises(DataError, match="bad.npz: not an .npz archive"):
        npz_header(tmp_path / "bad.npz")


vectors = st.lists(st.floats(-10, 10), min_size=3, max_size=3).map(np.array)


@given(eye=vectors, target=vectors, level=st.booleans())
def test_look_at_gives_rotations_towards_the_target(eye, target, level):
    pose = look_at(eye, target, np.array([0.0, -1.0, 0.0]), level=level)
    rotation = pose[:3, :3]
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-5)
    assert np.linalg.det(rotation) == pytest.approx(1, abs=1e-5)
    np.testing.assert_allclose(pose[:3, 3], eye, atol=1e-5)
    direction = target - eye
    if level:
        direction[1] = 0
        assert abs(rotation[1, 2]) < 1e-5
    if np.linalg.norm(direction) > 1e-3 and np.linalg.norm(direction[[0, 2]]) > 1e-3:
        assert rotation[:, 2] @ direction / np.linalg.norm(direction) == pytest.approx(1, abs=1e-4)
        assert rotation[1, 1] >= -1e-6  # the camera's down never points up


def test_sensor_at_origin_when_the_origin_is_outside():
    cloud = np.random.default_rng(0).normal(size=(50, 3)) * 0.1 + [0.2, 0.1, 1.0]
    poses = sensor_at_origin(cloud.mean(0, keepdims=True), cloud)
    np.testing.assert_allclose(poses[0, :3, 3], 0)
    assert camera_looks_at(poses[0], cloud.mean(0)) == pytest.approx(1)

"""data_manifests/ and `c2p-data check`: a download is compared with its manifest and headers
before any long ingest, and the manifests agree with the reference code they came from."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

from c2p4d.pipeline import check
from c2p4d.pipeline.cli import main
from c2p4d.pipeline.manifest import load_manifest, read_names
from c2p4d.pipeline.sequence import SPLITS
from c2p4d.pipeline.sources.msr_action3d import video_split
from c2p4d.pipeline.sources.synthia import raw_id_table


def run_check(*args: str):
    return CliRunner().invoke(main, ["check", *args])


def test_check_finds_missing_and_malformed_files(tmp_path, formats):
    formats.hoi4d_file(tmp_path / "train1.h5", 2, 150, 16)
    formats.hoi4d_file(tmp_path / "train2.h5", 2, 150, 16)
    arrays = formats.hoi4d_file(tmp_path / "test1.h5", 2, 150, 16)
    import h5py

    with h5py.File(tmp_path / "train2.h5", "w") as handle:  # malformed: no center
        handle["pcd"], handle["label"] = arrays["pcd"], arrays["label"]
    result = run_check("--dataset", "hoi4d", "--source", str(tmp_path))
    assert result.exit_code != 0
    lines = result.output.splitlines()
    assert "  - missing train3.h5 (expected in " + str(tmp_path) + ")" in lines
    assert any(line.startswith("  - missing test2.h5 or test_wolabel.h5") for line in lines)
    assert any(re.search(r"train2.h5: no key center; it has label, pcd", line) for line in lines)
    assert any(
        "2 test sequences found, the release has 892 (an incomplete download?)" in line
        for line in lines
    )
    assert "Error: hoi4d at" in result.output and "problems; fix before ingest" in result.output


def test_check_reports_frames_and_points_that_differ(tmp_path, formats, monkeypatch):
    formats.hoi4d_file(tmp_path / "train1.h5", 2, 10, 16)
    monkeypatch.setattr(
        check,
        "load_manifest",
        lambda dataset: {
            "frames_per_sequence": 150,
            "points_per_frame": 2048,
            "sequences": {"train": 2},
        },
    )
    result = run_check("--dataset", "hoi4d", "--source", str(tmp_path))
    assert result.exit_code != 0
    assert "sequences of 10 frames found, the release has 150 frames per sequence" in result.output
    assert "frames of 16 points found, the release has 2048 points per frame" in result.output
    assert "train sequences" not in result.output  # that count matches


def test_check_ok_is_one_line(tmp_path, formats, monkeypatch):
    formats.hoi4d_file(tmp_path / "train1.h5", 2, 4, 10)
    formats.hoi4d_file(tmp_path / "test_wolabel.h5", 1, 4, 10, label_key=None)
    monkeypatch.setattr(
        check,
        "load_manifest",
        lambda dataset: {
            "required": ["train1.h5", "test1.h5|test_wolabel.h5"],
            "sequences": {"train": 2, "test": 1, "total": 3},
            "frames_per_sequence": 4,
        },
    )
    result = run_check("--dataset", "hoi4d", "--source", str(tmp_path), "-o", "unlabelled=true")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "hoi4d: OK: 2 files, 3 sequences (2 train, 1 test), 12 frames, 10 points per frame\n"
    )


def test_check_synthia_with_lists_elsewhere(tmp_path, formats):
    root, lists = tmp_path / "pc", tmp_path / "lists"
    root.mkdir(), lists.mkdir()
    seq = formats.synthia_sequence
    for frame in (0, 1, 2):
        formats.synthia_frame(root / f"{seq}-{frame:06d}.npz", 12, seed=frame)
    formats.synthia_list(lists / "trainval_raw.txt", [(seq, 0), (seq, 1)])
    formats.synthia_list(lists / "test_raw.txt", [(seq, 2), (seq, 3)])
    result = run_check("--dataset", "synthia", "--source", str(root), "-o", f"meta={lists}")
    assert result.exit_code != 0
    assert f"{seq}: 1 listed frames have no file" in result.output
    assert "2 train+val frames found, the release has 20703" in result.output
    assert "frames of 12 points found, the release has 16384" in result.output


def test_check_msr_counts_videos(tmp_path, formats):
    formats.msr_video(tmp_path / "a01_s01_e01_sdepth.npz", 30, seed=0)
    (tmp_path / "a01_s01_e02_sdepth.npz").write_bytes(b"truncated")
    result = run_check("--dataset", "msr-action3d", "--source", str(tmp_path))
    assert result.exit_code != 0
    assert "a01_s01_e02_sdepth.npz: not an .npz archive" in result.output
    assert "1 total sequences found, the release has 567" in result.output


def test_check_folder_without_manifest(tmp_path):
    (tmp_path / "walk").mkdir()
    np.save(tmp_path / "walk" / "0.npy", np.ones((5, 3)))
    result = run_check("--dataset", "folder", "--source", str(tmp_path))
    assert result.exit_code == 0
    assert result.output == "folder: OK: 1 files, 1 sequences (1 train), 1 frames\n"


def test_check_needs_an_existing_source(tmp_path):
    result = run_check("--dataset", "synthia", "--source", str(tmp_path / "nope"))
    assert result.exit_code != 0 and "does not exist" in result.output


# ---------------------------------------------------------------- the manifests themselves


@pytest.mark.parametrize(
    ("dataset", "names_file", "count"),
    [
        ("hoi4d", "actions.txt", 19),
        ("hoi4d-semseg", "classes.txt", 49),
        ("synthia", "classes.txt", 12),
        ("msr-action3d", "actions.txt", 20),
    ],
)
def test_class_lists(dataset, names_file, count):
    names = read_names(dataset, names_file)
    assert len(names) == count == len(set(names))
    assert load_manifest(dataset)  # every real dataset has a manifest.json


def test_synthia_raw_ids_match_meteornet():
    table, raw_names = raw_id_table()
    # MeteorNet class_mapping.index_to_label, with its void class 12 (masked out) as -1
    meteornet = np.array([12, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -1, -1, 11])
    np.testing.assert_array_equal(table, np.where(meteornet == 12, -1, meteornet))
    classes = read_names("synthia", "classes.txt")
    assert [raw_names[list(table).index(c)] for c in range(12)] == list(classes)


def test_msr_lists_follow_the_subject_split():
    pattern = re.compile(r"^a(\d\d)_s(\d\d)_e(\d\d)_sdepth\.npz$")
    seen = set()
    for split in ("train", "test"):
        names = read_names("msr-action3d", f"{split}.txt")
        assert len(names) == 300
        for name in names:
            action, subject, episode = map(int, pattern.match(name).groups())
            assert 1 <= action <= 20 and 1 <= episode <= 3
            assert SPLITS[video_split(subject)] == split
        seen |= set(names)
    assert len(seen) == 600

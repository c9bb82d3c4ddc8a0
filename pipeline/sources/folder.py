"""Your own captures: a folder of sequences, one file per frame.

Layout of --source:

  classes.txt        optional: per-point class names, one per line (line i is class i)
  labels.csv         optional: a header `sequence,label` or `sequence,label,split`, then one row
                     per sequence; label is a name (any text), split is train, val or test
  <sequence>/        one folder per sequence (names in natural order: seq2 before seq10)
    poses.npy        optional: [T, 4, 4] world-from-camera poses (OpenCV axes: x right,
                     y down, z forward), one per frame
    <frame>.ply      one file per frame, in natural name order (frame2 before frame10); the
    <frame>.npz      three kinds may be mixed:
    <frame>.npy        .npy  float [n, 3] points
                       .npz  `points` [n, 3]; optional `label` [n] (class ids), `rgb` [n, 3]
                       .ply  vertex x, y, z; optional red, green, blue and an integer `label`
                             (or `scalar_label`, CloudCompare's name) property

Points are stored as they are (metres recommended). Per-point labels need classes.txt; a frame
without labels gets -1. rgb (0..255 integers or 0..1 floats) becomes features r, g, b and must
be in every frame or in none. Sequences missing from labels.csv get no label and split train.

Camera: poses.npy when present. Otherwise the points are taken to be in the sensor's frame, as
a depth camera's back-projection is: the camera stands at the origin looking at each frame's
mean point; if the origin lies inside the first frame (centred data), it stands two cloud radii
behind it along -z (`pipeline/cameras.py`, `sensor_at_origin`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from c2p4d.pipeline.cameras import sensor_at_origin
from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.seeding import rng_from
from c2p4d.pipeline.sequence import SPLITS, DatasetInfo, SequenceData, SequenceInfo
from c2p4d.pipeline.sources.base import SourceConfig, check_frame
from c2p4d.pipeline.sources.files import (
    load_npy,
    load_npz,
    natural_key,
    npy_header,
    npz_header,
    ply_header,
    read_ply,
)
from c2p4d.pipeline.sources.released import (
    ReleasedSource,
    Scan,
    integer_labels,
    resample_frames,
    split_index,
)

FRAME_SUFFIXES = (".ply", ".npz", ".npy")
POSES_FILE = "poses.npy"
PLY_LABELS = ("label", "scalar_label")
PLY_RGB = ("red", "green", "blue")


@dataclass(frozen=True)
class FolderConfig(SourceConfig):
    source: Path | None = None
    points_per_frame: int = 2048


@dataclass(frozen=True)
class FrameHeader:
    points: int
    has_label: bool
    has_rgb: bool


def utf8_text(path: Path) -> str:
    """A text file's contents; a DataError if it is not UTF-8 (its names go into the store,
    which holds UTF-8 text)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path}: not UTF-8 text (byte {error.object[error.start]:#04x} at offset "
            f"{error.start}); save it as UTF-8"
        ) from None


def _is_utf8(name: str) -> bool:
    """Does a file name (bytes of another encoding come as surrogates) encode as UTF-8?"""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def frame_files(folder: Path) -> list[Path]:
    """The frame files of one sequence folder, in natural name order."""
    frames = [
        p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and p.name != POSES_FILE
    ]
    return sorted(frames, key=lambda p: natural_key(p.name))


def frame_header(path: Path) -> FrameHeader:
    """Points and channels of one frame file from its header; a DataError if it is malformed."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        shape, dtype = npy_header(path)
        arrays = {"points": (shape, dtype)}
    elif suffix == ".npz":
        arrays = npz_header(path)
        if "points" not in arrays:
            raise DataError(f"{path}: no key 'points'; it has {', '.join(arrays) or 'none'}")
    else:
        count, fields = ply_header(path)
        if not {"x", "y", "z"} <= fields.keys():
            raise DataError(f"{path}: the PLY vertices have no x, y, z properties")
        has_rgb = set(PLY_RGB) <= fields.keys()
        return FrameHeader(count, any(k in fields for k in PLY_LABELS), has_rgb)
    shape, dtype = arrays["points"]
    if len(shape) != 2 or shape[1] != 3 or dtype.kind not in "fiu":
        raise DataError(f"{path}: points are {dtype}{list(shape)}, expected numbers [n, 3]")
    for key, expected in (("label", (shape[0],)), ("rgb", (shape[0], 3))):
        if key in arrays and arrays[key][0] != expected:
            raise DataError(
                f"{path}: {key} has shape {list(arrays[key][0])}, expected {list(expected)}"
            )
    return FrameHeader(shape[0], "label" in arrays, "rgb" in arrays)


def read_frame(path: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(points [n,3], labels [n] or None, rgb [n,3] in 0..1 or None) of one frame file."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return load_npy(path), None, None
    if suffix == ".npz":
        keys = [k for k in ("points", "label", "rgb") if k in npz_header(path)]
        data = load_npz(path, tuple(keys))
        return data["points"], data.get("label"), _unit_rgb(data.get("rgb"))
    vertices = read_ply(path)
    points = np.stack([vertices[k] for k in "xyz"], axis=1)
    label = next((vertices[k] for k in PLY_LABELS if k in vertices), None)
    rgb = np.stack([vertices[k] for k in PLY_RGB], axis=1) if PLY_RGB[0] in vertices else None
    return points, label, _unit_rgb(rgb)


def _unit_rgb(rgb: np.ndarray | None) -> np.ndarray | None:
    if rgb is None:
        return None
    return (rgb / 255.0 if np.issubdtype(rgb.dtype, np.integer) else rgb).astype(np.float32)


class Folder(ReleasedSource):
    name = "folder"
    config_class = FolderConfig

    def _classes(self) -> tuple[str, ...]:
        path = self.root / "classes.txt"
        if not path.is_file():
            return ()
        lines = utf8_text(path).splitlines()
        return tuple(line.strip() for line in lines if line.strip())

    def _labels_csv(self, scan: Scan) -> dict[str, tuple[str, str]]:
        """{sequence: (label name, split)} from labels.csv."""
        path = self.root / "labels.csv"
        if not path.is_file():
            return {}
        stream = io.StringIO(utf8_text(path), newline="")
        rows = [row for row in csv.reader(stream) if any(cell.strip() for cell in row)]
        header = [cell.strip().lower() for cell in rows[0]] if rows else []
        if header not in (["sequence", "label"], ["sequence", "label", "split"]):
            scan.problems.append(f"{path}: the first row must be `sequence,label[,split]`")
            return {}
        table = {}
        for number, row in enumerate(rows[1:], 2):
            cells = [cell.strip() for cell in row] + ["train"] * (len(header) == 2)
            if len(cells) != 3 or not cells[0] or not cells[1]:
                scan.problems.append(f"{path} line {number}: expected {len(header)} fields")
            elif cells[2] not in SPLITS:
                scan.problems.append(
                    f"{path} line {number}: split {cells[2]!r} is not {', '.join(SPLITS)}"
                )
            elif cells[0] in table:
                scan.problems.append(f"{path} line {number}: sequence {cells[0]!r} is listed twice")
            else:
                table[cells[0]] = (cells[1], cells[2])
        return table

    def _sequence_problems(self, folder: Path, scan: Scan, channels: set) -> list[str]:
        frames = frame_files(folder)
        if not frames:
            return [f"{folder}: no frame files ({', '.join(FRAME_SUFFIXES)})"]
        problems = []
        for path in frames:
            scan.files += 1
            try:
                header = frame_header(path)
            except DataError as error:
                problems.append(str(error))
                continue
            if header.points < 1:
                problems.append(f"{path}: the frame has no points; drop it from the sequence")
            channels.add(("rgb", header.has_rgb))
            if header.has_label:
                channels.add(("label", True))
        poses = folder / POSES_FILE
        if poses.is_file():
            try:
                shape, _ = npy_header(poses)
            except DataError as error:
                return [*problems, str(error)]
            if shape != (len(frames), 4, 4):
                problems.append(
                    f"{poses}: shape {list(shape)}, expected [{len(frames)}, 4, 4] (one per frame)"
                )
        return problems

    def scan(self) -> Scan:
        scan = Scan()
        folders = sorted(
            (p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")),
            key=lambda p: natural_key(p.name),
        )
        if not folders:
            scan.problems.append(f"{self.root} has no sequence folders (one per sequence)")
        labels = self._labels_csv(scan)
        names = sorted({label for label, _ in labels.values()})
        channels: set[tuple[str, bool]] = set()
        for folder in folders:
            problems = self._sequence_problems(folder, scan, channels)
            if not _is_utf8(folder.name):
                problems = [f"{str(folder)!r}: the folder's name is not UTF-8 text; rename it"]
            scan.problems += problems
            if not problems:
                label, split = labels.get(folder.name, (None, "train"))
                info = SequenceInfo(
                    folder.name,
                    len(frame_files(folder)),
                    split_index(split),
                    names.index(label) if label else -1,
                )
                scan.sequences.append(info)
        unknown = sorted(labels.keys() - {f.name for f in folders})
        if unknown:
            scan.problems.append(f"labels.csv names sequences with no folder: {', '.join(unknown)}")
        if {("rgb", True), ("rgb", False)} <= channels:
            scan.problems.append("some frames have rgb and others do not: give it to all or none")
        if ("label", True) in channels and not self._classes():
            scan.problems.append(
                f"frames have per-point labels but {self.root} has no classes.txt (one class "
                "name per line, line i naming class i)"
            )
        scan.notes.update(label_names=tuple(names), rgb=("rgb", True) in channels)
        return scan

    def info(self) -> DatasetInfo:
        scan = self.scanned
        return DatasetInfo(
            class_names=self._classes(),
            label_names=scan.notes.get("label_names", ()),
            feature_names=("r", "g", "b") if scan.notes.get("rgb") else (),
            attrs={
                "origin": f"a folder of sequences ({self.root})",
                "units": "as in the files",
                "camera": "poses.npy where given; else at the origin (the sensor) looking at "
                "each frame's mean point, or behind the first frame along -z for centred data",
            },
        )

    def read(self, seq: SequenceInfo) -> SequenceData:
        folder = self.root / seq.name
        classes = self._classes()
        centres, first = [], []

        def frames():
            for path in frame_files(folder):
                points, label, rgb = read_frame(path)
                check_frame(points, str(path))
                if label is None:
                    label = np.full(len(points), -1, np.int16)
                else:
                    label = integer_labels(label, len(classes), "label", str(path))
                centres.append(points.mean(axis=0))
                if not first:
                    first.append(points)
                yield (points, label) if rgb is None else (points, label, rgb)

        rng = rng_from(self.name, seq.name)
        points, labels, *features = resample_frames(
            frames(), seq.num_frames, self.points_per_frame, rng
        )
        return SequenceData(
            name=seq.name,
            points=points.astype(np.float32, copy=False),
            camera=self._cameras(folder, np.array(centres), first[0]),
            point_label=labels if classes else None,
            features=features[0] if features else None,
        )

    @staticmethod
    def _cameras(folder: Path, centres: np.ndarray, first: np.ndarray) -> np.ndarray:
        poses_path = folder / POSES_FILE
        if not poses_path.is_file():
            return sensor_at_origin(centres, first)
        poses = load_npy(poses_path).astype(np.float32)
        if poses.shape != (len(centres), 4, 4) or not np.isfinite(poses).all():
            raise DataError(f"{poses_path}: expected finite [{len(centres)}, 4, 4] poses")
        if not np.allclose(poses[:, 3], [0, 0, 0, 1], atol=1e-6):
            raise DataError(f"{poses_path}: the last row of every pose must be 0 0 0 1")
        return poses

"""HOI4D action segmentation release (hoi4d/HOI4D_ActionSeg), read from its HDF5 files.

Layout of --source (the files the benchmark code reads):

  train1.h5 .. train4.h5    train split
  test1.h5, test2.h5        test split; any other test*.h5 too, e.g. the challenge's
                            test_wolabel.h5 (no labels: ingest it with -o unlabelled=true)

Each file holds S videos: `pcd` float [S, 150, 2048, 3], `center` [S, 150, 3] (the mean of each
frame's points) and `label` [S, 150], one of 19 action classes per frame. A sequence is one
video, named `<file stem>_<index in the file>` (e.g. `train2_0041`).

Coordinates: metres, in the video's scene frame. HOI4D back-projects each depth image with its
camera's pose from the video's 3D reconstruction, so all frames of a video share one world
frame, and the files keep no poses. The camera is taken to stand at that frame's origin, which
is the reconstruction's first camera in the Open3D trajectory convention HOI4D's output.log
uses, looking at each frame's `center` (up = -y, OpenCV); if the origin lies inside the first
frame's cloud the data were re-centred and the camera stands behind it instead
(`pipeline/cameras.py`, `sensor_at_origin`).

Streaming: `index` reads HDF5 shapes only; `read` opens the file, slices one video and closes
it, so ingest needs memory for a few videos whatever the size of the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import h5py
import numpy as np

from c2p4d.pipeline.cameras import sensor_at_origin
from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.manifest import read_names
from c2p4d.pipeline.seeding import rng_from
from c2p4d.pipeline.sequence import DatasetInfo, SequenceData, SequenceInfo, ViewDefaults
from c2p4d.pipeline.sources.base import SourceConfig, check_frame
from c2p4d.pipeline.sources.files import natural_key, open_h5
from c2p4d.pipeline.sources.released import (
    ReleasedSource,
    Scan,
    integer_labels,
    resample_frames,
    split_index,
)

_SPLIT_PREFIXES = ("train", "test")  # file names give the split; order of the store


@dataclass(frozen=True)
class HOI4DConfig(SourceConfig):
    source: Path | None = None
    points_per_frame: int = 2048  # as released
    unlabelled: bool = False  # accept test files without labels (stored as -1)


class HOI4D(ReleasedSource):
    """The action segmentation release: per-frame actions."""

    name = "hoi4d"
    config_class = HOI4DConfig
    label_key: ClassVar[str] = "label"
    names_file: ClassVar[str] = "actions.txt"
    per_point: ClassVar[bool] = False  # labels [S, T] (per frame) or [S, T, N] (per point)
    release: ClassVar[str] = "HOI4D action segmentation release (hoi4d/HOI4D_ActionSeg)"

    # ------------------------------------------------------------------ scanning

    def _files(self, scan: Scan) -> list[tuple[Path, int]]:
        """(file, split) for every .h5 file, train files first."""
        found = []
        for path in self.root.glob("*.h5"):
            prefix = next((p for p in _SPLIT_PREFIXES if path.name.startswith(p)), None)
            if prefix is None:
                scan.problems.append(
                    f"{path}: not a HOI4D release file name (train*.h5 or test*.h5); "
                    "rename it or move it out of --source"
                )
            else:
                found.append((path, split_index(prefix)))
        if not found and not scan.problems:
            scan.problems.append(
                f"no .h5 files in {self.root}; the release has train1.h5 .. train4.h5 and "
                "test1.h5, test2.h5 (or test_wolabel.h5)"
            )
        return sorted(found, key=lambda f: (f[1], natural_key(f[0].name)))

    def _layout_problems(self, handle: h5py.File, path: Path, split: int) -> list[str]:
        """What is wrong with the keys and shapes of one file (empty if nothing)."""
        if "pcd" not in handle or "center" not in handle:
            missing = [k for k in ("pcd", "center") if k not in handle]
            return [f"{path}: no key {', '.join(missing)}; it has {', '.join(handle) or 'none'}"]
        pcd, center = handle["pcd"], handle["center"]
        if pcd.ndim != 4 or pcd.shape[-1] != 3 or pcd.dtype.kind != "f":
            return [f"{path}: pcd is {pcd.dtype}{list(pcd.shape)}, expected float [S, T, N, 3]"]
        s, t, n, _ = pcd.shape
        problems = []
        if center.shape != (s, t, 3):
            problems.append(f"{path}: center has shape {list(center.shape)}, expected {[s, t, 3]}")
        label_shape = (s, t, n) if self.per_point else (s, t)
        if self.label_key in handle:
            shape = handle[self.label_key].shape
            if shape != label_shape:
                problems.append(
                    f"{path}: {self.label_key} has shape {list(shape)}, "
                    f"expected {list(label_shape)}"
                )
        elif split != split_index("test"):
            problems.append(f"{path}: no key {self.label_key!r}; a training file needs labels")
        elif not self.config.unlabelled:
            problems.append(
                f"{path}: no key {self.label_key!r}: this is an unlabelled test file (like the "
                "challenge's test_wolabel.h5). Use the labelled test files, or pass "
                "-o unlabelled=true to ingest it with labels -1"
            )
        return problems

    def scan(self) -> Scan:
        scan = Scan()
        for path, split in self._files(scan):
            scan.files += 1
            try:
                with open_h5(path) as handle:
                    problems = self._layout_problems(handle, path, split)
                    shape = handle["pcd"].shape if not problems else None
            except DataError as error:
                problems, shape = [str(error)], None
            scan.problems += problems
            if shape is not None:
                videos, frames, points, _ = shape
                scan.raw_points.add(points)
                scan.sequences += [
                    SequenceInfo(f"{path.stem}_{i:04d}", frames, split) for i in range(videos)
                ]
        return scan

    # ------------------------------------------------------------------ reading

    def info(self) -> DatasetInfo:
        names = read_names(self.name, self.names_file)
        return DatasetInfo(
            class_names=names if self.per_point else (),
            action_names=() if self.per_point else names,
            # The scene frame's up is unknown; partial views circle the table's normal.
            views=ViewDefaults(up_from_plane=True),
            attrs=self.attrs(),
        )

    def attrs(self) -> dict:
        return {
            "origin": self.release,
            "units": "metres",
            "frame": "the video's scene frame (depth back-projected with the reconstruction's "
            "per-frame poses)",
            "camera": "not in the files: at the scene frame's origin (the reconstruction's first "
            "camera) looking at each frame's `center`, up -y (OpenCV); behind the first frame "
            "along -z if the origin lies inside it",
            "split": "train*.h5 -> train, test*.h5 -> test",
            "sequence_name": "<file stem>_<index in the file>",
        }

    def read(self, seq: SequenceInfo) -> SequenceData:
        stem, index = seq.name.rsplit("_", 1)
        path, i = self.root / f"{stem}.h5", int(index)
        with open_h5(path) as handle:
            pcd = handle["pcd"][i]  # [T, N, 3]: only this video is read
            centres = handle["center"][i]
            labels = handle[self.label_key][i] if self.label_key in handle else None
        where = f"{path} video {i}"
        for t, frame in enumerate(pcd):
            check_frame(frame, f"{where} frame {t}")
            if not frame.any():
                raise DataError(f"{where} frame {t}: the frame has no points (all zero)")
        if not np.isfinite(centres).all():
            raise DataError(f"{where}: center has NaN or infinite values")
        names = read_names(self.name, self.names_file)
        if labels is not None:
            labels = integer_labels(labels, len(names), self.label_key, where)
        rng = rng_from(self.name, seq.name)
        n = self.points_per_frame
        if self.per_point:
            frames = zip(pcd, labels, strict=True) if labels is not None else ((f,) for f in pcd)
            points, *point_label = resample_frames(frames, len(pcd), n, rng)
            point_label, action = (point_label[0] if point_label else None), None
        else:
            (points,) = resample_frames(((f,) for f in pcd), len(pcd), n, rng)
            point_label, action = None, labels
        return SequenceData(
            name=seq.name,
            points=points.astype(np.float32, copy=False),
            camera=sensor_at_origin(centres, pcd[0]),
            point_label=point_label,
            action=action,
        )

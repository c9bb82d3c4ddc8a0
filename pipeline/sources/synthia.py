"""Synthia 4D as MeteorNet prepared it and P4Transformer reads it: one .npz per frame.

Layout of --source (MeteorNet's `processed_pc` download):

  SYNTHIA-SEQS-04-SUMMER-000123.npz   <sequence>-<frame:06d>.npz: pc [16384, 3] float (metres),
  ...                                 rgb [16384, 3] (0..1), semantic [16384] (raw Synthia id),
                                      center [3] (the ego camera's position)
  labelweights.npz                    ignored (training class weights)

and the split lists that come with it, in --source, its parent, or -o meta=DIR:
`train_raw.txt`, `val_raw.txt`, `trainval_raw.txt`, `test_raw.txt` (MeteorNet / P4Transformer
use trainval_raw.txt and test_raw.txt), one frame per line as `<sequence>/.../<frame>.<ext> ...`.
A frame listed for test is test; else for val, val; else (train or trainval) train. Frames in no
list are not part of the benchmark and are skipped (counted in attrs). The lists are not in
data_manifests/: only trainval_raw.txt is public (MeteorNet's semantic_seg_synthia/data_prep).

A store sequence is a run of consecutive frames of one Synthia sequence in one split, named
`<sequence>-<first frame:06d>`; a gap in the frame numbers starts a new one.

Labels: raw ids map to the 12 classes of the benchmark (data_manifests/synthia/raw_ids.txt,
MeteorNet's class_mapping); void, sky and the reserved ids become -1 (ignored), as the reference
masks void. `rgb` is kept as features r, g, b.

Camera: the files keep the ego camera's position (`center`) but not its heading. The camera
stands there, level, looking towards the frame's mean point. The vertical axis is y (the
reference rotates Synthia about y); its sign is taken from the ground classes (road, sidewalk,
lane marking), which lie below the camera.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from c2p4d.pipeline.cameras import look_at
from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.manifest import read_names
from c2p4d.pipeline.seeding import rng_from
from c2p4d.pipeline.sequence import DatasetInfo, SequenceData, SequenceInfo
from c2p4d.pipeline.sources.base import SourceConfig, check_frame
from c2p4d.pipeline.sources.files import load_npz, npz_header
from c2p4d.pipeline.sources.released import ReleasedSource, Scan, resample_frames, split_index

META_LISTS = {  # list file -> split, in order of precedence (a frame takes the first match)
    "test_raw.txt": "test",
    "val_raw.txt": "val",
    "train_raw.txt": "train",
    "trainval_raw.txt": "train",
}
FRAME_KEYS = ("pc", "rgb", "semantic", "center")
GROUND_IDS = (3, 4, 12)  # road, sidewalk, lane marking: below the camera
_FRAME_FILE = re.compile(r"^(?P<sequence>.+)-(?P<frame>\d{6})\.npz$")
_IGNORED_FILES = {"labelweights.npz"}


@dataclass(frozen=True)
class SynthiaConfig(SourceConfig):
    source: Path | None = None
    points_per_frame: int = 16384  # as released
    meta: Path | None = None  # folder of the split lists [--source, then its parent]


def raw_id_table() -> tuple[np.ndarray, tuple[str, ...]]:
    """(class index per raw id, -1 where ignored; raw names) from the manifest."""
    rows = [line.split(maxsplit=2) for line in read_names("synthia", "raw_ids.txt")]
    table = np.full(len(rows), -1, np.int16)
    for raw, cls, _ in rows:
        table[int(raw)] = int(cls)
    return table, tuple(name for _, _, name in rows)


class Synthia(ReleasedSource):
    name = "synthia"
    config_class = SynthiaConfig

    # ------------------------------------------------------------------ scanning

    def _meta_dir(self) -> Path | None:
        candidates = [Path(self.config.meta)] if self.config.meta else [self.root, self.root.parent]
        return next((d for d in candidates if any((d / n).is_file() for n in META_LISTS)), None)

    def _listed_frames(self, scan: Scan) -> dict[tuple[str, int], int]:
        """{(sequence, frame): split} from the split lists."""
        folder = self._meta_dir()
        if folder is None:
            where = self.config.meta or f"{self.root} or its parent"
            scan.problems.append(
                f"no Synthia split lists ({', '.join(META_LISTS)}) in {where}. P4Transformer "
                "trains on trainval_raw.txt and tests on test_raw.txt; trainval_raw.txt is in "
                "MeteorNet's semantic_seg_synthia/data_prep. Put them next to the .npz folder "
                "or pass -o meta=DIR"
            )
            return {}
        listed: dict[tuple[str, int], int] = {}
        for list_name, split_name in reversed(META_LISTS.items()):  # precedence: last wins
            path = folder / list_name
            if not path.is_file():
                continue
            split = split_index(split_name)
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                parts = line.split()[0].split("/")
                stem = parts[-1].split(".")[0]
                if len(parts) < 2 or not stem.isdigit():
                    scan.problems.append(
                        f"{path} line {number}: cannot parse {line.strip()!r}; expected "
                        "<sequence>/.../<frame>.ply"
                    )
                    continue
                key = (parts[0], int(stem))
                if split_name == "test" and listed.get(key, split) != split:
                    scan.problems.append(
                        f"{path}: frame {key[0]}/{key[1]:06d} is also in a train or val list"
                    )
                listed[key] = split
        return listed

    def _frames_on_disk(self, scan: Scan) -> set[tuple[str, int]]:
        found = set()
        for path in self.root.glob("*.npz"):
            match = _FRAME_FILE.match(path.name)
            if match:
                found.add((match["sequence"], int(match["frame"])))
            elif path.name not in _IGNORED_FILES:
                scan.problems.append(
                    f"{path}: name does not parse as <sequence>-<frame:06d>.npz; rename or move it"
                )
        return found

    def _header_problems(self, path: Path, scan: Scan) -> list[str]:
        try:
            header = npz_header(path)
        except DataError as error:
            return [str(error)]
        missing = [k for k in FRAME_KEYS if k not in header]
        if missing:
            return [f"{path}: no key {', '.join(missing)}; it has {', '.join(header)}"]
        n = header["pc"][0][0] if len(header["pc"][0]) == 2 else -1
        if n == 0:
            return [f"{path}: the frame has no points; drop it from the split lists"]
        expected = {"pc": (n, 3), "rgb": (n, 3), "semantic": (n,), "center": (3,)}
        problems = [
            f"{path}: {key} has shape {list(header[key][0])}, expected {list(shape)}"
            for key, shape in expected.items()
            if header[key][0] != shape or n < 1
        ]
        if not problems:
            scan.raw_points.add(n)
        return problems

    def scan(self) -> Scan:
        scan = Scan()
        listed = self._listed_frames(scan)
        on_disk = self._frames_on_disk(scan)
        missing: dict[str, list[int]] = defaultdict(list)
        runs: dict[tuple[str, int], list[int]] = defaultdict(list)
        for sequence, frame in sorted(listed):
            if (sequence, frame) not in on_disk:
                missing[sequence].append(frame)
                continue
            scan.files += 1
            scan.problems += self._header_problems(self._frame_path(sequence, frame), scan)
            runs[sequence, listed[sequence, frame]].append(frame)
        for sequence, frames in missing.items():
            shown = ", ".join(f"{f:06d}" for f in frames[:5]) + (", ..." if len(frames) > 5 else "")
            scan.problems.append(
                f"{sequence}: {len(frames)} listed frames have no file in {self.root} ({shown})"
            )
        for (sequence, split), frames in sorted(runs.items(), key=lambda r: (r[0][1], r[0][0])):
            starts = [0] + [i for i in range(1, len(frames)) if frames[i] != frames[i - 1] + 1]
            for start, stop in zip(starts, starts[1:] + [len(frames)], strict=True):
                name = f"{sequence}-{frames[start]:06d}"
                scan.sequences.append(SequenceInfo(name, stop - start, split))
        scan.notes["unlisted_frames_skipped"] = len(on_disk - listed.keys())
        return scan

    def _frame_path(self, sequence: str, frame: int) -> Path:
        return self.root / f"{sequence}-{frame:06d}.npz"

    # ------------------------------------------------------------------ reading

    def info(self) -> DatasetInfo:
        table, raw_names = raw_id_table()
        return DatasetInfo(
            class_names=read_names(self.name, "classes.txt"),
            feature_names=("r", "g", "b"),
            attrs={
                "origin": "Synthia 4D as prepared by MeteorNet (one .npz per frame) and read by "
                "P4Transformer",
                "units": "metres",
                "frame": "Synthia world frame (y vertical)",
                "camera": "the ego camera's position (`center`), level, looking towards the "
                "frame's mean point; y up or down from the ground classes",
                "raw_id_to_class": table.tolist(),
                "raw_id_names": list(raw_names),
                "features": "rgb in 0..1 (MeteorNet divides by 255)",
                "split": "from the split lists; consecutive frames of one Synthia sequence in "
                "one split form a store sequence named <sequence>-<first frame>",
                "unlisted_frames_skipped": self.scanned.notes.get("unlisted_frames_skipped", 0),
            },
        )

    def read(self, seq: SequenceInfo) -> SequenceData:
        sequence, first = seq.name.rsplit("-", 1)
        table, _ = raw_id_table()
        eyes, targets, below = [], [], []

        def frames():
            for t in range(seq.num_frames):
                path = self._frame_path(sequence, int(first) + t)
                data = load_npz(path, FRAME_KEYS)
                points, rgb, raw, centre = (data[k] for k in FRAME_KEYS)
                check_frame(points, str(path))
                if rgb.shape != points.shape or raw.shape != points.shape[:1]:
                    raise DataError(
                        f"{path}: rgb {list(rgb.shape)} and semantic {list(raw.shape)} do not "
                        f"match pc {list(points.shape)}"
                    )
                if centre.shape != (3,) or not np.isfinite(centre).all():
                    raise DataError(f"{path}: center must be 3 finite numbers")
                raw = raw.astype(np.int64)
                if raw.min() < 0 or raw.max() >= len(table):
                    bad = raw[(raw < 0) | (raw >= len(table))][0]
                    raise DataError(f"{path}: semantic id {bad} is not a Synthia id (0..15)")
                if rgb.dtype == np.uint8:
                    rgb = rgb / 255.0
                ground = np.isin(raw, GROUND_IDS)
                below.append(points[ground if ground.any() else slice(None), 1].mean() - centre[1])
                eyes.append(centre)
                targets.append(points.mean(axis=0))
                yield points, table[raw], rgb.astype(np.float32)

        rng = rng_from(self.name, seq.name)
        points, labels, rgb = resample_frames(frames(), seq.num_frames, self.points_per_frame, rng)
        down = 1.0 if np.sum(below) >= 0 else -1.0
        return SequenceData(
            name=seq.name,
            points=points.astype(np.float32, copy=False),
            camera=look_at(
                np.array(eyes), np.array(targets), np.array([0, -down, 0]), level=True
            ).astype(np.float32),
            point_label=labels,
            features=rgb,
        )

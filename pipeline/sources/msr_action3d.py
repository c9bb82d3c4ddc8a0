"""MSR-Action3D as MeteorNet prepared it and P4Transformer reads it: one .npz per video.

Layout of --source (MeteorNet's `preprocess_file.py` output):

  a01_s01_e01_sdepth.npz    a<action>_s<subject>_e<episode>_sdepth.npz, holding `point_clouds`:
  ...                       a ragged (object) array of T frames, each [n_t, 3]

The usual release has 567 videos of 20 actions (names: data_manifests/msr-action3d/actions.txt)
by 10 subjects; subjects 1-5 are train, 6-10 test (the reference's split). The action is the
sequence label; frames carry no labels.

Coordinates: MeteorNet back-projects each depth map in the sensor's frame (x right, y down,
z = depth, focal 280 px), in millimetres. The store holds metres (x 0.001), and the camera is
the sensor itself: the identity pose at the origin. The reference divides millimetres by 300
instead, so a radius r in its units is r * 0.3 m here (its 0.7 is 0.21 m); attrs record both.

A video shorter than `min_frames` (24, the reference's clip length) yields no clip: it is an
error, unless -o skip_short=true leaves it out as the reference effectively does.

Reading uses allow_pickle (the frames are an object array): only ingest files you trust.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.manifest import read_names
from c2p4d.pipeline.seeding import rng_from
from c2p4d.pipeline.sequence import DatasetInfo, SequenceData, SequenceInfo
from c2p4d.pipeline.sources.base import SourceConfig, check_frame
from c2p4d.pipeline.sources.files import load_npz, natural_key, npz_header
from c2p4d.pipeline.sources.released import ReleasedSource, Scan, resample_frames, split_index

MILLIMETRE = 0.001
REFERENCE_DIVISOR = 300.0  # the reference feeds millimetres / 300 to the network
NUM_SUBJECTS, TRAIN_SUBJECTS = 10, 5
_VIDEO = re.compile(r"^a(?P<action>\d+)_s(?P<subject>\d+)_e(?P<episode>\d+)_sdepth\.npz$")


@dataclass(frozen=True)
class MSRAction3DConfig(SourceConfig):
    source: Path | None = None
    points_per_frame: int = 2048  # the reference's
    min_frames: int = 24  # the reference's clip length
    skip_short: bool = False  # leave out videos shorter than min_frames instead of failing

    minimums: ClassVar[dict[str, int]] = {"min_frames": 1}


def video_split(subject: int) -> int:
    return split_index("train" if subject <= TRAIN_SUBJECTS else "test")


class MSRAction3D(ReleasedSource):
    name = "msr-action3d"
    config_class = MSRAction3DConfig

    def _video(self, path: Path, actions: int, scan: Scan) -> SequenceInfo | None:
        """The sequence of one video file, or None (with a problem or a skip noted)."""
        match = _VIDEO.match(path.name)
        if match is None:
            scan.problems.append(
                f"{path}: name does not parse as a<action>_s<subject>_e<episode>_sdepth.npz"
            )
            return None
        action, subject = int(match["action"]), int(match["subject"])
        if not 1 <= action <= actions or not 1 <= subject <= NUM_SUBJECTS:
            scan.problems.append(
                f"{path}: action {action} / subject {subject} outside the {actions} actions "
                f"(a01..a{actions:02d}) / {NUM_SUBJECTS} subjects"
            )
            return None
        try:
            header = npz_header(path)
        except DataError as error:
            scan.problems.append(str(error))
            return None
        if "point_clouds" not in header:
            scan.problems.append(f"{path}: no key 'point_clouds'; it has {', '.join(header)}")
            return None
        shape, dtype = header["point_clouds"]
        if not (dtype.kind == "O" and len(shape) == 1) and not (len(shape) == 3 and shape[2] == 3):
            scan.problems.append(
                f"{path}: point_clouds is {dtype}{list(shape)}, expected an object array of "
                "[n, 3] frames"
            )
            return None
        frames = shape[0]
        if frames < self.config.min_frames:
            if self.config.skip_short:
                scan.notes.setdefault("skipped_short_videos", []).append(path.stem)
                return None
            scan.problems.append(
                f"{path}: {frames} frames, fewer than the {self.config.min_frames} a clip needs; "
                "pass -o skip_short=true to leave such videos out (as the reference does) or "
                f"-o min_frames={frames}"
            )
            return None
        return SequenceInfo(path.stem, frames, video_split(subject), label=action - 1)

    def scan(self) -> Scan:
        scan = Scan()
        actions = len(read_names(self.name, "actions.txt"))
        paths = sorted(self.root.glob("*.npz"), key=lambda p: natural_key(p.name))
        if not paths:
            scan.problems.append(
                f"no .npz files in {self.root}; expected a01_s01_e01_sdepth.npz ..."
            )
        for path in paths:
            scan.files += 1
            video = self._video(path, actions, scan)
            if video is not None:
                scan.sequences.append(video)
        return scan

    def info(self) -> DatasetInfo:
        return DatasetInfo(
            label_names=read_names(self.name, "actions.txt"),
            attrs={
                "origin": "MSR-Action3D depth videos as point clouds (MeteorNet's "
                "preprocess_file.py)",
                "units": "metres",
                "scale_from_file": MILLIMETRE,
                "reference_units": "the reference feeds millimetres / 300: multiply stored "
                f"metres by {1 / (MILLIMETRE * REFERENCE_DIVISOR):.6g} to match it (its radius "
                f"0.7 is {0.7 * MILLIMETRE * REFERENCE_DIVISOR:g} m)",
                "reference_divisor": REFERENCE_DIVISOR,
                "frame": "the depth sensor's frame (x right, y down, z depth)",
                "camera": "identity: the points are in the sensor's frame",
                "split": "subjects 1-5 train, 6-10 test",
                "skipped_short_videos": self.scanned.notes.get("skipped_short_videos", []),
            },
        )

    def read(self, seq: SequenceInfo) -> SequenceData:
        path = self.root / f"{seq.name}.npz"
        video = load_npz(path, ("point_clouds",), allow_pickle=True)["point_clouds"]
        if len(video) != seq.num_frames:
            raise DataError(f"{path}: {len(video)} frames, the index has {seq.num_frames}")

        def frames():
            for t, frame in enumerate(video):
                try:
                    frame = np.asarray(frame, dtype=np.float64)
                except (TypeError, ValueError):
                    raise DataError(f"{path} frame {t}: not an [n, 3] array of numbers") from None
                check_frame(frame, f"{path} frame {t}")
                yield (frame * MILLIMETRE,)

        rng = rng_from(self.name, seq.name)
        (points,) = resample_frames(frames(), seq.num_frames, self.points_per_frame, rng)
        return SequenceData(
            name=seq.name,
            points=points.astype(np.float32),
            camera=np.tile(np.eye(4, dtype=np.float32), (seq.num_frames, 1, 1)),
        )

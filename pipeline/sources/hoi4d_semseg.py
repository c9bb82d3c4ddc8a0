"""HOI4D 4D semantic segmentation release (hoi4d/HOI4D_SemSeg), read from its HDF5 files.

Layout of --source: `train1.h5` .. `train4.h5` (2971 videos, 750 per file) and the test files
(`test1_right.h5`, `test2_right.h5` in the reference code: 892 videos; any test*.h5 is test).
Each holds `pcd` float [S, 300, 8192, 3], `center` [S, 300, 3] and `semantic` [S, 300, 8192].

Labels: the release has 49 label ids (0..48) and the reference trains a 49-way classifier, so
the stored class of a point is its raw id (identity mapping: nothing to undo). The reference's
mIoU skips ids 0 and 1 and every class absent from the test ground truth (39 classes in the
paper); the store records the skipped ids in attrs["miou_skip_ids"]. Names: data_manifests/
hoi4d-semseg/classes.txt (object ids from HOI4D-Instructions; the rest are unpublished).

Coordinates, camera and streaming are as for the action segmentation release (hoi4d.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from c2p4d.pipeline.sources.hoi4d import HOI4D, HOI4DConfig

MIOU_SKIP_IDS = (0, 1)


@dataclass(frozen=True)
class HOI4DSemSegConfig(HOI4DConfig):
    points_per_frame: int = 8192  # as released


class HOI4DSemSeg(HOI4D):
    """The semantic segmentation release: per-point classes."""

    name = "hoi4d-semseg"
    config_class = HOI4DSemSegConfig
    label_key = "semantic"
    names_file = "classes.txt"
    per_point = True
    release = "HOI4D semantic segmentation release (hoi4d/HOI4D_SemSeg)"

    def attrs(self) -> dict:
        return {
            **super().attrs(),
            "label_mapping": "identity: a stored class is the release's raw label id (0..48)",
            "miou_skip_ids": list(MIOU_SKIP_IDS),
            "miou_note": "the reference mIoU skips ids 0 and 1 and classes absent from the test "
            "ground truth (39 classes in the C2P paper)",
        }

"""The manifests of the real datasets (data_manifests/), and `c2p-data check`.

Each real dataset has a folder in data_manifests/ with its class names (one per line) and a
manifest.json that says what a complete download holds:

  required             file names that must be in --source; "a|b" accepts either
  sequences / frames   expected counts per split ("train", "val", "test", "train+val", "total")
  frames_per_sequence  frames in every sequence, where the release fixes it
  points_per_frame     points in every raw frame, where the release fixes it

`check` compares a download against it and adds every problem the adapter's header scan finds,
so a user learns about a missing or malformed file before a long ingest starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.sequence import SPLITS
from c2p4d.pipeline.sources.released import ReleasedSource, Scan


def manifest_dir(dataset: str) -> Traversable:
    """data_manifests/<dataset>, installed with the package."""
    return files("c2p4d.data_manifests") / dataset


def read_names(dataset: str, filename: str) -> tuple[str, ...]:
    """Lines of data_manifests/<dataset>/<filename>, without blank lines and # comments."""
    path = manifest_dir(dataset) / filename
    if not path.is_file():
        raise DataError(f"the manifest file {dataset}/{filename} is missing from c2p4d's install")
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return tuple(line for line in lines if line)


@cache
def load_manifest(dataset: str) -> dict[str, Any]:
    """data_manifests/<dataset>/manifest.json; empty for a dataset without one (e.g. `folder`)."""
    path = manifest_dir(dataset) / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {}


@dataclass(frozen=True)
class CheckReport:
    dataset: str
    problems: tuple[str, ...]
    summary: str

    @property
    def ok(self) -> bool:
        return not self.problems


def check(source: ReleasedSource) -> CheckReport:
    """Compare the download at `source.root` with the dataset's manifest and headers."""
    manifest = load_manifest(source.name)
    root = source.root
    problems = [
        f"missing {' or '.join(names.split('|'))} (expected in {root})"
        for names in manifest.get("required", [])
        if not any((root / name).is_file() for name in names.split("|"))
    ]
    scan = source.scanned
    problems += scan.problems
    problems += _count_problems(manifest, scan)
    return CheckReport(source.name, tuple(problems), scan.summary())


def _counts(scan: Scan, per_frame: bool) -> dict[str, int]:
    counts = dict.fromkeys(SPLITS, 0)
    for seq in scan.sequences:
        counts[SPLITS[seq.split]] += seq.num_frames if per_frame else 1
    counts["train+val"] = counts["train"] + counts["val"]
    counts["total"] = sum(counts[s] for s in SPLITS)
    return counts


def _count_problems(manifest: dict[str, Any], scan: Scan) -> list[str]:
    problems = []
    for unit in ("sequences", "frames"):
        found = _counts(scan, per_frame=unit == "frames")
        for split, expected in manifest.get(unit, {}).items():
            if found[split] != expected:
                problems.append(
                    f"{found[split]} {split} {unit} found, the release has {expected}"
                    + (" (an incomplete download?)" if found[split] < expected else "")
                )
    expected_frames = manifest.get("frames_per_sequence")
    if expected_frames:
        other = sorted({s.num_frames for s in scan.sequences} - {expected_frames})
        if other:
            problems.append(
                f"sequences of {', '.join(map(str, other))} frames found, the release has "
                f"{expected_frames} frames per sequence"
            )
    expected_points = manifest.get("points_per_frame")
    if expected_points and scan.raw_points - {expected_points}:
        other = ", ".join(map(str, sorted(scan.raw_points - {expected_points})))
        problems.append(
            f"frames of {other} points found, the release has {expected_points} points per frame"
        )
    return problems

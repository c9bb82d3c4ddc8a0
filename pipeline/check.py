"""`c2p-data check`: a download compared with its dataset's manifest (manifest.py) and headers.

`check` adds every problem the adapter's header scan finds, so a user learns about a missing or
malformed file before a long ingest starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from c2p4d.pipeline.manifest import load_manifest
from c2p4d.pipeline.sequence import SPLITS
from c2p4d.pipeline.sources.released import ReleasedSource, Scan


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

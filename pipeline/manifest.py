"""The manifests of the real datasets (data_manifests/), installed as package data.

Each real dataset has a folder in data_manifests/ with its class names (one per line) and a
manifest.json that says what a complete download holds:

  required             file names that must be in --source; "a|b" accepts either
  sequences / frames   expected counts per split ("train", "val", "test", "train+val", "total")
  frames_per_sequence  frames in every sequence, where the release fixes it
  points_per_frame     points in every raw frame, where the release fixes it

`check.py` compares a download against it (`c2p-data check`).
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from c2p4d.pipeline.errors import DataError


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

"""Dataset adapters: one module per released format, all behind `Source` (see base.py), and
the registry of every dataset `ingest` reads, the built-in worlds' sources (`pipeline/worlds/`)
included.

Modules are imported on first use so that the CLI starts fast and a missing optional
dependency of one source (pybullet, say) never breaks the others.
"""

from __future__ import annotations

import importlib
from typing import Any

from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.sources.base import Source

_REGISTRY: dict[str, str] = {
    "synth-hoi": "c2p4d.pipeline.worlds.hoi.synth_hoi:SynthHOI",
    "hoi4d": "c2p4d.pipeline.sources.hoi4d:HOI4D",
    "hoi4d-semseg": "c2p4d.pipeline.sources.hoi4d_semseg:HOI4DSemSeg",
    "synthia": "c2p4d.pipeline.sources.synthia:Synthia",
    "msr-action3d": "c2p4d.pipeline.sources.msr_action3d:MSRAction3D",
    "folder": "c2p4d.pipeline.sources.folder:Folder",
    "mocap": "c2p4d.pipeline.worlds.mocap.mocap:Mocap",
    "synth-street": "c2p4d.pipeline.worlds.street.synth_street:SynthStreet",
    "synth-gesture": "c2p4d.pipeline.worlds.gesture.synth_gesture:SynthGesture",
}


def available() -> list[str]:
    """The dataset names `ingest --dataset` accepts."""
    return sorted(_REGISTRY)


def source_class(name: str) -> type[Source]:
    """The adapter class registered under `name`; a DataError listing the known names if none."""
    if name not in _REGISTRY:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(available())}")
    module, attr = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), attr)


def get_source(name: str, **options: Any) -> Source:
    """An adapter for dataset `name` configured with CLI-style options."""
    return source_class(name).from_options(**options)

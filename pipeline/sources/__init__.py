"""Dataset adapters: one module per released format, all behind `Source` (see base.py), and
the registry of every dataset `ingest` reads, the built-in worlds' sources (`pipeline/worlds/`)
included.

Modules are imported on first use so that the CLI starts fast and a missing optional
dependency of one source (pybullet, say) never breaks the others.
"""

from __future__ import annotations

from typing import Any

from c2p4d.kernels.registry import Registry
from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.sources.base import Source

SOURCES: Registry[type[Source]] = Registry("dataset", DataError)
SOURCES.register_lazy("synth-hoi", "c2p4d.pipeline.worlds.hoi.synth_hoi:SynthHOI")
SOURCES.register_lazy("hoi4d", "c2p4d.pipeline.sources.hoi4d:HOI4D")
SOURCES.register_lazy("hoi4d-semseg", "c2p4d.pipeline.sources.hoi4d_semseg:HOI4DSemSeg")
SOURCES.register_lazy("synthia", "c2p4d.pipeline.sources.synthia:Synthia")
SOURCES.register_lazy("msr-action3d", "c2p4d.pipeline.sources.msr_action3d:MSRAction3D")
SOURCES.register_lazy("folder", "c2p4d.pipeline.sources.folder:Folder")
SOURCES.register_lazy("mocap", "c2p4d.pipeline.worlds.mocap.mocap:Mocap")
SOURCES.register_lazy("synth-street", "c2p4d.pipeline.worlds.street.synth_street:SynthStreet")
SOURCES.register_lazy("synth-gesture", "c2p4d.pipeline.worlds.gesture.synth_gesture:SynthGesture")


def available() -> list[str]:
    """The dataset names `ingest --dataset` accepts."""
    return SOURCES.available()


def source_class(name: str) -> type[Source]:
    """The adapter class registered under `name`; a DataError listing the known names if none."""
    return SOURCES.get(name)


def get_source(name: str, **options: Any) -> Source:
    """An adapter for dataset `name` configured with CLI-style options."""
    return source_class(name).from_options(**options)

"""Build models by name: backbone x task, with the reference defaults and keyword overrides."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

from torch import nn

from c2p4d.kernels.registry import Registry
from c2p4d.models.backbone import Backbone, Teacher
from c2p4d.models.config import (
    P4TRANSFORMER_PRESETS,
    PPTR_PRESETS,
    TASKS,
    BackboneConfig,
    P4TransformerConfig,
    PPTrConfig,
)
from c2p4d.models.p4transformer import P4Transformer
from c2p4d.models.pptr import PPTr


class BackboneKind(NamedTuple):
    """A backbone: its model, its config and the reference's settings of that config per task."""

    model: type[Backbone]
    config: type[BackboneConfig]
    presets: dict[str, dict[str, Any]]


BACKBONES: Registry[BackboneKind] = Registry("backbone")
BACKBONES.register(
    "p4transformer", BackboneKind(P4Transformer, P4TransformerConfig, P4TRANSFORMER_PRESETS)
)
BACKBONES.register("pptr", BackboneKind(PPTr, PPTrConfig, PPTR_PRESETS))


def config_for(name: str, task: str, **overrides: Any) -> BackboneConfig:
    """The reference config of backbone `name` for `task`, with fields replaced by overrides."""
    kind = BACKBONES.get(name)
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")
    fields = [f.name for f in dataclasses.fields(kind.config) if f.name != "task"]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown {name} option(s) {', '.join(unknown)}; valid options: {', '.join(fields)}"
        )
    return kind.config(task=task, **{**kind.presets[task], **overrides})


def build(name: str, task: str, num_classes: int, **overrides: Any) -> Backbone:
    """The task model, e.g. build("pptr", "hoi4d-actseg", 19) or build(..., dim=256)."""
    config = config_for(name, task, **overrides)
    return BACKBONES.get(name).model(config, num_classes)


def build_student(name: str, task: str, **overrides: Any) -> Backbone:
    """C2P's student: the task model's trunk, frame aligned, without a head (frame_features).

    Its state_dict loads into build(name, task, ...) with `load_trunk`.
    """
    config = config_for(name, task, **overrides).frame_aligned()
    return BACKBONES.get(name).model(config, None)


def build_teacher(name: str, task: str, symmetric: bool = False, **overrides: Any) -> nn.Module:
    """C2P's teacher: the P4DConv encoder alone, or the student's architecture if symmetric.

    symmetric=True is the paper's ablation (teacher = student network). This returns a separate
    copy; a trainer that wants the two to share weights passes the student itself instead.
    """
    if symmetric:
        return build_student(name, task, **overrides)
    return Teacher(config_for(name, task, **overrides))

"""P4Transformer and PPTr backbones with the heads of the four C2P tasks, and C2P's teacher.

Inputs are channel-last clips: xyz [B, T, N, 3], optional features [B, T, N, C]. Models never
read files. Start with `build(name, task, num_classes, **overrides)`.
"""

from c2p4d.models.backbone import Backbone, Teacher
from c2p4d.models.config import (
    SEGMENTATION_TASKS,
    TASKS,
    BackboneConfig,
    P4TransformerConfig,
    PPTrConfig,
)
from c2p4d.models.p4dconv import P4DConv, P4DTransConv
from c2p4d.models.p4transformer import P4Transformer
from c2p4d.models.pptr import PPTr
from c2p4d.models.registry import BACKBONES, build, build_student, build_teacher, config_for

__all__ = [
    "BACKBONES",
    "SEGMENTATION_TASKS",
    "TASKS",
    "Backbone",
    "BackboneConfig",
    "P4DConv",
    "P4DTransConv",
    "P4Transformer",
    "P4TransformerConfig",
    "PPTr",
    "PPTrConfig",
    "Teacher",
    "build",
    "build_student",
    "build_teacher",
    "config_for",
]

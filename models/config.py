"""Model configurations: plain dataclasses, with the reference code's defaults per task.

Where the defaults come from (the reference repositories on GitHub: hehefan/P4Transformer at
461b83e, hoi4d/PPTr at 6f7180b, hoi4d/HOI4D_ActionSeg at ca779d8, hoi4d/HOI4D_SemSeg at
66df3ff; file names below are paths in them):
- msr: P4Transformer `train-msr.py` / PPTr `train-msr.py`. radius 0.7 belongs to MSR clips whose
  coordinates the data pipeline divides by 300 (as the reference dataset does); the 0.9 of the
  C2P paper is the HOI4D setting and is used for the other tasks.
- hoi4d-actseg: HOI4D_ActionSeg `train_p4.py` / `train_pptr.py` (one feature per input frame:
  temporal stride 1, padding [1, 1]; width 2048, the C2P pretraining feature size).
- hoi4d-semseg: HOI4D_SemSeg `seg_p4_base.py` / `seg_pptr_base.py` (xyz as point features).
- synthia: P4Transformer `models/synthia.py` (rgb features), radius 0.9 and 32 neighbours from
  `train-syn.py`; transformer dim 1024, depth 2, heads 4, dim_head 256, mlp 1024.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Self

TASKS = ("msr", "hoi4d-actseg", "hoi4d-semseg", "synthia")
SEGMENTATION_TASKS = ("hoi4d-semseg", "synthia")
MIXINGS = ("tokens", "frames")


def _fail(config: object, message: str) -> None:
    raise ValueError(f"{type(config).__name__}: {message}")


@dataclass(frozen=True)
class BackboneConfig:
    """What both backbones share: inputs, the P4DConv encoder, the token embedding, transformer."""

    task: str = "msr"
    # Inputs: `features` carries in_channels per point; xyz_features appends the coordinates.
    in_channels: int = 0
    xyz_features: bool = False
    # P4DConv encoder, one entry per layer. Layer i uses radius * 2**i (the reference's r, 2r,
    # 4r, 8r). encoder_channels are each layer's MLP widths; the last layer ends with `dim`.
    radius: float = 0.7
    neighbors: int = 32
    spatial_strides: tuple[int, ...] = (32,)
    temporal_kernel_sizes: tuple[int, ...] = (3,)
    temporal_strides: tuple[int, ...] = (2,)
    temporal_paddings: tuple[tuple[int, int], ...] = ((1, 0),)
    encoder_channels: tuple[tuple[int, ...], ...] = ((),)
    encoder_batch_norm: bool = False
    temporal_pooling: str = "max"
    operator: str = "+"
    # Tokens: a Linear (x, y, z, t) embedding added to them, and a ReLU before each transformer.
    position_embedding: bool = True
    # Its frame index t. False: positions in space only, so that the trunk must tell frames
    # apart by what they show, not by when they come (a probe of what it reads).
    position_time: bool = True
    emb_relu: bool = False
    # Transformer. mixing: attention over all tokens, or over per-frame max-pooled features
    # (the C2P paper's action segmentation design, section 4.2). mlp_dim also sizes the MLP head.
    dim: int = 1024
    depth: int = 5
    heads: int = 8
    dim_head: int = 128
    mlp_dim: int = 2048
    mixing: str = "tokens"
    # Segmentation: one P4DTransConv per encoder layer, coarsest first (widths of each MLP).
    decoder_channels: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            _fail(self, f"unknown task {self.task!r}; valid tasks: {', '.join(TASKS)}")
        layers = len(self.spatial_strides)
        per_layer = {
            "temporal_kernel_sizes": self.temporal_kernel_sizes,
            "temporal_strides": self.temporal_strides,
            "temporal_paddings": self.temporal_paddings,
            "encoder_channels": self.encoder_channels,
        }
        if layers == 0:
            _fail(self, "spatial_strides is empty: the encoder needs at least one P4DConv layer")
        for name, values in per_layer.items():
            if len(values) != layers:
                _fail(self, f"{name} has {len(values)} entries for {layers} encoder layers")
        if any(len(c) == 0 for c in self.encoder_channels[:-1]):
            _fail(self, f"encoder_channels {self.encoder_channels}: only the last may be empty")
        if self.segmentation and len(self.decoder_channels) != layers:
            _fail(self, f"decoder_channels needs one entry per encoder layer ({layers})")
        positive = {
            "dim": self.dim,
            "depth": self.depth,
            "heads": self.heads,
            "dim_head": self.dim_head,
            "mlp_dim": self.mlp_dim,
            "neighbors": self.neighbors,
        }
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                _fail(self, f"{name} must be a positive int, got {value!r}")
        if not isinstance(self.in_channels, int) or self.in_channels < 0:
            _fail(self, f"in_channels must be an int >= 0, got {self.in_channels!r}")
        if not (math.isfinite(self.radius) and self.radius > 0):
            _fail(self, f"radius must be > 0, got {self.radius}")
        if self.mixing not in MIXINGS:
            _fail(self, f"unknown mixing {self.mixing!r}; valid: {', '.join(MIXINGS)}")
        if self.segmentation and self.mixing != "tokens":
            _fail(self, f"task {self.task} segments points and needs mixing='tokens'")
        if self.task == "hoi4d-actseg" and not self.is_frame_aligned:
            _fail(
                self,
                "hoi4d-actseg predicts one label per input frame: every encoder layer needs "
                "temporal stride 1 and padding summing to kernel - 1 (use .frame_aligned())",
            )

    @property
    def segmentation(self) -> bool:
        return self.task in SEGMENTATION_TASKS

    @property
    def point_channels(self) -> int:
        """Channels of the per-point features the first P4DConv layer sees."""
        return self.in_channels + 3 * self.xyz_features

    @property
    def is_frame_aligned(self) -> bool:
        """True when the encoder keeps one output frame per input frame, for any clip length."""
        return all(
            s == 1 and sum(p) == k - 1
            for k, s, p in zip(
                self.temporal_kernel_sizes,
                self.temporal_strides,
                self.temporal_paddings,
                strict=True,
            )
        )

    def frame_aligned(self) -> Self:
        """This config with temporal stride 1 and centred padding: one feature per input frame.

        Used for C2P pretraining. Stride and padding own no parameters, so weights trained
        with it load into the task's own config unchanged.
        """
        return dataclasses.replace(
            self,
            temporal_strides=(1,) * len(self.temporal_kernel_sizes),
            temporal_paddings=tuple((k // 2, k // 2) for k in self.temporal_kernel_sizes),
        )

    def encoder_layers(self) -> list[dict[str, Any]]:
        """Keyword arguments of each P4DConv layer of the encoder, first layer first."""
        layers, c_in = [], self.point_channels
        last = len(self.spatial_strides) - 1
        for i, stride in enumerate(self.spatial_strides):
            channels = (
                (*self.encoder_channels[i], self.dim) if i == last else self.encoder_channels[i]
            )
            layers.append(
                dict(
                    in_channels=c_in,
                    channels=channels,
                    radius=self.radius * 2**i,
                    neighbors=self.neighbors,
                    spatial_stride=stride,
                    temporal_kernel_size=self.temporal_kernel_sizes[i],
                    temporal_stride=self.temporal_strides[i],
                    temporal_padding=tuple(self.temporal_paddings[i]),
                    temporal_pooling=self.temporal_pooling,
                    batch_norm=self.encoder_batch_norm,
                    operator=self.operator,
                )
            )
            c_in = channels[-1]
        return layers

    def level_channels(self) -> list[int]:
        """Feature widths of the encoder's levels: the input points first, then each layer."""
        return [self.point_channels] + [layer["channels"][-1] for layer in self.encoder_layers()]


@dataclass(frozen=True)
class P4TransformerConfig(BackboneConfig):
    """P4Transformer: P4DConv tokens + (x, y, z, t) embedding + one transformer."""


@dataclass(frozen=True)
class PPTrConfig(BackboneConfig):
    """PPTr with pseudo-primitives (see models/pptr.py for how primitives are formed).

    primitives: groups per frame. Clip and frame tasks split each frame's tokens into this many
    runs of consecutive FPS-order anchors; segmentation tasks take this many FPS centres per
    frame and group primitive_points input points within primitive_radius of each.
    For segmentation the decoder's last layer ends with `dim` (the primitive transformers run
    on its per-point output); classifier_channels are the hidden widths of the point classifier.
    """

    primitives: int = 8
    primitive_radius: float = 0.9
    primitive_points: int = 64
    classifier_channels: tuple[int, ...] = (1024, 128)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.primitives, int) or self.primitives < 1:
            _fail(self, f"primitives must be a positive int, got {self.primitives!r}")
        if self.segmentation and (self.primitive_points < 1 or not self.primitive_radius > 0):
            _fail(self, "primitive_points and primitive_radius must be positive")


# The four-level segmentation encoder shared by HOI4D semseg and Synthia (both backbones).
_SEGMENTATION = dict(
    radius=0.9,
    neighbors=32,
    spatial_strides=(4, 4, 4, 2),
    temporal_kernel_sizes=(1, 1, 3, 1),
    temporal_strides=(1, 1, 1, 1),
    temporal_paddings=((0, 0), (0, 0), (1, 1), (0, 0)),
    encoder_channels=((32, 64, 128), (128, 128, 256), (256, 256, 512), (512, 512)),
    encoder_batch_norm=True,
    temporal_pooling="sum",
    position_embedding=False,
    emb_relu=True,
    dim=1024,
    depth=2,
    heads=4,
    dim_head=256,
    mlp_dim=1024,
)
_ACTSEG = dict(
    radius=0.9,
    temporal_strides=(1,),
    temporal_paddings=((1, 1),),
    dim=2048,
    mlp_dim=1024,
    emb_relu=True,
    mixing="frames",
)

P4TRANSFORMER_PRESETS: dict[str, dict[str, Any]] = {
    "msr": {},
    "hoi4d-actseg": _ACTSEG,
    "hoi4d-semseg": dict(
        _SEGMENTATION,
        xyz_features=True,
        decoder_channels=((256, 256), (256, 256), (128, 128), (128, 128)),
    ),
    "synthia": dict(
        _SEGMENTATION,
        in_channels=3,
        decoder_channels=((256, 256), (256, 256), (128, 128), (128, 128)),
    ),
}

_PPTR_SEGMENTATION = dict(
    _SEGMENTATION,
    decoder_channels=((256, 256), (256, 256), (256, 256), (512,)),
    primitives=64,
    primitive_radius=0.9,
    primitive_points=64,
)
PPTR_PRESETS: dict[str, dict[str, Any]] = {
    "msr": dict(dim=2048, mlp_dim=1024, position_embedding=False, emb_relu=True),
    "hoi4d-actseg": _ACTSEG,
    "hoi4d-semseg": dict(_PPTR_SEGMENTATION, xyz_features=True),
    "synthia": dict(_PPTR_SEGMENTATION, in_channels=3),
}

# Parameter counts of the reference models with the presets above and these class counts,
# counted from their layer shapes (P4Transformer models/msr.py, models/synthia.py;
# HOI4D_ActionSeg AS_p4_base.py, AS_pptr_base.py; HOI4D_SemSeg seg_p4_base.py, seg_pptr_base.py;
# PPTr models/msr.py). pptr-synthia is seg_pptr_base with 12 classes (see models/pptr.py).
REFERENCE_PARAMETERS: dict[tuple[str, str, int], int] = {
    ("p4transformer", "msr", 20): 44_135_444,
    ("p4transformer", "hoi4d-actseg", 19): 65_121_299,
    ("p4transformer", "hoi4d-semseg", 49): 14_760_465,
    ("p4transformer", "synthia", 12): 14_755_692,
    ("pptr", "msr", 20): 128_093_204,
    ("pptr", "hoi4d-actseg", 19): 128_102_419,
    ("pptr", "hoi4d-semseg", 49): 32_413_457,
    ("pptr", "synthia", 12): 32_408_684,
}

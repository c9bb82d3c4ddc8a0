"""What P4Transformer and PPTr share: input checks, the P4DConv encoder, frame features, heads.

A backbone is built for one task. Its *trunk* (encoder, token embedding, transformers) is what
C2P pretrains; `frame_features` runs the trunk and max-pools it per frame, `forward` adds the
task's head. Student and task model are the same class, so their trunk parameter names agree:
a student's state_dict loads into a task model with `load_trunk` (head left as initialised).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from c2p4d.models.config import BackboneConfig
from c2p4d.models.heads import MLPHead
from c2p4d.models.p4dconv import Level, P4DConv, check_features, check_points


def point_features(
    clip: torch.Tensor, features: torch.Tensor | None, config: BackboneConfig
) -> torch.Tensor | None:
    """Check a clip [B,T,N,3] and its features [B,T,N,C]; return what the first layer sees."""
    check_points("clip", clip)
    if not clip.is_floating_point():
        raise ValueError(f"clip: expected floating point coordinates, got {clip.dtype}")
    if not torch.isfinite(clip).all():
        raise ValueError("clip: coordinates contain NaN or inf; drop or fix those points first")
    check_features("features", features, clip, config.in_channels)
    if features is not None and not torch.isfinite(features).all():
        raise ValueError("features: contain NaN or inf")
    if config.xyz_features:
        return clip if features is None else torch.cat([features, clip], dim=-1)
    return features


class PointEncoder(nn.ModuleList):
    """A stack of P4DConv layers; returns every level (input first) for skip connections."""

    def __init__(self, config: BackboneConfig):
        super().__init__(P4DConv(**layer) for layer in config.encoder_layers())

    def forward(self, xyz: torch.Tensor, features: torch.Tensor | None) -> list[Level]:
        levels = [Level(xyz, features)]
        for conv in self:
            levels.append(Level(*conv(*levels[-1])))
        return levels


class PositionEmbedding(nn.Linear):
    """Token positions [B,T,M,3] -> [B,T,M,dim] via (x, y, z, t), t = 1..T' (reference Conv1d).

    time=False sets t to 0: positions in space only (C2P's teacher without the time shortcut).
    """

    def __init__(self, dim: int):
        super().__init__(4, dim)

    def forward(self, xyz: torch.Tensor, time: bool = True) -> torch.Tensor:
        b, t, m, _ = xyz.shape
        time = torch.arange(1, t + 1, dtype=xyz.dtype, device=xyz.device) * float(time)
        return super().forward(torch.cat([xyz, time.view(1, t, 1, 1).expand(b, t, m, 1)], -1))


@dataclass
class Trunk:
    """A trunk's output. features: per token [B,T',M,D] (at xyz [B,T',M,3]) or per frame [B,T',D].

    levels are the encoder's, for skip connections; points are per-point features [B,T,N,D]
    where the trunk has them (PPTr segmentation).
    """

    levels: list[Level]
    xyz: torch.Tensor | None
    features: torch.Tensor
    points: torch.Tensor | None = None

    def frames(self) -> torch.Tensor:
        """[B, T', D]: max over each frame's tokens."""
        return self.features.amax(2) if self.features.dim() == 4 else self.features


def mix(transformer: nn.Module, features: torch.Tensor, relu: bool) -> torch.Tensor:
    """Attention across everything between batch and channel axes, shape kept."""
    if relu:
        features = features.relu()
    b, d = features.shape[0], features.shape[-1]
    return transformer(features.reshape(b, -1, d)).reshape(features.shape)


class Backbone(nn.Module):
    """Base of P4Transformer and PPTr: subclasses build their trunk and segmentation head."""

    def __init__(self, config: BackboneConfig, num_classes: int | None):
        super().__init__()
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
        ):
            raise ValueError(f"num_classes must be a positive int or None, got {num_classes!r}")
        self.config = config
        self.num_classes = num_classes
        self.encoder = PointEncoder(config)
        self.pos_embedding = PositionEmbedding(config.dim) if config.position_embedding else None
        if num_classes is not None and not config.segmentation:
            self.head = MLPHead(config.dim, config.mlp_dim, num_classes)

    def trunk_modules(self) -> tuple[str, ...]:
        """Names of the child modules that form the trunk (pretrained by C2P)."""
        raise NotImplementedError

    def embedding(
        self, clip: torch.Tensor, features: torch.Tensor | None, time: bool = True
    ) -> Trunk:
        """The trunk up to its last transformer: the tokens (or frames) that transformer mixes.

        The authors' C2P code takes its teacher's frame features here, on the complete clip.
        time=False: the position embedding sees no frame index (see `PositionEmbedding`).
        """
        raise NotImplementedError

    @property
    def mixer(self) -> nn.Module:
        """The trunk's last transformer, the one that mixes across frames."""
        raise NotImplementedError

    def trunk(self, clip: torch.Tensor, features: torch.Tensor | None) -> Trunk:
        embedded = self.embedding(clip, features, self.config.position_time)
        mixed = mix(self.mixer, embedded.features, self.config.emb_relu)
        return dataclasses.replace(embedded, features=mixed)

    def segment(self, trunk: Trunk, clip: torch.Tensor) -> torch.Tensor:
        """Per-point logits [B,T,N,classes] for the segmentation tasks."""
        raise NotImplementedError

    def encode(self, clip: torch.Tensor, features: torch.Tensor | None) -> list[Level]:
        return self.encoder(clip, point_features(clip, features, self.config))

    def embed(self, level: Level, time: bool = True) -> torch.Tensor:
        """Token features of the last encoder level, plus the position embedding if any."""
        if self.pos_embedding is None:
            return level.features
        return level.features + self.pos_embedding(level.xyz, time)

    def frame_features(
        self, clip: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        """[B,T,N,3] (+ [B,T,N,C]) -> [B,T,D]: the trunk max-pooled per frame (C2P's f_i)."""
        return self._aligned(self.trunk(clip, features).frames(), clip)

    @staticmethod
    def _aligned(frames: torch.Tensor, clip: torch.Tensor) -> torch.Tensor:
        if frames.shape[1] != clip.shape[1]:
            raise ValueError(
                f"frame_features: the encoder maps {clip.shape[1]} frames to {frames.shape[1]}; "
                "build the pretraining model with a frame-aligned config (build_student does)"
            )
        return frames

    def embedding_frame_features(
        self, clip: torch.Tensor, features: torch.Tensor | None = None, time: bool = True
    ) -> torch.Tensor:
        """[B,T,N,3] (+ [B,T,N,C]) -> [B,T,D]: `embedding` max-pooled per frame (no transformer)."""
        return self._aligned(self.embedding(clip, features, time).frames(), clip)

    def forward(self, clip: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """Logits: [B,classes] (msr), [B,T,classes] (hoi4d-actseg), [B,T,N,classes] (seg)."""
        if self.num_classes is None:
            raise ValueError("this backbone was built without a head (num_classes=None)")
        trunk = self.trunk(clip, features)
        if self.config.segmentation:
            return self.segment(trunk, clip)
        if self.config.task == "msr":
            return self.head(trunk.features.flatten(1, -2).amax(1))
        return self.head(trunk.frames())

    def load_trunk(self, state_dict: dict[str, torch.Tensor]) -> list[str]:
        """Load the trunk from a student's (or any same-config model's) state_dict.

        Every trunk tensor must be present with the same shape; other keys (a head, a
        predictor) are ignored. Returns the names of this model's state left as it was.
        """
        own = self.state_dict()
        prefixes = tuple(f"{name}." for name in self.trunk_modules())
        wanted = {k: v for k, v in own.items() if k.startswith(prefixes)}
        missing = sorted(k for k in wanted if k not in state_dict)
        if missing:
            raise ValueError(
                f"load_trunk: the checkpoint lacks {len(missing)} trunk tensors, e.g. {missing[:3]}"
            )
        wrong = [k for k in wanted if state_dict[k].shape != own[k].shape]
        if wrong:
            raise ValueError(
                f"load_trunk: shape mismatch for {wrong[:5]} (checkpoint "
                f"{tuple(state_dict[wrong[0]].shape)} vs model {tuple(own[wrong[0]].shape)}): "
                "the checkpoint was trained with another config"
            )
        self.load_state_dict({**own, **{k: state_dict[k] for k in wanted}})
        return sorted(k for k in own if k not in wanted)


class Teacher(nn.Module):
    """C2P's asymmetric teacher: the backbone's P4DConv encoder alone, max-pooled per frame.

    It has no transformer (paper section 3.2): a weaker, easier to optimise feature extractor
    whose frame features have the student's width D. Always frame aligned.
    """

    def __init__(self, config: BackboneConfig):
        super().__init__()
        self.config = config.frame_aligned()
        self.encoder = PointEncoder(self.config)

    def frame_features(
        self, clip: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        """[B,T,N,3] (+ [B,T,N,C]) -> [B,T,D]."""
        points = point_features(clip, features, self.config)
        return self.encoder(clip, points)[-1].features.amax(2)

    def forward(self, clip: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        return self.frame_features(clip, features)

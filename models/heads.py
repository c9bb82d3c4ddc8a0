"""Task heads: an MLP head for clips and frames, and the segmentation decoder and classifier."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from c2p4d.models.p4dconv import Level, P4DTransConv


class MLPHead(nn.Sequential):
    """LayerNorm -> Linear -> GELU -> Linear on the last axis (the reference's mlp_head).

    Clip classification feeds it the max over all tokens [B,D]; action segmentation feeds it
    one feature per frame [B,T,D] and gets per-frame logits.
    """

    def __init__(self, dim: int, hidden: int, num_classes: int):
        super().__init__(
            nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, num_classes)
        )


class SegmentationDecoder(nn.ModuleList):
    """Feature propagation back through the encoder levels: tokens -> every input point.

    One P4DTransConv per encoder layer, coarsest first; each interpolates onto the next finer
    level and concatenates that level's encoder features (the skip connection).
    """

    def __init__(
        self, level_channels: Sequence[int], in_channels: int, channels: Sequence[Sequence[int]]
    ):
        layers, c = [], in_channels
        for skip, widths in zip(reversed(level_channels[:-1]), channels, strict=True):
            layers.append(P4DTransConv(c, skip, widths))
            c = widths[-1]
        super().__init__(layers)
        self.out_channels = c

    def forward(self, levels: list[Level], features: torch.Tensor) -> torch.Tensor:
        """levels (input first, as PointEncoder returns them), features at the last -> [B,T,N,C]."""
        for layer, fine, coarse in zip(
            self, reversed(levels[:-1]), reversed(levels[1:]), strict=True
        ):
            features = layer(coarse.xyz, features, fine.xyz, fine.features)
        return features


class PointClassifier(nn.Sequential):
    """Per-point Linear layers with ReLU between them: [..., C] -> [..., classes]."""

    def __init__(self, channels: Sequence[int]):
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers += [nn.Linear(c_in, c_out), nn.ReLU()]
        super().__init__(*layers[:-1])

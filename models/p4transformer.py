"""P4Transformer (Fan et al., CVPR 2021) with the heads of the four C2P tasks.

Trunk: P4DConv encoder -> (x, y, z, t) position embedding -> pre-norm transformer.
- msr (reference `models/msr.py`): one P4DConv layer makes tube tokens; attention over all
  tokens; the head takes their max.
- hoi4d-actseg (HOI4D_ActionSeg `AS_p4_base.py`, C2P section 4.2): tokens are max-pooled per
  frame *before* the transformer, which attends over frame features; one label per frame.
- hoi4d-semseg / synthia (`seg_p4_base.py`, `models/synthia.py`): four P4DConv layers, attention
  over the coarsest tokens (no position embedding, as the reference), then four P4DTransConv
  layers propagate features back to every input point and a Linear classifies them.
"""

from __future__ import annotations

import torch

from c2p4d.models.backbone import Backbone, Trunk
from c2p4d.models.config import P4TransformerConfig
from c2p4d.models.heads import PointClassifier, SegmentationDecoder
from c2p4d.models.transformer import Transformer


class P4Transformer(Backbone):
    """clip [B,T,N,3] (+ features [B,T,N,C]) -> logits; num_classes=None builds the trunk only."""

    def __init__(self, config: P4TransformerConfig, num_classes: int | None = None):
        super().__init__(config, num_classes)
        c = config
        self.transformer = Transformer(c.dim, c.depth, c.heads, c.dim_head, c.mlp_dim)
        if num_classes is not None and c.segmentation:
            self.decoder = SegmentationDecoder(c.level_channels(), c.dim, c.decoder_channels)
            self.classifier = PointClassifier((self.decoder.out_channels, num_classes))

    def trunk_modules(self) -> tuple[str, ...]:
        return ("encoder", "pos_embedding", "transformer")

    @property
    def mixer(self) -> Transformer:
        return self.transformer

    def embedding(
        self, clip: torch.Tensor, features: torch.Tensor | None, time: bool = True
    ) -> Trunk:
        levels = self.encode(clip, features)
        tokens = self.embed(levels[-1], time)
        if self.config.mixing == "frames":
            tokens = tokens.amax(2)
        return Trunk(levels, levels[-1].xyz, tokens)

    def segment(self, trunk: Trunk, clip: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.decoder(trunk.levels, trunk.features))

"""Farthest point sampling.

Semantics follow the pointnet2 CUDA op that P4Transformer uses: the first sample is index 0,
then each step takes the point farthest from the samples so far (ties: the lowest index).
"""

from __future__ import annotations

import torch


@torch.no_grad()
def fps_torch(xyz: torch.Tensor, m: int) -> torch.Tensor:
    """Vectorised FPS on any device: a loop over the m samples, never over points."""
    b, n, _ = xyz.shape
    idx = torch.zeros(b, m, dtype=torch.long, device=xyz.device)
    nearest = torch.full((b, n), float("inf"), dtype=xyz.dtype, device=xyz.device)
    last = torch.zeros(b, dtype=torch.long, device=xyz.device)
    batch = torch.arange(b, device=xyz.device)
    for i in range(1, m):
        d = ((xyz - xyz[batch, last].unsqueeze(1)) ** 2).sum(-1)
        nearest = torch.minimum(nearest, d)
        last = nearest.argmax(dim=1)
        idx[:, i] = last
    return idx

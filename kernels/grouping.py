"""Gathers by index, channel-last and differentiable through torch (the indices are constants)."""

from __future__ import annotations

import torch

from c2p4d.kernels import checks


def gather(features: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """features [B,N,C], idx [B,M] -> [B,M,C]: features[b, idx[b, m]]."""
    checks.features(features, "features")
    checks.indices(idx, "idx", features, dims=2)
    return features.gather(1, idx.unsqueeze(-1).expand(-1, -1, features.shape[-1]))


def group(features: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """features [B,N,C], idx [B,M,K] -> [B,M,K,C]: features[b, idx[b, m, k]]."""
    checks.features(features, "features")
    checks.indices(idx, "idx", features, dims=3)
    b, m, k = idx.shape
    return gather(features, idx.reshape(b, m * k)).reshape(b, m, k, -1)

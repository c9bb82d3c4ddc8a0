"""Neighbour search (ball query, k-NN) and the gathers that use its indices."""

from __future__ import annotations

import torch


def _square_distances(centers: torch.Tensor, xyz: torch.Tensor) -> torch.Tensor:
    """[B,M,3] x [B,N,3] -> [B,M,N] squared distances, computed exactly (no |a|²+|b|²-2ab)."""
    return ((centers.unsqueeze(2) - xyz.unsqueeze(1)) ** 2).sum(-1)


@torch.no_grad()
def ball_query_torch(
    radius: float, k: int, xyz: torch.Tensor, centers: torch.Tensor
) -> torch.Tensor:
    """The first k points in index order with d² < r²; padded with the first hit; 0 if none."""
    inside = _square_distances(centers, xyz) < radius * radius  # [B,M,N]
    n = xyz.shape[1]
    order = torch.arange(n, device=xyz.device).expand_as(inside)
    # Points outside the ball sort after every inside point; a stable sort keeps index order.
    keys = torch.where(inside, order, order + n)
    first = keys.topk(min(k, n), dim=-1, largest=False, sorted=True).values
    hit = first < n
    idx = torch.where(
        hit, first, first[..., :1].where(hit[..., :1], torch.zeros_like(first[..., :1]))
    )
    if k > n:
        idx = torch.cat([idx, idx[..., :1].expand(*idx.shape[:-1], k - n)], dim=-1)
    return idx


@torch.no_grad()
def knn_torch(
    k: int, xyz: torch.Tensor, centers: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k nearest points of each centre: (Euclidean distances, indices), nearest first."""
    d2, idx = _square_distances(centers, xyz).topk(k, dim=-1, largest=False, sorted=True)
    return d2.sqrt(), idx


def gather(features: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """features [B,N,C], idx [B,M] -> [B,M,C] (differentiable)."""
    return features.gather(1, idx.unsqueeze(-1).expand(-1, -1, features.shape[-1]))


def group(features: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """features [B,N,C], idx [B,M,K] -> [B,M,K,C] (differentiable)."""
    b, m, k = idx.shape
    return gather(features, idx.reshape(b, m * k)).reshape(b, m, k, -1)


def three_interpolate(
    features: torch.Tensor, xyz: torch.Tensor, centers: torch.Tensor, k: int = 3
) -> torch.Tensor:
    """Propagate features [B,N,C] known at xyz [B,N,3] to centres [B,M,3] by inverse distance."""
    dist, idx = knn_torch(k, xyz, centers)
    weight = 1.0 / (dist + 1e-8)
    weight = weight / weight.sum(-1, keepdim=True)
    return (group(features, idx) * weight.unsqueeze(-1)).sum(2)

"""The torch backend: vectorised point ops on any device (the GPU path without pointnet2_ops).

Each op computes the same float32 values in the same order as the CUDA kernels and the numba
backend, so all backends return identical indices (see sampling.py and neighbors.py for the
rules). Ball query and k-NN work on chunks of centres so that the [B, chunk, N] distance matrix
stays under CHUNK_ELEMENTS entries (N=16384, M=4096 never materialises [B, M, N] at once).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from c2p4d.kernels.sampling import INITIAL_DISTANCE, ORIGIN_SQ_LIMIT, tie_rank

CHUNK_ELEMENTS = 1 << 24


def square_distances(centers: torch.Tensor, xyz: torch.Tensor) -> torch.Tensor:
    """[B,M,3] x [B,N,3] -> [B,M,N] float32 squared distances, ((dx*dx + dy*dy) + dz*dz).

    Spelled out per axis (no |a|²+|b|²-2ab, no reduction kernel) to round exactly like the
    CUDA and numba kernels.
    """
    d = [centers[..., a].unsqueeze(2) - xyz[..., a].unsqueeze(1) for a in range(3)]
    return d[0] * d[0] + d[1] * d[1] + d[2] * d[2]


@torch.no_grad()
def fps(xyz: torch.Tensor, m: int) -> torch.Tensor:
    """xyz [B,N,3] float32 -> idx [B,m] int64; a loop over the m samples, never over points."""
    b, n, _ = xyz.shape
    # Reorder the points by the CUDA kernel's tie priority: then argmax's first maximum is the
    # kernel's choice. Index 0 has priority 0, so the first sample stays position 0.
    order = torch.from_numpy(_tie_order(n)).to(xyz.device)
    pts = xyz[:, order]
    sq_norm = pts[..., 0] * pts[..., 0] + pts[..., 1] * pts[..., 1] + pts[..., 2] * pts[..., 2]
    # Skipped points sit at -1: below every distance, and min() keeps them there.
    nearest = torch.full_like(sq_norm, float(INITIAL_DISTANCE))
    nearest = nearest.masked_fill(sq_norm <= float(ORIGIN_SQ_LIMIT), -1.0)
    idx = torch.zeros(b, m, dtype=torch.long, device=xyz.device)
    last = torch.zeros(b, dtype=torch.long, device=xyz.device)
    rows = torch.arange(b, device=xyz.device)
    for i in range(1, m):
        d = square_distances(pts[rows, last].unsqueeze(1), pts).squeeze(1)
        nearest = torch.minimum(nearest, d)
        last = nearest.argmax(dim=1)
        idx[:, i] = last
    return order[idx]


@torch.no_grad()
def ball_query(radius: float, k: int, xyz: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """-> idx [B,M,k] int64: the first k points in index order with d² < r², first-hit padded."""
    n = xyz.shape[1]
    r2 = float(np.float32(radius) * np.float32(radius))
    order = torch.arange(n, dtype=torch.int32, device=xyz.device)
    parts = []
    for chunk in _center_chunks(xyz, centers):
        inside = square_distances(chunk, xyz) < r2
        # Inside points keep their index, the others sort last (n); the k smallest are the
        # first k hits in index order.
        first = torch.where(inside, order, n).topk(min(k, n), dim=-1, largest=False).values
        hit = first < n
        pad = torch.where(hit[..., :1], first[..., :1], 0)
        idx = torch.where(hit, first, pad)
        if k > n:
            idx = torch.cat([idx, pad.expand(*pad.shape[:-1], k - n)], dim=-1)
        parts.append(idx.long())
    return torch.cat(parts, dim=1)


@torch.no_grad()
def knn(k: int, xyz: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (dist [B,M,k] float32, idx [B,M,k] int64), nearest first, ties in index order."""
    n = xyz.shape[1]
    order = torch.arange(n, dtype=torch.int64, device=xyz.device)
    dists, idxs = [], []
    for chunk in _center_chunks(xyz, centers):
        sq = square_distances(chunk, xyz)
        # A non-negative float's bits sort like the float: (bits << 32) | index is a unique
        # int64 key ordered by (distance, index), so topk is exact and deterministic.
        key = (sq.view(torch.int32).long() << 32) | order
        top = key.topk(k, dim=-1, largest=False).values
        idxs.append(top & 0xFFFFFFFF)
        # sqrt via float64: correctly rounded on every device (torch's CPU float32 sqrt is not).
        dists.append((top >> 32).int().view(torch.float32).double().sqrt().float())
    return torch.cat(dists, dim=1), torch.cat(idxs, dim=1)


@functools.cache
def _tie_order(n: int) -> np.ndarray:
    return np.argsort(tie_rank(n))


def _center_chunks(xyz: torch.Tensor, centers: torch.Tensor):
    b, n = xyz.shape[:2]
    rows = max(1, CHUNK_ELEMENTS // (b * n))
    return centers.split(rows, dim=1)

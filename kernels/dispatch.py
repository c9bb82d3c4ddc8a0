"""The public point ops, each routed to one backend.

Only the torch backend exists so far; the numba CPU backend and pointnet2_ops join here, chosen
by one function, overridable per call or with the environment variable C2P4D_KERNELS.
"""

from __future__ import annotations

import torch

from c2p4d.kernels import neighbors, sampling


def farthest_point_sample(xyz: torch.Tensor, m: int) -> torch.Tensor:
    """xyz [B,N,3] -> idx [B,m] int64, starting at index 0."""
    return sampling.fps_torch(xyz, m)


def ball_query(radius: float, k: int, xyz: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """-> idx [B,M,k] int64: first k points (index order) with d² < radius², first-hit padded."""
    return neighbors.ball_query_torch(radius, k, xyz, centers)


def knn(k: int, xyz: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (dist [B,M,k], idx [B,M,k]) of the k nearest points, nearest first."""
    return neighbors.knn_torch(k, xyz, centers)

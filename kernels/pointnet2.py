"""Adapter to pointnet2_ops (erikwijmans/Pointnet2_PyTorch), the CUDA ops P4Transformer uses.

Its API: furthest_point_sample(xyz, m) -> int32 [B,m]; ball_query(radius, nsample, xyz,
new_xyz) -> int32 [B,M,nsample]; three_nn(unknown, known) -> (dist, idx) [B,n,3]. Inputs must be
contiguous float32 CUDA tensors. The package is optional: `module()` is None without it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import torch

INSTALL_HINT = (
    "pip install "
    "'git+https://github.com/erikwijmans/Pointnet2_PyTorch#subdirectory=pointnet2_ops_lib'"
)


def module() -> ModuleType | None:
    """pointnet2_ops.pointnet2_utils, or None when it is not installed."""
    try:
        return importlib.import_module("pointnet2_ops.pointnet2_utils")
    except ImportError:
        return None


@torch.no_grad()
def fps(xyz: torch.Tensor, m: int) -> torch.Tensor:
    return module().furthest_point_sample(xyz, m).long()


@torch.no_grad()
def ball_query(radius: float, k: int, xyz: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    return module().ball_query(radius, k, xyz, centers).long()


@torch.no_grad()
def three_nn(xyz: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The 3 nearest of xyz to each centre: (Euclidean dist [B,M,3], idx [B,M,3] int64)."""
    dist, idx = module().three_nn(centers, xyz)
    return dist, idx.long()

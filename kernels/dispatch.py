"""The public point ops, each routed to one backend by `resolve_backend`.

Backends: "pointnet2" (pointnet2_ops' CUDA kernels), "torch" (vectorised, any device, centres
in chunks: torch_ops.CHUNK_ELEMENTS) and "numba" (CPU, spatial data structures, parallel over
the batch: one-thread workers should set NUMBA_NUM_THREADS=1). They return identical indices
on the same input: distances are compared in float32 with the CUDA kernels' arithmetic and tie
rules, with one caveat: nvcc may fuse a multiply-add in the CUDA kernels, which can move a
distance by one ulp and so flip an exact near-tie between pointnet2 and the other two.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from c2p4d.kernels import checks, neighbors, pointnet2, sampling, torch_ops
from c2p4d.kernels.grouping import group

BACKENDS = ("auto", "numba", "torch", "pointnet2")
ENV_VAR = "C2P4D_KERNELS"


def resolve_backend(device: torch.device | str, backend: str | None = None) -> str:
    """The backend that runs an op on tensors that live on `device`.

    `backend` (per call) wins over the environment variable C2P4D_KERNELS, which wins over
    "auto": pointnet2 for CUDA tensors when pointnet2_ops is importable, numba on the CPU, torch
    on any other device. "numba" on a non-CPU tensor computes on a CPU copy.
    """
    device = torch.device(device)
    source = "backend=" if backend is not None else ENV_VAR
    choice = backend if backend is not None else os.environ.get(ENV_VAR, "auto")
    if choice not in BACKENDS:
        raise ValueError(
            f"unknown kernel backend {choice!r} (from {source}); use one of {BACKENDS}"
        )
    if choice == "pointnet2":
        if pointnet2.module() is None:
            raise ValueError(
                f"kernel backend 'pointnet2' (from {source}) needs pointnet2_ops, which is not "
                f"installed: {pointnet2.INSTALL_HINT}, or use 'auto'"
            )
        if device.type != "cuda":
            raise ValueError(
                f"kernel backend 'pointnet2' (from {source}) runs on CUDA tensors only, got "
                f"{device}; use 'auto', 'numba' or 'torch'"
            )
        return choice
    if choice != "auto":
        return choice
    if device.type == "cuda" and pointnet2.module() is not None:
        return "pointnet2"
    return "numba" if device.type == "cpu" else "torch"


def farthest_point_sample(xyz: torch.Tensor, m: int, *, backend: str | None = None) -> torch.Tensor:
    """xyz [B,N,3] -> idx [B,m] int64: farthest point sampling, starting at index 0.

    Exactly pointnet2's furthest_point_sample, quirks included: float32 distances; points with
    |p|² <= 1e-3 are never chosen after the first sample (the kernel takes them for zero
    padding); equal maxima go to the point the kernel's thread layout prefers, not to the
    lowest index (sampling.tie_rank). m may exceed N: samples then repeat.
    """
    pts = checks.points(xyz, "xyz")
    m = checks.count(m, "m")
    name = resolve_backend(xyz.device, backend)
    if name == "pointnet2":
        return pointnet2.fps(pts, m)
    if name == "torch":
        return torch_ops.fps(pts, m)
    return _tensor(sampling.fps_numba(pts.cpu().numpy(), m), xyz.device)


def ball_query(
    radius: float,
    k: int,
    xyz: torch.Tensor,
    centers: torch.Tensor,
    *,
    backend: str | None = None,
) -> torch.Tensor:
    """xyz [B,N,3], centers [B,M,3] -> idx [B,M,k] int64.

    The first k points in index order (not the nearest) with float32 squared distance strictly
    below float32(radius)²; unused slots repeat the first hit; a centre with no hit gets zeros.
    """
    radius = checks.radius(radius)
    k = checks.count(k, "k")
    pts = checks.points(xyz, "xyz")
    ctr = checks.points(centers, "centers", like=xyz)
    name = resolve_backend(xyz.device, backend)
    if name == "pointnet2":
        return pointnet2.ball_query(radius, k, pts, ctr)
    if name == "torch":
        return torch_ops.ball_query(radius, k, pts, ctr)
    idx = neighbors.ball_query_numba(radius, k, pts.cpu().numpy(), ctr.cpu().numpy())
    return _tensor(idx, xyz.device)


def knn(
    k: int, xyz: torch.Tensor, centers: torch.Tensor, *, backend: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """xyz [B,N,3], centers [B,M,3] -> (dist [B,M,k], idx [B,M,k] int64), nearest first.

    Euclidean distances (computed in float32, returned in xyz's dtype); equal distances in
    index order, like pointnet2's three_nn. pointnet2 serves k == 3 only; other k use torch.
    """
    k = checks.count(k, "k")
    pts = checks.points(xyz, "xyz")
    ctr = checks.points(centers, "centers", like=xyz)
    if k > pts.shape[1]:
        raise ValueError(f"k={k} exceeds the number of points N={pts.shape[1]} in xyz")
    name = resolve_backend(xyz.device, backend)
    if name == "pointnet2" and k == 3:
        dist, idx = pointnet2.three_nn(pts, ctr)
    elif name in ("pointnet2", "torch"):
        dist, idx = torch_ops.knn(k, pts, ctr)
    else:
        dist, idx = neighbors.knn_numba(k, pts.cpu().numpy(), ctr.cpu().numpy())
        dist, idx = _tensor(dist, xyz.device), _tensor(idx, xyz.device)
    return dist.to(xyz.dtype), idx


def three_interpolate(
    features: torch.Tensor,
    xyz: torch.Tensor,
    centers: torch.Tensor,
    k: int = 3,
    *,
    backend: str | None = None,
) -> torch.Tensor:
    """Features [B,N,C] known at xyz [B,N,3] -> [B,M,C] at centers [B,M,3].

    Each centre takes its k nearest points (pointnet2's three_nn for k=3) weighted by
    1/(d+1e-8), normalised. Differentiable in features; the weights are constants, as in
    pointnet2, since they come from an index op.
    """
    checks.features(features, "features", xyz)
    dist, idx = knn(k, xyz, centers, backend=backend)
    weight = 1.0 / (dist + 1e-8)
    weight = (weight / weight.sum(-1, keepdim=True)).to(features.dtype)
    return (group(features, idx) * weight.unsqueeze(-1)).sum(2)


def _tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(array).to(device)

"""Argument checks of the public point ops: one ValueError that names the argument and the fix."""

from __future__ import annotations

import math
import operator

import torch


def points(xyz: torch.Tensor, name: str, like: torch.Tensor | None = None) -> torch.Tensor:
    """Check a [B,N,3] point tensor; return it detached as contiguous float32.

    All index ops compare float32 distances, as pointnet2_ops does, so that every backend picks
    the same indices. `like`: a checked point tensor whose batch size and device must match.
    """
    _tensor(xyz, name)
    if xyz.dim() != 3 or xyz.shape[-1] != 3:
        raise ValueError(f"{name} must have shape [B, N, 3], got {list(xyz.shape)}")
    if not xyz.is_floating_point():
        raise ValueError(f"{name} must be a floating point tensor, got {xyz.dtype}")
    if xyz.shape[0] == 0 or xyz.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {list(xyz.shape)}): pass at least one point")
    if like is not None:
        _same_batch_and_device(xyz, name, like)
    xyz = xyz.detach().to(torch.float32).contiguous()
    if not bool(torch.isfinite(xyz).all()):
        raise ValueError(f"{name} has NaN or infinite coordinates (or values beyond float32)")
    return xyz


def features(feats: torch.Tensor, name: str, xyz: torch.Tensor | None = None) -> None:
    """Check a channel-last [B,N,C] feature tensor (matching xyz's B and N when given)."""
    _tensor(feats, name)
    if feats.dim() != 3:
        raise ValueError(
            f"{name} must have shape [B, N, C] (channel-last), got {list(feats.shape)}"
        )
    if xyz is not None and (feats.shape[:2] != xyz.shape[:2] or feats.device != xyz.device):
        raise ValueError(
            f"{name} {list(feats.shape)} on {feats.device} must match xyz {list(xyz.shape)} on "
            f"{xyz.device} in B and N: one feature row per point"
        )


def indices(idx: torch.Tensor, name: str, feats: torch.Tensor, dims: int) -> None:
    """Check an integer index tensor with `dims` dims whose batch and device match feats."""
    _tensor(idx, name)
    shape = "[B, M]" if dims == 2 else "[B, M, K]"
    if idx.dim() != dims:
        raise ValueError(f"{name} must have shape {shape}, got {list(idx.shape)}")
    if idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor, got {idx.dtype}")
    _same_batch_and_device(idx, name, feats)


def count(value: int, name: str) -> int:
    """A positive int (a sample or neighbour count)."""
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an int, got {type(value).__name__}") from None
    if isinstance(value, bool) or number < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return number


def radius(value: float) -> float:
    """A positive, finite ball radius."""
    try:
        r = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"radius must be a number, got {value!r}") from None
    if not (math.isfinite(r) and r > 0):
        raise ValueError(f"radius must be positive and finite, got {value!r}")
    return r


def _tensor(value: object, name: str) -> None:
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")


def _same_batch_and_device(t: torch.Tensor, name: str, like: torch.Tensor) -> None:
    if t.shape[0] != like.shape[0]:
        raise ValueError(f"{name} has batch size {t.shape[0]}, expected {like.shape[0]}")
    if t.device != like.device:
        raise ValueError(f"{name} is on {t.device}, expected {like.device}: move it there first")

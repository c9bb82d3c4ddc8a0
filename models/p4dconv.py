"""Point 4D convolution (P4DConv) and its feature propagation (P4DTransConv), channel-last.

Semantics follow P4Transformer (Fan et al., CVPR 2021, `point_4d_convolution.py`): for every
anchor frame, farthest point sampling picks N / spatial_stride anchors; in each frame of the
temporal window a ball query groups neighbours around them; conv_d embeds (dx, dy, dz, dt) and
conv_f the neighbours' features, the two are added, a shared MLP follows, then max pooling over
the neighbours and max/sum pooling over the window.

Two deliberate differences from the reference code:
- All anchor frames (and the batch) are processed in one vectorised pass per temporal offset
  instead of a Python loop per frame, so BatchNorm statistics cover the whole clip at that
  offset rather than one frame at a time.
- The reference's default operator string ('addition') silently selects multiplication; here
  operator '+' means addition and '*' multiplication, and '+' (the paper's choice) is the default.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch
from torch import nn

from c2p4d.kernels import ball_query, farthest_point_sample, gather, group, three_interpolate

# Upper bound on the elements of one transient intermediate (~128 MiB of float32): the
# [rows, anchors, neighbours, channels] tensors and the [rows, anchors, points] distance
# matrices are built a slice of rows (batch x frame) at a time to stay under it.
CHUNK_ELEMENTS = 2**25

TEMPORAL_POOLINGS = ("max", "sum")
OPERATORS = ("+", "*")


class Level(NamedTuple):
    """Points [B,T,N,3] with their features [B,T,N,C] (None: no features), e.g. a P4DConv output."""

    xyz: torch.Tensor
    features: torch.Tensor | None


class PointBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the last (channel) axis of a tensor of any rank."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class SharedMLP(nn.Sequential):
    """Per-point Linears (the reference's 1x1 convolutions), each optionally with BN + ReLU."""

    def __init__(self, channels: Sequence[int], batch_norm: bool, bias: bool = False):
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers.append(nn.Linear(c_in, c_out, bias=bias))
            if batch_norm:
                layers += [PointBatchNorm(c_out), nn.ReLU()]
        super().__init__(*layers)


def row_chunks(rows: int, elements_per_row: int) -> Iterator[slice]:
    """Slices of rows such that rows-in-slice x elements_per_row stays under CHUNK_ELEMENTS."""
    step = max(1, CHUNK_ELEMENTS // max(1, elements_per_row))
    for start in range(0, rows, step):
        yield slice(start, min(rows, start + step))


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def check_points(name: str, xyz: torch.Tensor) -> tuple[int, int, int]:
    """A [B, T, N, 3] coordinate tensor -> (B, T, N)."""
    _require(
        isinstance(xyz, torch.Tensor) and xyz.dim() == 4 and xyz.shape[-1] == 3,
        f"{name}: expected xyz of shape [B, T, N, 3], got "
        f"{tuple(xyz.shape) if isinstance(xyz, torch.Tensor) else type(xyz).__name__}",
    )
    b, t, n, _ = xyz.shape
    _require(b > 0 and t > 0 and n > 0, f"{name}: empty xyz of shape {tuple(xyz.shape)}")
    return b, t, n


def check_features(name: str, features: torch.Tensor | None, xyz: torch.Tensor, c: int) -> None:
    """Features must be [B, T, N, c] beside xyz [B, T, N, 3], or absent when c == 0."""
    if c == 0:
        _require(
            features is None,
            f"{name}: built without input features (in_channels=0) but features were given",
        )
        return
    _require(features is not None, f"{name}: built for {c} feature channels but features is None")
    _require(
        features.shape == (*xyz.shape[:3], c),
        f"{name}: expected features of shape {(*xyz.shape[:3], c)} beside xyz "
        f"{tuple(xyz.shape)}, got {tuple(features.shape)}",
    )


class P4DConv(nn.Module):
    """Point 4D convolution: xyz [B,T,N,3], features [B,T,N,C] -> ([B,T',M,3], [B,T',M,C'])."""

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int],
        *,
        radius: float,
        neighbors: int,
        spatial_stride: int,
        temporal_kernel_size: int = 1,
        temporal_stride: int = 1,
        temporal_padding: tuple[int, int] = (0, 0),
        temporal_pooling: str = "sum",
        batch_norm: bool = False,
        operator: str = "+",
    ):
        super().__init__()
        channels = tuple(channels)
        _require(in_channels >= 0, f"P4DConv: in_channels must be >= 0, got {in_channels}")
        _require(
            len(channels) > 0 and all(c > 0 for c in channels),
            f"P4DConv: channels must be a non-empty list of positive widths, got {channels}",
        )
        _require(math.isfinite(radius) and radius > 0, f"P4DConv: radius must be > 0, got {radius}")
        _require(neighbors >= 1, f"P4DConv: neighbors must be >= 1, got {neighbors}")
        _require(spatial_stride >= 1, f"P4DConv: spatial_stride must be >= 1, got {spatial_stride}")
        _require(
            temporal_kernel_size >= 1 and temporal_kernel_size % 2 == 1,
            f"P4DConv: temporal_kernel_size must be odd and >= 1 (the window is centred on its "
            f"anchor frame), got {temporal_kernel_size}",
        )
        _require(
            temporal_stride >= 1, f"P4DConv: temporal_stride must be >= 1, got {temporal_stride}"
        )
        padding = tuple(temporal_padding)
        _require(
            len(padding) == 2 and all(isinstance(p, int) and p >= 0 for p in padding),
            f"P4DConv: temporal_padding must be two ints >= 0 (before, after), got {padding}",
        )
        _require(
            temporal_pooling in TEMPORAL_POOLINGS,
            f"P4DConv: temporal_pooling must be one of {TEMPORAL_POOLINGS}, got "
            f"{temporal_pooling!r}",
        )
        _require(
            operator in OPERATORS, f"P4DConv: operator must be one of {OPERATORS}, got {operator!r}"
        )
        self.in_channels = in_channels
        self.out_channels = channels[-1]
        self.widest = max(channels)
        self.radius = float(radius)
        self.neighbors = neighbors
        self.spatial_stride = spatial_stride
        self.temporal_kernel_size = temporal_kernel_size
        self.temporal_stride = temporal_stride
        self.temporal_padding = padding
        self.temporal_pooling = temporal_pooling
        self.batch_norm = batch_norm
        self.operator = operator
        self.conv_d = SharedMLP((4, channels[0]), batch_norm)
        self.conv_f = SharedMLP((in_channels, channels[0]), batch_norm) if in_channels else None
        self.mlp = SharedMLP(channels, batch_norm)
        # One bare Linear over [dx, dy, dz, dt, features]: the tube embedding of every token task.
        self.linear = (
            not batch_norm and len(channels) == 1 and (in_channels == 0 or operator == "+")
        )

    def output_frames(self, frames: int) -> int:
        """T' for a clip of T frames; ValueError when the temporal window does not tile it."""
        padded = frames + sum(self.temporal_padding)
        k, s = self.temporal_kernel_size, self.temporal_stride
        _require(
            padded >= k and (padded - k) % s == 0,
            f"P4DConv: {frames} frames + padding {self.temporal_padding} = {padded} do not tile "
            f"with temporal kernel {k} and stride {s}: need (T + pad - kernel) % stride == 0 and "
            f"T + pad >= kernel; change the clip length or temporal_padding",
        )
        return (padded - k) // s + 1

    def anchors(self, points: int) -> int:
        """M = N // spatial_stride anchors per frame; ValueError when that is zero."""
        m = points // self.spatial_stride
        _require(
            m >= 1,
            f"P4DConv: {points} points per frame < spatial_stride {self.spatial_stride}: "
            f"no anchor left; use more points or a smaller spatial_stride",
        )
        return m

    def forward(
        self, xyz: torch.Tensor, features: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, n = check_points("P4DConv", xyz)
        check_features("P4DConv", features, xyz, self.in_channels)
        t_out, m = self.output_frames(t), self.anchors(n)
        half = self.temporal_kernel_size // 2
        # Replicate padding: padded frame i reads input frame clamp(i - pad_before, 0, T-1).
        source = (torch.arange(t + sum(self.temporal_padding)) - self.temporal_padding[0]).clamp(
            0, t - 1
        )
        centres = torch.arange(t_out) * self.temporal_stride + half
        rows = b * t_out

        def window_frame(values: torch.Tensor, offset: int) -> torch.Tensor:
            """[B,T,N,C] -> [B*T', N, C]: for each anchor frame, its frame at this offset."""
            return values[:, source[centres + offset].to(values.device)].reshape(rows, n, -1)

        frame_xyz = window_frame(xyz, 0)
        anchor_xyz = torch.cat(
            [
                gather(frame_xyz[s], farthest_point_sample(frame_xyz[s], m))
                for s in row_chunks(rows, n)
            ]
        )
        offsets = range(-half, half + 1)
        window = [
            (
                dt,
                window_frame(xyz, dt),
                None if features is None else window_frame(features, dt),
            )
            for dt in offsets
        ]
        with torch.no_grad():
            neighbours = [
                torch.cat(
                    [
                        ball_query(self.radius, self.neighbors, p[s], anchor_xyz[s])
                        for s in row_chunks(rows, m * n)
                    ]
                )
                for _, p, _ in window
            ]
        # BatchNorm needs the statistics of all rows at once; without it the rows are independent.
        chunks = (
            [slice(0, rows)]
            if self.batch_norm
            else list(row_chunks(rows, m * self.neighbors * self.widest))
        )
        out = torch.cat([self._convolve(anchor_xyz[s], window, neighbours, s) for s in chunks])
        return anchor_xyz.reshape(b, t_out, m, 3), out.reshape(b, t_out, m, -1)

    def _convolve(
        self,
        anchor_xyz: torch.Tensor,
        window: list[tuple[int, torch.Tensor, torch.Tensor | None]],
        neighbours: list[torch.Tensor],
        rows: slice,
    ) -> torch.Tensor:
        """Rows of anchors [R,M,3] -> [R,M,C']: conv over each window frame, then pooled."""
        pooled = []
        for (dt, points, feats), idx in zip(window, neighbours, strict=True):
            idx = idx[rows]
            offset = group(points[rows], idx) - anchor_xyz.unsqueeze(2)  # [R,M,K,3]
            offset = torch.cat([offset, offset.new_full((*offset.shape[:-1], 1), dt)], dim=-1)
            grouped = None if feats is None else group(feats[rows], idx)
            if self.linear:
                pooled.append(self._linear_max(offset, grouped))
                continue
            h = self.conv_d(offset)
            if self.conv_f is not None:
                f = self.conv_f(grouped)
                h = h + f if self.operator == "+" else h * f
            # max(dim) saves indices for backward; amax would keep the whole [R,M,K,C] input.
            pooled.append(self.mlp(h).max(dim=2).values)
        stacked = torch.stack(pooled)
        return stacked.amax(0) if self.temporal_pooling == "max" else stacked.sum(0)

    def _linear_max(self, offset: torch.Tensor, grouped: torch.Tensor | None) -> torch.Tensor:
        """max over neighbours of W [offset, features]: [R,M,K,4(+C)] -> [R,M,C'].

        The same value and gradient as Linear then max, but autograd only sees the winning
        neighbour of each channel: the [R,M,K,C'] product is made without grad, to find it.
        """
        x = offset if grouped is None else torch.cat([offset, grouped], dim=-1)
        weight = self.conv_d[0].weight
        if self.conv_f is not None:
            weight = torch.cat([weight, self.conv_f[0].weight], dim=1)  # [C', 4+C]
        r, m, k, j = x.shape
        with torch.no_grad():
            # One plain matmul to [C', R*M*K]: neighbours contiguous for the argmax, no copy.
            scores = (weight @ x.reshape(-1, j).T).view(-1, r * m, k)
            best = scores.argmax(-1).T.reshape(r, m, -1)  # [R,M,C'] winning neighbour
        winners = x.gather(2, best.unsqueeze(-1).expand(*best.shape, x.shape[-1]))
        return (winners * weight).sum(-1)


class P4DTransConv(nn.Module):
    """Feature propagation: features on coarse points -> every target point of the same frame.

    Inverse-distance interpolation from the 3 nearest coarse points, concatenated with the target
    points' own (skip) features, then a shared MLP with BN + ReLU.
    """

    def __init__(
        self,
        in_channels: int,
        skip_channels: int,
        channels: Sequence[int],
        batch_norm: bool = True,
    ):
        super().__init__()
        channels = tuple(channels)
        _require(
            in_channels > 0 and skip_channels >= 0,
            f"P4DTransConv: need in_channels > 0 and skip_channels >= 0, got {in_channels}, "
            f"{skip_channels}",
        )
        _require(
            len(channels) > 0 and all(c > 0 for c in channels),
            f"P4DTransConv: channels must be a non-empty list of positive widths, got {channels}",
        )
        self.in_channels = in_channels
        self.skip_channels = skip_channels
        self.out_channels = channels[-1]
        self.mlp = SharedMLP((in_channels + skip_channels, *channels), batch_norm)

    def forward(
        self,
        xyz: torch.Tensor,
        features: torch.Tensor,
        target_xyz: torch.Tensor,
        target_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """xyz [B,T,M,3], features [B,T,M,C], target_xyz [B,T,N,3] -> [B,T,N,C'']."""
        b, t, m = check_points("P4DTransConv", xyz)
        check_features("P4DTransConv", features, xyz, self.in_channels)
        tb, tt, n = check_points("P4DTransConv (target)", target_xyz)
        _require(
            (tb, tt) == (b, t),
            f"P4DTransConv: coarse and target clips must share batch and frames, got "
            f"{tuple(xyz.shape)} and {tuple(target_xyz.shape)}",
        )
        check_features("P4DTransConv (target)", target_features, target_xyz, self.skip_channels)
        coarse_xyz, coarse = xyz.reshape(b * t, m, 3), features.reshape(b * t, m, -1)
        fine_xyz = target_xyz.reshape(b * t, n, 3)
        k = min(3, m)
        up = torch.cat(
            [
                three_interpolate(coarse[s], coarse_xyz[s], fine_xyz[s], k=k)
                for s in row_chunks(b * t, n * m)
            ]
        ).reshape(b, t, n, -1)
        if target_features is not None:
            up = torch.cat([up, target_features], dim=-1)
        return self.mlp(up)

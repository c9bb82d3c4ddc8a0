"""P4DConv and P4DTransConv against loop-by-loop brute-force references of the reference code."""

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from c2p4d.models import P4DConv, P4DTransConv
from c2p4d.models import p4dconv as p4dconv_module
from c2p4d.pipeline.seeding import seed_from


def fps_brute(points: torch.Tensor, m: int) -> list[int]:
    """Farthest point sampling from index 0, one Python step per sample."""
    chosen, nearest = [0], [math.inf] * len(points)
    for _ in range(m - 1):
        last = points[chosen[-1]]
        nearest = [
            min(d, float(((p - last) ** 2).sum())) for d, p in zip(nearest, points, strict=True)
        ]
        chosen.append(max(range(len(points)), key=lambda j: (nearest[j], -j)))
    return chosen


def ball_query_brute(points: torch.Tensor, centre: torch.Tensor, radius: float, k: int):
    """First k points in index order with d^2 < r^2, padded with the first; [0]*k if none."""
    hits = [j for j, p in enumerate(points) if float(((p - centre) ** 2).sum()) < radius**2][:k]
    return hits + [hits[0]] * (k - len(hits)) if hits else [0] * k


def p4dconv_brute(conv: P4DConv, xyz: torch.Tensor, features: torch.Tensor | None):
    """The reference's loops: anchor frame, batch element, window frame, anchor, neighbour."""
    b, t, n, _ = xyz.shape
    before, after = conv.temporal_padding
    pad = [0] * before + list(range(t)) + [t - 1] * after
    half, m = conv.temporal_kernel_size // 2, n // conv.spatial_stride
    out_xyz, out = [], []
    for centre in range(half, len(pad) - half, conv.temporal_stride):
        frame_xyz, frame_out = [], []
        for s in range(b):
            anchors = xyz[s, pad[centre], fps_brute(xyz[s, pad[centre]], m)]
            per_offset = []
            for dt in range(-half, half + 1):
                points = xyz[s, pad[centre + dt]]
                rows = []
                for a in anchors:
                    idx = ball_query_brute(points, a, conv.radius, conv.neighbors)
                    disp = torch.cat([points[idx] - a, torch.full((len(idx), 1), float(dt))], 1)
                    h = conv.conv_d(disp)
                    if conv.conv_f is not None:
                        f = conv.conv_f(features[s, pad[centre + dt], idx])
                        h = h + f if conv.operator == "+" else h * f
                    rows.append(conv.mlp(h).amax(0))
                per_offset.append(torch.stack(rows))
            stacked = torch.stack(per_offset)
            pooled = stacked.amax(0) if conv.temporal_pooling == "max" else stacked.sum(0)
            frame_xyz.append(anchors)
            frame_out.append(pooled)
        out_xyz.append(torch.stack(frame_xyz))
        out.append(torch.stack(frame_out))
    return torch.stack(out_xyz, 1), torch.stack(out, 1)


def randomise_batch_norm(module: torch.nn.Module, seed: int) -> None:
    """Non-trivial running statistics, so eval-mode BN is a per-channel affine map to check."""
    g = torch.Generator().manual_seed(seed)
    for bn in module.modules():
        if isinstance(bn, torch.nn.BatchNorm1d):
            bn.running_mean.copy_(torch.randn(bn.num_features, generator=g))
            bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
            bn.weight.data.copy_(torch.randn(bn.num_features, generator=g))
            bn.bias.data.copy_(torch.randn(bn.num_features, generator=g))


@settings(max_examples=25)
@given(
    frames=st.integers(1, 5),
    points=st.integers(4, 12),
    spatial_stride=st.integers(1, 4),
    kernel=st.sampled_from([1, 3, 5]),
    stride=st.integers(1, 3),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    in_channels=st.sampled_from([0, 2]),
    batch_norm=st.booleans(),
    pooling=st.sampled_from(["max", "sum"]),
    operator=st.sampled_from(["+", "*"]),
    neighbors=st.integers(1, 6),
    channels=st.sampled_from([(5,), (6, 5)]),
)
def test_p4dconv_matches_brute_force(
    frames,
    points,
    spatial_stride,
    kernel,
    stride,
    padding,
    in_channels,
    batch_norm,
    pooling,
    operator,
    neighbors,
    channels,
):
    seed = seed_from("p4dconv", frames, points, spatial_stride, kernel, stride, padding)
    torch.manual_seed(seed)
    conv = P4DConv(
        in_channels,
        channels,
        radius=0.45,
        neighbors=neighbors,
        spatial_stride=spatial_stride,
        temporal_kernel_size=kernel,
        temporal_stride=stride,
        temporal_padding=padding,
        temporal_pooling=pooling,
        batch_norm=batch_norm,
        operator=operator,
    )
    randomise_batch_norm(conv, seed)
    conv.eval()
    xyz = torch.rand(2, frames, points, 3)
    features = torch.randn(2, frames, points, in_channels) if in_channels else None
    padded = frames + sum(padding)
    if padded < kernel or (padded - kernel) % stride:
        with pytest.raises(ValueError, match="do not tile"):
            conv(xyz, features)
        return
    if points < spatial_stride:
        with pytest.raises(ValueError, match="spatial_stride"):
            conv(xyz, features)
        return
    with torch.no_grad():
        anchor_xyz, out = conv(xyz, features)
        expected_xyz, expected = p4dconv_brute(conv, xyz, features)
    assert out.shape == (2, (padded - kernel) // stride + 1, points // spatial_stride, 5)
    torch.testing.assert_close(anchor_xyz, expected_xyz)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_chunked_rows_give_the_same_output(monkeypatch, batch_norm):
    torch.manual_seed(seed_from("chunks", batch_norm))
    conv = P4DConv(
        3,
        (8, 8),
        radius=0.5,
        neighbors=4,
        spatial_stride=4,
        temporal_kernel_size=3,
        temporal_padding=(1, 1),
        batch_norm=batch_norm,
    )
    xyz, features = torch.rand(2, 4, 16, 3), torch.rand(2, 4, 16, 3)
    whole = conv(xyz, features)
    monkeypatch.setattr(p4dconv_module, "CHUNK_ELEMENTS", 1)
    chunked = conv(xyz, features)
    torch.testing.assert_close(chunked, whole)


def test_p4dconv_gradients_reach_inputs_and_weights():
    torch.manual_seed(0)
    conv = P4DConv(
        2,
        (4, 4),
        radius=0.6,
        neighbors=4,
        spatial_stride=2,
        temporal_kernel_size=3,
        temporal_padding=(1, 1),
        batch_norm=True,
    )
    features = torch.rand(1, 3, 8, 2, requires_grad=True)
    conv(torch.rand(1, 3, 8, 3), features)[1].square().sum().backward()
    assert features.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in conv.parameters())


def three_interpolate_brute(coarse_xyz, coarse, fine_xyz):
    out = []
    for p in fine_xyz:
        d = ((coarse_xyz - p) ** 2).sum(-1).sqrt()
        near = sorted(range(len(coarse_xyz)), key=lambda j: float(d[j]))[:3]
        w = torch.stack([1.0 / (d[j] + 1e-8) for j in near])
        out.append((coarse[near] * (w / w.sum()).unsqueeze(1)).sum(0))
    return torch.stack(out)


@pytest.mark.parametrize("skip_channels", [0, 2])
def test_p4dtransconv_matches_brute_force(skip_channels):
    torch.manual_seed(seed_from("transconv", skip_channels))
    layer = P4DTransConv(4, skip_channels, (6, 3))
    randomise_batch_norm(layer, 1)
    layer.eval()
    xyz, features = torch.rand(2, 3, 5, 3), torch.randn(2, 3, 5, 4)
    target_xyz = torch.rand(2, 3, 9, 3)
    skip = torch.randn(2, 3, 9, skip_channels) if skip_channels else None
    with torch.no_grad():
        out = layer(xyz, features, target_xyz, skip)
        for s in range(2):
            for t in range(3):
                up = three_interpolate_brute(xyz[s, t], features[s, t], target_xyz[s, t])
                if skip is not None:
                    up = torch.cat([up, skip[s, t]], 1)
                torch.testing.assert_close(out[s, t], layer.mlp(up), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(temporal_kernel_size=2), "odd"),
        (dict(temporal_kernel_size=0), "odd"),
        (dict(temporal_stride=0), "temporal_stride"),
        (dict(temporal_padding=(-1, 0)), "temporal_padding"),
        (dict(temporal_padding=(1,)), "temporal_padding"),
        (dict(temporal_pooling="mean"), "temporal_pooling"),
        (dict(operator="addition"), "operator"),
        (dict(radius=0.0), "radius"),
        (dict(radius=math.nan), "radius"),
        (dict(neighbors=0), "neighbors"),
        (dict(spatial_stride=0), "spatial_stride"),
    ],
)
def test_p4dconv_rejects_bad_settings(kwargs, message):
    settings_ = {**dict(radius=0.5, neighbors=4, spatial_stride=2), **kwargs}
    with pytest.raises(ValueError, match=message):
        P4DConv(0, (4,), **settings_)


def test_p4dconv_rejects_bad_inputs():
    conv = P4DConv(2, (4,), radius=0.5, neighbors=4, spatial_stride=2)
    xyz = torch.rand(1, 2, 8, 3)
    with pytest.raises(ValueError, match=r"\[B, T, N, 3\]"):
        conv(torch.rand(2, 8, 3), torch.rand(2, 8, 2))
    with pytest.raises(ValueError, match="features is None"):
        conv(xyz)
    with pytest.raises(ValueError, match="expected features of shape"):
        conv(xyz, torch.rand(1, 2, 8, 3))
    with pytest.raises(ValueError, match="in_channels=0"):
        P4DConv(0, (4,), radius=0.5, neighbors=4, spatial_stride=2)(xyz, torch.rand(1, 2, 8, 2))
    with pytest.raises(ValueError, match="empty"):
        conv(torch.rand(1, 0, 8, 3), torch.rand(1, 0, 8, 2))


def test_p4dtransconv_rejects_mismatched_clips():
    layer = P4DTransConv(4, 0, (4,))
    with pytest.raises(ValueError, match="share batch and frames"):
        layer(torch.rand(1, 2, 5, 3), torch.rand(1, 2, 5, 4), torch.rand(1, 3, 9, 3))


def test_linear_shortcut_has_the_gradient_of_linear_then_max():
    torch.manual_seed(seed_from("shortcut"))
    fast = P4DConv(
        2,
        (6,),
        radius=0.6,
        neighbors=4,
        spatial_stride=2,
        temporal_kernel_size=3,
        temporal_padding=(1, 1),
    )
    plain = copy.deepcopy(fast)
    plain.linear = False
    assert fast.linear
    xyz, weights = torch.rand(2, 3, 8, 3), torch.randn(2, 3, 4, 6)
    grads = []
    for conv in (fast, plain):
        features = torch.rand(2, 3, 8, 2, generator=torch.Generator().manual_seed(1))
        features.requires_grad_(True)
        out = conv(xyz, features)[1]
        (out * weights).sum().backward()
        grads.append([out, features.grad, *(p.grad for p in conv.parameters())])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)

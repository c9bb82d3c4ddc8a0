"""Gathers and interpolation: values, and gradients through torch (gradcheck in float64)."""

import pytest
import torch

from c2p4d import kernels


def test_gather_and_group_pick_rows():
    features = torch.arange(24.0).reshape(2, 4, 3)
    idx = torch.tensor([[3, 0], [1, 1]])
    assert torch.equal(
        kernels.gather(features, idx), torch.stack([features[0, [3, 0]], features[1, [1, 1]]])
    )
    grouped = kernels.group(features, torch.stack([idx, idx.flip(-1)], dim=-1))
    assert grouped.shape == (2, 2, 2, 3)
    assert torch.equal(grouped[0, 0, 1], features[0, 0]) and torch.equal(
        grouped[1, 1, 0], features[1, 1]
    )


def test_gather_gradient():
    features = torch.rand(2, 5, 3, dtype=torch.float64, requires_grad=True)
    idx = torch.tensor([[0, 4, 4], [2, 1, 0]])
    assert torch.autograd.gradcheck(lambda f: kernels.gather(f, idx), (features,))


def test_group_gradient():
    features = torch.rand(2, 5, 3, dtype=torch.float64, requires_grad=True)
    idx = torch.randint(0, 5, (2, 3, 4), generator=torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(lambda f: kernels.group(f, idx), (features,))


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_three_interpolate_gradient(backend):
    gen = torch.Generator().manual_seed(1)
    xyz = torch.rand(2, 6, 3, generator=gen, dtype=torch.float64)
    centers = torch.rand(2, 4, 3, generator=gen, dtype=torch.float64)
    features = torch.rand(2, 6, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda f: kernels.three_interpolate(f, xyz, centers, backend=backend), (features,)
    )


def test_three_interpolate_reproduces_features_at_known_points():
    xyz = torch.rand(1, 8, 3, dtype=torch.float64)
    features = torch.rand(1, 8, 5, dtype=torch.float64)
    out = kernels.three_interpolate(features, xyz, xyz)
    assert torch.allclose(out, features, atol=1e-6)

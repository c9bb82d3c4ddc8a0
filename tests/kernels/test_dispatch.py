"""Backend choice (argument, environment, auto), the pointnet2_ops adapter, and bad input."""

import subprocess
import sys
import types

import numpy as np
import pytest
import torch

from c2p4d import kernels
from c2p4d.kernels import pointnet2, resolve_backend, torch_ops


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("C2P4D_KERNELS", raising=False)


@pytest.fixture
def no_pointnet2(monkeypatch):
    monkeypatch.setitem(sys.modules, "pointnet2_ops", None)  # makes the import fail


@pytest.fixture
def fake_pointnet2(monkeypatch):
    """A stand-in pointnet2_ops whose ops check their arguments as the real ones would and
    answer from our torch backend, in int32 like the real ones."""
    calls = []

    def furthest_point_sample(xyz, npoint):
        assert xyz.dtype == torch.float32 and xyz.is_contiguous()
        calls.append("fps")
        return torch_ops.fps(xyz, npoint).int()

    def ball_query(radius, nsample, xyz, new_xyz):
        assert isinstance(radius, float) and isinstance(nsample, int)
        calls.append("ball_query")
        return torch_ops.ball_query(radius, nsample, xyz, new_xyz).int()

    def three_nn(unknown, known):
        calls.append("three_nn")
        dist, idx = torch_ops.knn(3, known, unknown)
        return dist, idx.int()

    utils = types.ModuleType("pointnet2_ops.pointnet2_utils")
    utils.furthest_point_sample = furthest_point_sample
    utils.ball_query = ball_query
    utils.three_nn = three_nn
    package = types.ModuleType("pointnet2_ops")
    package.pointnet2_utils = utils
    monkeypatch.setitem(sys.modules, "pointnet2_ops", package)
    monkeypatch.setitem(sys.modules, "pointnet2_ops.pointnet2_utils", utils)
    return calls


# ---------------------------------------------------------------- choosing the backend


def test_auto_uses_numba_on_cpu_and_torch_on_gpus_without_pointnet2(no_env, no_pointnet2):
    assert resolve_backend("cpu") == "numba"
    assert resolve_backend("cuda") == "torch"
    assert resolve_backend("mps") == "torch"


def test_auto_uses_pointnet2_on_cuda_when_importable(no_env, fake_pointnet2):
    assert resolve_backend("cuda") == "pointnet2"
    assert resolve_backend(torch.device("cuda", 1)) == "pointnet2"
    assert resolve_backend("cpu") == "numba"


def test_environment_variable_chooses_and_argument_overrides(monkeypatch):
    monkeypatch.setenv("C2P4D_KERNELS", "torch")
    assert resolve_backend("cpu") == "torch"
    assert resolve_backend("cpu", "numba") == "numba"
    assert resolve_backend("cpu", "auto") == "numba"
    monkeypatch.setenv("C2P4D_KERNELS", "auto")
    assert resolve_backend("cpu") == "numba"


def test_the_environment_variable_reaches_the_ops(monkeypatch):
    calls = []
    monkeypatch.setattr(torch_ops, "fps", lambda xyz, m: calls.append(m) or torch.zeros(1, m))
    monkeypatch.setenv("C2P4D_KERNELS", "torch")
    kernels.farthest_point_sample(torch.rand(1, 5, 3), 2)
    assert calls == [2]


def test_unknown_backends_are_refused(monkeypatch):
    with pytest.raises(ValueError, match="'cuda'.*backend="):
        resolve_backend("cpu", "cuda")
    monkeypatch.setenv("C2P4D_KERNELS", "fast")
    with pytest.raises(ValueError, match="'fast'.*C2P4D_KERNELS"):
        kernels.knn(1, torch.rand(1, 4, 3), torch.rand(1, 2, 3))


def test_pointnet2_when_missing_is_a_clear_error(no_env, no_pointnet2):
    with pytest.raises(ValueError, match="pointnet2_ops.*not installed"):
        resolve_backend("cuda", "pointnet2")
    with pytest.raises(ValueError, match="pointnet2_ops"):
        kernels.farthest_point_sample(torch.rand(1, 8, 3), 2, backend="pointnet2")


def test_pointnet2_needs_cuda_tensors(no_env, fake_pointnet2):
    with pytest.raises(ValueError, match="CUDA tensors only"):
        kernels.ball_query(0.5, 4, torch.rand(1, 8, 3), torch.rand(1, 2, 3), backend="pointnet2")


# ---------------------------------------------------------------- the pointnet2_ops adapter


def test_pointnet2_adapter_calls_the_real_api(fake_pointnet2):
    rng = np.random.default_rng(0)
    xyz = torch.from_numpy(rng.normal(size=(2, 40, 3)).astype(np.float32))
    centers = xyz[:, :5] + 0.1
    idx = pointnet2.fps(xyz, 7)
    assert idx.dtype == torch.int64 and torch.equal(idx, kernels.farthest_point_sample(xyz, 7))
    idx = pointnet2.ball_query(0.8, 6, xyz, centers)
    assert idx.dtype == torch.int64 and torch.equal(idx, kernels.ball_query(0.8, 6, xyz, centers))
    dist, idx = pointnet2.three_nn(xyz, centers)
    expected_dist, expected_idx = kernels.knn(3, xyz, centers)
    assert idx.dtype == torch.int64 and torch.equal(idx, expected_idx)
    assert torch.equal(dist, expected_dist)
    assert fake_pointnet2 == ["fps", "ball_query", "three_nn"]


# ---------------------------------------------------------------- bad input


GOOD = torch.rand(2, 6, 3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: kernels.farthest_point_sample(torch.rand(6, 3), 2), "xyz must have shape"),
        (lambda: kernels.farthest_point_sample(torch.rand(2, 6, 4), 2), "xyz must have shape"),
        (lambda: kernels.farthest_point_sample(torch.rand(2, 0, 3), 2), "xyz is empty"),
        (lambda: kernels.farthest_point_sample(torch.ones(1, 4, 3).int(), 2), "floating"),
        (lambda: kernels.farthest_point_sample(GOOD.numpy(), 2), "xyz must be a torch.Tensor"),
        (lambda: kernels.farthest_point_sample(torch.full((1, 4, 3), np.nan), 2), "xyz has NaN"),
        (lambda: kernels.farthest_point_sample(GOOD, 0), "m must be a positive int"),
        (lambda: kernels.farthest_point_sample(GOOD, 2.0), "m must be an int"),
        (lambda: kernels.ball_query(0.5, 4, GOOD, torch.rand(3, 2, 3)), "centers has batch"),
        (lambda: kernels.ball_query(0.5, 4, GOOD, torch.rand(2, 2)), "centers must have shape"),
        (lambda: kernels.ball_query(-1.0, 4, GOOD, GOOD), "radius must be positive"),
        (lambda: kernels.ball_query(float("nan"), 4, GOOD, GOOD), "radius must be positive"),
        (lambda: kernels.ball_query(0.5, 0, GOOD, GOOD), "k must be a positive int"),
        (lambda: kernels.knn(7, GOOD, GOOD), "k=7 exceeds the number of points N=6"),
        (lambda: kernels.three_interpolate(torch.rand(2, 5, 4), GOOD, GOOD), "features"),
        (lambda: kernels.three_interpolate(torch.rand(2, 6), GOOD, GOOD), "features must have"),
        (lambda: kernels.gather(torch.rand(2, 6), torch.zeros(2, 3).long()), "features must"),
        (lambda: kernels.gather(torch.rand(2, 6, 4), torch.zeros(2, 3)), "idx must be an integer"),
        (lambda: kernels.gather(torch.rand(2, 6, 4), torch.zeros(1, 3).long()), "idx has batch"),
        (lambda: kernels.group(torch.rand(2, 6, 4), torch.zeros(2, 3).long()), "idx must have"),
    ],
)
def test_bad_input_names_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_cpu_kernels_import_without_torch():
    # The pipeline uses them and never imports torch.
    code = (
        "import sys, c2p4d.kernels.sampling, c2p4d.kernels.neighbors; "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0

"""Every backend of the index ops against brute-force numpy references of the pointnet2 kernels.

The FPS reference simulates the CUDA kernel literally (strided threads, a shared-memory tree
reduction), so the tie rule and the near-origin skip are checked, not assumed.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from c2p4d import kernels
from c2p4d.kernels import sampling

BACKENDS = ["numba", "torch"]


# ---------------------------------------------------------------- brute-force references


def sq_dist(points, p):
    d = points.astype(np.float32) - np.asarray(p, dtype=np.float32)
    return d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1] + d[..., 2] * d[..., 2]


def reference_fps(xyz, m):
    """pointnet2's furthest_point_sampling_kernel, step by step, for one cloud."""
    xyz = xyz.astype(np.float32)
    n = len(xyz)
    threads = max(min(1 << int(math.log(n) / math.log(2.0)), 512), 1)
    rows = -(-n // threads)
    skip = sq_dist(xyz, (0, 0, 0)).astype(np.float64) <= 1e-3
    temp = np.full(n, 1e10, dtype=np.float32)
    out, old = [0], 0
    for _ in range(1, m):
        temp = np.where(skip, temp, np.minimum(sq_dist(xyz, xyz[old]), temp))
        # Thread t scans k = t, t+T, ... (skipping near-origin points), keeping its first
        # maximum: a strict >, starting from (-1, index 0).
        scanned = np.zeros(rows * threads, dtype=bool)
        scanned[:n] = ~skip
        value = np.full(rows * threads, -1.0, dtype=np.float32)
        value[:n] = temp
        best = np.full(threads, -1.0, dtype=np.float32)
        best_i = np.zeros(threads, dtype=np.int64)
        for r in range(rows):
            k = r * threads + np.arange(threads)
            take = scanned[k] & (value[k] > best)
            best_i = np.where(take, k, best_i)
            best = np.where(take, value[k], best)
        # Tree reduction: thread t takes t+s's pair only if strictly larger.
        s = threads // 2
        while s >= 1:
            take = best[s : 2 * s] > best[:s]
            best_i[:s] = np.where(take, best_i[s : 2 * s], best_i[:s])
            best[:s] = np.where(take, best[s : 2 * s], best[:s])
            s //= 2
        old = int(best_i[0])
        out.append(old)
    return np.array(out)


def reference_ball_query(radius, k, xyz, centers):
    r = np.float32(radius)
    out = np.zeros((len(centers), k), dtype=np.int64)
    for j, c in enumerate(centers):
        hits = np.flatnonzero(sq_dist(xyz, c) < r * r)[:k]
        if hits.size:
            out[j] = hits[0]
            out[j, : hits.size] = hits
    return out


def reference_knn(k, xyz, centers):
    d2 = np.stack([sq_dist(xyz, c) for c in centers])
    idx = np.stack([np.lexsort((np.arange(len(row)), row))[:k] for row in d2])
    return np.sqrt(np.take_along_axis(d2, idx, 1)), idx


# ---------------------------------------------------------------- inputs


@st.composite
def clouds(draw, max_n=60):
    """[B,N,3] float32 clouds: gaussian, on a coarse grid (duplicates, exact ties), or near the
    origin (the FPS skip)."""
    b = draw(st.integers(1, 3))
    n = draw(st.integers(1, max_n))
    layout = draw(st.sampled_from(["gaussian", "grid", "near_origin"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if layout == "gaussian":
        xyz = rng.normal(size=(b, n, 3))
    elif layout == "grid":
        xyz = rng.integers(-2, 3, size=(b, n, 3)) * 0.5
    else:
        xyz = rng.integers(-1, 2, size=(b, n, 3)) * 0.02
    return torch.from_numpy(xyz.astype(np.float32))


def centers_for(xyz, m, seed):
    """Centres: some on the points, some in between, some far outside the cloud."""
    rng = np.random.default_rng(seed)
    b, n, _ = xyz.shape
    on_points = xyz[:, rng.integers(0, n, size=m)].numpy()
    jitter = rng.normal(size=(b, m, 3)) * rng.choice([0.0, 0.3, 10.0], size=(1, m, 1))
    return torch.from_numpy((on_points + jitter).astype(np.float32))


# ---------------------------------------------------------------- farthest point sampling


@pytest.mark.parametrize("backend", BACKENDS)
@given(xyz=clouds(), m=st.integers(1, 70))
def test_fps_matches_the_cuda_kernel(backend, xyz, m):
    idx = kernels.farthest_point_sample(xyz, m, backend=backend)
    assert idx.dtype == torch.int64 and idx.shape == (xyz.shape[0], m)
    for b in range(xyz.shape[0]):
        np.testing.assert_array_equal(idx[b].numpy(), reference_fps(xyz[b].numpy(), m))


@given(xyz=clouds(max_n=200), m=st.integers(1, 120), leaf_size=st.sampled_from([2, 3, 7]))
def test_spatial_fps_is_exact_for_any_tree(xyz, m, leaf_size):
    idx = sampling.fps_numba(xyz.numpy(), m, spatial=True, leaf_size=leaf_size)
    for b in range(xyz.shape[0]):
        np.testing.assert_array_equal(idx[b], reference_fps(xyz[b].numpy(), m))


@pytest.mark.parametrize("spatial", [True, False])
@pytest.mark.parametrize("layout", ["grid", "duplicated"])
def test_cpu_fps_is_exact_on_a_large_cloud(layout, spatial):
    rng = np.random.default_rng(7)
    if layout == "grid":  # many exact ties in distance
        xyz = rng.integers(-8, 9, size=(1, 3000, 3)).astype(np.float32) * 0.25
    else:  # every point three times, as resampling to a fixed count does
        xyz = np.repeat(rng.normal(size=(1, 1000, 3)).astype(np.float32), 3, axis=1)
    idx = sampling.fps_numba(xyz, 400, spatial=spatial, leaf_size=16)
    np.testing.assert_array_equal(idx[0], reference_fps(xyz[0], 400))


@pytest.mark.parametrize("backend", BACKENDS)
def test_fps_breaks_ties_like_the_cuda_kernel_not_by_lowest_index(backend):
    # N=4 runs 4 threads; after index 0, points 1 and 2 tie. The tree reduction prefers thread
    # 2 (bit-reversed id 1) over thread 1 (bit-reversed id 2).
    xyz = torch.tensor([[[1.0, 0, 0], [1, 2, 0], [1, -2, 0], [1, 1, 0]]])
    assert kernels.farthest_point_sample(xyz, 2, backend=backend).tolist() == [[0, 2]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_fps_never_picks_points_at_the_origin_after_the_first(backend):
    xyz = torch.tensor([[[0.0, 0, 0], [0.01, 0, 0], [1, 0, 0], [1, 1, 0]]])
    assert kernels.farthest_point_sample(xyz, 4, backend=backend).tolist() == [[0, 3, 2, 2]]


# ---------------------------------------------------------------- ball query and k-NN


@pytest.mark.parametrize("backend", BACKENDS)
@given(
    xyz=clouds(),
    m=st.integers(1, 12),
    k=st.integers(1, 70),
    radius=st.sampled_from([1e-4, 0.3, 0.5, 1.0, 100.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_ball_query_matches_reference(backend, xyz, m, k, radius, seed):
    centers = centers_for(xyz, m, seed)
    idx = kernels.ball_query(radius, k, xyz, centers, backend=backend)
    assert idx.dtype == torch.int64 and idx.shape == (xyz.shape[0], m, k)
    for b in range(xyz.shape[0]):
        expected = reference_ball_query(radius, k, xyz[b].numpy(), centers[b].numpy())
        np.testing.assert_array_equal(idx[b].numpy(), expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ball_query_pads_with_first_hit_and_zeros(backend):
    xyz = torch.tensor([[[5.0, 0, 0], [0, 0, 0], [0.1, 0, 0], [9, 9, 9]]])
    centers = torch.tensor([[[0.0, 0, 0], [-50, 0, 0]]])
    idx = kernels.ball_query(0.5, 5, xyz, centers, backend=backend)
    assert idx.tolist() == [[[1, 2, 1, 1, 1], [0, 0, 0, 0, 0]]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_ball_query_radius_is_strict(backend):
    xyz = torch.tensor([[[1.0, 0, 0], [0.5, 0, 0]]])
    idx = kernels.ball_query(1.0, 2, xyz, torch.zeros(1, 1, 3), backend=backend)
    assert idx.tolist() == [[[1, 1]]]


def test_ball_query_grid_coarsens_for_tiny_radii():
    # Extent / radius = 1e8 would mean 1e24 cells; the grid must coarsen and stay exact.
    rng = np.random.default_rng(3)
    xyz = rng.normal(size=(1, 500, 3)).astype(np.float32) * 100
    xyz[0, 250:260] = xyz[0, 10] + rng.normal(size=(10, 3)).astype(np.float32) * 1e-7
    centers = xyz[:, [10, 0, 499]]
    idx = kernels.ball_query(1e-6, 8, torch.from_numpy(xyz), torch.from_numpy(centers))
    np.testing.assert_array_equal(idx[0].numpy(), reference_ball_query(1e-6, 8, xyz[0], centers[0]))


@pytest.mark.parametrize("backend", BACKENDS)
@given(xyz=clouds(), m=st.integers(1, 12), k=st.integers(1, 60), seed=st.integers(0, 2**32 - 1))
def test_knn_matches_reference(backend, xyz, m, k, seed):
    k = min(k, xyz.shape[1])
    centers = centers_for(xyz, m, seed)
    dist, idx = kernels.knn(k, xyz, centers, backend=backend)
    assert idx.dtype == torch.int64 and idx.shape == dist.shape == (xyz.shape[0], m, k)
    for b in range(xyz.shape[0]):
        expected_dist, expected_idx = reference_knn(k, xyz[b].numpy(), centers[b].numpy())
        np.testing.assert_array_equal(idx[b].numpy(), expected_idx)
        np.testing.assert_array_equal(dist[b].numpy(), expected_dist)


@pytest.mark.parametrize("backend", BACKENDS)
def test_three_interpolate_matches_reference(backend):
    rng = np.random.default_rng(5)
    xyz = rng.normal(size=(2, 20, 3)).astype(np.float32)
    centers = np.concatenate([xyz[:, :4], rng.normal(size=(2, 6, 3)).astype(np.float32)], 1)
    feats = rng.normal(size=(2, 20, 4))
    out = kernels.three_interpolate(
        torch.from_numpy(feats), torch.from_numpy(xyz), torch.from_numpy(centers), backend=backend
    )
    for b in range(2):
        dist, idx = reference_knn(3, xyz[b], centers[b])
        w = 1.0 / (dist.astype(np.float64) + 1e-8)
        w /= w.sum(-1, keepdims=True)
        np.testing.assert_allclose(
            out[b].numpy(), (feats[b][idx] * w[..., None]).sum(1), rtol=1e-5, atol=1e-6
        )


# ---------------------------------------------------------------- the torch backend's chunks


@given(xyz=clouds(), m=st.integers(1, 12), k=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
def test_torch_chunks_do_not_change_results(xyz, m, k, seed):
    from c2p4d.kernels import torch_ops

    centers = centers_for(xyz, m, seed)
    k = min(k, xyz.shape[1])
    whole_ball = torch_ops.ball_query(0.5, k, xyz, centers)
    whole_knn = torch_ops.knn(k, xyz, centers)
    saved = torch_ops.CHUNK_ELEMENTS
    torch_ops.CHUNK_ELEMENTS = 1  # one centre per chunk
    try:
        assert torch.equal(torch_ops.ball_query(0.5, k, xyz, centers), whole_ball)
        for a, b in zip(torch_ops.knn(k, xyz, centers), whole_knn, strict=True):
            assert torch.equal(a, b)
    finally:
        torch_ops.CHUNK_ELEMENTS = saved

"""Helpers every source shares: resampling, frame checks, options, the registry, seeds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from c2p4d.pipeline import sources
from c2p4d.pipeline.errors import DataError
from c2p4d.pipeline.seeding import rng_from, seed_from
from c2p4d.pipeline.sources.base import check_frame, resample_indices
from c2p4d.pipeline.sources.rendered import split_of_index


@given(n_in=st.integers(1, 300), n_out=st.integers(1, 300), seed=st.integers(0, 2**32))
def test_resample_keeps_every_point_when_upsampling(n_in, n_out, seed):
    idx = resample_indices(n_in, n_out, np.random.default_rng(seed))
    assert idx.shape == (n_out,)
    counts = np.bincount(idx, minlength=n_in)
    if n_in >= n_out:
        assert counts.max() == 1  # a subset, no duplicates
    else:
        assert counts.min() == n_out // n_in  # every point at least the whole repeats
        assert counts.max() <= n_out // n_in + 1


def test_check_frame_names_the_problem():
    check_frame(np.zeros((4, 3)), "f")
    with pytest.raises(DataError, match="seq7 frame 3: the frame has no points"):
        check_frame(np.zeros((0, 3)), "seq7 frame 3")
    with pytest.raises(DataError, match="x: the frame has NaN"):
        check_frame(np.array([[0, np.nan, 0]]), "x")
    with pytest.raises(DataError, match=r"x: expected points of shape \[n, 3\], got \[4, 2\]"):
        check_frame(np.zeros((4, 2)), "x")


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(DataError, match="unknown dataset 'nope'; known datasets: .*synth-hoi"):
        sources.get_source("nope")


def test_seeds_are_stable_names_not_order():
    # A fixed value: changing the derivation would silently change every dataset and view.
    assert seed_from("synth-hoi", "seq0001", 0) != seed_from("synth-hoi", "seq0001", 1)
    assert seed_from("a", "bc") != seed_from("ab", "c")
    assert seed_from("c2p4d") == 4640705207703759532
    assert rng_from("x").integers(1 << 30) == rng_from("x").integers(1 << 30)


def test_rendered_sources_deal_splits_by_index():
    assert [split_of_index(i) for i in range(10)] == [0, 0, 0, 0, 0, 0, 1, 2, 0, 0]
    # mocap: runs of 15 sequences (one per clip), 4 runs train, then val, then test
    pattern = (0, 0, 0, 0, 1, 2)
    splits = {i: split_of_index(i, pattern, every=15) for i in (0, 59, 60, 74, 75, 89, 90)}
    assert splits == {0: 0, 59: 0, 60: 1, 74: 1, 75: 2, 89: 2, 90: 0}

"""Shared test settings (hypothesis derandomized, so CI is deterministic) and fixtures."""

import os

import pytest
from hypothesis import settings
from support import TINY_ARGS, c2p_data

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=50)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory):
    """synth-hoi at a tiny size, ingested once by one worker, uninterrupted. Read only: a test
    that changes a store works on `support.copy_store`."""
    out = tmp_path_factory.mktemp("tiny")
    result = c2p_data("ingest", "--dataset", "synth-hoi", "--out", out, *TINY_ARGS, "--workers", 1)
    assert "ingested 6 sequences, 144 frames, 36,864 points" in result.stdout
    return out / "synth-hoi.zarr"

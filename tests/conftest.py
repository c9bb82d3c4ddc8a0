"""Shared test settings (hypothesis derandomized, so CI is deterministic; numba with bounds
checks), a guard that the c2p4d under test is this checkout, and fixtures."""

import os
import tempfile

# Numba does not check indices by default: a kernel that reads past an array corrupts memory
# or crashes only sometimes. Under test every index is checked (an IndexError instead), in a
# cache of its own, as numba's cache does not tell checked from unchecked code apart. Set
# before anything imports numba (support does); CLI subprocesses and Dask workers inherit it.
os.environ.setdefault("NUMBA_BOUNDSCHECK", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "c2p4d-numba-checked"))

import pytest
from hypothesis import settings
from support import TINY_ARGS, c2p_data, check_checkout

# The c2p4d under test must be this checkout: an editable install of another copy would
# silently test that copy (and the CLI subprocesses would run it).
try:
    check_checkout()
except RuntimeError as error:
    pytest.exit(str(error), returncode=pytest.ExitCode.USAGE_ERROR)

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

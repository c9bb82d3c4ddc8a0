"""The train tests' store, made once: read only (a test that changes it works on a copy)."""

from pathlib import Path

import pytest
from support import c2p_data


@pytest.fixture(scope="session")
def hoi_store(tmp_path_factory) -> Path:
    """synth-hoi, 8 sequences (6 train, 1 val, 1 test) x 24 frames x 256 points, 2 views."""
    out = tmp_path_factory.mktemp("hoi")
    sizes = {"num_sequences": 8, "frames_per_sequence": 24, "image_width": 64, "image_height": 48}
    options = [arg for k, v in sizes.items() for arg in ("-o", f"{k}={v}")]
    c2p_data("ingest", "--dataset", "synth-hoi", "--out", out, *options, "--points", 256)
    c2p_data("partial-views", out / "synth-hoi.zarr", "--views", 2)
    return out / "synth-hoi.zarr"

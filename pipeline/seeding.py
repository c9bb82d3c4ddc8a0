"""Seeds derived from names, so results never depend on worker count or task order."""

from __future__ import annotations

import hashlib

import numpy as np


def seed_from(*names: object) -> int:
    """A 63-bit seed from a tuple of names, e.g. (dataset, sequence name, view index)."""
    key = "\x1f".join(str(n) for n in names).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1


def rng_from(*names: object) -> np.random.Generator:
    """A numpy generator seeded by `seed_from(*names)`."""
    return np.random.default_rng(seed_from(*names))

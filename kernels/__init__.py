"""Point kernels: farthest point sampling, ball query, k-NN, z-buffer; the ground floor.

The torch-level ops below are loaded on first use, so that the numpy/numba modules of this
package (sampling, neighbors, zbuffer) can be imported without torch, as the pipeline does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_HOME = {
    "ball_query": "dispatch",
    "farthest_point_sample": "dispatch",
    "knn": "dispatch",
    "resolve_backend": "dispatch",
    "three_interpolate": "dispatch",
    "gather": "grouping",
    "group": "grouping",
}
__all__ = [
    "ball_query",
    "farthest_point_sample",
    "gather",
    "group",
    "knn",
    "resolve_backend",
    "three_interpolate",
]

if TYPE_CHECKING:
    from c2p4d.kernels.dispatch import (
        ball_query,
        farthest_point_sample,
        knn,
        resolve_backend,
        three_interpolate,
    )
    from c2p4d.kernels.grouping import gather, group


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(f"c2p4d.kernels.{_HOME[name]}"), name)
    raise AttributeError(f"module 'c2p4d.kernels' has no attribute {name!r}")

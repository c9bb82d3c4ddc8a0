"""Point kernels: farthest point sampling, ball query, k-NN, z-buffer; the ground floor.

The torch ops load lazily, so that `pipeline` (which never imports torch) can use the numba
kernels, e.g. c2p4d.kernels.zbuffer, without pulling torch in.
"""

import importlib

_LAZY = {
    "ball_query": "dispatch",
    "farthest_point_sample": "dispatch",
    "knn": "dispatch",
    "gather": "neighbors",
    "group": "neighbors",
    "three_interpolate": "neighbors",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)

"""Running a per-cloud numba kernel over a batch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def run_batched(
    cloud_kernel: Callable,
    batch_kernel: Callable,
    per_cloud: tuple[np.ndarray, ...],
    shared: tuple = (),
) -> None:
    """batch_kernel(*per_cloud, *shared), a prange over the clouds; one cloud goes straight to
    cloud_kernel(*(a[0] for a in per_cloud), *shared).

    A parallel region around a single task gains nothing and can cost a lot: OpenMP workers spin
    at its barrier, and on a busy machine that wait alone took ~25 ms per call.
    """
    if per_cloud[0].shape[0] == 1:
        cloud_kernel(*(a[0] for a in per_cloud), *shared)
    else:
        batch_kernel(*per_cloud, *shared)

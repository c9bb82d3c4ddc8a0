"""Numba's threading layer for this package: OpenMP first, then workqueue, TBB last.

open3d ships an old libtbb; when numba tries TBB first it finds that one, refuses it and warns
("The TBB threading layer requires TBB version 2021 update 6 or later"). The layer is picked
when the first parallel function runs, so every module with parallel kernels imports this one
before defining them.
"""

from __future__ import annotations

import numba

numba.config.THREADING_LAYER_PRIORITY = ["omp", "workqueue", "tbb"]

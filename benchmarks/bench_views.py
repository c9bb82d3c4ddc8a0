"""Partial views through the pipeline: one whole sequence end to end, and Dask scaling.

1. One sequence of synth-hoi (150 frames x 2048 points) gets 8 views on one core: trajectories,
   occlusion and the store write (what one Dask task does per sequence), split by stage.
2. `partial_views` on a store of 16 sequences with 1 and then 2 local Dask workers; the speed-up
   is the ratio of wall times on a started cluster (the start, a few seconds of spawning
   processes whatever the work, is shown beside it; numba compiles before timing: a warm-up run
   on a copy).

    python benchmarks/bench_views.py [--quick]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

from c2p4d.pipeline.run import ClusterOptions, dask_client, ingest, partial_views
from c2p4d.pipeline.sources import get_source
from c2p4d.pipeline.store import Store
from c2p4d.pipeline.trajectories import view_trajectories
from c2p4d.pipeline.views import ViewConfig, ViewRequest, render_views


def one_sequence(root: Path, frames: int, views: int) -> dict[str, float]:
    """Seconds per stage for `views` views of one sequence on one thread (best of 3)."""
    source = get_source("synth-hoi", num_sequences=1, frames_per_sequence=frames)
    ingest(source, root, ClusterOptions(workers=1))
    store = Store.open(root / "synth-hoi.zarr", writable=True)
    config = ViewConfig(num_views=views)
    store.prepare_views(views, {"bench": True})
    seq = store.read_sequence(0)
    render_views(seq.points, seq.camera, "bench", seq.name, range(views), config)  # compile
    best: dict[str, float] = {}
    for _ in range(3):
        times = {}
        start = time.perf_counter()
        view_trajectories(
            seq.points, seq.camera, "bench", seq.name, range(views), config.trajectory
        )
        times["trajectories"] = time.perf_counter() - start
        start = time.perf_counter()
        visible, camera, intrinsics = render_views(
            seq.points, seq.camera, "bench", seq.name, range(views), config
        )
        times["trajectories + occlusion"] = time.perf_counter() - start
        start = time.perf_counter()
        for v in range(views):
            store.write_view(0, v, visible[v], camera[v], intrinsics[v])
            store.mark_view_done(0, v)
        times["store write"] = time.perf_counter() - start
        times["end to end"] = times["trajectories + occlusion"] + times["store write"]
        best = {k: min(t, best.get(k, np.inf)) for k, t in times.items()}
    return best


def scaling(root: Path, sequences: int, frames: int, views: int) -> dict[int, tuple[float, float]]:
    """Per worker count (1, 2): seconds to start the local cluster, and wall seconds of
    `partial_views` on it over the same store."""
    source = get_source("synth-hoi", num_sequences=sequences, frames_per_sequence=frames)
    ingest(source, root / "store", ClusterOptions(workers=2))
    store = root / "store" / "synth-hoi.zarr"
    config = ViewRequest(num_views=views)  # as `c2p-data partial-views` renders them
    warm = shutil.copytree(store, root / "warm" / store.name)
    partial_views(warm, ViewRequest(num_views=1), ClusterOptions(workers=2))  # compile, cache
    seconds = {}
    for workers in (1, 2):
        copy = shutil.copytree(store, root / f"w{workers}" / store.name)
        start = time.perf_counter()
        with dask_client(ClusterOptions(workers=workers)) as client:
            started = time.perf_counter()
            partial_views(copy, config, ClusterOptions(scheduler=client.scheduler.address))
            seconds[workers] = (started - start, time.perf_counter() - started)
    return seconds


def main(quick: bool = False) -> None:
    frames, views = (24, 2) if quick else (150, 8)
    sequences, scale_frames = (4, 24) if quick else (16, 150)
    threads = numba.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        numba.set_num_threads(1)
        stages = one_sequence(Path(tmp) / "one", frames, views)
        numba.set_num_threads(threads)
        seconds = scaling(Path(tmp) / "scale", sequences, scale_frames, views)
    print(
        f"Partial views of synth-hoi, 2048 points per frame, {os.cpu_count()} CPUs "
        "(provisional on a shared machine).\n"
    )
    print("| what | setting | seconds | note |")
    print("|---|---|---:|---|")
    for stage, value in stages.items():
        note = "target < 0.5 s" if stage == "end to end" else ""
        setting = f"{frames} frames x {views} views, 1 thread"
        print(f"| one sequence, {stage} | {setting} | {value:.3f} | {note} |")
    for workers, (start, run) in seconds.items():
        setting = f"{sequences} sequences x {scale_frames} frames x {views} views"
        note = f"+ {start:.2f} s to start the cluster"
        print(f"| partial-views, {workers} Dask worker(s) | {setting} | {run:.2f} | {note} |")
    ratio = seconds[1][1] / seconds[2][1]
    with_start = sum(seconds[1]) / sum(seconds[2])
    print(
        f"| speed-up, 2 workers vs 1 | | {ratio:.2f}x | target >= 1.8x; "
        f"{with_start:.2f}x with the cluster start |"
    )


if __name__ == "__main__":
    main("--quick" in sys.argv)

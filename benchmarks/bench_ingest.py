"""Peak memory of ingesting a large HOI4D release file: our streaming adapter vs loading it.

A synthetic `train1.h5` in the release's exact layout (pcd [S, 150, 2048, 3] float32, center,
label) is written video by video, then `c2p-data ingest --dataset hoi4d` runs on it in a
subprocess while its whole process tree (client, scheduler, nanny, worker) is sampled with
psutil. The reference row loads `pcd` whole with h5py, as a loader without streaming would.

    python benchmarks/run.py ingest [--quick]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import psutil

FRAMES, POINTS = 150, 2048  # the release's video length and points per frame
MIB = 1 << 20


def write_release_file(path: Path, videos: int) -> None:
    """One video at a time, so that writing the file needs no more memory than reading it."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as handle:
        pcd = handle.create_dataset("pcd", (videos, FRAMES, POINTS, 3), np.float32)
        center = handle.create_dataset("center", (videos, FRAMES, 3), np.float32)
        label = handle.create_dataset("label", (videos, FRAMES), np.int64)
        for s in range(videos):
            clouds = rng.normal(size=(FRAMES, POINTS, 3)).astype(np.float32) * 0.2 + [0, 0, 0.8]
            pcd[s] = clouds
            center[s] = clouds.mean(axis=1)
            label[s] = np.sort(rng.integers(0, 19, FRAMES))


def peak_rss(command: list[str]) -> tuple[float, float, float]:
    """(seconds, peak RSS of the process tree, peak RSS of its largest process) in MiB."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(process.pid)
    tree_peak = largest_peak = 0
    while process.poll() is None:
        try:
            rss = [p.memory_info().rss for p in [root, *root.children(recursive=True)]]
            tree_peak, largest_peak = max(tree_peak, sum(rss)), max(largest_peak, max(rss))
        except psutil.NoSuchProcess:  # a process ended while sampled: sample again
            pass
        time.sleep(0.05)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{process.stderr.read().decode()}")
    return time.perf_counter() - started, tree_peak / MIB, largest_peak / MIB


LOAD_WHOLE = "import h5py, numpy as np, sys; np.asarray(h5py.File(sys.argv[1], 'r')['pcd']).sum()"


def main(quick: bool = False) -> None:
    videos = 4 if quick else 280
    with tempfile.TemporaryDirectory() as scratch:
        source, out = Path(scratch, "hoi4d"), Path(scratch, "out")
        source.mkdir()
        path = source / "train1.h5"
        write_release_file(path, videos)
        size = path.stat().st_size / MIB
        ingest = ["c2p-data", "ingest", "--dataset", "hoi4d", "--source", str(source)]
        rows = [
            ("c2p-data ingest, 1 worker", [*ingest, "--out", f"{out}/1", "--workers", "1"]),
            ("c2p-data ingest, 2 workers", [*ingest, "--out", f"{out}/2", "--workers", "2"]),
            ("h5py loads pcd whole (reference)", [sys.executable, "-c", LOAD_WHOLE, str(path)]),
        ]
        print(
            f"HOI4D release file: {videos} videos x {FRAMES} frames x {POINTS} points, "
            f"{size:.0f} MiB on disk. Peak resident memory, sampled every 50 ms.\n"
        )
        print("| run | seconds | peak RSS, all processes (MiB) | peak RSS, largest process (MiB) |")
        print("|---|---|---|---|")
        for name, command in rows:
            seconds, tree, largest = peak_rss(command)
            print(f"| {name} | {seconds:.1f} | {tree:.0f} | {largest:.0f} |", flush=True)


if __name__ == "__main__":
    main("--quick" in sys.argv)

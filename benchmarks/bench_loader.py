"""The pretraining loader against the step it feeds: is reading the store ever the bottleneck?

One run measures, on a synth-hoi store with partial views, the clips/s that the loader
(`ClipDataset` through a DataLoader, complete + one partial view per clip, augmented) delivers
with 1 and 2 worker processes, beside the clips/s that one C2P training step (forward +
backward + SGD, batch 8) consumes on the CPU at the `small` preset. Target: the loader at least
5x faster than the step. Both use the same clip settings; numba and torch are warmed first.
Full size uses data/synth-hoi.zarr when `make demo` made it, else builds 16 sequences.

    python benchmarks/bench_loader.py [--quick]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from c2p4d.pipeline.run import ClusterOptions, ingest, partial_views
from c2p4d.pipeline.sources import get_source
from c2p4d.pipeline.store import Store
from c2p4d.pipeline.views import ViewRequest
from c2p4d.train.config import override, preset
from c2p4d.train.loop import build_model, clip_dataset

DEMO_STORE = Path("data/synth-hoi.zarr")


def make_store(root: Path, sequences: int, frames: int, **options) -> Path:
    source = get_source("synth-hoi", num_sequences=sequences, frames_per_sequence=frames, **options)
    ingest(source, root, ClusterOptions(workers=2))
    partial_views(root / "synth-hoi.zarr", ViewRequest(num_views=4), ClusterOptions(workers=2))
    return root / "synth-hoi.zarr"


def loader_rate(config, store: Store, workers: int, batches: int) -> float:
    """Clips/s over `batches` batches, after the first (worker start-up) is discarded."""
    loader = DataLoader(
        clip_dataset(config, store, 0, 1), batch_size=config.optim.batch_size, num_workers=workers
    )
    it = iter(loader)
    next(it)
    start, clips = time.perf_counter(), 0
    for _ in range(batches):
        clips += next(it)["complete"].shape[0]
    return clips / (time.perf_counter() - start)


def step_rate(config, store: Store, steps: int) -> float:
    """Clips/s of forward + backward + SGD on batches already in memory."""
    model = build_model(config)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loader = DataLoader(clip_dataset(config, store, 0, 1), batch_size=config.optim.batch_size)
    batches = [batch for batch, _ in zip(loader, range(steps + 1), strict=False)]

    def step(batch) -> None:
        loss = model(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step(batches[0])  # warm-up: numba kernels, allocator
    start = time.perf_counter()
    for batch in batches[1:]:
        step(batch)
    return len(batches[1:]) * config.optim.batch_size / (time.perf_counter() - start)


def main(quick: bool = False) -> None:
    config = preset("small")
    with tempfile.TemporaryDirectory() as tmp:
        if quick:
            path = make_store(
                Path(tmp), 4, 24, image_width=64, image_height=48, points_per_frame=256
            )
            config = override(
                config, ["data.clip_frames=4", "data.points=128", "optim.batch_size=2"]
            )
            batches, steps = 3, 2
        else:
            path = DEMO_STORE if DEMO_STORE.exists() else make_store(Path(tmp), 16, 150)
            config = override(config, ["data.clips_per_sequence=4"])  # 24 batches an epoch
            batches, steps = 16, 6
        config = override(config, [f"data.store={path}"])
        store = Store.open(path)
        consumed = step_rate(config, store, steps)
        rows = [("C2P step (small preset, CPU)", consumed)]
        for workers in (1, 2):
            rows.append(
                (f"loader, {workers} worker(s)", loader_rate(config, store, workers, batches))
            )
    data = config.data
    print(
        f"{store.path.name}: clips of {data.clip_frames} frames (stride {data.frame_stride}) x "
        f"{data.points} points, complete + 1 partial view, batch {config.optim.batch_size}, "
        f"torch {torch.get_num_threads()} threads\n"
    )
    print("| what | clips/s | x the step |")
    print("|---|---:|---:|")
    for name, rate in rows:
        print(f"| {name} | {rate:.1f} | {rate / consumed:.1f} |")
    print("\ntarget: the loader >= 5x the step")


if __name__ == "__main__":
    main("--quick" in sys.argv)

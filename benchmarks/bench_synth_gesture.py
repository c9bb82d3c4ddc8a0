"""Cost of the built-in synth-gesture dataset: CPU time per frame by stage and image size.

Each row reads whole sequences with `SynthGesture.read` (single thread, as a Dask worker runs
it) and splits a frame into posing the figure (inverse and forward kinematics, mesh transforms)
and capturing it (ray casting, sensor model, back-projection). synth-gesture casts only the
centred window of the image that holds the figure (`window`); the reference column captures
the full image, as a plain `DepthCamera.capture` would, and the points column shows that
both see the same body. The last column extrapolates to the default dataset.
Run: python benchmarks/bench_synth_gesture.py [--quick]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # BLAS under numpy's 3x3 products
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys
import time

import numpy as np

from c2p4d.pipeline.worlds.gesture.synth_gesture import (
    FLOOR,
    SynthGesture,
    SynthGestureConfig,
    plan_sequence,
    window,
)


def cpu_ms(fn, repeats: int = 1) -> float:
    """The least CPU time of `repeats` calls, in ms: other processes only ever add to it."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best * 1e3


def row(width: int, height: int, names: list[str], frames_per_sequence: int) -> str:
    """One table row: per-frame CPU milliseconds by stage at one image size."""
    config = SynthGestureConfig(image_width=width, image_height=height)
    source = SynthGesture(config)
    index = {s.name: s for s in source.index()}
    sequences = [index[name] for name in names]
    total = cpu_ms(lambda: [source.read(s) for s in sequences])
    total /= sum(s.num_frames for s in sequences)
    plan = plan_sequence(names[0])
    ts = np.linspace(0, plan.num_frames - 1, frames_per_sequence).astype(int)
    pose = cpu_ms(lambda: [plan.parts(t) for t in ts], 3) / len(ts)
    scenes = [plan.parts(t) for t in ts]
    body = [mesh for parts in scenes for mesh, label in parts if label != FLOOR]
    cropped = window(source.camera, plan.camera, body)
    rng = np.random.default_rng(0)
    points: dict[str, list[int]] = {}

    def capture(camera, key):
        points[key] = []
        for parts in scenes:
            _, labels = camera.capture(parts, plan.camera, rng)
            points[key].append((labels != FLOOR).sum())

    windowed = cpu_ms(lambda: capture(cropped, "window"), 3) / len(ts)
    full = cpu_ms(lambda: capture(source.camera, "full"), 3) / len(ts)
    default = sum(s.num_frames for s in SynthGesture().index())
    return (
        f"| {width}x{height} | {cropped.width}x{cropped.height} | {total:.2f} | {pose:.2f} | "
        f"{windowed:.2f} | {full:.2f} | {np.mean(points['window']):.0f} / "
        f"{np.mean(points['full']):.0f} | {total * default / 1e3:.0f} |"
    )


def main(quick: bool = False) -> None:
    sizes = [(160, 120)] if quick else [(160, 120), (240, 180), (320, 240), (640, 480)]
    names = ["a01_s01_e01"] if quick else ["a01_s01_e01", "a09_s04_e01", "a15_s07_e01"]
    print(
        "| image | window (first sequence) | total ms/frame | pose figure | capture, window | "
        "capture, full image (ref) | body points window / full | default dataset CPU-s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for width, height in sizes:
        print(row(width, height, names, 6 if quick else 20))


if __name__ == "__main__":
    main("--quick" in sys.argv)

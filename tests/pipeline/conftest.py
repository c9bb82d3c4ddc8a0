"""Writers of tiny files in the real datasets' released formats (keys, dtypes, names), shared by
the adapter and manifest tests. Each follows the code that produced the real files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest


def hoi4d_file(
    path: Path,
    videos: int,
    frames: int,
    points: int,
    *,
    label_key: str | None = "label",
    classes: int = 19,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """An HOI4D release file: pcd [S, T, N, 3] float32, center [S, T, 3] (frame means),
    labels [S, T] (label) or [S, T, N] (semantic). Clouds sit in front of the origin, as a
    scene seen from its reconstruction's first camera does."""
    rng = np.random.default_rng(seed)
    pcd = (rng.normal(size=(videos, frames, points, 3)) * 0.2 + [0.1, 0.2, 0.8]).astype(np.float32)
    arrays = {"pcd": pcd, "center": pcd.mean(axis=2)}
    if label_key == "label":
        arrays["label"] = rng.integers(0, classes, (videos, frames))
    elif label_key == "semantic":
        arrays["semantic"] = rng.integers(0, classes, (videos, frames, points)).astype(np.uint8)
    with h5py.File(path, "w") as handle:
        for key, value in arrays.items():
            handle[key] = value
    return arrays


SYNTHIA_SEQUENCE = "SYNTHIA-SEQS-01-DAWN"  # names contain '-', like the real ones


def synthia_frame(path: Path, points: int, seed: int) -> dict[str, np.ndarray]:
    """A MeteorNet-prepared Synthia frame: pc, rgb in 0..1, semantic raw ids (int32, as
    np.round(...).astype('int32') writes them), center = the ego camera. The world has y down:
    ground classes (road 3, lane marking 12) lie 1.5 m below the camera, the rest above."""
    rng = np.random.default_rng(seed)
    centre = np.array([10.0, -1.5, 20.0]) + rng.normal(size=3)
    semantic = rng.integers(0, 16, points).astype(np.int32)
    semantic[:4] = [0, 3, 12, 8]  # void, road, lane marking, car in every frame
    pc = centre + rng.uniform(-20, 20, (points, 3))
    ground = np.isin(semantic, (3, 4, 12))
    pc[ground, 1] = centre[1] + 1.5
    pc[~ground, 1] = centre[1] - rng.uniform(0, 5, (~ground).sum())
    arrays = {
        "pc": pc.astype(np.float32),
        "rgb": rng.random((points, 3)).astype(np.float32),
        "semantic": semantic,
        "center": centre,
    }
    np.savez_compressed(path, **arrays)
    return arrays


def synthia_list(path: Path, frames: list[tuple[str, int]]) -> None:
    """A split list in MeteorNet's format (`<seq>/point_clouds/<frame>.ply <label ply>`)."""
    path.write_text(
        "".join(
            f"{s}/point_clouds/{f:06d}.ply {s}/point_clouds/{f:06d}_label.ply\n" for s, f in frames
        )
    )


def msr_video(path: Path, frames: int, seed: int, points: tuple[int, int] = (30, 60)) -> list:
    """An MSR-Action3D video as MeteorNet writes it: `point_clouds`, an object array of frames
    [n_t, 3] of back-projected depth (float64, millimetres, z = depth)."""
    rng = np.random.default_rng(seed)
    video = []
    for _ in range(frames):
        n = int(rng.integers(*points))
        depth = rng.integers(2000, 3000, n).astype(np.float64)
        pixels = rng.integers(0, 320, (n, 2))
        video.append(
            np.stack(
                [(pixels[:, 0] - 160) / 280 * depth, (pixels[:, 1] - 120) / 280 * depth, depth], 1
            )
        )
    save_msr_video(path, video)
    return video


def save_msr_video(path: Path, frames: list[np.ndarray]) -> None:
    """Write frames [n_t, 3] as MeteorNet does: a ragged object array `point_clouds`."""
    video = np.empty(len(frames), dtype=object)
    for t, frame in enumerate(frames):  # one by one: frames of equal size must stay ragged
        video[t] = frame
    np.savez_compressed(path, point_clouds=video)


@pytest.fixture
def formats():
    """The writers above, for tests in other modules."""
    from types import SimpleNamespace

    return SimpleNamespace(
        hoi4d_file=hoi4d_file,
        synthia_frame=synthia_frame,
        synthia_list=synthia_list,
        synthia_sequence=SYNTHIA_SEQUENCE,
        msr_video=msr_video,
        save_msr_video=save_msr_video,
    )

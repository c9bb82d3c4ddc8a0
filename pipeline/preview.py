"""PNG previews of a stored sequence, for people who would rather look than read."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: previews are files, never windows

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from c2p4d.pipeline.store import Store  # noqa: E402

_UNLABELLED = (0.6, 0.6, 0.6, 1.0)


def class_colours(num_classes: int) -> np.ndarray:
    """One RGBA colour per class, stable across previews; index -1 (none) is grey."""
    cmap = plt.get_cmap("tab20" if num_classes > 10 else "tab10")
    return np.array([cmap(i % cmap.N) for i in range(num_classes)] + [_UNLABELLED])


def _in_camera_axes(points: np.ndarray, world_from_camera: np.ndarray) -> np.ndarray:
    """Points in the camera's axes arranged for matplotlib: (right, forward, up).

    Previews are drawn as seen from the first frame's camera, so they need no convention for
    which world axis is up (OpenCV cameras: x right, y down, z forward).
    """
    camera_from_world = np.linalg.inv(world_from_camera)
    local = points @ camera_from_world[:3, :3].T + camera_from_world[:3, 3]
    return np.stack([local[..., 0], local[..., 2], -local[..., 1]], axis=-1)


def draw_points(ax, xyz: np.ndarray, labels: np.ndarray, colours: np.ndarray, title: str) -> None:
    """A 3D scatter in camera axes, viewed from slightly above and behind the camera."""
    ax.scatter(*xyz.T, c=colours[labels], s=1.5, depthshade=False, linewidths=0)
    ax.view_init(elev=20, azim=-90)
    ax.set_box_aspect(np.ptp(xyz, axis=0) + 1e-6)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)


def preview_sequence(store: Store, name: str, out: str | Path, num_frames: int = 4) -> Path:
    """Draw `num_frames` evenly spaced frames of sequence `name`, coloured by semantic class."""
    s = store.index_of(name)
    seq = store.read_sequence(s).filled()
    frames = np.linspace(0, seq.num_frames - 1, min(num_frames, seq.num_frames)).round()
    frames = frames.astype(int)
    colours = class_colours(len(store.class_names))
    reference = seq.camera[0]
    fig = plt.figure(figsize=(4.2 * len(frames), 4.6))
    for i, f in enumerate(frames):
        ax = fig.add_subplot(1, len(frames), i + 1, projection="3d")
        action = seq.action[f]
        title = f"frame {f}" + (f": {store.action_names[action]}" if action >= 0 else "")
        draw_points(
            ax, _in_camera_axes(seq.points[f], reference), seq.point_label[f], colours, title
        )
    present = np.unique(seq.point_label)
    handles = [Patch(color=colours[c], label=store.class_names[c]) for c in present if c >= 0]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8)
    fig.suptitle(f"{store.dataset} / {name}", fontsize=11)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out

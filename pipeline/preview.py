"""PNG previews of a stored sequence, for people who would rather look than read."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: previews are files, never windows

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from c2p4d.pipeline.errors import naming  # noqa: E402
from c2p4d.pipeline.integrity import require_written  # noqa: E402
from c2p4d.pipeline.store import Item, Store  # noqa: E402
from c2p4d.pipeline.trajectories import TrajectoryConfig, world_up  # noqa: E402

_UNLABELLED = (0.6, 0.6, 0.6, 1.0)
_HIDDEN = (0.85, 0.85, 0.85, 0.6)
# Half-extent of what a preview shows, in normalised image coordinates (x/z, y/z): about 100°
# across, so a complete 360° cloud (Synthia's) is drawn as its front view.
_FRUSTUM = np.array([1.2, 0.9])


def class_colours(num_classes: int) -> np.ndarray:
    """One RGBA colour per class, stable across previews; index -1 (none) is grey."""
    cmap = plt.get_cmap("tab20" if num_classes > 10 else "tab10")
    return np.array([cmap(i % cmap.N) for i in range(num_classes)] + [_UNLABELLED])


def camera_view(points: np.ndarray, world_from_camera: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised image coordinates (x/z, y/z) and depth of points seen by a camera (OpenCV axes:
    x right, y down, z forward); points behind it get depth <= 0."""
    camera_from_world = np.linalg.inv(world_from_camera)
    local = points @ camera_from_world[:3, :3].T + camera_from_world[:3, 3]
    depth = local[:, 2]
    return local[:, :2] / np.maximum(depth, 1e-6)[:, None], depth


def draw_view(
    ax, points: np.ndarray, world_from_camera: np.ndarray, colours: np.ndarray, title: str
) -> None:
    """The points in the camera's view, as it sees them: far ones painted first."""
    uv, depth = camera_view(points, world_from_camera)
    order = np.argsort(-depth)
    in_view = (depth[order] > 0) & (np.abs(uv[order]) <= _FRUSTUM).all(axis=1)
    order = order[in_view]
    ax.scatter(uv[order, 0], uv[order, 1], c=colours[order], s=7, linewidths=0)
    ax.set_aspect("equal")
    ax.invert_yaxis()  # image rows grow downwards
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)


def preview_sequence(store: Store, name: str, out: str | Path, num_frames: int = 4) -> Path:
    """Draw `num_frames` evenly spaced frames of sequence `name` as its camera saw them,
    coloured by semantic class."""
    s = store.index_of(name)
    require_written(store, [Item(s)])
    seq = store.read_sequence(s).filled()
    frames = np.linspace(0, seq.num_frames - 1, min(num_frames, seq.num_frames)).round()
    frames = frames.astype(int)
    colours = class_colours(len(store.class_names))
    fig, axes = plt.subplots(1, len(frames), figsize=(4.5 * len(frames), 4), squeeze=False)
    for ax, f in zip(axes[0], frames, strict=True):
        action = seq.action[f]
        title = f"frame {f}" + (f": {store.action_names[action]}" if action >= 0 else "")
        draw_view(ax, seq.points[f], seq.camera[f], colours[seq.point_label[f]], title)
    legend(fig, store.class_names, colours, np.unique(seq.point_label))
    fig.suptitle(f"{store.dataset} / {name}", fontsize=12)
    return save(fig, out)


def preview_views(
    store: Store,
    name: str,
    out: str | Path,
    views: tuple[int, ...] = (0, 1),
    num_frames: int = 4,
    view_set: str | None = None,
) -> Path:
    """The complete frames next to partial views of a view set at a few time steps, each drawn
    from the original sensor (hidden points faint), and the virtual cameras' paths from above."""
    view_set = store.view_set_name(view_set)
    views = tuple(v for v in views if v < store.num_views(view_set))
    s = store.index_of(name)
    require_written(store, [Item(s)] + [Item(s, view_set, v) for v in views])
    seq = store.read_sequence(s).filled()
    rendered = [store.read_view(s, v, view_set=view_set) for v in views]
    frames = np.linspace(0, seq.num_frames - 1, min(num_frames, seq.num_frames)).round()
    frames = frames.astype(int)
    colours = class_colours(len(store.class_names))
    hidden = np.array(_HIDDEN)
    columns = 1 + len(views)
    fig = plt.figure(figsize=(3.6 * (columns + 1.3), 3.0 * len(frames)))
    grid = fig.add_gridspec(len(frames), columns + 1, width_ratios=[1] * columns + [1.3])
    for row, f in enumerate(frames):
        point_colours = colours[seq.point_label[f]]
        action = seq.action[f]
        when = f"frame {f}" + (f" ({store.action_names[action]})" if action >= 0 else "")
        ax = fig.add_subplot(grid[row, 0])
        draw_view(ax, seq.points[f], seq.camera[f], point_colours, f"complete, {when}")
        for column, (v, (visible, _, _)) in enumerate(zip(views, rendered, strict=True)):
            ax = fig.add_subplot(grid[row, column + 1])
            shown = np.where(visible[f][:, None], point_colours, hidden)
            kept = int(visible[f].sum())
            draw_view(ax, seq.points[f], seq.camera[f], shown, f"view {v}: {kept} points seen")
    try:
        up = store.view_up(s, view_set)  # what the views circled about
    except KeyError:  # a set made before the store recorded it: find it as the views did
        settings = store.view_config(view_set)["trajectory"]
        stored_up = settings.get("up")
        up = world_up(
            seq.points,
            seq.camera,
            TrajectoryConfig(
                up=None if stored_up is None else tuple(stored_up),
                up_from_plane=settings.get("up_from_plane", False),
            ),
        )
    draw_paths(fig.add_subplot(grid[:, columns]), seq, rendered, views, frames, up)
    legend(fig, store.class_names, colours, np.unique(seq.point_label))
    title = f"{store.dataset} / {name}: partial views {view_set!r} (grey = hidden)"
    fig.suptitle(title, fontsize=12)
    return save(fig, out)


def draw_paths(
    ax, seq, rendered, views: tuple[int, ...], frames: np.ndarray, up: np.ndarray | None
) -> None:
    """Top-down (the plane orthogonal to the world's `up`, else the first sensor's x-z plane;
    the first sensor looks up the plot): the cloud, the sensor and each view's camera path,
    with the drawn time steps marked."""
    right, forward = seq.camera[0, :3, 0], seq.camera[0, :3, 2]
    if up is not None:
        up = up / np.linalg.norm(up)
        level = forward - (forward @ up) * up
        if np.linalg.norm(level) > 1e-6:  # else the sensor looks straight down: keep its axes
            forward = level / np.linalg.norm(level)
            right = np.cross(forward, up)
    axes = np.stack([right, forward], axis=1)

    def top(points: np.ndarray) -> np.ndarray:
        return (points - seq.camera[0, :3, 3]) @ axes

    cloud = top(seq.points[frames].reshape(-1, 3))
    ax.scatter(*cloud.T, s=1, c="0.75", linewidths=0)
    sensor = top(seq.camera[:, :3, 3])
    ax.plot(*sensor.T, "k-", lw=2, label="original sensor")
    for v, (_, camera, _) in zip(views, rendered, strict=True):
        path = top(camera[:, :3, 3])
        (line,) = ax.plot(*path.T, "-", lw=1.5, label=f"view {v}")
        ax.plot(*path[frames].T, "o", color=line.get_color(), ms=5)
        ax.annotate("start", path[0], fontsize=8, color=line.get_color())
    ax.set_aspect("equal")
    ax.set_title("camera paths from above", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])


def legend(fig, names: list[str], colours: np.ndarray, present: np.ndarray) -> None:
    """A legend of the classes present (label -1, none, is left out)."""
    handles = [Patch(color=colours[c], label=names[c]) for c in present if c >= 0]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 9), fontsize=9)


def save(fig, out: str | Path) -> Path:
    """Write a figure as PNG, making the folder, and free it; returns the file written (with
    `.png` added to a name without it, as matplotlib does)."""
    out = Path(out)
    out = out if out.suffix.lower() == ".png" else out.with_name(f"{out.name}.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with naming(out):
            fig.savefig(out, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return out

"""Pictures of a test evaluation, drawn from the arrays saved in predictions.npz:

timelines.png     action segmentation: predicted over true action timelines, segments named
segmentation.png  point segmentation: frames coloured by predicted and by true class
confusion.png     clip classification: the videos' confusion matrix
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from c2p4d.train.metrics import segments  # noqa: E402
from c2p4d.train.tasks import Task  # noqa: E402

Arrays = dict[str, np.ndarray]
SHOWN = 4  # sequences (timelines) or frames (segmentation) drawn


def colours(count: int) -> np.ndarray:
    """One distinct colour per class: tab10 or tab20, an even hsv circle beyond 20."""
    if count > 20:
        return plt.get_cmap("hsv")(np.linspace(0, 1, count, endpoint=False))[:, :3]
    return plt.get_cmap("tab10" if count <= 10 else "tab20")(np.arange(count))[:, :3]


def legend(fig: plt.Figure, palette: np.ndarray, names: list[str], shown: list) -> None:
    """The colours of the classes drawn, below the axes."""
    present = np.unique(np.concatenate([np.ravel(a) for a in shown]))
    handles = [Patch(color=palette[c], label=names[c]) for c in present if c >= 0]
    fig.legend(handles=handles, loc="lower center", ncol=min(8, len(handles)), fontsize=8)


def timelines(arrays: Arrays, names: list[str], path: Path) -> Path:
    """For a few test sequences, the predicted action timeline above the true one, each
    segment in its action's colour and named where it is wide enough."""
    palette = colours(len(names))
    bounds = arrays["frame_offset"]
    shown = min(SHOWN, len(arrays["sequence"]))
    fig, axes = plt.subplots(shown, 1, figsize=(12, 1.6 * shown + 0.8), squeeze=False)
    for ax, i in zip(axes[:, 0], range(shown), strict=True):
        a, b = bounds[i], bounds[i + 1]
        for y, labels in ((1, arrays["pred"]), (0, arrays["true"])):
            for label, start, stop in segments(labels[a:b]):
                colour = palette[label] if label >= 0 else (0.85, 0.85, 0.85)
                ax.barh(y, stop - start, left=start, height=0.8, color=colour, edgecolor="white")
                if (stop - start) / (b - a) >= 0.008 * len(names[max(label, 0)]) and label >= 0:
                    ax.text(
                        (start + stop) / 2, y, names[label], ha="center", va="center", fontsize=7
                    )
        correct = 100 * np.mean(arrays["pred"][a:b] == arrays["true"][a:b])
        ax.set(yticks=[1, 0], yticklabels=["predicted", "true"], xlim=(0, b - a))
        ax.set_title(f"{arrays['sequence'][i]}: {correct:.0f} % of frames right", fontsize=9)
    axes[-1, 0].set_xlabel("frame")
    legend(fig, palette, names, [arrays["pred"][: bounds[shown]], arrays["true"][: bounds[shown]]])
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def busiest_clips(arrays: Arrays) -> list[int]:
    """Rows of the clips to draw: in each of the first few sequences, the one whose first frame
    shows the most classes (then the most points outside its commonest class)."""
    picks = []
    for sequence in np.unique(arrays["sequence"])[:SHOWN]:
        rows = np.flatnonzero(arrays["sequence"] == sequence)

        def busy(k: int) -> tuple[int, int]:
            counts = np.bincount(arrays["true"][k, 0].astype(int) + 1)
            return int((counts[1:] > 0).sum()), int(counts.sum() - counts.max())

        picks.append(int(max(rows, key=busy)))
    return picks


def flat_view(points: np.ndarray) -> np.ndarray:
    """[N,3] -> [N,2]: the points on their two principal axes."""
    centred = points - points.mean(axis=0)
    return centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T


def segmentation(arrays: Arrays, names: list[str], path: Path) -> Path:
    """A few frames (one per sequence, the busiest) coloured by the predicted class (left) and
    the true one (right), seen along each frame's axis of least extent (from
    above, for a street or a table)."""
    palette = colours(len(names))
    picks = busiest_clips(arrays)
    fig, axes = plt.subplots(len(picks), 2, figsize=(10, 4.2 * len(picks)), squeeze=False)
    for (left, right), k in zip(axes, picks, strict=True):
        points = flat_view(arrays["points"][k, 0])
        for ax, kind in ((left, "pred"), (right, "true")):
            labels = arrays[kind][k, 0].astype(int)
            counts = np.bincount(labels + 1, minlength=len(names) + 1)
            order = np.argsort(-counts[labels + 1], kind="stable")  # rare classes drawn last
            colour = np.where(labels[:, None] >= 0, palette[labels.clip(0)], 0.85)[order]
            ax.scatter(points[order, 0], points[order, 1], c=colour, s=5, linewidths=0)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
        correct = 100 * np.mean(arrays["pred"][k, 0] == arrays["true"][k, 0])
        title = f"{arrays['sequence'][k]}, frame {arrays['start'][k]}"
        left.set_title(f"{title}: predicted ({correct:.0f} % right)", fontsize=9)
        right.set_title(f"{title}: true", fontsize=9)
    legend(fig, palette, names, [arrays["true"][picks], arrays["pred"][picks]])
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def confusion(arrays: Arrays, names: list[str], path: Path) -> Path:
    """Videos counted by true class (rows) and predicted class (columns)."""
    count = len(names)
    matrix = np.zeros((count, count), dtype=np.int64)
    np.add.at(matrix, (arrays["true"].astype(int), arrays["pred"].astype(int)), 1)
    size = max(5.0, 0.4 * count + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="Blues")
    for (row, column), value in np.ndenumerate(matrix):
        if value:
            dark = value > matrix.max() / 2
            ax.text(column, row, value, ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")  # fmt: skip
    ax.set_xticks(range(count), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(count), names, fontsize=8)
    accuracy = 100 * np.trace(matrix) / max(1, matrix.sum())
    ax.set(xlabel="predicted", ylabel="true", title=f"test videos: {accuracy:.1f} % right")
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


PICTURES = {
    "frames": (timelines, "timelines.png"),
    "points": (segmentation, "segmentation.png"),
    "clips": (confusion, "confusion.png"),
}


def draw(task: Task, arrays: Arrays, names: list[str], run_dir: Path) -> Path:
    """The task's picture of its test predictions, in the run directory."""
    function, name = PICTURES[task.kind]
    return function(arrays, names, Path(run_dir) / name)

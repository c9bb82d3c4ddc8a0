"""A run directory's record: the resolved config, metrics as CSV and TensorBoard, curves as PNG.

    RUN/config.json       the resolved config, as the run used it
    RUN/steps.csv         one row per optimiser step (loss terms, lr)
    RUN/epochs.csv        one row per epoch (mean loss terms, probe, clips/s, seconds); epoch
                          counts the epochs done, and row 0 holds the probe of the untrained trunk
    RUN/tensorboard/      the same scalars as TensorBoard event files
    RUN/curves.png        the epoch curves, redrawn after an epoch at most every PLOT_SECONDS
                          (drawing costs about half a second) and when the run ends
Only the main process writes. A resumed run drops rows from the epochs it redoes.
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PLOT_SECONDS = 30.0


class RunLog:
    """`scores` are the epochs.csv columns drawn right of the losses (in percent)."""

    def __init__(
        self,
        run_dir: Path,
        config: dict[str, Any],
        *,
        main: bool,
        start_epoch: int,
        scores: tuple[str, ...] = ("probe_acc", "probe_chance"),
    ):
        self.dir = Path(run_dir)
        self.main = main
        self.scores = scores
        self.writer = None
        self.fields: dict[str, list[str]] = {}  # each CSV's columns, so a row is only appended
        self.plotted = time.monotonic()  # a run shorter than PLOT_SECONDS draws once, at the end
        if not main:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        for name in ("steps.csv", "epochs.csv"):
            self.fields[name] = _truncate(self.dir / name, start_epoch)
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(self.dir / "tensorboard", purge_step=None)

    def step(self, step: int, epoch: int, values: dict[str, float]) -> None:
        self._row("steps.csv", {"step": step, "epoch": epoch, **values})
        if self.writer:
            for key, value in values.items():
                self.writer.add_scalar(f"step/{key}", value, step)

    def epoch(self, epoch: int, values: dict[str, float]) -> None:
        self._row("epochs.csv", {"epoch": epoch, **values})
        if self.writer:
            for key, value in values.items():
                if value is not None and math.isfinite(value):
                    self.writer.add_scalar(f"epoch/{key}", value, epoch)
            self.writer.flush()
        if self.main and time.monotonic() - self.plotted >= PLOT_SECONDS:
            self.plot()

    def _row(self, name: str, row: dict[str, Any]) -> None:
        if not self.main:
            return
        path = self.dir / name
        row = {k: _cell(v) for k, v in row.items()}
        fields = self.fields[name]
        if fields and set(row) <= set(fields):
            with path.open("a", newline="") as handle:
                csv.DictWriter(handle, fieldnames=fields).writerow(row)
            return
        fields += [k for k in row if k not in fields]  # a new column: rewrite with it
        _write(path, fields, [*self.rows(name), row])

    def rows(self, name: str) -> list[dict[str, str]]:
        path = self.dir / name
        if not path.exists():
            return []
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))

    def plot(self) -> Path:
        """curves.png: loss terms per epoch (left) and the scores, e.g. the probe's (right; no
        panel when the run has none, as a pretraining with probe.every=0)."""
        rows = self.rows("epochs.csv")
        epochs = [int(r["epoch"]) for r in rows]
        losses = [k for k in rows[-1] if k in ("loss", "geo") or k.startswith("t")]
        drawn = [key for key in self.scores if key in rows[-1]]  # none without a probe
        panels = 2 if drawn else 1
        fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.8), squeeze=False)
        left, *right = axes[0]
        for key in losses:
            left.plot(epochs, [_num(r[key]) for r in rows], _style(key), marker="o", label=key)
        left.set(xlabel="epoch", ylabel="loss", title="distillation loss terms")
        if losses:
            left.legend()
        for panel in right:
            for key in drawn:
                panel.plot(epochs, [_num(r[key]) for r in rows], _style(key), marker="o", label=key)
            title = "k-NN probe on val" if self.scores[0] == "probe_acc" else "on val"
            panel.set(xlabel="epoch", ylabel="%", title=title)
            panel.legend()
        fig.tight_layout()
        path = self.dir / "curves.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        self.plotted = time.monotonic()
        return path

    def close(self) -> None:
        """Draw the last epochs' curves and close the event files."""
        if self.main and self.rows("epochs.csv"):
            self.plot()
        if self.writer:
            self.writer.close()


def _style(key: str) -> str:
    """Chance levels dashed, beside the solid curve they are the floor or ceiling of."""
    return "--" if key.endswith("chance") else "-"


def _cell(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def _num(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _truncate(path: Path, start_epoch: int) -> list[str]:
    """Keep the rows up to epoch start_epoch (a resumed run redoes the epochs after it);
    returns the columns of what is kept."""
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
        fields = list(rows[0]) if rows else []
    kept = [r for r in rows if int(r["epoch"]) <= start_epoch]
    _write(path, fields, kept)
    return fields if kept else []


def _write(path: Path, fields: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as handle:
        if rows:
            writer = csv.DictWriter(handle, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(rows)

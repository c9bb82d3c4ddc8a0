"""`make ablation`: the paper's comparisons at a reduced scale, measured, with every cell's seeds.

Each row of a table is a pretraining setting (or none: from scratch); each cell fine-tunes a
task (`hoi4d-actseg`, the paper's main one, by default) from that row's pretrained trunk on a
share of the labels and evaluates it once on the test split; claims compare the task's score.
Pretraining runs once per (row, seed), on the trunk the task's fine-tuning builds, and is shared
by every fine-tuning that starts from it; fine-tuning seeds vary with it. Runs are kept under
OUT/runs, so a killed ablation resumes where it stopped. Writes OUT/report.md (tables, claims
with ✔ or ✘, sizes and minutes, the command), OUT/results.json (every cell: mean, std, per-seed
values, settings) and OUT/*.png (data-efficiency curves, one bar chart per table).
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from c2p4d.train.config import ConfigError, method_options  # noqa: E402
from c2p4d.train.tasks import TASKS  # noqa: E402

# A row that reads no points: each frame takes the most frequent action at its index among the
# labelled training sequences (evaluate's baseline). A model that does not beat it has learned
# when actions happen, not what they look like.
PRIOR = "frame-index prior"


@dataclass(frozen=True)
class Row:
    """One pretraining setting: options of `c2p-train pretrain` (None: no pretraining)."""

    name: str
    pretrain: tuple[str, ...] | None


ROWS = {
    row.name: row
    for row in (
        Row("scratch", None),
        Row("C2P", ()),
        Row("VideoMAE", method_options("videomae")),
        Row("STRL", method_options("strl")),
        Row("C2C", ("c2p.distillation=c2c",)),
        Row("P2P", ("c2p.distillation=p2p",)),
        Row("symmetric teacher", ("c2p.teacher_arch=symmetric",)),
        Row("random views", ("data.view_set=random",)),
        Row("window 1", ("c2p.window=1",)),
        Row("window 5", ("c2p.window=5",)),
        Row("window 5, ±2 only", ("c2p.window=5-outer",)),
        Row("single predictor", ("c2p.predictor=single",)),
        Row("one-pixel occlusion", ("data.view_set=sweep-pixel",)),
        Row("teacher without time", ("c2p.teacher_time=false",)),
    )
}


@dataclass(frozen=True)
class Table:
    title: str
    rows: tuple[str, ...]
    all_labels: bool = False  # every label share, else the ablation's one


TABLES = (
    Table("Data efficiency (paper Table 6)", ("scratch", "C2P", "VideoMAE", "STRL"), True),
    Table("Distillation strategy (Table 5)", ("C2P", "C2C", "P2P")),
    Table("Teacher (section 3.2)", ("C2P", "symmetric teacher")),
    Table("Views (section 3.1)", ("C2P", "random views")),
    Table(
        "Window and predictors (Tables 7-8)",
        ("window 1", "C2P", "window 5", "window 5, ±2 only", "single predictor"),
    ),
    Table("Beyond the paper: does faithful occlusion matter?", ("C2P", "one-pixel occlusion")),
    Table("Beyond the paper: the time shortcut", ("C2P", "teacher without time")),
)

# (claim, better row, worse row, the margin in accuracy points the better must win by)
CLAIMS = (
    ("scratch beats the frame-index prior (it reads the points)", "scratch", PRIOR, 0.0),
    ("C2P beats scratch at the ablation's labels by >= 8 points", "C2P", "scratch", 8.0),
    ("C2P beats VideoMAE", "C2P", "VideoMAE", 0.0),
    ("C2P beats STRL", "C2P", "STRL", 0.0),
    ("C2P beats C2C", "C2P", "C2C", 0.0),
    ("C2P beats P2P", "C2P", "P2P", 0.0),
    ("asymmetric beats symmetric", "C2P", "symmetric teacher", 0.0),
    ("trajectory views beat random views", "C2P", "random views", 0.0),
    ("per-offset predictors beat a single one", "C2P", "single predictor", 0.0),
)


@dataclass(frozen=True)
class AblationConfig:
    """Sizes of the experiment. The defaults are about 4 hours on 2 CPU cores (36 pretrainings
    of ~3 min, ~90 fine-tunings of 0.5-2.5 min): choose tables, or run it on a GPU."""

    store: str = "data/synth-hoi.zarr"
    task: str = "hoi4d-actseg"
    out: str = "ablation"
    seeds: int = 3
    labels: tuple[int, ...] = (10, 20, 40, 80, 100)
    ablation_labels: int = 10  # the label share at which tables 2-6 compare
    preset: str = "small"
    pretrain_epochs: int = 6
    finetune_epochs: int = 8
    pretrain_options: tuple[str, ...] = ()  # for every pretraining, e.g. data.points=256
    finetune_options: tuple[str, ...] = ()
    # Every label share makes as many fine-tuning steps an epoch as all labels: each labelled
    # sequence is drawn 100/share times. Without it 10 % of 48 sequences make no batch of 8.
    equal_steps: bool = True
    tables: tuple[str, ...] = field(default_factory=lambda: tuple(t.title for t in TABLES))

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ValueError("--seeds must be >= 1 (3 or more to tell a difference from noise)")
        if self.ablation_labels not in self.labels:
            raise ValueError(f"--ablation-labels {self.ablation_labels} is not among --labels")
        TASKS.get(self.task)  # an unknown task is one error that lists the known ones

    @property
    def score(self) -> str:
        """The metric claims and charts compare: the one that picks the task's model."""
        return TASKS.get(self.task).score


# (row pretraining options, seed, run dir) -> None and (init run or None, labels, seed, run dir)
# -> test metrics: what the ablation needs of pretraining and fine-tuning, injected so the
# runner is testable and the CLI wires the real ones. Pretrain is called again on a run dir it
# left unfinished (a killed ablation) and continues it from its checkpoints if it can.
Pretrain = Callable[[tuple[str, ...], int, Path], None]
Finetune = Callable[[Path | None, int, int, Path], dict[str, float]]


@dataclass
class Cell:
    row: str
    labels: int
    values: dict[str, list[float]]  # metric -> one value per seed, in the evaluation's order
    minutes: float

    @property
    def metrics(self) -> list[str]:
        return list(self.values)

    def mean(self, metric: str) -> float:
        return statistics.fmean(self.values[metric])

    def std(self, metric: str) -> float:
        v = self.values[metric]
        return statistics.stdev(v) if len(v) > 1 else 0.0


def run(config: AblationConfig, pretrain: Pretrain, finetune: Finetune, echo=print) -> Path:
    """Every table's cells, then the report; returns the report's path."""
    out = Path(config.out)
    runs = out / "runs"
    code = keep_settings(config, runs)["code"]
    tables = [t for t in TABLES if t.title in config.tables]
    cells: dict[tuple[str, int], Cell] = {}
    pretrain_minutes: dict[tuple[str, int], float] = {}  # (row, seed) -> minutes
    for table in tables:
        for name in table.rows:
            for labels in config.labels if table.all_labels else (config.ablation_labels,):
                if (name, labels) in cells:
                    continue
                row = ROWS[name]
                values: dict[str, list[float]] = {}
                began = time.perf_counter()
                for seed in range(config.seeds):
                    init = None
                    if row.pretrain is not None:
                        init = runs / "pretrain" / slug(name) / f"seed{seed}"
                        pretrain_minutes[name, seed] = _pretrained(
                            pretrain, row.pretrain, seed, init
                        )
                    run_dir = runs / "finetune" / slug(name) / f"labels{labels}-seed{seed}"
                    metrics = _cached(finetune, init, labels, seed, run_dir)
                    for metric, value in metrics.items():
                        values.setdefault(metric, []).append(float(value))
                minutes = (time.perf_counter() - began) / 60
                blind = f"{PRIOR}: "
                own = {m: v for m, v in values.items() if not m.startswith(blind)}
                cells[name, labels] = Cell(name, labels, own, minutes)
                prior = {m.removeprefix(blind): v for m, v in values.items() if m.startswith(blind)}
                if prior:  # the scratch runs' labels, scored blind (hoi4d-actseg's evaluation)
                    cells.setdefault((PRIOR, labels), Cell(PRIOR, labels, prior, 0.0))
                cell = cells[name, labels]
                echo(
                    f"{name:>22} {labels:3d} % labels: {config.score} "
                    f"{cell.mean(config.score):.1f} ± {cell.std(config.score):.1f}"
                )
    row_minutes: dict[str, float] = {}
    for (name, _), minutes in pretrain_minutes.items():
        row_minutes[name] = row_minutes.get(name, 0.0) + minutes
    return write_report(config, tables, cells, row_minutes, code)


def code_version() -> dict[str, str]:
    """The package's version and a digest of the sources of its layers (kernels, models,
    pipeline, train): kept runs are only comparable with runs of the same code, and a version
    number does not change while the code is edited."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.blake2b(digest_size=8)
    for layer in ("kernels", "models", "pipeline", "train"):
        for path in sorted((package / layer).rglob("*.py")):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return {"version": version("c2p4d"), "sources": digest.hexdigest()}


def run_settings(config: AblationConfig) -> dict[str, dict]:
    """What the kept runs depend on, by kind of run (seeds, label shares and tables only add
    runs, so they may change between calls)."""
    return {
        "code": code_version(),
        "pretraining": {
            "store": str(Path(config.store).resolve()),
            "task": config.task,
            "preset": config.preset,
            "epochs": config.pretrain_epochs,
            "options": list(config.pretrain_options),
        },
        "fine-tuning": {
            "epochs": config.finetune_epochs,
            "options": list(config.finetune_options),
            "equal_steps": config.equal_steps,
        },
    }


def keep_settings(config: AblationConfig, runs: Path) -> dict[str, dict]:
    """Record the runs' settings in RUNS/settings.json and return them, or refuse to resume runs
    made with other ones (or by other code): their cells would silently mix with the new
    settings'."""
    path = runs / "settings.json"
    settings = run_settings(config)
    if path.exists():
        kept = json.loads(path.read_text())
        for kind, values in settings.items():
            changed = {k: v for k, v in values.items() if kept.get(kind, {}).get(k) != v}
            if changed:
                was = {k: kept.get(kind, {}).get(k) for k in changed}
                hint = {
                    "code": f" (or move {path} aside to reuse its runs knowingly)",
                    "fine-tuning": (
                        f" (to reuse the pretrainings, copy {runs / 'pretrain'} to its "
                        "runs/pretrain)"
                    ),
                }.get(kind, "")
                raise ConfigError(
                    f"{runs}: its runs were made with other {kind} settings ({was}, now "
                    f"{changed}); choose another --out{hint}"
                )
    runs.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n")
    return settings


def _pretrained(pretrain: Pretrain, options: tuple[str, ...], seed: int, run_dir: Path) -> float:
    """The minutes a row's pretraining took, run once (kept as ablation.json in its run).

    Until that file is written the pretraining is unfinished, even with checkpoints: a killed
    ablation calls it again, and the real one resumes from its last epoch.
    """
    path = run_dir / "ablation.json"
    if not path.exists():
        began = time.perf_counter()
        pretrain(options, seed, run_dir)
        path.write_text(json.dumps({"minutes": (time.perf_counter() - began) / 60}))
    return json.loads(path.read_text())["minutes"]


def _cached(
    finetune: Finetune, init: Path | None, labels: int, seed: int, run_dir: Path
) -> dict[str, float]:
    """A fine-tuning's test metrics, computed once (kept as ablation.json in its run)."""
    path = run_dir / "ablation.json"
    if path.exists():
        return json.loads(path.read_text())
    shutil.rmtree(run_dir, ignore_errors=True)
    metrics = finetune(init, labels, seed, run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics))
    return metrics


def draws_per_sequence(labels: int, equal_steps: bool) -> int:
    """How often each labelled sequence is drawn per fine-tuning epoch at a share of `labels`
    percent: 100/labels (rounded) for equal steps at every share, else once."""
    return max(1, round(100 / labels)) if equal_steps else 1


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def claims(
    config: AblationConfig, cells: dict[tuple[str, int], Cell]
) -> list[tuple[str, bool, str]]:
    """(claim, holds, numbers): a claim holds when the better row's mean score beats the
    worse one's by the margin and by more than one std of each. One seed has no std, so a
    claim from one seed never holds: its gap cannot be told from noise."""
    out = []
    labels, score = config.ablation_labels, config.score
    for text, better, worse, margin in CLAIMS:
        a, b = cells.get((better, labels)), cells.get((worse, labels))
        if a is None or b is None:
            continue
        gap = a.mean(score) - b.mean(score)
        seeded = min(len(a.values[score]), len(b.values[score])) > 1
        holds = seeded and gap >= margin and gap > max(a.std(score), b.std(score))
        numbers = (
            f"{better} {a.mean(score):.1f} ± {a.std(score):.1f} vs {worse} "
            f"{b.mean(score):.1f} ± {b.std(score):.1f} ({gap:+.1f}"
            f"{'' if seeded else '; one seed: no std to tell it from noise'})"
        )
        out.append((text, holds, numbers))
    return out


def write_report(
    config: AblationConfig,
    tables: list[Table],
    cells: dict[tuple[str, int], Cell],
    pretrain_minutes: dict[str, float],
    code: dict[str, str],
) -> Path:
    """The report, results.json and charts; `code` is the code version the runs were made by."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "c2p-train ablation " + shlex.join(sys.argv[2:]) if len(sys.argv) > 2 else ""
    lines = [
        "# C2P ablation (reduced scale)",
        "",
        f"Store `{config.store}`, task {config.task}, preset `{config.preset}`, {config.seeds} "
        f"seeds per cell (pretraining and fine-tuning seeds both varied), pretraining "
        f"{config.pretrain_epochs} epochs, fine-tuning {config.finetune_epochs} epochs"
        + (
            " (at every label share as many steps as with all labels: each labelled sequence "
            "drawn 100/share times an epoch)"
            if config.equal_steps
            else ""
        )
        + ". Test split metrics, mean ± std over seeds; the label share is of the training "
        "sequences.",
        "",
        f"Re-run: `{command or 'c2p-train ablation'}` (c2p4d {code['version']}, sources "
        f"{code['sources']})",
        "",
        f"## Claims (test {config.score}, at {config.ablation_labels} % of the labels)",
        "",
    ]
    for text, holds, numbers in claims(config, cells):
        lines.append(f"- {'✔' if holds else '✘'} {text}: {numbers}")
    for table in tables:
        labels = config.labels if table.all_labels else (config.ablation_labels,)
        metrics = cells[table.rows[0], labels[0]].metrics
        lines += ["", f"## {TABLES.index(table) + 1}. {table.title}", ""]
        lines.append("| pretraining | labels | " + " | ".join(metrics) + " | minutes |")
        lines.append("|---|---:|" + "---:|" * len(metrics) + "---:|")
        for name in rows_of(table, labels, cells):
            for share in labels:
                cell = cells[name, share]
                stats = " | ".join(f"{cell.mean(m):.1f} ± {cell.std(m):.1f}" for m in metrics)
                minutes = cell.minutes + pretrain_minutes.get(name, 0.0)
                lines.append(f"| {name} | {share} % | {stats} | {minutes:.1f} |")
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    results = {
        "config": asdict(config),
        "code": code,
        "cells": [
            {
                "row": c.row,
                "labels": c.labels,
                "pretrain": ROWS[c.row].pretrain if c.row in ROWS else None,
                "mean": {m: c.mean(m) for m in c.metrics},
                "std": {m: c.std(m) for m in c.metrics},
                "values": c.values,
                "minutes": c.minutes,
            }
            for c in cells.values()
        ],
        "claims": [{"claim": t, "holds": h, "numbers": n} for t, h, n in claims(config, cells)],
    }
    (out / "results.json").write_text(json.dumps(results, indent=2, allow_nan=True) + "\n")
    plot(config, tables, cells, out)
    return report


def rows_of(
    table: Table, labels: tuple[int, ...], cells: dict[tuple[str, int], Cell]
) -> tuple[str, ...]:
    """The table's rows, and the frame-index prior's where its cells were scored (table 1)."""
    blind = table.all_labels and all((PRIOR, share) in cells for share in labels)
    return table.rows + ((PRIOR,) if blind else ())


def plot(
    config: AblationConfig, tables: list[Table], cells: dict[tuple[str, int], Cell], out: Path
) -> None:
    """data-efficiency.png (the score against labels), and a bar chart per other table."""
    score = config.score
    for table in tables:
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        if table.all_labels:
            for name in rows_of(table, config.labels, cells):
                means = [cells[name, s].mean(score) for s in config.labels]
                stds = [cells[name, s].std(score) for s in config.labels]
                ax.errorbar(config.labels, means, yerr=stds, marker="o", capsize=3, label=name)
            ax.set(xlabel="labels (% of training sequences)", xscale="log")
            ax.set_xticks(config.labels, [str(s) for s in config.labels])
            ax.legend()
            name = "data-efficiency.png"
        else:
            share = config.ablation_labels
            means = [cells[r, share].mean(score) for r in table.rows]
            stds = [cells[r, share].std(score) for r in table.rows]
            ax.bar(range(len(means)), means, yerr=stds, capsize=4, color="tab:blue")
            ax.set_xticks(range(len(means)), table.rows, rotation=15, ha="right")
            low = min(m - s for m, s in zip(means, stds, strict=True))
            ax.set_ylim(max(0.0, math.floor(low - 5)), None)
            name = f"table{TABLES.index(table) + 1}.png"
        ax.set(ylabel=f"test {score} (%)", title=table.title)
        fig.tight_layout()
        fig.savefig(out / name, dpi=90)
        plt.close(fig)


# ---------------------------------------------------------------------- the real runs

VIEW_SETS = {  # the view sets the rows read, and how c2p-data makes each
    "sweep": (),
    "random": ("--mode", "random"),
    "sweep-pixel": ("--occlusion", "pixel"),
}
QUICK_STORE = {"num_sequences": 8, "frames_per_sequence": 24, "image_width": 64, "image_height": 48}
QUICK_PRETRAIN = (
    "data.clip_frames=8",
    "data.frame_stride=1",
    "data.points=128",
    "data.workers=0",
    "model.dim=32",
    "model.depth=1",
    "model.heads=2",
    "model.dim_head=16",
    "model.mlp_dim=32",
    "model.spatial_stride=8",
    "c2p.predictor_hidden=32",
    "optim.batch_size=4",
    "probe.every=0",
)
QUICK_FINETUNE = tuple(
    o for o in QUICK_PRETRAIN if o.startswith(("data.points", "data.workers", "model."))
) + ("optim.batch_size=1",)


def c2p_data(*args: object) -> None:
    """`c2p-data ARGS` as a user would run it (the pipeline's own defaults apply)."""
    command = [sys.executable, "-m", "c2p4d.pipeline", *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{shlex.join(command)} failed: {result.stderr.strip()[-500:]}")


def view_sets_read(tables: tuple[str, ...]) -> list[str]:
    """The view sets the rows of these tables pretrain on: the default sweep, and those a row
    names with data.view_set (so an ablation of table 1 alone renders no other)."""
    named = {"sweep"}
    for table in TABLES:
        for row in table.rows if table.title in tables else ():
            for option in ROWS[row].pretrain or ():
                key, _, value = option.partition("=")
                if key == "data.view_set":
                    named.add(value)
    return [name for name in VIEW_SETS if name in named]


def prepare_store(store: Path, quick: bool, view_sets: list[str], echo=print) -> Path:
    """The store with the view sets the rows read: a tiny synth-hoi made here for --quick,
    the missing ones rendered (8 views each) into any other."""
    from c2p4d.pipeline.store import Store

    if quick and not store.exists():
        options = [a for k, v in QUICK_STORE.items() for a in ("-o", f"{k}={v}")]
        c2p_data("ingest", "--dataset", "synth-hoi", "--out", store.parent, *options,
                 "--points", 256)  # fmt: skip
        store = store.parent / "synth-hoi.zarr"
    have = Store.open(store).view_sets()
    for name in view_sets:
        if name not in have:
            echo(f"rendering view set {name!r} into {store}")
            c2p_data("partial-views", store, "--views", 2 if quick else 8, *VIEW_SETS[name])
    return store


def real_runs(config: AblationConfig, store: Path, progress: bool) -> tuple[Pretrain, Finetune]:
    """pretrain and finetune for `run`, on the store with the ablation's sizes."""
    import torch

    from c2p4d.train.config import finetune_preset, override, preset
    from c2p4d.train.evaluate import evaluate_run
    from c2p4d.train.finetune import finetune
    from c2p4d.train.loop import pretrain

    def pretrain_row(options: tuple[str, ...], seed: int, run_dir: Path) -> None:
        settings = [f"data.store={store}", f"optim.epochs={config.pretrain_epochs}", f"seed={seed}"]
        base = preset(config.preset, config.task)  # the trunk the task's fine-tuning builds
        resume = (run_dir / "checkpoints" / "latest.json").is_file()
        if not resume:  # killed before its first epoch ended, or never started
            shutil.rmtree(run_dir, ignore_errors=True)
        pretrain(
            override(base, [*settings, *config.pretrain_options, *options]),
            run_dir,
            resume=resume,
            progress=progress,
        )

    def finetune_cell(init: Path | None, labels: int, seed: int, run_dir: Path) -> dict:
        settings = [
            f"data.store={store}",
            f"optim.epochs={config.finetune_epochs}",
            f"seed={seed}",
            f"labels={labels}",
            f"init={init if init is not None else 'none'}",
        ]
        base = finetune_preset(config.task, config.preset)
        draws = draws_per_sequence(labels, config.equal_steps)
        settings.append(f"data.clips_per_sequence={base.data.clips_per_sequence * draws}")
        finetune(override(base, [*settings, *config.finetune_options]), run_dir, progress=progress)
        report = evaluate_run(run_dir, device=torch.device("cpu"), progress=progress)
        prior = report.baselines.get(PRIOR)  # hoi4d-actseg's evaluation scores it
        blind = {f"{PRIOR}: {m}": v for m, v in prior.metrics.items()} if prior else {}
        return {**report.scores.metrics, **blind}

    return pretrain_row, finetune_cell

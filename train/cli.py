"""`c2p-train`: C2P pretraining and fine-tuning on a c2p4d store."""

from __future__ import annotations

import time
from pathlib import Path

import click

from c2p4d.models import BACKBONES
from c2p4d.pipeline.errors import DataError
from c2p4d.train.checkpoint import CheckpointError
from c2p4d.train.config import (
    METHODS,
    PRESETS,
    ConfigError,
    finetune_preset,
    method_options,
    override,
)
from c2p4d.train.config import preset as preset_config
from c2p4d.train.tasks import TASKS, default_store


class _Group(click.Group):
    """Bad input (data, config, checkpoint, training) ends in one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> object:
        from c2p4d.train.runtime import TrainingError

        try:
            return super().invoke(ctx)
        except (DataError, ConfigError, CheckpointError, TrainingError) as error:
            raise click.ClickException(str(error)) from None
        except KeyboardInterrupt:
            raise click.ClickException("interrupted; rerun with --resume RUN to continue") from None


@click.group(cls=_Group)
def main() -> None:
    """Pretrain (C2P) and fine-tune P4Transformer / PPTr backbones on a c2p4d store.

    The store is built by `c2p-data ingest` and `c2p-data partial-views`.
    """


def _run_options(examples: str, default_out: str):
    """The options pretraining and fine-tuning share: backbone, epochs, device, workers, any
    config field, the run directory, resume, overwrite, progress bar."""
    options = [
        click.option("--backbone", type=click.Choice(BACKBONES.available()), help="The backbone."),
        click.option("--epochs", type=int, help="Epochs (a resumed run may be given more)."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Default: auto."),
        click.option("--workers", type=int, help="DataLoader workers per process."),
        click.option(
            "-o",
            "--option",
            "options",
            multiple=True,
            metavar="KEY=VALUE",
            help=f"Any config field by dotted name, e.g. {examples} (see config.json of a run).",
        ),
        click.option(
            "--out",
            type=click.Path(path_type=Path),
            help=f"The run directory. Default: {default_out}.",
        ),
        click.option(
            "--resume",
            type=click.Path(path_type=Path),
            help="Continue this run from its last checkpoint, with its own config.",
        ),
        click.option(
            "--overwrite", is_flag=True, help="Delete the run directory first if it exists."
        ),
        click.option("--no-progress", is_flag=True, help="No progress bar (log files only)."),
    ]

    def decorate(command):
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _assignments(options: tuple[str, ...], *flags: tuple[str, object]) -> list[str]:
    """The `-o KEY=VALUE` options, then one assignment per flag the user gave (not None): a
    flag overrides an option of the same key because it comes later."""
    return [*options, *(f"{key}={value}" for key, value in flags if value is not None)]


def _new_run_dir(run_dir: Path, overwrite: bool) -> Path:
    """run_dir, emptied with --overwrite; a run already there is continued with --resume only."""
    import shutil

    if overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    if (run_dir / "checkpoints" / "latest.json").exists():
        raise ConfigError(
            f"{run_dir} already holds a run; continue it with --resume {run_dir}, or choose "
            "another --out"
        )
    return run_dir


@main.command()
@click.option("--store", type=click.Path(path_type=Path), help="The store to pretrain on.")
@click.option(
    "--task",
    type=click.Choice(TASKS.available()),
    help="Whose trunk is pretrained: the one that task's fine-tuning preset builds (model "
    "options and input_scale), so that fine-tuning on it loads the result as trained.",
)
@click.option(
    "--preset",
    type=click.Choice(PRESETS.available()),
    default="small",
    show_default=True,
    help="small: minutes on a laptop CPU; paper: the paper's sizes and schedule (a GPU's work).",
)
@click.option(
    "--method",
    type=click.Choice(METHODS.available()),
    help="c2p (default), or a baseline the paper compares with, on the same trunk and data "
    "(videomae with AdamW, lr 1e-3, weight decay 0.05, as MAE; -o options override).",
)
@_run_options(
    "-o c2p.window=5 -o c2p.distillation=c2c -o data.view_set=random -o model.dim=512 "
    "-o optim.lr=0.02",
    "runs/pretrain-<store>-<backbone>-<preset>",
)
def pretrain(
    store: Path | None,
    backbone: str | None,
    task: str | None,
    preset: str,
    method: str | None,
    epochs: int | None,
    device: str | None,
    workers: int | None,
    options: tuple[str, ...],
    out: Path | None,
    resume: Path | None,
    overwrite: bool,
    no_progress: bool,
) -> None:
    """C2P pretraining (paper section 3): a student trunk on partial views learns from a
    teacher on the complete clips. Writes the run directory: config.json, steps.csv,
    epochs.csv, tensorboard/, curves.png and checkpoints/ (weights as safetensors), one
    checkpoint per epoch. Under torchrun it trains with DistributedDataParallel."""

    from c2p4d.train.loop import pretrain as run_pretraining
    from c2p4d.train.loop import resumed_config

    assignments = _assignments(
        (*method_options(method), *options) if method else options,
        ("data.store", store),
        ("model.backbone", backbone),
        ("model.task", task),
        ("method", method),
        ("optim.epochs", epochs),
        ("device", device),
        ("data.workers", workers),
    )
    if resume:
        config = override(resumed_config(resume), assignments)
        run_dir = resume
    else:
        config = override(preset_config(preset, task), assignments)
        run_dir = _new_run_dir(
            out
            or Path("runs")
            / f"pretrain-{Path(config.data.store).stem}-{config.model.backbone}-{preset}",
            overwrite,
        )
    summary = run_pretraining(config, run_dir, resume=bool(resume), progress=not no_progress)
    click.echo(summary.line())


@main.command("cluster-pretrain", context_settings={"ignore_unknown_options": True})
@click.option("--nodes", type=int, default=1, show_default=True, help="SLURM nodes.")
@click.option("--gpus-per-node", type=int, default=1, show_default=True)
@click.option("--cpus-per-gpu", type=int, default=8, show_default=True)
@click.option("--partition", help="SLURM partition (default: the cluster's).")
@click.option("--walltime", default="24:00:00", show_default=True)
@click.option("--dry-run", is_flag=True, help="Print the sbatch script instead of submitting it.")
@click.argument("pretrain_args", nargs=-1, type=click.UNPROCESSED)
def cluster_pretrain(
    nodes: int,
    gpus_per_node: int,
    cpus_per_gpu: int,
    partition: str | None,
    walltime: str,
    dry_run: bool,
    pretrain_args: tuple[str, ...],
) -> None:
    """Pretrain on a SLURM cluster: an sbatch script that runs torchrun on every node (DDP over
    nodes x GPUs), each rank streaming its own share of the store. PRETRAIN_ARGS go to
    `c2p-train pretrain` (e.g. --store /shared/hoi4d.zarr --preset paper --out runs/hoi4d)."""
    import shutil
    import subprocess

    from c2p4d.train.slurm import SlurmJob, sbatch_script

    try:
        job = SlurmJob(nodes, gpus_per_node, cpus_per_gpu, partition, walltime)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    script = sbatch_script(job, list(pretrain_args))
    if dry_run:
        click.echo(script, nl=False)
        return
    if shutil.which("sbatch") is None:
        raise ConfigError("sbatch is not on PATH: run this on a SLURM login node, or --dry-run")
    Path("slurm-logs").mkdir(exist_ok=True)
    path = Path("slurm-logs") / "c2p-pretrain.sbatch"
    path.write_text(script)
    result = subprocess.run(["sbatch", str(path)], capture_output=True, text=True, timeout=60)
    if result.returncode:
        raise ConfigError(f"sbatch refused {path}: {result.stderr.strip()}")
    click.echo(result.stdout.strip())


@main.command()
@click.option(
    "--task",
    default="hoi4d-actseg",
    show_default=True,
    help="hoi4d-actseg (per frame), hoi4d-semseg (per point), synthia (per point, rgb) or msr "
    "(per clip).",
)
@click.option(
    "--store",
    type=click.Path(path_type=Path),
    help="Default: the task's real dataset in --data if ingested, else its built-in stand-in "
    "(synth-hoi, synth-street, synth-gesture).",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path),
    default=Path("data"),
    show_default=True,
    help="Where the default stores are.",
)
@click.option(
    "--init",
    type=click.Path(path_type=Path),
    help="A C2P pretraining run (its last checkpoint) or .safetensors: its student trunk "
    "starts the model. Default: from scratch.",
)
@click.option("--labels", type=float, help="Percent of the training sequences with labels.")
@click.option(
    "--freeze",
    is_flag=True,
    help="Train the head alone on the frozen trunk (its MLP, not a linear probe).",
)
@click.option(
    "--trunk-lr",
    type=float,
    help="The trunk's learning rate as a fraction of the head's, e.g. 0.1: fine-tunes a "
    "pretrained trunk gently. Default: 1.",
)
@click.option(
    "--preset",
    type=click.Choice(PRESETS.available()),
    default="small",
    show_default=True,
    help="small: minutes on a laptop CPU; paper: the reference's sizes and schedule.",
)
@_run_options(
    "-o optim.lr=0.02 -o data.points=1024 -o evaluation.every=2 -o seed=1",
    "runs/finetune-<task>-<preset>[-init][-labelsP][-frozen][-trunklrF]",
)
def finetune(
    task: str,
    store: Path | None,
    data_dir: Path,
    init: Path | None,
    labels: float | None,
    freeze: bool,
    trunk_lr: float | None,
    preset: str,
    backbone: str | None,
    epochs: int | None,
    device: str | None,
    workers: int | None,
    options: tuple[str, ...],
    out: Path | None,
    resume: Path | None,
    overwrite: bool,
    no_progress: bool,
) -> None:
    """Fine-tune a task model (paper section 4) from a C2P pretraining or from scratch. Writes
    the run directory: config.json, labelled.txt (the training sequences whose labels it
    used), init.json (what --init loaded), steps.csv, epochs.csv (with the val scores),
    tensorboard/, curves.png and checkpoints/ (best.safetensors: the epoch val picked).
    `c2p-train evaluate RUN` then scores it on the test split."""

    from c2p4d.train.finetune import finetune as run_finetuning
    from c2p4d.train.finetune import resumed_config

    assignments = _assignments(
        options,
        ("model.backbone", backbone),
        ("init", init),
        ("labels", labels),
        ("freeze", freeze or None),
        ("trunk_lr", trunk_lr),
        ("optim.epochs", epochs),
        ("device", device),
        ("data.workers", workers),
    )
    if resume:
        config = override(resumed_config(resume), assignments)
        run_dir = resume
    else:
        config = finetune_preset(task, preset)
        if store is not None or not any(a.startswith("data.store=") for a in assignments):
            assignments.insert(0, f"data.store={store or default_store(task, data_dir)}")
        config = override(config, assignments)
        suffix = "".join(
            part
            for part, wanted in (
                ("-init", config.init),
                (f"-labels{config.labels:g}", config.labels < 100),
                ("-frozen", config.freeze),
                (f"-trunklr{config.trunk_lr:g}", config.trunk_lr < 1),
            )
            if wanted
        )
        run_dir = _new_run_dir(out or Path("runs") / f"finetune-{task}-{preset}{suffix}", overwrite)
    summary = run_finetuning(config, run_dir, resume=bool(resume), progress=not no_progress)
    click.echo(summary.line())


@main.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--png", is_flag=True, help="Also draw the task's pictures into RUN.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option("--workers", type=int, help="DataLoader workers. Default: the run's.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def evaluate(run: Path, png: bool, device: str, workers: int | None, no_progress: bool) -> None:
    """Score fine-tuning run RUN on its store's test split, with the weights the val split
    picked: prints the paper's metrics for its task, writes RUN/metrics.json and
    RUN/predictions.npz (the predicted and true labels of every test sequence), and with --png
    a picture (timelines.png, segmentation.png or confusion.png)."""
    from c2p4d.train.distributed import resolve_device
    from c2p4d.train.evaluate import evaluate_run

    report = evaluate_run(
        run, device=resolve_device(device), workers=workers, png=png, progress=not no_progress
    )
    click.echo(report.table)
    click.echo("wrote " + ", ".join(str(path) for path in report.files))


@main.command()
@click.option(
    "--task",
    type=click.Choice(TASKS.available()),
    default="hoi4d-actseg",
    show_default=True,
    help="The task every cell fine-tunes; claims compare its score (msr: video accuracy).",
)
@click.option(
    "--store",
    type=click.Path(path_type=Path),
    help="A store with the task's labels. Default: the task's, as finetune (with --quick, a "
    "tiny synth-hoi made in OUT). The view sets the chosen tables read and it lacks are "
    "rendered into it (sweep; random for table 4, sweep-pixel for table 6).",
)
@click.option("--out", type=click.Path(path_type=Path), default=Path("ablation"), show_default=True)
@click.option("--seeds", type=int, default=3, show_default=True)
@click.option("--labels", default="10,20,40,80,100", show_default=True, help="Label shares, %.")
@click.option("--ablation-labels", type=int, default=10, show_default=True,
              help="The label share at which tables 2-6 compare.")  # fmt: skip
@click.option(
    "--preset", type=click.Choice(PRESETS.available()), default="small", show_default=True
)
@click.option("--pretrain-epochs", type=int, default=6, show_default=True)
@click.option("--finetune-epochs", type=int, default=8, show_default=True)
@click.option("-p", "--pretrain-option", "pretrain_options", multiple=True, metavar="KEY=VALUE",
              help="An option of every pretraining (as -o of c2p-train pretrain).")  # fmt: skip
@click.option("-f", "--finetune-option", "finetune_options", multiple=True, metavar="KEY=VALUE",
              help="An option of every fine-tuning (as -o of c2p-train finetune).")  # fmt: skip
@click.option("--tables", help="Only these tables, by their number in the report, e.g. 1,7. "
              "Default: all.")  # fmt: skip
@click.option("--equal-steps/--no-equal-steps", default=True, show_default=True,
              help="Fine-tune every label share for as many steps as all labels (each "
              "labelled sequence drawn 100/share times an epoch), else once an epoch.")  # fmt: skip
@click.option("--quick", is_flag=True, help="Every row on tiny sizes in a few minutes (a test).")
@click.option("--no-progress", is_flag=True)
def ablation(
    task: str,
    store: Path | None,
    out: Path,
    seeds: int,
    labels: str,
    ablation_labels: int,
    preset: str,
    pretrain_epochs: int,
    finetune_epochs: int,
    pretrain_options: tuple[str, ...],
    finetune_options: tuple[str, ...],
    tables: str | None,
    equal_steps: bool,
    quick: bool,
    no_progress: bool,
) -> None:
    """The paper's comparisons at a reduced scale (paper Tables 5-8 and section 3), on
    hoi4d-actseg or another task: fine-tuning from scratch, after C2P and after the VideoMAE
    and STRL baselines on shares of the labels, and each design choice of C2P switched, every
    cell over several seeds.
    Writes OUT/report.md (tables, each claim with ✔ or ✘), OUT/results.json and OUT/*.png;
    a killed ablation resumes from the runs kept in OUT/runs."""
    from c2p4d.train import ablation as experiment

    try:
        shares = tuple(int(s) for s in labels.split(","))
    except ValueError:
        raise ConfigError(f"--labels {labels!r}: expected percentages like 10,20,40") from None
    titles = tuple(t.title for t in experiment.TABLES)
    if tables:
        numbers = [n.strip() for n in tables.split(",")]
        if not all(n.isdigit() and 1 <= int(n) <= len(titles) for n in numbers):
            raise ConfigError(f"--tables {tables!r}: expected numbers from 1 to {len(titles)}")
        titles = tuple(titles[int(n) - 1] for n in numbers)
    if quick:
        store = store or out / "store" / "synth-hoi.zarr"
        seeds, shares, ablation_labels = min(seeds, 2), (10, 100), 10
        pretrain_epochs, finetune_epochs = 1, 1
        pretrain_options = (*experiment.QUICK_PRETRAIN, *pretrain_options)
        finetune_options = (*experiment.QUICK_FINETUNE, *finetune_options)
    store = experiment.prepare_store(
        store or default_store(task, Path("data")),
        quick,
        experiment.view_sets_read(titles),
        click.echo,
    )
    try:
        config = experiment.AblationConfig(
            store=str(store),
            task=task,
            out=str(out),
            seeds=seeds,
            labels=shares,
            ablation_labels=ablation_labels,
            preset=preset,
            pretrain_epochs=pretrain_epochs,
            finetune_epochs=finetune_epochs,
            pretrain_options=pretrain_options,
            finetune_options=finetune_options,
            equal_steps=equal_steps,
            tables=titles,
        )
    except ValueError as error:
        raise ConfigError(str(error)) from None
    began = time.perf_counter()
    pretrain_row, finetune_cell = experiment.real_runs(config, store, progress=not no_progress)
    report = experiment.run(config, pretrain_row, finetune_cell, click.echo)
    click.echo("Claims" + report.read_text().split("## Claims", 1)[1].split("\n## ")[0].rstrip())
    click.echo(f"ablation done in {(time.perf_counter() - began) / 60:.1f} min: {report}")

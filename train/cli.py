"""`c2p-train`: C2P pretraining and fine-tuning on a c2p4d store."""

from __future__ import annotations

from pathlib import Path

import click

from c2p4d.pipeline.errors import DataError
from c2p4d.train.checkpoint import CheckpointError
from c2p4d.train.config import PRESETS, ConfigError, override
from c2p4d.train.config import preset as preset_config


class _Group(click.Group):
    """Bad input (data, config, checkpoint, training) ends in one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> object:
        from c2p4d.train.loop import TrainingError

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


@main.command()
@click.option("--store", type=click.Path(path_type=Path), help="The store to pretrain on.")
@click.option("--backbone", type=click.Choice(["p4transformer", "pptr"]), help="The backbone.")
@click.option(
    "--task",
    type=click.Choice(["hoi4d-actseg", "hoi4d-semseg", "synthia", "msr"]),
    help="Whose trunk is pretrained (its reference config); fine-tuning on it loads the result.",
)
@click.option(
    "--preset",
    type=click.Choice(list(PRESETS)),
    default="small",
    show_default=True,
    help="small: minutes on a laptop CPU; paper: the paper's sizes and schedule (a GPU's work).",
)
@click.option("--epochs", type=int, help="Epochs (a resumed run may be given more).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Default: auto.")
@click.option("--workers", type=int, help="DataLoader workers per process.")
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any config field by dotted name, e.g. -o c2p.window=5 -o c2p.distillation=c2c "
    "-o data.view_set=random -o model.dim=512 -o optim.lr=0.02 (see config.json of a run).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="The run directory. Default: runs/pretrain-<store>-<backbone>-<preset>.",
)
@click.option(
    "--resume",
    type=click.Path(path_type=Path),
    help="Continue this run from its last checkpoint, with its own config.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar (log files only).")
def pretrain(
    store: Path | None,
    backbone: str | None,
    task: str | None,
    preset: str,
    epochs: int | None,
    device: str | None,
    workers: int | None,
    options: tuple[str, ...],
    out: Path | None,
    resume: Path | None,
    no_progress: bool,
) -> None:
    """C2P pretraining (paper section 3): a student trunk on partial views learns from a
    teacher on the complete clips. Writes the run directory: config.json, steps.csv,
    epochs.csv, tensorboard/, curves.png and checkpoints/ (weights as safetensors), one
    checkpoint per epoch. Under torchrun it trains with DistributedDataParallel."""
    from c2p4d.train.loop import pretrain as run_pretraining
    from c2p4d.train.loop import resumed_config

    assignments = list(options)
    for key, value in (
        ("data.store", store),
        ("model.backbone", backbone),
        ("model.task", task),
        ("optim.epochs", epochs),
        ("device", device),
        ("data.workers", workers),
    ):
        if value is not None:
            assignments.append(f"{key}={value}")
    if resume:
        config = override(resumed_config(resume), assignments)
        run_dir = resume
    else:
        config = override(preset_config(preset), assignments)
        run_dir = out or Path("runs") / (
            f"pretrain-{Path(config.data.store).stem}-{config.model.backbone}-{preset}"
        )
        if (run_dir / "checkpoints" / "latest.json").exists():
            raise ConfigError(
                f"{run_dir} already holds a run; continue it with --resume {run_dir}, or choose "
                "another --out"
            )
    summary = run_pretraining(config, run_dir, resume=bool(resume), progress=not no_progress)
    click.echo(summary.line())

"""`c2p-data`: build and inspect the Zarr stores that the trainer reads."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sys
import time
import types
import typing
from collections.abc import Callable
from pathlib import Path

import click

from c2p4d.pipeline import sources
from c2p4d.pipeline.errors import DataError, os_error_line
from c2p4d.pipeline.run import ClusterOptions, SlurmOptions, slurm_job_script


class _Group(click.Group):
    """A click group that ends every expected failure with one line: a DataError as it is, an
    OSError (a full disk, a read-only folder) with its path and what to do, Ctrl-C with how to
    resume (exit status 130); a closed pipe quietly. Anything else is a bug and keeps its
    traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except DataError as error:
            raise click.ClickException(str(error)) from None
        except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as Python's docs do
            ctx.exit(1)
        except OSError as error:
            raise click.ClickException(os_error_line(error)) from None
        except KeyboardInterrupt:
            # zarr's reads and writes run on an event loop of their own: the tasks Ctrl-C cut
            # short are destroyed at exit, which asyncio logs as an error, one each.
            logging.getLogger("asyncio").setLevel(logging.CRITICAL)
            click.echo("interrupted: run the same command again to resume", err=True)
            ctx.exit(130)


class _Utf8Path(click.Path):
    """A path that is UTF-8 text. Paths travel to Dask workers (msgpack) and into the store's
    settings as UTF-8, so a name in another encoding is refused before anything is written."""

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None):
        path = super().convert(value, param, ctx)
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:
            name = param.get_error_hint(ctx) if param and ctx else "a path"
            raise DataError(
                f"{name} {str(path)!r} is not UTF-8 text: rename it, or choose another path"
            ) from None
        return path


PATH = _Utf8Path(path_type=Path)


@click.group(cls=_Group)
def main() -> None:
    """Build and inspect c2p4d stores: one chunked Zarr store per dataset holding complete
    point cloud sequences (and, later, their partial views)."""


def _typed(kind: object, text: str) -> object:
    """`text` as a value of annotated type `kind`: bool, number, str, Path, tuple, X | None."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):
        return _typed(next(a for a in args if a is not type(None)), text)
    if origin is tuple:
        parts = text.split(",")
        kinds = [args[0]] * len(parts) if args[-1] is Ellipsis else list(args)
        if len(kinds) != len(parts):
            raise ValueError(text)
        return tuple(_typed(k, part.strip()) for k, part in zip(kinds, parts, strict=True))
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(text)
        return text.lower() in ("true", "1", "yes")
    return kind(text)


def _type_name(kind: object) -> str:
    """How an option's type reads in a message: `int`, `float`, `true or false`, `tuple[int,
    int]` (values separated by commas), `Path`."""
    if kind is bool:
        return "true or false"
    return kind.__name__ if isinstance(kind, type) else str(kind).replace("pathlib.", "")


def parse_options(configs: list[type], pairs: tuple[str, ...], owner: str) -> dict[str, object]:
    """KEY=VALUE pairs typed after the fields of the given config dataclasses."""
    hints = {k: v for c in configs for k, v in typing.get_type_hints(c).items()}
    fields = sorted({f.name for c in configs for f in dataclasses.fields(c)})
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            raise DataError(
                f"--option {pair!r} is not KEY=VALUE with a known key; {owner} takes: "
                f"{', '.join(fields)}"
            )
        try:
            options[key] = _typed(hints[key], text)
        except (TypeError, ValueError):
            raise DataError(f"--option {key}={text!r}: expected {_type_name(hints[key])}") from None
    return options


def dataset_options(dataset: str, pairs: tuple[str, ...]) -> dict[str, object]:
    """-o KEY=VALUE pairs typed after the options of `dataset`'s source."""
    config_class = sources.source_class(dataset).config_class
    return parse_options([config_class], pairs, f"dataset {dataset!r}")


block_size_option = click.option(
    "--block-size",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Consecutive sequences per Dask task.",
)


def pairs_option(example: str) -> Callable:
    """A repeatable -o KEY=VALUE option, received as `pairs`."""
    return click.option(
        "--option",
        "-o",
        "pairs",
        multiple=True,
        metavar="KEY=VALUE",
        help=f"{example} (repeatable; a wrong key lists them all).",
    )


def cluster_options(command: Callable) -> Callable:
    """The options that say where Dask tasks run; the command receives them as `cluster`."""
    slurm_defaults = SlurmOptions()
    options = [
        click.option(
            "--workers", type=click.IntRange(min=1), help="Local Dask worker processes [CPUs]."
        ),
        click.option("--scheduler", metavar="ADDRESS", help="Use a running Dask scheduler."),
        click.option("--slurm", is_flag=True, help="Run the workers as SLURM jobs."),
        click.option("--queue", help="--slurm: the partition to submit to."),
        click.option("--account", help="--slurm: the account to charge."),
        click.option(
            "--cores",
            type=click.IntRange(min=1),
            default=slurm_defaults.cores,
            show_default=True,
            help="--slurm: cores per job, one worker each.",
        ),
        click.option(
            "--memory", default=slurm_defaults.memory, show_default=True, help="--slurm: per job."
        ),
        click.option(
            "--walltime",
            default=slurm_defaults.walltime,
            show_default=True,
            help="--slurm: time limit per job.",
        ),
        click.option(
            "--jobs",
            type=click.IntRange(min=1),
            default=slurm_defaults.jobs,
            show_default=True,
            help="--slurm: jobs to submit.",
        ),
        click.option("--dry-run", is_flag=True, help="--slurm: print the job script and exit."),
    ]

    @functools.wraps(command)
    def wrapper(
        workers, scheduler, slurm, queue, account, cores, memory, walltime, jobs, dry_run, **kw
    ):
        slurm_options = SlurmOptions(queue, account, cores, memory, walltime, jobs)
        if dry_run:
            if not slurm:
                raise DataError("--dry-run prints the SLURM job script: use it with --slurm")
            click.echo(slurm_job_script(slurm_options))
            return None
        cluster = ClusterOptions(workers, scheduler, slurm_options if slurm else None)
        return command(cluster=cluster, **kw)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


@main.command()
@click.option(
    "--dataset", required=True, help="Dataset to ingest: " + ", ".join(sources.available())
)
@click.option(
    "--source",
    type=PATH,
    help="Folder of the dataset's released files (real datasets only).",
)
@click.option(
    "--out",
    type=PATH,
    default=Path("data"),
    show_default=True,
    help="Folder for the store; it is written to OUT/<dataset>.zarr.",
)
@click.option(
    "--points", type=click.IntRange(min=8), help="Points per frame (default per dataset)."
)
@pairs_option("A dataset option, e.g. -o num_sequences=8")
@block_size_option
@cluster_options
def ingest(
    dataset: str,
    source: Path | None,
    out: Path,
    points: int | None,
    pairs: tuple[str, ...],
    block_size: int,
    cluster: ClusterOptions,
) -> None:
    """Read a dataset into OUT/<dataset>.zarr with a Dask cluster.

    Re-running the same command resumes: sequences already written are skipped, and the result
    is byte-identical to an uninterrupted run on any number of workers.
    """
    from c2p4d.pipeline.run import ingest as run_ingest

    if out.exists() and not out.is_dir():
        raise DataError(
            f"--out {out} is a file: name a folder (the store goes in OUT/<dataset>.zarr)"
        )
    options = dataset_options(dataset, pairs)
    if points is not None:
        options["points_per_frame"] = points
    if source is not None:
        options["source"] = source
    adapter = sources.get_source(dataset, **options)
    click.echo(run_ingest(adapter, out, cluster, block_size).line())


@main.command()
@click.option(
    "--dataset", required=True, help="Real dataset to check: " + ", ".join(sources.available())
)
@click.option(
    "--source",
    required=True,
    type=PATH,
    help="Folder of the dataset's released files.",
)
@pairs_option("A dataset option, e.g. -o meta=DIR")
def check(dataset: str, source: Path, pairs: tuple[str, ...]) -> None:
    """Compare a download with the dataset's manifest before a long ingest.

    Reads file names and headers only: reports missing files, wrong keys or shapes, names that
    do not parse and counts that differ from the release. Exits non-zero if anything is wrong.
    """
    from c2p4d.pipeline.check import check as check_download
    from c2p4d.pipeline.sources.released import ReleasedSource

    if not issubclass(sources.source_class(dataset), ReleasedSource):
        raise DataError(f"{dataset!r} is built in: there is no download to check")
    adapter = sources.get_source(dataset, source=source, **dataset_options(dataset, pairs))
    report = check_download(adapter)
    if report.ok:
        click.echo(f"{dataset}: OK: {report.summary}")
        return
    for problem in report.problems:
        click.echo(f"  - {problem}")
    count = len(report.problems)
    raise DataError(f"{dataset} at {source}: {count} problem{'s' * (count > 1)}; fix before ingest")


@main.command()
@click.argument("store_path", metavar="STORE", type=PATH)
def info(store_path: Path) -> None:
    """Print what STORE holds: its summary, how far its sequences and views got, and its class
    histograms. Checks that every file of what is done is there (`verify` reads them all);
    exits non-zero if one is missing or truncated."""
    from c2p4d.pipeline.integrity import damage
    from c2p4d.pipeline.stats import histograms
    from c2p4d.pipeline.store import Store

    store = Store.open(store_path)
    done = store.done()
    found = damage(store, store.items_done(view_sets=store.view_sets()))
    state = "complete" if store.complete else "INCOMPLETE: run the same ingest again"
    state = "DAMAGED" if found else state
    click.echo(f"{store.path}: {store.dataset}, {store.points_per_frame} points/frame, {state}")
    click.echo(store.summary().line())
    click.echo(f"sequences: {int(done.sum())} of {len(done)} written")
    for name in store.view_sets():
        views = store.views_done(name)
        click.echo(
            f"view set {name!r}: {views.shape[0]} views, {int(views.sum())} of {views.size} "
            "(view, sequence) pairs done"
        )
    if found:
        for problem in found:
            click.echo(f"damaged: {problem.line()}")
        raise DataError(
            f"{store.path}: {len({p.item for p in found})} items marked done have missing or "
            "truncated files; run the same `c2p-data ingest` or `partial-views` again: it writes "
            "them again"
        )
    for histogram in histograms(store):
        click.echo("\n".join(histogram.lines()))


@main.command()
@click.argument("store_path", metavar="STORE", type=PATH)
@click.option(
    "--unmark",
    is_flag=True,
    help="Mark what is damaged as not written (deleting the files that cannot be read), so "
    "that the same ingest or partial-views writes it again.",
)
def verify(store_path: Path, unmark: bool) -> None:
    """Read all of STORE and check every sequence and view marked done against the digests
    written with it. Names each damaged one and its file; exits non-zero if any."""
    from tqdm import tqdm

    from c2p4d.pipeline.integrity import Verification, forget
    from c2p4d.pipeline.store import Store

    started = time.perf_counter()
    store = Store.open(store_path, writable=unmark)
    items = store.items_done(view_sets=store.view_sets())
    check = Verification(store, items)
    found = []
    with tqdm(total=check.frames, unit="frame", dynamic_ncols=True, disable=None) as bar:
        for frames, problems in check.run():
            for problem in problems:
                tqdm.write(f"damaged: {problem.line()}")
            found += problems
            bar.update(frames)
    if found:
        damaged = f"{store.path}: {len({p.item for p in found})} of {len(items)} items are damaged"
        again = "the same `c2p-data ingest` or `partial-views` again"
        if not unmark:
            raise DataError(f"{damaged}; run `c2p-data verify --unmark {store.path}`, then {again}")
        cleared = forget(store, found)
        raise DataError(
            f"{damaged}; marked {len(cleared)} not written (with those sharing a damaged file): "
            f"run {again}"
        )
    seconds = time.perf_counter() - started
    size = store.summary().bytes_on_disk / 2**20
    sequences = sum(item.view_set is None for item in items)
    click.echo(
        f"{store.path}: OK: {sequences} sequences and {len(items) - sequences} views match "
        f"their digests ({size:.1f} MiB read in {seconds:.1f} s)"
    )


@main.command()
@click.argument("store_path", metavar="STORE", type=PATH)
@click.option("--sequence", help="Sequence name [the first one].")
@click.option(
    "--frames",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="How many frames to draw, evenly spread over the sequence.",
)
@click.option(
    "--views",
    "with_views",
    is_flag=True,
    help="Draw two partial views beside the complete frames, and the camera paths.",
)
@click.option(
    "--view-set", help="--views: which set of partial views [the only one, else the default]."
)
@click.option(
    "--out",
    type=PATH,
    help="PNG file to write [<store>-<sequence>[-views].png next to the store].",
)
def preview(
    store_path: Path,
    sequence: str | None,
    frames: int,
    with_views: bool,
    view_set: str | None,
    out: Path | None,
) -> None:
    """Draw a few frames of one sequence to a PNG, as its sensor saw them, coloured by class."""
    from c2p4d.pipeline.preview import preview_sequence, preview_views
    from c2p4d.pipeline.store import Store

    store = Store.open(store_path)
    name = sequence or store.names[0]
    if view_set is not None and not with_views:
        raise DataError("--view-set chooses the partial views to draw: use it with --views")
    png = f"{store.path.stem}-{name}{'-views' if with_views else ''}.png"
    out = store.path.with_name(png) if out is None else out / png if out.is_dir() else out
    if with_views:
        written = preview_views(store, name, out, num_frames=frames, view_set=view_set)
    else:
        written = preview_sequence(store, name, out, num_frames=frames)
    click.echo(f"wrote {written}")


@main.command("partial-views")
@click.argument("store_path", metavar="STORE", type=PATH)
@click.option(
    "--views",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Partial-view variants per sequence. A rerun with the same count resumes (the views "
    "done are kept); another count on an existing set needs --replace or another --view-set.",
)
@click.option(
    "--mode",
    type=click.Choice(["sweep", "full-circle", "random"]),
    help="Camera path: the paper's 150° sweep, Synthia's 360° circle, or a random viewpoint per "
    "frame (ablation) [the dataset's choice, else sweep].",
)
@click.option(
    "--occlusion",
    type=click.Choice(["fans", "pixel"]),
    default="fans",
    show_default=True,
    help="Which points a view keeps: ours (triangle fans over the points hide what lies behind "
    "a surface), or the authors' one-pixel z-buffer (the nearest point per pixel of a 120x180 "
    "screen at focal 150, within a depth tolerance of 0.001; -o screen_size, screen_focal, "
    "depth_tolerance), through whose gaps hidden surfaces show.",
)
@pairs_option(
    "A trajectory or occlusion setting, e.g. -o image_size=640,480, or -o up=0,0,1 (the "
    "world's up, which the cameras circle; the built-in worlds set it)"
)
@click.option(
    "--view-set",
    help="Name of the set of views to render into; sets of other names are kept [the mode, "
    "with -pixel for --occlusion pixel].",
)
@click.option(
    "--replace", is_flag=True, help="Drop this view set first if it was made with other settings."
)
@block_size_option
@cluster_options
def partial_views(
    store_path: Path,
    views: int,
    mode: str | None,
    occlusion: str,
    pairs: tuple[str, ...],
    view_set: str | None,
    replace: bool,
    block_size: int,
    cluster: ClusterOptions,
) -> None:
    """Render partial-view variants of every sequence of STORE into it (paper §3.1).

    Each view moves a virtual depth camera along its own trajectory around the cloud and keeps
    the points it sees (a z-buffer over the surfaces the points sample, or with --occlusion
    pixel the authors' one-pixel z-buffer). Views go into a named view set, so one store holds
    e.g. trajectory, random and pixel-rule views side by side; view v of a set has the same
    cameras whatever the occlusion. Re-running resumes; the same settings give byte-identical
    views on any number of workers.
    """
    from c2p4d.pipeline.run import partial_views as run_views
    from c2p4d.pipeline.trajectories import TrajectoryConfig
    from c2p4d.pipeline.views import OCCLUSION_RULES, ViewRequest

    options = parse_options(
        [TrajectoryConfig, OCCLUSION_RULES[occlusion]],
        pairs,
        f"partial-views --occlusion {occlusion}",
    )
    request = ViewRequest(views, mode, occlusion, options)  # over the dataset's own settings
    click.echo(run_views(store_path, request, cluster, block_size, replace, view_set).line())

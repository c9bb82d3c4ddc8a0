"""Run pipeline jobs (ingest, partial views) as Dask graphs on a local, existing or SLURM cluster.

Each task takes a block of consecutive sequences, reads them and writes its results straight
into the store: no frame data travels through the client. Tasks return counts only.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import distributed
import numpy as np
from dask.utils import parse_bytes
from distributed.comm import parse_address, parse_host_port
from tqdm import tqdm

from c2p4d.pipeline.errors import DataError, os_error_line
from c2p4d.pipeline.integrity import damage, forget, require_undamaged
from c2p4d.pipeline.sources.base import Source
from c2p4d.pipeline.store import Store, StoreLayout, StoreSummary, check_view_set_name

if TYPE_CHECKING:  # the view renderer (numba) loads only in jobs that render views
    from c2p4d.pipeline.views import ViewConfig, ViewRequest

# Each worker process runs one task at a time on one core; numba and BLAS threads on top of
# that would only oversubscribe the machine. Dask's nanny lowers glibc's trim threshold, which
# also makes every large temporary array a fresh mmap; a higher mmap threshold keeps them on
# the heap (mocap ingest: system time 14.8 s -> 2.6 s on 30 sequences).
_WORKER_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
}


@dataclass(frozen=True)
class SlurmOptions:
    """Dask workers submitted as SLURM batch jobs (dask-jobqueue); one worker per core."""

    queue: str | None = None
    account: str | None = None
    cores: int = 8  # per job
    memory: str = "32GB"  # per job
    walltime: str = "02:00:00"
    jobs: int = 1
    log_directory: str = "slurm-logs"

    def __post_init__(self) -> None:
        try:
            size = parse_bytes(self.memory)
        except ValueError:
            size = 0
        if size <= 0:
            raise DataError(f"--memory {self.memory!r} is not a size: write e.g. 32GB")


@dataclass(frozen=True)
class ClusterOptions:
    """Where tasks run: local worker processes, an existing scheduler, or SLURM jobs. Checked
    on creation, before a run writes anything."""

    workers: int | None = None  # local processes; default one per CPU core
    scheduler: str | None = None  # e.g. tcp://10.0.0.5:8786
    slurm: SlurmOptions | None = None

    def __post_init__(self) -> None:
        if self.scheduler:
            try:
                protocol, location = parse_address(self.scheduler)
                if protocol in ("tcp", "tls", "ws", "wss"):  # a network address: host:port
                    parse_host_port(location)
            except ValueError as error:
                raise DataError(
                    f"--scheduler {self.scheduler!r}: {error}; give the address with its port, "
                    "e.g. tcp://10.0.0.5:8786"
                ) from None
        if self.slurm and shutil.which("sbatch") is None:
            raise DataError(
                "--slurm submits jobs with sbatch, which is not on the PATH here: run on a SLURM "
                "login node, or use --workers N or --scheduler ADDRESS"
            )


def _slurm_cluster(options: SlurmOptions):
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(
        queue=options.queue,
        account=options.account,
        cores=options.cores,
        processes=options.cores,
        memory=options.memory,
        walltime=options.walltime,
        job_name="c2p4d",
        log_directory=options.log_directory,
        job_script_prologue=[f"export {k}={v}" for k, v in _WORKER_ENV.items()],
        scheduler_options={"dashboard_address": ":0"},
    )


def slurm_job_script(options: SlurmOptions) -> str:
    """The batch script `--slurm` would submit for each job, for `--dry-run`."""
    with _slurm_cluster(options) as cluster:
        return cluster.job_script()


@contextmanager
def dask_client(options: ClusterOptions) -> Iterator[distributed.Client]:
    """A client for the cluster the options name; a cluster made here is shut down after."""
    if options.scheduler:
        try:
            client = distributed.Client(options.scheduler, timeout="30s")
        except OSError as error:
            raise DataError(
                f"cannot reach the Dask scheduler at {options.scheduler}: {error}"
            ) from error
        with client:
            yield client
        return
    if options.slurm:
        cluster = _slurm_cluster(options.slurm)
        cluster.scale(jobs=options.slurm.jobs)
    else:
        with _ctrl_c_for_this_process_only():
            cluster = distributed.LocalCluster(
                n_workers=options.workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # any free port: never clash with another Dask on 8787
                # Quiet (workers log errors as the cluster closes on Ctrl-C): a task that
                # fails is raised here, in the client, with its traceback.
                silence_logs=logging.CRITICAL,
                env=_WORKER_ENV,
            )
    with cluster, distributed.Client(cluster) as client:
        yield client


@contextmanager
def _ctrl_c_for_this_process_only() -> Iterator[None]:
    """Ctrl-C reaches every process of the terminal's group: worker processes died of it with
    tracebacks, and a cluster interrupted while starting failed to close. While the cluster
    starts (a second or two, when Ctrl-C does nothing), SIGINT is ignored; its processes inherit
    that (Python and asyncio then install no handler of their own) and leave Ctrl-C to this
    process, which closes them."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def shard_lock(key: str) -> distributed.Lock:
    """A cluster-wide lock, used by the store around shards that two tasks may share."""
    return distributed.Lock(key)


def blocks_of(todo: Sequence[int], block_size: int) -> list[list[int]]:
    """Consecutive runs of at most `block_size` indices: neighbours share shards, so a block
    of neighbours fills whole shards and needs locks only at its two ends."""
    blocks: list[list[int]] = []
    for s in todo:
        if blocks and s == blocks[-1][-1] + 1 and len(blocks[-1]) < block_size:
            blocks[-1].append(s)
        else:
            blocks.append([s])
    return blocks


def run_tasks(
    client: distributed.Client,
    task: Callable[..., int],
    items: list,
    *args: object,
    unit: str,
    total: int,
) -> None:
    """Submit `task(item, *args)` per item; the bar advances by what each task returns.

    The first failure cancels the rest and is raised as it was raised on the worker.
    """
    guarded = _returning_data_errors(task)
    futures = client.map(guarded, items, *[[a] * len(items) for a in args], pure=False)
    with tqdm(total=total, unit=unit, dynamic_ncols=True, disable=None) as bar:
        try:
            for future in distributed.as_completed(futures):
                done = future.result()
                if isinstance(done, DataError):
                    raise done
                bar.update(done)
        finally:
            client.cancel(futures)


def _returning_data_errors(task: Callable[..., int]) -> Callable[..., int | DataError]:
    """`task` that returns a DataError (bad input; a failed file operation, such as a full
    disk, as one) instead of raising it, so that the worker does not log it with a traceback:
    the user gets the one line the client prints. Bugs are still raised, and logged with their
    traceback."""

    @functools.wraps(task)
    def guarded(*args: object) -> int | DataError:
        try:
            return task(*args)
        except DataError as error:
            return error
        except OSError as error:
            return DataError(os_error_line(error))

    return guarded


def _ingest_block(block: list[int], source: Source, path: str) -> int:
    store = Store.open(path, writable=True, check_layout=False)  # the run checked it
    infos = store.sequences()
    for s in block:
        store.write_sequence(s, source.read(infos[s]), lock=shard_lock)
        store.mark_done(s)
    return len(block)


@contextmanager
def run_lock(target: Path, what: str) -> Iterator[None]:
    """Hold, for a run's length, an exclusive lock on a hidden file beside `target` (the store,
    or one view set of it): two runs that write the same shards at once would lose each other's
    frames (their shard locks are each their own cluster's), so a second one is refused."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(f".{target.name}.lock"), "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataError(
                f"another run is {what} right now: wait for it to end (or stop it), then run the "
                "same command again"
            ) from None
        yield


def require_room(path: Path, need: int, what: str) -> None:
    """A DataError before a run starts if the disk under `path` has less than `need` bytes."""
    folder = next(p for p in [path, *path.parents] if p.exists())
    free = shutil.disk_usage(folder).free
    if need > free:
        raise DataError(
            f"{what} may take up to {_size(need)} and {folder} has {_size(free)} free: free "
            "some space, or make it smaller or put it elsewhere"
        )


def _size(count: int) -> str:
    """A byte count in GiB, or in MiB or KiB where that would read 0.0 GiB."""
    unit = next((u for u in (3, 2, 1) if count >= 2 ** (10 * u) / 10), 0)
    if not unit:
        return f"{count} bytes"
    return f"{count / 2 ** (10 * unit):,.1f} {('KiB', 'MiB', 'GiB')[unit - 1]}"


def redo_damaged(store: Store, view_set: str | None = None) -> list[str]:
    """Resume's cheap check: the done sequences (or the done views of `view_set`) whose files
    are missing or truncated are marked not done, with what shares a deleted file, so that
    this run writes them again. Returns what it found, a line each."""
    items = store.items_done(view_sets=[view_set] if view_set else [])
    found = [d for d in damage(store, items) if d.item.view_set == view_set]
    if not found:
        return []
    redone = forget(store, found)
    return [f"damaged: {d.line()}" for d in found] + [
        f"{len(redone)} items marked done were damaged or shared a damaged file: writing them again"
    ]


@dataclass(frozen=True)
class IngestResult:
    summary: StoreSummary
    written: int  # sequences written by this run (the rest were done before)
    seconds: float
    redone: tuple[str, ...] = ()  # what was marked done but damaged, a line each

    def line(self) -> str:
        return "\n".join(
            [
                *self.redone,
                f"ingested {self.summary.line()} in {self.seconds:.1f} s "
                f"({self.written} sequences written by this run)",
            ]
        )


def ingest(
    source: Source,
    out: str | Path,
    cluster: ClusterOptions = ClusterOptions(),
    block_size: int = 2,
) -> IngestResult:
    """Ingest every sequence of `source` into `out/<dataset>.zarr`, resuming a killed run."""
    started = time.perf_counter()
    sequences = tuple(source.index())
    if not sequences:
        raise DataError(f"dataset {source.name!r} has no sequences; check --source")
    layout = StoreLayout(
        dataset=source.name,
        points_per_frame=source.points_per_frame,
        sequences=sequences,
        info=source.info(),
        config=source.config_dict(),
    )
    path = Path(out) / f"{source.name}.zarr"
    with run_lock(path, f"writing {path}"):
        if not (path / "zarr.json").exists():
            require_room(path, layout.bytes_needed, f"the store {path}")
        store = Store.create_or_resume(path, layout)
        for group in ("frame", "seq"):  # a killed run's half-written chunks
            store.remove_unfinished_writes(group)
        redone = redo_damaged(store)
        todo = [s for s, done in enumerate(store.done()) if not done]
        if todo:
            with dask_client(cluster) as client:
                run_tasks(
                    client,
                    _ingest_block,
                    blocks_of(todo, block_size),
                    source,
                    str(store.path),
                    unit="seq",
                    total=len(todo),
                )
        store.mark_complete()
        seconds = time.perf_counter() - started
        return IngestResult(store.summary(), len(todo), seconds, tuple(redone))


def _views_block(
    block: list[tuple[int, list[int]]], path: str, config: ViewConfig, view_set: str
) -> int:
    from c2p4d.pipeline.trajectories import world_up
    from c2p4d.pipeline.views import render_views

    store = Store.open(path, writable=True, check_layout=False)  # the run checked it
    names = store.names
    for s, views in block:
        seq = store.read_sequence(s)
        visible, camera, intrinsics = render_views(
            seq.points, seq.camera, store.dataset, names[s], views, config
        )
        # The up the trajectories circled about, as they found it (a plane's: a few ms).
        store.write_view_up(s, world_up(seq.points, seq.camera, config.trajectory), view_set)
        for i, v in enumerate(views):
            store.write_view(
                s, v, visible[i], camera[i], intrinsics[i], lock=shard_lock, view_set=view_set
            )
            store.mark_view_done(s, v, view_set)
    return sum(len(views) for _, views in block)


@dataclass(frozen=True)
class ViewsResult:
    store: str
    view_set: str
    views: int  # (view, sequence) pairs rendered by this run
    frames: int  # frames rendered by this run, summed over views
    seconds: float
    redone: tuple[str, ...] = ()  # what was marked done but damaged, a line each

    def line(self) -> str:
        rate = self.views / self.seconds if self.seconds else 0.0
        return "\n".join(
            [
                *self.redone,
                f"rendered {self.views} views ({self.frames:,} frames) into {self.store} "
                f"(view set {self.view_set!r}) in {self.seconds:.1f} s: {rate:.1f} views/s",
            ]
        )


def partial_views(
    path: str | Path,
    config: ViewConfig | ViewRequest | None = None,
    cluster: ClusterOptions = ClusterOptions(),
    block_size: int = 2,
    replace: bool = False,
    view_set: str | None = None,
) -> ViewsResult:
    """Render `config.num_views` partial views of every sequence of a complete store into its
    view set `view_set` (default: `config.set_name`), resuming a killed run
    (views already written are skipped). Other view sets are left alone. A ViewRequest (None:
    the default one) is resolved over the dataset's own view settings, as `c2p-data
    partial-views` does; a ViewConfig is rendered as it is."""
    from c2p4d.pipeline.views import ViewRequest

    started = time.perf_counter()
    store = Store.open(path, writable=True)
    if config is None or isinstance(config, ViewRequest):
        config = (config or ViewRequest()).resolve(store.view_defaults)
    store.validate()
    require_undamaged(store, store.items_done())
    name = view_set or config.set_name
    check_view_set_name(name)  # before it names the run's lock file
    what = f"rendering view set {name!r} of {store.path}"
    with run_lock(store.path.with_name(f"{store.path.name}.{name}"), what):
        store.prepare_views(config.num_views, config.settings(), replace=replace, view_set=name)
        store.remove_unfinished_writes(f"view/{name}")  # a killed run's half-written chunks
        redone = redo_damaged(store, name)
        done = store.views_done(name)
        missing = {s: np.flatnonzero(~done[:, s]).tolist() for s in range(store.num_sequences)}
        todo = [s for s, views in missing.items() if views]
        blocks = [[(s, missing[s]) for s in block] for block in blocks_of(todo, block_size)]
        count = sum(len(missing[s]) for s in todo)
        frames = int(sum(len(missing[s]) * np.diff(store.frame_range(s))[0] for s in todo))
        require_room(store.path, store.view_bytes(frames), f"{count} views")
        if blocks:
            with dask_client(cluster) as client:
                run_tasks(
                    client,
                    _views_block,
                    blocks,
                    str(store.path),
                    config,
                    name,
                    unit="view",
                    total=count,
                )
        seconds = time.perf_counter() - started
        return ViewsResult(str(store.path), name, count, frames, seconds, tuple(redone))

"""Helpers shared by tests: run the CLI in a subprocess, compare stores by bytes."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from matplotlib.image import imread

# The checkout these tests belong to, and the folders it maps to c2p4d's sub-packages
# (pyproject.toml's package-dir).
CHECKOUT = Path(__file__).resolve().parents[1]
PACKAGES = ("kernels", "pipeline", "models", "train", "data_manifests")

# synth-hoi small enough for tests: 6 sequences x 24 frames x 256 points.
TINY = {"num_sequences": 6, "frames_per_sequence": 24, "image_width": 64, "image_height": 48}
TINY_ARGS = [arg for k, v in TINY.items() for arg in ("-o", f"{k}={v}")] + ["--points", "256"]


def foreign_packages() -> list[str]:
    """c2p4d's sub-packages that this interpreter imports from outside CHECKOUT (an editable
    install of another copy, an installed wheel), each with where it comes from."""
    foreign = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(f"c2p4d.{name}")  # finds it without running it
        origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
        if origin != CHECKOUT / name / "__init__.py":
            foreign.append(f"c2p4d.{name} from {origin or 'nowhere'}")
    return foreign


def check_checkout() -> None:
    """A RuntimeError unless `import c2p4d...` imports this checkout, the code under test."""
    foreign = foreign_packages()
    if foreign:
        raise RuntimeError(
            f"these tests belong to {CHECKOUT}, but Python imports {'; '.join(foreign)}: "
            f"run `pip install -e {CHECKOUT}` (or `make setup` there) and test again"
        )


def copy_store(store: Path, folder: Path) -> Path:
    """A private copy of a store, for a test that changes it."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copytree(store, folder / store.name))


def c2p_data(*args: object, check: bool = True, **popen) -> subprocess.CompletedProcess:
    """Run `c2p-data ARGS` as a user would, in a fresh interpreter."""
    command = [sys.executable, "-m", "c2p4d.pipeline", *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, **popen)
    if check and result.returncode != 0:
        raise AssertionError(f"{command} failed:\n{result.stdout}\n{result.stderr}")
    return result


def store_digests(path: Path) -> dict[str, str]:
    """sha256 of every file of a store, by relative path."""
    return {
        str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(Path(path).rglob("*"))
        if f.is_file()
    }


def kill_when_flagged(args: list, flags: Path, at_least: int, timeout: float = 180) -> None:
    """Run `c2p-data ARGS` and SIGKILL its whole process group (client, scheduler, workers)
    as soon as `flags` holds `at_least` files, as a cluster kills a job: a run killed midway."""
    command = [sys.executable, "-m", "c2p4d.pipeline", *map(str, args)]
    job = subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not (flags.is_dir() and sum(1 for f in flags.rglob("*") if f.is_file()) >= at_least):
        assert job.poll() is None, "the job ended before it could be killed"
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.01)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()


def sequence_digest(data) -> str:
    """sha256 over a SequenceData's arrays."""
    h = hashlib.sha256()
    for array in (data.points, data.camera, data.point_label, data.action, data.features):
        if array is not None:
            h.update(array.tobytes())
    return h.hexdigest()


def assert_reads_are_deterministic(dataset: str, options: dict, count: int = 3) -> None:
    """Each sequence reads as the same bytes in any order, after pickling (as Dask ships a
    source to a worker) and in a fresh interpreter; different sequences differ."""
    from c2p4d.pipeline.sources import get_source

    source = get_source(dataset, **options)
    index = source.index()[:count]
    forward = [sequence_digest(source.read(s)) for s in index]
    fresh = get_source(dataset, **options)
    backward = [sequence_digest(fresh.read(s)) for s in reversed(index)][::-1]
    assert forward == backward and len(set(forward)) == len(index)
    copy = pickle.loads(pickle.dumps(source))
    assert sequence_digest(copy.read(index[-1])) == forward[-1]
    code = (
        "from support import check_checkout, sequence_digest; check_checkout(); "
        "from c2p4d.pipeline.sources import get_source; "
        f"s = get_source({dataset!r}, **{options!r}); "
        f"print(sequence_digest(s.read(s.index()[{len(index) - 1}])))"
    )
    # support's folder first, and the rest of the path as this process has it.
    path = [str(Path(__file__).parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip().splitlines()[-1] == forward[-1]


def colour_pixels(png: Path, rgb: tuple[float, float, float]) -> int:
    """How many pixels of a PNG have this colour (within 2/255 per channel)."""
    image = imread(png)[..., :3]
    return int((np.abs(image - np.asarray(rgb[:3])) <= 2 / 255).all(-1).sum())

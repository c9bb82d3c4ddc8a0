"""C2P pretraining end to end on a tiny store: it learns, resumes exactly, and runs under DDP."""

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from support import c2p_data

from c2p4d.models.p4dconv import P4DConv
from c2p4d.pipeline.store import Store
from c2p4d.train import runtime
from c2p4d.train.checkpoint import load_latest
from c2p4d.train.config import ConfigError, method_options, override, preset
from c2p4d.train.loop import Summary, pretrain

# A trunk of ~40k parameters on 8-frame clips of 128 points: seconds per epoch on 2 cores.
TINY = [
    "data.clip_frames=8",
    "data.frame_stride=1",
    "data.points=128",
    "data.clips_per_sequence=2",
    "data.workers=0",
    "model.dim=32",
    "model.depth=1",
    "model.heads=2",
    "model.dim_head=16",
    "model.mlp_dim=32",
    "model.spatial_stride=8",
    "c2p.predictor_hidden=32",
    "optim.batch_size=4",
    "optim.warmup_epochs=0.5",
    "probe.k=5",
]


@pytest.fixture(scope="module")
def store(hoi_store) -> Path:
    return hoi_store


def tiny_config(store: Path, *extra: str):
    return override(preset("small"), [*TINY, f"data.store={store}", *extra])


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_short_pretraining_learns(store, tmp_path):
    summary = pretrain(tiny_config(store, "optim.epochs=6"), tmp_path, progress=False)
    epochs = rows(tmp_path / "epochs.csv")
    assert [int(r["epoch"]) for r in epochs] == list(range(7))  # row 0: the untrained probe
    losses = [float(r["loss"]) for r in epochs[1:]]
    assert losses[-1] < 0.9 * losses[0], losses
    # The probe is scored, not asserted to rise: on synth-hoi it does not (README, Pretraining).
    probes = [float(r["probe_acc"]) for r in epochs]
    assert summary.probe == pytest.approx(probes[-1], 1e-4)
    val = Store.open(store)
    actions = np.concatenate([val.read_sequence(s).action for s in np.flatnonzero(val.splits == 1)])
    chance = 100 * np.bincount(actions[actions >= 0]).max() / np.count_nonzero(actions >= 0)
    assert [float(r["probe_chance"]) for r in epochs] == pytest.approx([chance] * 7, abs=1e-3)
    assert summary.checkpoint.name == "epoch-0006.safetensors"
    gauges = [float(r["teacher"]) for r in epochs[1:]]
    assert summary.teacher == pytest.approx((gauges[0], gauges[-1]), 1e-4)
    assert summary.teacher_chance == pytest.approx(float(epochs[-1]["teacher_chance"]), 1e-4)
    assert f"teacher gauge {gauges[0]:.2f} to {gauges[-1]:.2f}" in summary.line()
    for name in ("config.json", "steps.csv", "curves.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert any((tmp_path / "tensorboard").iterdir())
    saved = load_latest(tmp_path)
    assert saved.epoch == 6 and saved.meta["config"]["optim"]["epochs"] == 6
    assert any(k.startswith("student.encoder.") for k in saved.weights)
    assert set(saved.state) == {"optimizer", "scheduler", "torch_rng"}
    torch.load(tmp_path / "checkpoints" / "epoch-0006.pt", weights_only=True)


@pytest.mark.parametrize(("last", "stuck"), [(3.09, True), (1.89, False)])
def test_the_summary_warns_when_the_teacher_gauge_ends_near_chance(last, stuck):
    """3.09: the asymmetric teacher of the msr small trunk after 6 epochs; 1.89: PPTr's after 2."""
    summary = Summary(
        epochs=2,
        steps=10,
        seconds=60.0,
        loss=2.5,
        probe=None,
        chance=None,
        initial_probe=None,
        checkpoint=None,
        model=torch.nn.Identity(),
        teacher=(3.09, last),
        teacher_chance=math.log(24),
    )
    assert summary.teacher_stuck() == stuck
    assert "teacher gauge 3.09 to" in summary.line()
    assert ("still near chance" in summary.line()) == stuck


def cli(*args: object) -> list[str]:
    return [sys.executable, "-m", "c2p4d.train", "pretrain", *map(str, args)]


def options(store: Path, *extra: str) -> list[str]:
    return [a for o in (*TINY, f"data.store={store}", "probe.every=0", *extra) for a in ("-o", o)]


def test_resume_after_kill_gives_the_same_losses(store, tmp_path):
    args = [*options(store), "--epochs", 3, "--no-progress"]
    subprocess.run(cli(*args, "--out", tmp_path / "whole"), check=True, capture_output=True)
    whole = rows(tmp_path / "whole" / "steps.csv")
    per_epoch = len(whole) // 3

    killed = tmp_path / "killed"
    job = subprocess.Popen(
        cli(*args, "--out", killed), start_new_session=True, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while not (killed / "steps.csv").exists() or len(rows(killed / "steps.csv")) < per_epoch + 2:
        assert job.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)  # mid epoch 2: its checkpoint is not written
    job.wait()
    assert json.loads((killed / "checkpoints" / "latest.json").read_text())["epoch"] == 1
    result = subprocess.run(
        cli("--resume", killed, "--no-progress"), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    resumed = rows(killed / "steps.csv")
    assert [r["step"] for r in resumed] == [r["step"] for r in whole]
    for ours, theirs in zip(resumed, whole, strict=True):
        assert ours["loss"] == theirs["loss"], (ours, theirs)


def test_the_trunk_is_fed_coordinates_in_its_units(store, tmp_path):
    """input_scale multiplies what the trunk reads, the same clips otherwise."""
    fed: dict[float, torch.Tensor] = {}
    scale = 1.0

    def first_convolution_input(module, args):
        if isinstance(module, P4DConv):
            fed.setdefault(scale, args[0].detach().clone())

    hook = torch.nn.modules.module.register_module_forward_pre_hook(first_convolution_input)
    try:
        for scale in (1.0, 10.0):
            config = tiny_config(store, "optim.epochs=1", "probe.every=0", f"input_scale={scale}")
            pretrain(config, tmp_path / f"x{scale:g}", progress=False)
    finally:
        hook.remove()
    torch.testing.assert_close(fed[10.0], 10 * fed[1.0])


def test_resume_refuses_other_settings(store, tmp_path):
    args = [*options(store), "--epochs", 1, "--no-progress", "--out", tmp_path]
    subprocess.run(cli(*args), check=True, capture_output=True)
    result = subprocess.run(
        cli("--resume", tmp_path, "-o", "c2p.window=5"), capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "started with other settings (c2p)" in result.stderr
    again = subprocess.run(cli(*args), capture_output=True, text=True)
    assert again.returncode == 1 and f"continue it with --resume {tmp_path}" in again.stderr


def test_resume_refuses_a_checkpoint_of_a_model_with_other_parts(store, tmp_path):
    """A VideoMAE run saved before its encoder norm existed: one error, no traceback."""
    videomae = [a for o in method_options("videomae") for a in ("-o", o)]
    args = [*options(store), *videomae, "--epochs", 2, "--no-progress", "--out", tmp_path]
    subprocess.run(cli(*args), check=True, capture_output=True)
    path = tmp_path / "checkpoints" / "epoch-0002.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata()
    older = {k: v for k, v in load_file(path).items() if not k.startswith("encoder_norm.")}
    save_file(older, str(path), header)
    result = subprocess.run(cli("--resume", tmp_path), capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "does not fit this version's model" in result.stderr
    assert "encoder_norm.weight" in result.stderr and str(tmp_path) in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "c2p.window=7"], "c2p.window='7' is not one of"),
        (["-o", "data.clip_frames=99"], "99"),
        (["--device", "cuda"], "no CUDA device"),
        (["-o", "data.view_set=nope"], "nope"),
        (["-o", "nope=1"], "unknown option 'nope'"),
    ],
)
def test_bad_input_is_one_line(store, tmp_path, args, message):
    if message == "no CUDA device" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = subprocess.run(
        cli(*options(store), "--out", tmp_path, *args), capture_output=True, text=True
    )
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_store_without_views_says_what_to_run(tmp_path):
    sizes = ["-o", "num_sequences=2", "-o", "frames_per_sequence=24", "-o", "image_width=32"]
    c2p_data("ingest", "--dataset", "synth-hoi", "--out", tmp_path, *sizes, "-o", "image_height=24")
    result = subprocess.run(
        cli(*options(tmp_path / "synth-hoi.zarr"), "--out", tmp_path / "run"),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "c2p-data partial-views" in result.stderr, result.stderr


DDP_WORKER = """
import json, os, sys
import torch.distributed as dist
from safetensors.torch import save_file
from c2p4d.pipeline.store import Store
from c2p4d.train import distributed
from c2p4d.train.config import override, preset
from c2p4d.train.loop import clip_dataset, pretrain

out = sys.argv[1]
config = override(preset("small"), sys.argv[2:])
d = distributed.setup("cpu")
keys = clip_dataset(config, Store.open(config.data.store), d.rank, d.world_size).share(0)
shares = [None] * d.world_size
dist.all_gather_object(shares, sorted(map(list, keys)))
summary = pretrain(config, out + "/run", progress=False)
# Parameters: BatchNorm running statistics are buffers, broadcast from rank 0 at each step.
weights = {k: v.detach().contiguous() for k, v in summary.model.named_parameters()}
save_file(weights, f"{out}/rank{d.rank}.safetensors")
json.dump(shares, open(f"{out}/shares{d.rank}.json", "w"))
"""


def test_two_ddp_processes_share_the_data_and_end_with_the_same_weights(store, tmp_path):
    (tmp_path / "worker.py").write_text(DDP_WORKER)
    config = [*TINY, f"data.store={store}", "optim.epochs=1", "probe.every=0"]
    # --standalone: torchrun picks a free port, not a fixed one another job may hold
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        str(tmp_path / "worker.py"), str(tmp_path), *config,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    shares = json.loads((tmp_path / "shares0.json").read_text())
    first, second = ({tuple(k) for k in share} for share in shares)
    assert first and second and not first & second
    assert len(first) == len(second)
    weights = [load_file(tmp_path / f"rank{r}.safetensors") for r in (0, 1)]
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key


def test_an_unknown_optimiser_is_one_error_naming_the_choices():
    with pytest.raises(ConfigError, match="optim.optimizer='adam' is not one of: sgd, adamw"):
        override(preset("small"), ["optim.optimizer=adam"])


@pytest.mark.parametrize("method, optimizer", [("videomae", "adamw"), ("strl", "sgd")])
def test_baselines_pretrain_the_same_trunk(store, tmp_path, method, optimizer):
    config = tiny_config(store, *method_options(method), "optim.epochs=1", "probe.every=0")
    summary = pretrain(config, tmp_path, progress=False)
    saved = load_latest(tmp_path)
    assert torch.isfinite(torch.tensor(summary.loss)) and saved.meta["config"]["method"] == method
    assert saved.meta["config"]["optim"]["optimizer"] == optimizer  # VideoMAE's is MAE's
    assert type(runtime.optimiser(summary.model, config.optim, 1)[0]).__name__.lower() == optimizer
    student = {k for k in saved.weights if k.startswith("student.")}
    c2p_run = pretrain(tiny_config(store, "optim.epochs=1", "probe.every=0"), tmp_path / "c2p")
    assert student == {k for k in c2p_run.model.state_dict() if k.startswith("student.")}

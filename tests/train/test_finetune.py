"""Fine-tuning on tiny stores: every task trains and is evaluated, --init loads the trunk and
only the trunk, label subsets are seeded and nested, --freeze keeps the trunk, bad input is
one line."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from support import c2p_data

from c2p4d.models import build_student
from c2p4d.pipeline.store import Store
from c2p4d.train import checkpoint
from c2p4d.train.checkpoint import read_meta
from c2p4d.train.config import (
    FINETUNE_PRESETS,
    PRESETS,
    ConfigError,
    finetune_preset,
    override,
    preset,
    to_dict,
)
from c2p4d.train.evaluate import evaluate_run
from c2p4d.train.finetune import build_model, finetune, load_init, trunk_modules
from c2p4d.train.optim import build_optimizer
from c2p4d.train.tasks import TASKS, labelled_sequences

# A narrow trunk on clips of 128 points: seconds per epoch on 2 cores.
TRUNK = ["model.dim=32", "model.depth=1", "model.heads=2", "model.dim_head=16", "model.mlp_dim=32"]
TINY = [
    *TRUNK,
    "data.points=128",
    "data.workers=0",
    "optim.batch_size=2",
    "optim.epochs=1",
    "optim.warmup_epochs=0.5",
]
CLIPS = {  # per task, short enough for the tiny stores' sequences
    "hoi4d-actseg": ["model.spatial_stride=8"],  # whole 24-frame sequences, at stride 2
    "hoi4d-semseg": ["evaluation.start_step=6"],
    "synthia": [],
    "msr": ["data.clip_frames=8", "model.spatial_stride=8", "evaluation.start_step=8"],
}
SIZE = ["-o", "image_width=64", "-o", "image_height=48", "--points", "256"]


@pytest.fixture(scope="module")
def stores(tmp_path_factory, hoi_store) -> dict[str, Path]:
    """The built-in stand-ins, tiny: synth-hoi (8 sequences x 24 frames), synth-street (8 x 6)
    and synth-gesture (2 gestures x 11 subjects x 24 frames), 256 points per frame."""
    out = tmp_path_factory.mktemp("finetune")
    street = ["-o", "num_sequences=8", "-o", "frames_per_sequence=6"]
    c2p_data("ingest", "--dataset", "synth-street", "--out", out, *street, *SIZE)
    gesture = ["-o", "gestures=2", "-o", "min_frames=24", "-o", "max_frames=24"]
    c2p_data("ingest", "--dataset", "synth-gesture", "--out", out, *gesture, *SIZE)
    made = {name: out / f"{name}.zarr" for name in ("synth-street", "synth-gesture")}
    return {"synth-hoi": hoi_store, **made}


STORE_OF = {
    "hoi4d-actseg": "synth-hoi",
    "hoi4d-semseg": "synth-hoi",
    "synthia": "synth-street",
    "msr": "synth-gesture",
}


def tiny(task: str, store: Path, *extra: str):
    assignments = [*TINY, *CLIPS[task], f"data.store={store}", *extra]
    return override(finetune_preset(task, "small"), assignments)


@pytest.mark.parametrize(
    ("task", "metrics"),
    [
        ("hoi4d-actseg", {"accuracy", "edit", "f1@10", "f1@25", "f1@50"}),
        ("hoi4d-semseg", {"miou", "accuracy"}),
        ("synthia", {"miou", "accuracy"}),
        ("msr", {"clip_accuracy", "video_accuracy"}),
    ],
)
def test_each_task_finetunes_and_evaluates(stores, tmp_path, task, metrics):
    store = stores[STORE_OF[task]]
    summary = finetune(tiny(task, store), tmp_path, progress=False)
    assert np.isfinite(summary.loss) and summary.picked["epoch"] == 1
    epochs = (tmp_path / "epochs.csv").read_text().splitlines()
    assert len(epochs) == 2 and "val_" in epochs[0]
    for name in ("config.json", "steps.csv", "curves.png", "labelled.txt"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "checkpoints" / "best.safetensors").is_file()

    report = evaluate_run(tmp_path, device=torch.device("cpu"), progress=False)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert set(saved["metrics"]) == metrics and saved["split"] == "test"
    assert all(0 <= v <= 100 for v in saved["metrics"].values())
    assert saved["metrics"] == pytest.approx(report.scores.metrics)
    predictions = np.load(tmp_path / "predictions.npz")
    test = Store.open(store)
    names = np.array(test.names)[test.splits == 2]
    assert sorted(set(predictions["sequence"].tolist())) == sorted(names.tolist())
    assert predictions["pred"].shape == predictions["true"].shape
    if task == "msr":  # a video's class: the argmax of its clips' summed probabilities
        for video, pred in zip(predictions["sequence"], predictions["pred"], strict=True):
            clips = predictions["clip_probability"][predictions["clip_sequence"] == video]
            assert len(clips) == 3 and pred == clips.sum(axis=0).argmax()
    else:  # per frame and per point: the accuracy is the share of equal labels
        labelled = predictions["true"] >= 0
        right = predictions["pred"][labelled] == predictions["true"][labelled]
        assert saved["metrics"]["accuracy"] == pytest.approx(100 * right.mean())


def fake_pretraining(
    folder: Path, store: Path, *, ddp: bool = False, input_scale: float = 1.0, **model
) -> Path:
    """A pretraining checkpoint whose student trunk holds known, non-initial weights."""
    assignments = [*TRUNK, "model.spatial_stride=8", *(f"model.{k}={v}" for k, v in model.items())]
    config = override(
        preset("small"), [*assignments, f"data.store={store}", f"input_scale={input_scale}"]
    )
    torch.manual_seed(123)
    student = build_student(config.model.backbone, config.model.task, **config.model.overrides())
    weights = {f"student.{k}": v + 1.0 for k, v in student.state_dict().items()}
    weights["predictors.0.weight"] = torch.zeros(2, 2)
    if ddp:
        weights = {f"module.{k}": v for k, v in weights.items()}
    meta = {"kind": "c2p-pretrain", "config": to_dict(config), "model": to_dict(student.config)}
    checkpoint.save(folder, 1, weights, {}, meta)
    return folder


@pytest.mark.parametrize("ddp", [False, True])
def test_init_loads_the_pretrained_trunk_and_only_the_trunk(stores, tmp_path, ddp):
    store = stores["synth-hoi"]
    run = fake_pretraining(tmp_path / "pretrain", store, ddp=ddp)
    config = tiny("hoi4d-actseg", store, f"init={run}")
    fresh = build_model(config, 11).state_dict()
    model = build_model(config, 11)
    report = load_init(model, config)
    saved, _ = checkpoint.load_weights(run)
    prefix = "module.student." if ddp else "student."
    trunk = {k for k in fresh if not k.startswith("head.")}
    assert set(report["loaded"]) == trunk and report["new"] == sorted(set(fresh) - trunk)
    assert [k.split(".")[0] for k in report["unused"]] == ["predictors"]
    for key, value in model.state_dict().items():
        if key in trunk:
            assert torch.equal(value, saved[prefix + key]) and not torch.equal(value, fresh[key])
        else:
            assert torch.equal(value, fresh[key]), key


def test_finetune_from_init_records_what_it_loaded(stores, tmp_path):
    store = stores["synth-hoi"]
    run = fake_pretraining(tmp_path / "pretrain", store)
    finetune(tiny("hoi4d-actseg", store, f"init={run}"), tmp_path / "ft", progress=False)
    init = json.loads((tmp_path / "ft" / "init.json").read_text())
    assert init["source"].endswith("epoch-0001.safetensors") and init["loaded"]


def test_label_subsets_are_seeded_and_nested(stores, tmp_path):
    store = Store.open(stores["synth-gesture"])
    train = np.flatnonzero(store.splits == 0)
    shares = [labelled_sequences(store, p, seed=0) for p in (10, 20, 40, 80, 100)]
    assert [len(s) for s in shares] == [1, 2, 4, 8, 10] and len(train) == 10
    for small, large in zip(shares, shares[1:], strict=False):
        assert set(small) < set(large)
    assert set(shares[-1]) == set(train)
    assert np.array_equal(labelled_sequences(store, 40, seed=0), shares[2])
    others = [labelled_sequences(store, 40, seed=s).tolist() for s in range(1, 4)]
    assert any(o != shares[2].tolist() for o in others)

    summary = finetune(tiny("msr", store.path, "labels=40"), tmp_path, progress=False)
    listed = (tmp_path / "labelled.txt").read_text().split()
    assert listed == [store.names[s] for s in shares[2]] and summary.steps > 0


def stand_in_store(labels: list[int], splits: list[int]) -> SimpleNamespace:
    """What labelled_sequences reads of a store, for label vectors no built-in world makes."""
    return SimpleNamespace(
        path="stand-in.zarr",
        dataset="stand-in",
        names=[f"seq{i:03d}" for i in range(len(labels))],
        labels=np.array(labels),
        splits=np.array(splits),
    )


@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2)), min_size=1, max_size=60).filter(
        lambda rows: any(split == 0 for _, split in rows)
    ),
    st.integers(0, 3),
)
def test_a_class_by_class_draw_deals_every_class_in_turn(rows, seed):
    labels, splits = map(list, zip(*rows, strict=True))
    store = stand_in_store(labels, splits)
    train = np.flatnonzero(store.splits == 0)
    shares = (10, 20, 40, 80, 100)
    drawn = [labelled_sequences(store, p, seed, by_class=True) for p in shares]
    for small, large in zip(drawn, drawn[1:], strict=False):
        assert set(small) <= set(large)
    assert set(drawn[-1]) == set(train)
    available = Counter(store.labels[train].tolist())
    for share, percent in zip(drawn, shares, strict=True):
        assert len(share) == max(1, -(-len(train) * percent // 100))
        taken = Counter(store.labels[share].tolist())
        for a in available:  # a class falls more than one behind only once it has run out
            for b in available:
                assert taken[a] >= taken[b] - 1 or taken[a] == available[a]


def test_msr_draws_its_labels_class_by_class(stores):
    store = Store.open(stores["synth-gesture"])  # 10 training videos of 2 gestures
    for seed in range(4):
        plain = labelled_sequences(store, 20, seed)
        balanced = TASKS.get("msr").labelled(store, 20, seed)
        assert len(balanced) == len(plain) == 2
        assert sorted(store.labels[balanced]) == [0, 1]
    assert np.array_equal(
        TASKS.get("hoi4d-actseg").labelled(store, 20, 0), labelled_sequences(store, 20, 0)
    )


def test_a_run_resumes_only_with_the_labels_it_started_with(stores, tmp_path):
    config = tiny("msr", stores["synth-gesture"], "labels=40")
    finetune(config, tmp_path, progress=False)
    listed = tmp_path / "labelled.txt"
    listed.write_text("\n".join(reversed(Store.open(stores["synth-gesture"]).names[:4])) + "\n")
    with pytest.raises(ConfigError, match="labelled.txt lists other labelled sequences"):
        finetune(override(config, ["optim.epochs=2"]), tmp_path, resume=True, progress=False)


def test_freeze_leaves_the_trunk_unchanged(stores, tmp_path):
    config = tiny("hoi4d-semseg", stores["synth-hoi"], "freeze=true")
    before = build_model(config, 9).state_dict()
    model = finetune(config, tmp_path, progress=False).model
    after = model.state_dict()
    trunk = {k for k in after if k.split(".")[0] in model.trunk_modules()}
    assert trunk and all(torch.equal(before[k], after[k]) for k in trunk)  # BatchNorm too
    assert any(not torch.equal(before[k], after[k]) for k in set(after) - trunk)
    assert all(not p.requires_grad for m in trunk_modules(model) for p in m.parameters())


def first_step(config, factor: float) -> tuple[dict, dict]:
    """Trunk and head parameters after one SGD step of the same loss at trunk factor `factor`."""
    model = build_model(config, 5)
    optimizer = build_optimizer(
        model, "sgd", 0.05, 0.9, 1e-4, slow=trunk_modules(model), slow_factor=factor
    )
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    trunk = set(model.trunk_modules())
    moved = {k: v.detach().clone() for k, v in model.named_parameters()}
    return (
        {k: v for k, v in moved.items() if k.split(".")[0] in trunk},
        {k: v for k, v in moved.items() if k.split(".")[0] not in trunk},
    )


def test_trunk_lr_scales_the_trunks_step_only(stores):
    config = tiny("msr", stores["synth-gesture"])
    start = dict(build_model(config, 5).named_parameters())
    full_trunk, full_head = first_step(config, 1.0)
    slow_trunk, slow_head = first_step(config, 0.25)
    assert full_trunk and full_head
    for k in full_trunk:  # SGD's first step is linear in lr: momentum and decay included
        torch.testing.assert_close(slow_trunk[k] - start[k], 0.25 * (full_trunk[k] - start[k]))
    for k in full_head:
        torch.testing.assert_close(slow_head[k], full_head[k])


def test_trunk_lr_is_recorded_and_resumes(stores, tmp_path):
    config = tiny("msr", stores["synth-gesture"], "trunk_lr=0.1")
    finetune(config, tmp_path, progress=False)
    groups = checkpoint.load_latest(tmp_path).state["optimizer"]["param_groups"]
    lr = config.optim.lr
    assert [g["initial_lr"] for g in groups] == pytest.approx([lr, lr * 0.1])
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["config"]["trunk_lr"] == 0.1
    more = override(config, ["optim.epochs=2"])
    assert finetune(more, tmp_path, resume=True, progress=False).epochs == 1


def test_resume_continues_with_more_epochs(stores, tmp_path):
    config = tiny("msr", stores["synth-gesture"])
    finetune(config, tmp_path, progress=False)
    summary = finetune(override(config, ["optim.epochs=2"]), tmp_path, resume=True, progress=False)
    rows = (tmp_path / "epochs.csv").read_text().splitlines()
    assert summary.epochs == 1 and [r.split(",")[0] for r in rows[1:]] == ["1", "2"]


def test_val_breaks_ties_of_video_accuracy_by_clip_accuracy(stores, tmp_path, monkeypatch):
    """40 val videos score in steps of 2.5 %: equal video accuracies are common, and the first
    of them is the least trained."""
    val = iter([(40.0, 30.0), (50.0, 35.0), (50.0, 45.0), (45.0, 60.0)])  # (video, clip) per epoch

    def scripted(*args, **kwargs):
        video, clip = next(val)
        return None, SimpleNamespace(metrics={"video_accuracy": video, "clip_accuracy": clip})

    monkeypatch.setattr("c2p4d.train.finetune.predict_split", scripted)
    config = tiny("msr", stores["synth-gesture"], "optim.epochs=4")
    summary = finetune(config, tmp_path, progress=False)
    assert summary.picked == {
        "epoch": 3,
        "metric": "video_accuracy",
        "score": 50.0,
        "key": [50.0, 45.0],
    }
    assert read_meta(tmp_path / "checkpoints" / "best.safetensors")["picked"]["epoch"] == 3


def cli(*args: object) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "c2p4d.train", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True)


def options(task: str, store: Path, *extra: str) -> list[str]:
    pairs = [*TINY, *CLIPS.get(task, []), f"data.store={store}", *extra]
    return ["--task", task, *[a for o in pairs for a in ("-o", o)], "--no-progress"]


def test_every_task_has_the_presets_the_cli_offers():
    """c2p-train finetune --preset offers the pretraining presets' names."""
    assert FINETUNE_PRESETS.available() == TASKS.available()
    for task in TASKS:
        assert FINETUNE_PRESETS.get(task).available() == PRESETS.available() == ["paper", "small"]


@pytest.mark.parametrize(
    ("task", "store", "extra", "message"),
    [
        (
            "nope",
            "synth-hoi",
            [],
            "unknown fine-tuning task 'nope'; known fine-tuning tasks: hoi4d",
        ),
        ("msr", "synth-hoi", ["--labels", "150"], "labels=150 is outside (0, 100]"),
        ("msr", "synth-hoi", ["--labels", "0"], "labels=0 is outside (0, 100]"),
        ("msr", "synth-gesture", ["--trunk-lr", "0"], "trunk_lr=0 must be in (0, 1]"),
        ("msr", "synth-street", [], "no seq/label labels, which msr needs; stores of msr-action3d"),
        ("hoi4d-actseg", "synth-street", [], "no frame/action labels"),
        ("synthia", "synth-hoi", [], "has 0 feature channels per point (frame/features)"),
    ],
)
def test_bad_input_is_one_line(stores, tmp_path, task, store, extra, message):
    result = cli("finetune", *options(task, stores[store]), "--out", tmp_path, *extra)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_init_of_another_backbone_or_config_is_refused(stores, tmp_path):
    store = stores["synth-hoi"]
    run = fake_pretraining(tmp_path / "pretrain", store)
    base = options("hoi4d-actseg", store, f"init={run}")
    other = cli("finetune", *base, "--backbone", "pptr", "--out", tmp_path / "a")
    assert other.returncode == 1
    assert "holds a p4transformer trunk, this run fine-tunes pptr" in other.stderr, other.stderr
    wider = cli("finetune", *base, "-o", "model.dim=64", "--out", tmp_path / "b")
    assert wider.returncode == 1 and "model.dim=32 (here 64)" in wider.stderr, wider.stderr
    assert len(wider.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("task", TASKS.available())
@pytest.mark.parametrize("name", PRESETS.available())
def test_a_pretraining_for_a_task_builds_the_trunk_and_units_its_finetuning_reads(task, name):
    pretraining, tuning = preset(name, task), finetune_preset(task, name)
    assert pretraining.model == tuning.model and pretraining.input_scale == tuning.input_scale
    assert to_dict(preset(name)) == to_dict(preset(name, "hoi4d-actseg"))  # the default task's


def test_init_notes_a_trunk_pretrained_on_coordinates_in_other_units(stores, tmp_path):
    store = stores["synth-gesture"]
    notes = {}
    for scale in (1.0, 10.0):  # msr's small preset reads decimetres (input_scale 10)
        msr = {"task": "msr", "position_embedding": False, "radius": 3.0}
        run = fake_pretraining(tmp_path / f"x{scale:g}", store, input_scale=scale, **msr)
        config = tiny("msr", store, f"init={run}")
        notes[scale] = load_init(build_model(config, 2), config)["model_options_that_differ"]
    assert notes == {1.0: ["input_scale=1 (here 10)"], 10.0: []}


def test_evaluate_refuses_runs_without_a_finetuning_checkpoint(stores, tmp_path):
    empty = cli("evaluate", tmp_path)
    assert empty.returncode == 1 and "holds no fine-tuning checkpoint" in empty.stderr
    run = fake_pretraining(tmp_path / "pretrain", stores["synth-hoi"])
    pretraining = cli("evaluate", run)
    assert pretraining.returncode == 1 and "evaluate takes a fine-tuning run" in pretraining.stderr

"""`c2p-train evaluate`: the weights val picked, on every test frame, one table, files that
reproduce the metrics, and pictures with something in them."""

import csv
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from c2p4d.pipeline.store import Store
from c2p4d.train.checkpoint import read_meta
from c2p4d.train.config import finetune_preset, override
from c2p4d.train.evaluate import evaluate_run
from c2p4d.train.finetune import finetune
from c2p4d.train.metrics import ActionSegmentationMeter
from c2p4d.train.tasks import TASKS

TINY = [
    "model.dim=32",
    "model.depth=1",
    "model.heads=2",
    "model.dim_head=16",
    "model.mlp_dim=32",
    "data.points=128",
    "data.workers=0",
    "optim.batch_size=2",
    "optim.warmup_epochs=0.5",
]


@pytest.fixture(scope="module")
def store(hoi_store) -> Path:
    return hoi_store


@pytest.fixture(scope="module")
def actseg_run(store, tmp_path_factory) -> Path:
    """Two epochs of hoi4d-actseg on whole sequences read at frame stride 2."""
    run = tmp_path_factory.mktemp("actseg")
    extra = ["model.spatial_stride=8", "optim.epochs=2", f"data.store={store}"]
    finetune(
        override(finetune_preset("hoi4d-actseg", "small"), [*TINY, *extra]), run, progress=False
    )
    return run


def test_val_picks_the_weights(actseg_run):
    with (actseg_run / "epochs.csv").open() as handle:
        scores = [float(row["val_accuracy"]) for row in csv.DictReader(handle)]
    picked = read_meta(actseg_run / "checkpoints" / "best.safetensors")["picked"]
    assert picked["epoch"] == 1 + int(np.argmax(scores)) and picked["metric"] == "accuracy"


def test_evaluate_prints_one_table_and_draws_timelines(store, actseg_run):
    command = [sys.executable, "-m", "c2p4d.train", "evaluate", str(actseg_run), "--png"]
    result = subprocess.run([*command, "--no-progress"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("hoi4d-actseg on ") and "test split (1 sequences)" in lines[0]
    assert "weights best on val: epoch" in lines[0]
    assert lines[1].split() == ["metric", "model", "most", "frequent", "frame-index", "prior"]
    assert [line.split()[0] for line in lines[3:8]] == [
        "accuracy",
        "edit",
        "f1@10",
        "f1@25",
        "f1@50",
    ]
    image = imread(actseg_run / "timelines.png")[..., :3]
    colours = np.unique((image * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 20  # segments, names, axes: not a blank canvas


def test_actseg_predictions_cover_every_frame_and_reproduce_the_metrics(store, actseg_run):
    evaluate_run(actseg_run, device=torch.device("cpu"), progress=False)
    arrays = np.load(actseg_run / "predictions.npz")
    test = Store.open(store)
    lengths = np.diff(test.frame_offset)[test.splits == 2]
    assert np.array_equal(np.diff(arrays["frame_offset"]), lengths)  # stride 2: both phases
    meter = ActionSegmentationMeter()
    bounds = arrays["frame_offset"]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        meter.update(arrays["pred"][a:b], arrays["true"][a:b])
    saved = json.loads((actseg_run / "metrics.json").read_text())
    assert saved["metrics"] == pytest.approx(meter.compute())
    train = [test.read_sequence(s).action for s in np.flatnonzero(test.splits == 0)]
    prior = np.array([np.bincount([a[t] for a in train], minlength=11).argmax() for t in range(24)])
    truth = arrays["true"]  # one test sequence of 24 frames, all of them labelled
    expected = 100 * np.mean(prior[: len(truth)] == truth)
    assert saved["baselines"]["frame-index prior"]["accuracy"] == pytest.approx(expected)


def test_semseg_reports_per_class_iou_and_draws_frames(store, tmp_path):
    extra = ["optim.epochs=1", "evaluation.start_step=6", f"data.store={store}"]
    config = override(finetune_preset("hoi4d-semseg", "small"), [*TINY, *extra])
    finetune(config, tmp_path, progress=False)
    report = evaluate_run(tmp_path, device=torch.device("cpu"), png=True, progress=False)
    names = Store.open(store).class_names
    assert [f"IoU {name}" in report.table for name in names] == [True] * len(names)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert list(saved["per_class_iou"]) == names
    arrays = np.load(tmp_path / "predictions.npz")
    clips = len(arrays["sequence"])
    assert arrays["points"].shape == (clips, 3, 128, 3) and arrays["pred"].shape == (clips, 3, 128)
    assert clips == 4 and arrays["start"].tolist() == [0, 6, 12, 18]
    image = imread(tmp_path / "segmentation.png")[..., :3]
    assert len(np.unique((image * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 20


def test_hoi4d_semseg_leaves_ids_0_and_1_out_of_the_miou():
    hoi4d = SimpleNamespace(dataset="hoi4d-semseg", class_names=[str(i) for i in range(49)])
    stand_in = SimpleNamespace(dataset="synth-hoi", class_names=[str(i) for i in range(9)])
    assert TASKS.get("hoi4d-semseg").miou_classes(hoi4d) == list(range(2, 49))
    assert TASKS.get("hoi4d-semseg").miou_classes(stand_in) == list(range(9))
    assert TASKS.get("synthia").absent == "zero" and TASKS.get("hoi4d-semseg").absent == "skip"

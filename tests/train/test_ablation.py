"""make ablation: claims judged from seeds, every table reported, and the quick run end to end."""

import json
import math
import subprocess
import sys
from dataclasses import replace

import pytest

from c2p4d.train.ablation import (
    PRIOR,
    TABLES,
    AblationConfig,
    code_version,
    draws_per_sequence,
    run,
    slug,
    view_sets_read,
)
from c2p4d.train.config import ConfigError

# Mean test accuracy a fake fine-tuning reaches after each pretraining row, per seed offset.
ACCURACY = {
    "scratch": 40.0,
    "C2P": 52.0,
    "VideoMAE": 44.0,
    "STRL": 43.0,
    "C2C": 51.5,  # within noise of C2P: that claim must not hold
    "P2P": 45.0,
    "symmetric teacher": 47.0,
    "random views": 48.0,
    "window 1": 46.0,
    "window 5": 50.0,
    "window 5, ±2 only": 51.0,
    "single predictor": 49.0,
    "one-pixel occlusion": 52.0,
    "teacher without time": 51.0,
}
ROWS_BY_SLUG = {slug(name): name for name in ACCURACY}  # pretraining runs are named so
ACTSEG = ("accuracy", "edit", "f1@10", "f1@25", "f1@50")  # hoi4d-actseg's evaluation
MSR = ("clip_accuracy", "video_accuracy")


def fake_runs(calls, metrics=ACTSEG, score="accuracy"):
    """The task's score as ACCURACY says; its other metrics in the opposite order, so that a
    claim read from another metric would turn."""

    def pretrain(options, seed, run_dir):
        calls.append(("pretrain", options, seed))
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        (run_dir / "checkpoints" / "latest.json").write_text("{}")

    def finetune(init, labels, seed, run_dir):
        calls.append(("finetune", init, labels, seed))
        name = "scratch" if init is None else ROWS_BY_SLUG[init.parent.name]
        accuracy = ACCURACY[name] + labels / 10 + (seed - 1) * 1.0
        own = {m: accuracy if m == score else 100 - accuracy for m in metrics}
        prior = {f"{PRIOR}: {m}": 45.0 for m in metrics} if init is None and score in ACTSEG else {}
        return {**own, **prior}

    return pretrain, finetune


def test_every_cell_and_claim_from_seeds(tmp_path):
    calls = []
    config = AblationConfig(store="s", out=str(tmp_path), seeds=3, labels=(10, 100))
    report = run(config, *fake_runs(calls), echo=lambda line: None)
    text = report.read_text()
    for table in TABLES:
        assert f". {table.title}\n" in text
    pretrainings = [c for c in calls if c[0] == "pretrain"]
    assert len(pretrainings) == 3 * (len(ACCURACY) - 1)  # once per (row, seed), shared
    results = json.loads((tmp_path / "results.json").read_text())
    c2p = next(c for c in results["cells"] if c["row"] == "C2P" and c["labels"] == 10)
    assert c2p["values"]["accuracy"] == [52.0, 53.0, 54.0]
    assert c2p["mean"]["accuracy"] == pytest.approx(53.0) and c2p["std"]["accuracy"] == 1.0
    claims = {c["claim"]: c["holds"] for c in results["claims"]}
    assert claims["C2P beats scratch at the ablation's labels by >= 8 points"]
    assert not claims["C2P beats C2C"]  # 0.5 apart with a std of 1: noise
    assert claims["C2P beats P2P"]
    assert "✘ C2P beats C2C" in text and "✔ C2P beats STRL" in text
    assert not claims["scratch beats the frame-index prior (it reads the points)"]  # 41-43 vs 45
    assert f"| {PRIOR} | 100 % | 45.0 ± 0.0 |" in text
    assert (tmp_path / "data-efficiency.png").stat().st_size > 0
    calls.clear()
    run(config, *fake_runs(calls), echo=lambda line: None)  # a rerun resumes: nothing redone
    assert calls == []


def test_a_pretraining_killed_after_a_checkpoint_is_resumed_not_taken_as_done(tmp_path):
    calls = []
    pretrain, finetune = fake_runs(calls)

    def killed_after_its_first_epoch(options, seed, run_dir):
        pretrain(options, seed, run_dir)  # leaves a checkpoint, as a real epoch does
        if options == () and seed == 1:
            raise KeyboardInterrupt

    config = AblationConfig(
        store="s", out=str(tmp_path), seeds=2, labels=(10,), tables=(TABLES[1].title,)
    )
    with pytest.raises(KeyboardInterrupt):
        run(config, killed_after_its_first_epoch, finetune, echo=lambda line: None)
    calls.clear()
    run(config, pretrain, finetune, echo=lambda line: None)
    assert [c for c in calls if c[0] == "pretrain"] == [
        ("pretrain", (), 1),  # C2P seed 1 again; seed 0 had finished
        ("pretrain", ("c2p.distillation=c2c",), 0),
        ("pretrain", ("c2p.distillation=c2c",), 1),
        ("pretrain", ("c2p.distillation=p2p",), 0),
        ("pretrain", ("c2p.distillation=p2p",), 1),
    ]


def test_runs_made_with_other_settings_are_not_resumed(tmp_path):
    table = (TABLES[1].title,)
    config = AblationConfig(store="s", out=str(tmp_path), seeds=1, labels=(10,), tables=table)
    run(config, *fake_runs([]), echo=lambda line: None)
    calls = []
    more = replace(config, seeds=2, labels=(10, 100), tables=(TABLES[0].title, *table))
    run(more, *fake_runs(calls), echo=lambda line: None)  # more cells: the kept ones reused
    assert ("pretrain", (), 0) not in calls and ("pretrain", (), 1) in calls
    for changed, kind in [
        ({"finetune_options": ("optim.optimizer=adamw",)}, "fine-tuning"),
        ({"finetune_epochs": 9}, "fine-tuning"),
        ({"pretrain_options": ("data.points=256",)}, "pretraining"),
        ({"store": "another"}, "pretraining"),
    ]:
        calls.clear()
        with pytest.raises(ConfigError, match=f"other {kind} settings") as error:
            run(replace(config, **changed), *fake_runs(calls), echo=lambda line: None)
        assert str(tmp_path / "runs") in str(error.value) and calls == []
        assert next(iter(changed)).split("_")[-1] in str(error.value)  # names what changed


def test_runs_made_by_other_code_are_not_resumed(tmp_path):
    config = AblationConfig(
        store="s", out=str(tmp_path), seeds=1, labels=(10,), tables=(TABLES[1].title,)
    )
    run(config, *fake_runs([]), echo=lambda line: None)
    settings = tmp_path / "runs" / "settings.json"
    kept = json.loads(settings.read_text())
    assert kept["code"] == code_version()
    assert json.loads((tmp_path / "results.json").read_text())["code"] == code_version()
    assert code_version()["sources"] in (tmp_path / "report.md").read_text()
    for older in ({**kept["code"], "sources": "0" * 16}, None):  # edited code; before the check
        if older is None:
            kept.pop("code")
        else:
            kept["code"] = older
        settings.write_text(json.dumps(kept))
        calls = []
        with pytest.raises(ConfigError, match="other code settings.*sources") as error:
            run(config, *fake_runs(calls), echo=lambda line: None)
        assert str(settings) in str(error.value) and calls == []  # names the way to reuse them


def test_no_claim_holds_from_one_seed(tmp_path):
    """One seed has no std: C2P's 12-point lead over scratch is not told from noise."""
    config = AblationConfig(store="s", out=str(tmp_path), seeds=1, labels=(10,))
    text = run(config, *fake_runs([]), echo=lambda line: None).read_text()
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["claims"] and not any(c["holds"] for c in results["claims"])
    assert (
        "✘ C2P beats scratch at the ablation's labels by >= 8 points: C2P 52.0 ± 0.0 vs "
        "scratch 40.0 ± 0.0 (+12.0; one seed: no std to tell it from noise)" in text
    )


def test_another_task_is_compared_on_its_own_score(tmp_path):
    table = (TABLES[0].title,)  # data efficiency: scratch, C2P and the two baselines
    config = AblationConfig("s", "msr", str(tmp_path), seeds=3, labels=(10, 100), tables=table)
    text = run(config, *fake_runs([], MSR, "video_accuracy"), echo=lambda line: None).read_text()
    assert "task msr" in text and "## Claims (test video_accuracy, at 10 % of the labels)" in text
    assert "| pretraining | labels | clip_accuracy | video_accuracy | minutes |" in text
    assert "✔ C2P beats scratch at the ablation's labels by >= 8 points" in text  # clip: ✘
    assert PRIOR not in text  # msr's evaluation scores no frame-index prior
    results = json.loads((tmp_path / "results.json").read_text())
    assert {c["row"] for c in results["cells"]} == {"scratch", "C2P", "VideoMAE", "STRL"}
    with pytest.raises(ConfigError, match="unknown fine-tuning task 'nope'"):
        AblationConfig(task="nope")


def test_quick_ablation_reports_every_table_with_finite_numbers(tmp_path):
    command = [sys.executable, "-m", "c2p4d.train", "ablation", "--quick", "--seeds", "1",
               "--labels", "10,100", "--out", str(tmp_path), "--no-progress"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    rows = {c["row"] for c in results["cells"]}
    assert rows == {PRIOR, *(name for table in TABLES for name in table.rows)}
    for cell in results["cells"]:
        assert all(math.isfinite(v) for v in cell["mean"].values()), cell
    text = (tmp_path / "report.md").read_text()
    assert all(f"## {n}. {table.title}" in text for n, table in enumerate(TABLES, 1))
    assert "ablation done in" in result.stdout
    # equal steps: the 10 % cells draw each labelled sequence 10 times an epoch
    runs = {share: tmp_path / "runs" / "finetune" / "scratch" / f"labels{share}-seed0"
            for share in (10, 100)}  # fmt: skip
    draws = {s: json.loads((r / "config.json").read_text())["config"]["data"]["clips_per_sequence"]
             for s, r in runs.items()}  # fmt: skip
    assert draws == {10: 10, 100: 1}


@pytest.mark.parametrize(
    ("labels", "equal_steps", "draws"),
    [(10, True, 10), (20, True, 5), (30, True, 3), (80, True, 1), (100, True, 1), (10, False, 1)],
)
def test_every_share_draws_its_sequences_for_as_many_steps_as_all_labels(
    labels, equal_steps, draws
):
    assert draws_per_sequence(labels, equal_steps) == draws


def test_some_tables_only(tmp_path):
    calls = []
    config = AblationConfig(
        store="s", out=str(tmp_path), seeds=1, labels=(10,), tables=(TABLES[6].title,)
    )
    text = run(config, *fake_runs(calls), echo=lambda line: None).read_text()
    assert "## 7. Beyond the paper: the time shortcut" in text and "## 1." not in text
    assert {c[1] for c in calls if c[0] == "pretrain"} == {(), ("c2p.teacher_time=false",)}
    assert (tmp_path / "table7.png").exists()
    command = [sys.executable, "-m", "c2p4d.train", "ablation", "--tables", "1,9", "--out",
               str(tmp_path)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert (
        result.returncode == 1 and "--tables '1,9': expected numbers from 1 to 7" in result.stderr
    )


def test_only_the_view_sets_the_chosen_tables_read_are_rendered():
    titles = [t.title for t in TABLES]
    assert view_sets_read((titles[0], titles[4])) == ["sweep"]
    assert view_sets_read((titles[3],)) == ["sweep", "random"]
    assert view_sets_read(tuple(titles)) == ["sweep", "random", "sweep-pixel"]

"""`headstart compare`: the whole head-start study on a tiny task, and that it resumes."""
from __future__ import annotations

import json

import pytest

import headstart

from test_finetune_cli import pretrained_run, write_task  # noqa: F401  (fixture)
from test_pretrain_cli import prepared, run_cli  # noqa: F401  (fixture)


def write_compare_config(tmp_path, pretrained):
    config = tmp_path / "compare.yaml"
    config.write_text(f"""
run_dir: {tmp_path / 'compare'}
pretrained: {pretrained}
task: {{train: {tmp_path / 'train.tsv'}, test: {tmp_path / 'test.tsv'}}}
budgets: [8, all]
seeds: [0, 1]
train: {{steps: 6, batch_size: 8, lr: 3.0e-3, warmup_steps: 1, eval_every: 3, log_every: 3}}
""")
    return config


@pytest.mark.slow
def test_compare_runs_both_arms_and_the_baseline_then_writes_the_report(tmp_path, pretrained_run):  # noqa: F811
    write_task(tmp_path)
    config = write_compare_config(tmp_path, pretrained_run)
    code, out = run_cli("compare", config)
    assert code == 0, out
    report = json.loads((tmp_path / "compare" / "report" / "report.json").read_text())
    assert report["budgets"] == [8, 80]  # 'all' = the 80 examples, validation included
    # A budget is every label an arm saw: the deep arms validate on a stratified share of it.
    assert report["label_accounting"]["8"] == {"train": 6, "validation": 2, "counted": True}
    assert report["label_accounting"]["80"] == {"train": 64, "validation": 16, "counted": True}
    assert set(report["arms"]) == {"pretrained", "scratch", "baseline"}
    assert all(len(seeds) == 2 for arm in report["arms"].values() for seeds in arm.values())
    assert set(report["probes"]) == {"pretrained", "random_init"} and set(report["logme"]) == {"pretrained", "random_init"}
    assert len(report["projection"]["points"]) == 2  # the two test sentences
    assert "<img" in (tmp_path / "compare" / "report" / "report.html").read_text()
    assert "report:" in out and "pretrained" in out
    # Each fine-tuned run's test ECE, per seed; the baseline keeps no probabilities and shows a dash.
    assert set(report["calibration"]) == {"pretrained", "scratch"}
    assert all(0 <= ece <= 1 for arm in report["calibration"].values() for seeds in arm.values() for ece in seeds)
    assert "| baseline | — | — |" in (tmp_path / "compare" / "report" / "report.md").read_text()

    # A second invocation finds every run finished and redoes none of them.
    runs = sorted((tmp_path / "compare" / "runs").iterdir())
    stamps = {p.name: (p / "results.json").stat().st_mtime_ns for p in runs}
    assert len(runs) == 2 * 2 * 2
    # Each finished run keeps its scored weights as its classifier and no checkpoint (a comparison is never
    # resumed mid-run), so a sweep of word-vector tables does not fill the disk.
    for run in runs:
        assert not list(run.glob("**/step_*")), run
        scored = json.loads((run / "results.json").read_text())["best_checkpoint"]
        assert scored == str(run / "classifier") and headstart.load_classifier(scored).labels == ["0", "1"]
    assert run_cli("compare", config)[0] == 0
    assert stamps == {p.name: (p / "results.json").stat().st_mtime_ns for p in runs}

    # A changed setting is not answered with the old runs' numbers.
    code, out = run_cli("compare", config, "--set", "train.lr=1.0e-3")
    assert code == 2 and "finished with another train" in out and "new run_dir" in out
    # A moved compare folder still holds the same runs.
    (tmp_path / "compare").rename(tmp_path / "moved")
    assert run_cli("compare", config, "--set", f"run_dir={tmp_path / 'moved'}")[0] == 0
    assert stamps == {p.name: (tmp_path / "moved" / "runs" / p.name / "results.json").stat().st_mtime_ns for p in runs}


def test_rank_scores_checkpoints_with_logme_best_first(tmp_path, pretrained_run):  # noqa: F811
    write_task(tmp_path)
    steps = sorted((pretrained_run / "checkpoints").glob("step_*"))  # steps 3 and 6 of the same run
    code, out = run_cli("rank", *steps, "--train", tmp_path / "train.tsv")
    assert code == 0, out
    lines = [line for line in out.splitlines() if "LogME" in line]
    assert len(lines) == 2 and lines[0].startswith("  1.") and lines[1].startswith("  2.")
    scores = [float(line.split("LogME ")[1].split()[0]) for line in lines]
    assert scores[0] >= scores[1] and {s.name for s in steps} == {line.split("/")[-1] for line in lines}


@pytest.mark.slow
def test_lr_search_gives_each_arm_its_best_learning_rate_on_validation(tmp_path, pretrained_run):  # noqa: F811
    write_task(tmp_path)
    config = write_compare_config(tmp_path, pretrained_run)
    code, out = run_cli("compare", config, "--set", "budgets=[all]", "--set", "seeds=[0]",
                        "--set", "lr_search=[1.0e-6, 3.0e-3]")
    assert code == 0, out
    runs = tmp_path / "compare" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == [
        "pretrained-80-s0-lr0.003", "pretrained-80-s0-lr1e-06", "scratch-80-s0-lr0.003", "scratch-80-s0-lr1e-06"]
    report = json.loads((tmp_path / "compare" / "report" / "report.json").read_text())
    chosen = report["configs"]["learning rate chosen on validation, per budget and seed"]
    for arm in ("pretrained", "scratch"):
        val = {lr: json.loads((runs / f"{arm}-80-s0-lr{lr:g}" / "results.json").read_text())["val"]["accuracy"]
               for lr in (1e-6, 3e-3)}
        best = max(val, key=lambda lr: (val[lr], lr == 1e-6))  # a tie goes to the first lr searched
        assert chosen[arm]["80"] == [best]
        test = json.loads((runs / f"{arm}-80-s0-lr{best:g}" / "results.json").read_text())["test"]["accuracy"]
        assert report["arms"][arm]["80"] == [test]


def test_a_bad_fine_tuning_setting_in_a_compare_config_is_a_one_line_error(tmp_path, pretrained_run):  # noqa: F811
    write_task(tmp_path)
    config = write_compare_config(tmp_path, pretrained_run)
    code, out = run_cli("compare", config, "--set", "train.warmup_steps=500")
    assert code == 2 and "Traceback" not in out
    assert f"{config}: " in out and "warmup_steps" in out  # the file the setting is in, checked before any run
    assert not (tmp_path / "compare" / "runs").exists() or not any((tmp_path / "compare" / "runs").iterdir())


def test_a_budget_too_small_to_train_and_validate_or_no_test_set_is_a_one_line_error(tmp_path, pretrained_run):  # noqa: F811
    write_task(tmp_path)
    config = write_compare_config(tmp_path, pretrained_run)
    code, out = run_cli("compare", config, "--set", "budgets=[3]")
    assert code == 2 and "Traceback" not in out
    assert "task.budget 3: fewer labels than 2 x the 2 classes" in out and "give at least 4" in out
    code, out = run_cli("compare", config, "--set", "task.test=null")
    assert code == 2 and "task.test: compare scores every arm on a held-out labeled set" in out

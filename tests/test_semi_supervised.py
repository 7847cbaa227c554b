"""Semi-supervised fine-tuning: an unlabeled pool used while fine-tuning, by consistency training (UDA,
FixMatch) or self-training, with the labels counted as before and the pool never the test set."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from headstart.engine.metrics import read_metrics
from headstart.errors import HeadstartError
from headstart.finetune.config import FinetuneConfig, SemiSupervisedConfig, StudentConfig
from headstart.finetune.run import finetune
from headstart.objectives.consistency import Consistency, consistency_loss

from test_audio_pipeline import MODEL as AUDIO_MODEL
from test_audio_pipeline import words  # noqa: F401  (fixture)
from test_vision_pretrain import RESNET, digits  # noqa: F401  (fixture)
from test_word_vectors import BAD, FRAMES_BAD, FRAMES_GOOD, GOOD, skipgram_run, word_data  # noqa: F401  (fixture)


def test_fixmatch_teaches_only_where_the_weak_view_is_confident():
    """Two unlabeled examples: the model is sure of the first (0.99) and unsure of the second (0.6); with
    threshold 0.95 only the first teaches, with its hard label, and the mask rate says so."""
    logits = torch.tensor([[5.0, 0.4], [0.4, 0.0]])  # softmax: 0.990, 0.599
    rule = Consistency(weak=lambda b: b, strong=lambda b: b, threshold=0.95, temperature=None, weight=1.0)
    loss, metrics = consistency_loss(lambda batch: logits.clone().requires_grad_(), {"x": 0, "labels": torch.tensor([0, 1])}, rule)
    expected = torch.nn.functional.cross_entropy(logits[:1], torch.tensor([0])) / 2  # averaged over both
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert metrics["mask_rate"].item() == 0.5 and metrics["pseudo_accuracy"].item() == 1.0


def text_task(tmp_path):
    rows = [{"text": f.format(w), "label": "pos"} for f in FRAMES_GOOD for w in GOOD] + \
           [{"text": f.format(w), "label": "neg"} for f in FRAMES_BAD for w in BAD]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "test.jsonl").write_text(json.dumps({"text": "great smiles", "label": "pos"}) + "\n"
                                         + json.dumps({"text": "awful frowns", "label": "neg"}) + "\n")
    (tmp_path / "pool.txt").write_text("".join(f.format(w) + "\n" for f in FRAMES_GOOD + FRAMES_BAD for w in GOOD + BAD))
    return {"train": str(tmp_path / "train.jsonl"), "test": str(tmp_path / "test.jsonl"), "budget": 12}


def text_config(tmp_path, init, **semi):
    return FinetuneConfig.model_validate({
        "run_dir": str(tmp_path / "ft"), "init": str(init), "task": text_task(tmp_path), "epochs": 10,
        "semi_supervised": {"unlabeled": str(tmp_path / "pool.txt"), **semi},
        "train": {"batch_size": 4, "lr": 1e-2, "progress": False}})


def test_consistency_training_on_text_logs_its_mask_rate_and_counts_only_labels(tmp_path, skipgram_run):  # noqa: F811
    results = finetune(text_config(tmp_path, skipgram_run, method="consistency", threshold=0.5))
    assert results["labels"] + results["validation_labels"] == 12  # the budget, nothing from the pool
    assert results["semi_supervised"]["pool"] > 0 and results["semi_supervised"]["temperature"] == 0.4
    logged = read_metrics(tmp_path / "ft", "train")
    assert all("mask_rate" in row and 0 <= row["mask_rate"] <= 1 for row in logged)
    assert (tmp_path / "ft" / "classifier" / "classifier.json").exists()


def test_select_last_scores_the_final_model_without_early_stopping(tmp_path, skipgram_run):  # noqa: F811
    # FixMatch reports its final model: a handful of validation labels saturates early, and "best" would
    # then be the first step that got them all right.
    cfg = text_config(tmp_path, skipgram_run, method="fixmatch", threshold=0.5)
    cfg = cfg.model_copy(update={"select": "last", "train": cfg.train.model_copy(update={"patience": 1})})
    results = finetune(cfg)
    planned = cfg.schedule(results["labels"]).steps
    assert results["steps"] == results["best_step"] == planned  # patience 1 stopped nothing
    assert results["best_checkpoint"].endswith(f"step_{planned:06d}")


def test_self_training_fine_tunes_a_teacher_then_a_student_on_its_pseudo_labels(tmp_path, skipgram_run):  # noqa: F811
    results = finetune(text_config(tmp_path, skipgram_run, method="self_training", threshold=0.5))
    record = results["self_training"]
    assert record["pseudo_labels"] == 2 * record["per_class"] > 0  # balanced: as many a class
    assert results["labels"] + results["validation_labels"] == 12 and (tmp_path / "ft" / "teacher" / "classifier").is_dir()


@pytest.mark.parametrize("pool, message", [
    ("test.jsonl", "is task.test; learning from held-out examples, even without their labels, is contamination"),
    ("empty.txt", "holds no texts"),
    ("{digits}", "holds images, but the task is text"),
])
def test_a_pool_that_is_the_test_set_empty_or_of_another_modality_is_refused(tmp_path, skipgram_run, digits,  # noqa: F811
                                                                            pool, message):
    (tmp_path / "empty.txt").write_text("\n\n")
    cfg = text_config(tmp_path, skipgram_run, method="consistency")
    pool = pool.format(digits=digits) if "{" in pool else str(tmp_path / pool)
    cfg.semi_supervised.unlabeled.path = __import__("pathlib").Path(pool)
    with pytest.raises(HeadstartError, match=message.replace("(", r"\(")):
        finetune(cfg)


def test_fixmatch_on_images_reports_pseudo_label_accuracy_of_a_labeled_pool(tmp_path, digits):  # noqa: F811
    cfg = FinetuneConfig.model_validate({
        "run_dir": str(tmp_path / "ft"), "model": json.loads(RESNET.replace("preset", '"preset"').replace(
            "resnet-tiny", '"resnet-tiny"').replace("widths", '"widths"').replace("blocks", '"blocks"')),
        "task": {"train": str(digits), "test": {"path": str(digits), "split": "val"}, "budget": 100},
        "semi_supervised": {"method": "fixmatch", "unlabeled": {"path": str(digits), "split": "train"},
                            "threshold": 0.05, "ratio": 2},  # 10 classes: every prediction is >= 0.1
        "train": {"steps": 12, "batch_size": 16, "lr": 2e-2, "warmup_steps": 2, "eval_every": 6, "log_every": 3,
                  "progress": False}})
    results = finetune(cfg)
    assert results["labels"] + results["validation_labels"] == 100
    logged = [row for row in read_metrics(tmp_path / "ft", "train") if "pseudo_accuracy" in row]
    assert logged and all(0 <= row["pseudo_accuracy"] <= 1 for row in logged)


def test_consistency_training_on_audio_runs_and_resumes_nothing_special(tmp_path, words):  # noqa: F811
    cfg = FinetuneConfig.model_validate({
        "run_dir": str(tmp_path / "ft"), "model": {"preset": "audio-tiny", "n_layer": 2, "n_head": 2, "d_model": 32,
                                                   "conv_channels": 8, "max_frames": 200},
        "task": {"train": str(words / "labeled"), "test": {"path": str(words / "labeled"), "split": "val"},
                 "budget": 24},
        "semi_supervised": {"method": "consistency", "unlabeled": str(words / "unlabeled"), "threshold": 0.1},
        "train": {"steps": 6, "batch_size": 8, "lr": 3e-3, "warmup_steps": 1, "eval_every": 3, "log_every": 3,
                  "progress": False}})
    results = finetune(cfg)
    assert results["semi_supervised"]["pool"] > 0 and np.isfinite(results["test"]["loss"])


def test_compare_runs_four_arms_when_given_a_pool(tmp_path, skipgram_run):  # noqa: F811
    """scratch, scratch+semi, pretrained, pretrained+semi and the baseline, on the same labels."""
    from headstart.compare import compare, load_compare_config
    task = text_task(tmp_path)
    config = tmp_path / "compare.yaml"
    config.write_text(json.dumps({
        "run_dir": str(tmp_path / "compare"), "pretrained": str(skipgram_run),
        "task": {"train": task["train"], "test": task["test"]}, "budgets": [12], "seeds": [0], "epochs": 5,
        "semi_supervised": {"method": "consistency", "unlabeled": str(tmp_path / "pool.txt"), "threshold": 0.5},
        "probe_examples": 20, "train": {"batch_size": 4, "lr": 1e-2}}))
    results = compare(load_compare_config(config))["results"]
    assert set(results["arms"]) == {"pretrained", "scratch", "pretrained+semi", "scratch+semi", "baseline"}
    report = (tmp_path / "compare" / "report" / "report.md").read_text()
    assert "## Semi-supervised: what the unlabeled pool gave" in report and "| pretrained+semi | 12 |" in report
    assert "mask rate and pseudo-label accuracy over training" in (tmp_path / "compare" / "report" / "report.html").read_text()
    semi_run = json.loads((tmp_path / "compare" / "runs" / "pretrained+semi-12-s0" / "results.json").read_text())
    assert semi_run["semi_supervised"]["method"] == "consistency" and semi_run["labels"] + semi_run["validation_labels"] == 12


@pytest.mark.parametrize("semi", [
    # the unlabeled batches, the token noise and dropout all resume where they stopped
    {"method": "consistency", "threshold": 0.5},
    # stopped in its student: the finished teacher is reused, the student continues
    {"method": "self_training", "pseudo_labels": "graph"},
], ids=["consistency", "self_training"])
def test_a_stopped_and_resumed_run_equals_an_uninterrupted_one(tmp_path, skipgram_run, semi):  # noqa: F811
    from safetensors.torch import load_file

    def config(name):
        cfg = text_config(tmp_path, skipgram_run, **semi)
        return cfg.model_copy(update={"run_dir": tmp_path / name, "epochs": None, "train": cfg.train.model_copy(
            update={"steps": 8, "eval_every": 4, "checkpoint_every": 2, "patience": None})})

    whole = finetune(config("whole"))
    assert finetune(config("stopped"), stop_at=4)["interrupted"]
    resumed = finetune(config("stopped"), resume=True)
    assert resumed["steps"] == whole["steps"] == 8 and resumed["test"] == whole["test"]
    assert resumed.get("self_training", {}).get("pseudo_labels") == whole.get("self_training", {}).get("pseudo_labels")
    a = load_file(str(tmp_path / "whole" / "classifier" / "model.safetensors"))
    b = load_file(str(tmp_path / "stopped" / "classifier" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # bit for bit


def test_self_training_works_with_the_closed_form_probe(tmp_path, skipgram_run):  # noqa: F811
    cfg = text_config(tmp_path, skipgram_run, method="self_training", threshold=0.5)
    results = finetune(cfg.model_copy(update={"strategy": cfg.strategy.model_copy(
        update={"name": "linear_probe", "solver": "lbfgs"})}))
    assert results["labels"] == 12 and results["self_training"]["pseudo_labels"] > 0  # all 12 train the probe


def test_a_probe_teacher_can_teach_a_student_that_trains_its_features(tmp_path, skipgram_run):  # noqa: F811
    # Noisy Student: a student that can only redraw the teacher's boundary on the same frozen features learns
    # nothing from it, so the student may train in full, with its own epochs, learning rate and dropout.
    cfg = text_config(tmp_path, skipgram_run, method="self_training", threshold=0.5)
    cfg = cfg.model_copy(update={"strategy": cfg.strategy.model_copy(update={"name": "linear_probe",
                                                                              "solver": "lbfgs"})})
    cfg.semi_supervised = cfg.semi_supervised.model_copy(update={"student": StudentConfig(
        strategy={"name": "full"}, epochs=2, lr=3e-3, dropout=0.2)})
    results = finetune(cfg)
    student = yaml.safe_load((tmp_path / "ft" / "config.yaml").read_text())
    teacher = yaml.safe_load((tmp_path / "ft" / "teacher" / "config.yaml").read_text())
    assert teacher["strategy"]["name"] == "linear_probe" and student["strategy"]["name"] == "full"
    assert student["train"]["lr"] == 3e-3 and student["dropout"] == 0.2 and student["epochs"] == 2
    assert results["strategy"] == "full" and results["self_training"]["pseudo_labels"] > 0


def test_only_self_training_has_a_student():
    with pytest.raises(ValueError, match="student: only self_training has it, not fixmatch"):
        SemiSupervisedConfig.model_validate({"method": "fixmatch", "unlabeled": "pool.txt", "student": {"epochs": 2}})


def test_resuming_from_an_edited_checkpoint_names_it(tmp_path, skipgram_run):  # noqa: F811
    cfg = text_config(tmp_path, skipgram_run, method="consistency", threshold=0.5)
    cfg = cfg.model_copy(update={"epochs": None, "train": cfg.train.model_copy(
        update={"steps": 8, "eval_every": 4, "checkpoint_every": 2, "patience": None})})
    assert finetune(cfg, stop_at=4)["interrupted"]
    state_file = next((tmp_path / "ft" / "checkpoints").glob("step_*")) / "state.json"
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**state, "rng": "garbage"}))
    with pytest.raises(HeadstartError, match=r"cannot resume from .*step_\d+: state.json: 'rng'"):
        finetune(cfg, resume=True)

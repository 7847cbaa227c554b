"""Image fine-tuning, compare and rank go through the same commands as text: a prepared image folder is
the task, and an image checkpoint (or a model preset) the backbone."""
from __future__ import annotations

import json
import logging

import pytest

from headstart.engine.metrics import read_metrics

from test_pretrain_cli import prepared, run_cli  # noqa: F401  (fixture)
from test_pretrain_cli import write_config as write_text_config
from test_vision_pretrain import RESNET, digits, unlabeled, write_config  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def simclr_run(tmp_path_factory, digits):  # noqa: F811
    tmp_path = tmp_path_factory.mktemp("simclr")
    assert run_cli("pretrain", write_config(tmp_path, digits, "simclr", steps=6))[0] == 0
    return tmp_path / "run-simclr"


def write_finetune(tmp_path, digits, init=None, test=None, **extra):  # noqa: F811
    source = f"init: {init}" if init else f"model: {RESNET}"
    test = test or f"{{path: {digits}, split: val}}"
    config = tmp_path / "ft.yaml"
    config.write_text(f"""
run_dir: {tmp_path / "ft"}
{source}
task: {{train: {digits}, test: {test}, budget: 100{''.join(f', {k}: {v}' for k, v in extra.items())}}}
train: {{steps: 40, batch_size: 32, lr: 2.0e-2, warmup_steps: 3, eval_every: 10, log_every: 10}}
""")
    return config


def test_finetune_an_image_checkpoint_on_100_labels(tmp_path, digits, simclr_run, caplog):  # noqa: F811
    caplog.set_level(logging.INFO, "headstart")
    code, out = run_cli("finetune", write_finetune(tmp_path, digits, simclr_run, augment="true"))
    assert code == 0, out
    results = json.loads((tmp_path / "ft" / "results.json").read_text())
    assert results["labels"] + results["validation_labels"] == 100 and results["validation_counted"]
    assert results["label_names"] == [str(d) for d in range(10)]
    assert "run-simclr" in results["init"] and results["strategy"] == "full"
    # 40 steps on 100 digits from a 6-step SimCLR backbone: learning, and above the 10% of chance.
    val_losses = [row["loss"] for row in read_metrics(tmp_path / "ft", "val")]
    assert val_losses[-1] < val_losses[0] and results["test"]["accuracy"] > 0.15, results["test"]
    assert "test: accuracy" in out and "average pooling, random crops" in caplog.text


def test_finetune_from_scratch_needs_only_a_model_preset(tmp_path, digits):  # noqa: F811
    code, out = run_cli("finetune", write_finetune(tmp_path, digits))
    assert code == 0, out
    assert json.loads((tmp_path / "ft" / "results.json").read_text())["init"] == "random init"


@pytest.mark.parametrize("change, message", [
    ({"test": "{digits}"}, "task.test: the train split of {digits} is also task.train's"),
    ({"test": "{unlabeled}"}, "task.test: {unlabeled} was prepared without labels"),
    ({"test": "{{path: {digits}, split: test}}"}, "task.test.split: 'test' is not a split"),
    ({"max_length": 16}, "task.max_length: a text setting"),
])
def test_image_task_mistakes_are_one_line_errors(tmp_path, digits, unlabeled, simclr_run, change,  # noqa: F811
                                                 message):
    test = change.pop("test", None)
    fill = {"digits": digits, "unlabeled": unlabeled}
    config = write_finetune(tmp_path, digits, simclr_run, test=test and test.format(**fill), **change)
    code, out = run_cli("finetune", config)
    assert code == 2 and message.format(**fill) in out and "Traceback" not in out


def test_lora_on_a_resnet_names_the_problem(tmp_path, digits, simclr_run):  # noqa: F811
    code, out = run_cli("finetune", write_finetune(tmp_path, digits, simclr_run), "--set", "strategy.name=lora")
    assert code == 2 and "strategy.name lora" in out and "ResNet" in out


def test_a_text_checkpoint_on_an_image_task_is_refused(tmp_path, digits, prepared):  # noqa: F811
    assert run_cli("pretrain", write_text_config(tmp_path, prepared, "masked_lm"))[0] == 0
    code, out = run_cli("finetune", write_finetune(tmp_path, digits, tmp_path / "run-masked_lm"))
    assert code == 2 and "not an image model" in out


def test_compare_and_rank_an_image_checkpoint(tmp_path, digits, simclr_run):  # noqa: F811
    config = tmp_path / "compare.yaml"
    config.write_text(f"""
run_dir: {tmp_path / "cmp"}
pretrained: {simclr_run}
task: {{train: {digits}, test: {{path: {digits}, split: val}}}}
budgets: [50]
seeds: [0]
train: {{steps: 10, batch_size: 16, lr: 2.0e-2, warmup_steps: 2, eval_every: 5, log_every: 5}}
probe_examples: 300
""")
    code, out = run_cli("compare", config)
    assert code == 0, out
    report = json.loads((tmp_path / "cmp" / "report" / "report.json").read_text())
    assert set(report["arms"]) == {"pretrained", "scratch", "baseline"}
    assert report["arm_notes"]["baseline"].startswith("logistic regression on pixels")
    # A linear classifier on raw 8x8 digits is strong: far above chance with 50 labels.
    assert report["arms"]["baseline"]["50"][0] > 0.6
    assert set(report["probes"]) == {"pretrained", "random_init"} and "pretrained" in report["logme"]

    code, out = run_cli("rank", simclr_run, "--train", digits)
    assert code == 0 and "1. LogME" in out and "run-simclr" in out

"""`headstart finetune`: a pre-trained checkpoint, a labeled file, a strategy -> val/test metrics."""
from __future__ import annotations

import json

import pytest

from test_pretrain_cli import prepared, run_cli, write_config  # noqa: F401  (fixture)

POSITIVE = ["a fine and lovely fox", "the fox rests well", "lovely quick dog", "what a fine day"]
NEGATIVE = ["a bad and lazy dog", "the dog sleeps badly", "lazy slow fox", "what a bad day"]


def write_task(tmp_path, test_rows=None):
    rows = [(1, t) for t in POSITIVE * 10] + [(0, t) for t in NEGATIVE * 10]
    (tmp_path / "train.tsv").write_text("label\ttext\n" + "".join(f"{y}\t{t}\n" for y, t in rows))
    test_rows = test_rows or [(1, "a fine fox"), (0, "a lazy dog")]
    (tmp_path / "test.tsv").write_text("label\ttext\n" + "".join(f"{y}\t{t}\n" for y, t in test_rows))


def write_finetune_config(tmp_path, init, **strategy):
    config = tmp_path / "ft.yaml"
    config.write_text(f"""
run_dir: {tmp_path / "ft"}
init: {init}
task: {{train: {tmp_path / 'train.tsv'}, test: {tmp_path / 'test.tsv'}, budget: 40}}
strategy: {json.dumps({"name": "full", **strategy})}
train: {{steps: 20, batch_size: 8, lr: 3.0e-3, warmup_steps: 2, eval_every: 5, log_every: 5}}
""")
    return config


@pytest.fixture()
def pretrained_run(tmp_path, prepared):  # noqa: F811
    assert run_cli("pretrain", write_config(tmp_path, prepared, "masked_lm"))[0] == 0
    return tmp_path / "run-masked_lm"


@pytest.mark.parametrize("strategy", [{}, {"name": "lora", "lora_rank": 2}, {"name": "linear_probe"}])
def test_finetune_a_pretrained_checkpoint_and_report_val_and_test(tmp_path, pretrained_run, strategy):
    write_task(tmp_path)
    code, out = run_cli("finetune", write_finetune_config(tmp_path, pretrained_run, **strategy))
    assert code == 0, out
    results = json.loads((tmp_path / "ft" / "results.json").read_text())
    # A budget of 40 is 40 labels in all: a stratified fifth of them validates.
    assert results["labels"] == 32 and results["validation_labels"] == 8 and results["label_names"] == ["0", "1"]
    assert results["init"].endswith("step_000006") and 0.0 <= results["test"]["accuracy"] <= 1.0
    assert "val: accuracy" in out and "test: accuracy" in out
    if not strategy:  # full fine-tuning separates this easy task
        assert results["val"]["accuracy"] >= 0.75


def test_scratch_keeps_the_architecture_but_not_the_weights(tmp_path, pretrained_run):
    write_task(tmp_path)
    code, out = run_cli("finetune", write_finetune_config(tmp_path, pretrained_run), "--set", "scratch=true")
    assert code == 0, out
    assert json.loads((tmp_path / "ft" / "results.json").read_text())["init"].startswith("random init")


def test_dropout_for_fine_tuning_keeps_the_pretrained_weights(tmp_path, pretrained_run):
    import torch
    import yaml

    from headstart.finetune.config import FinetuneConfig
    from headstart.finetune.task import task_modality
    from headstart.text.pretrained import load_text_model

    write_task(tmp_path)
    config = write_finetune_config(tmp_path, pretrained_run)
    cfg = FinetuneConfig.model_validate({**yaml.safe_load(config.read_text()), "dropout": 0.3})
    model = task_modality(cfg.task).backbone(cfg).model
    original, _, _, _ = load_text_model(pretrained_run)
    assert original.cfg.dropout == 0.0 and model.cfg.dropout == 0.3
    assert all(torch.equal(a, b) for a, b in zip(original.state_dict().values(), model.state_dict().values()))
    assert model.lm_head.weight is model.tok_emb.weight  # still tied after the rebuild
    code, out = run_cli("finetune", config, "--set", "dropout=0.3")
    assert code == 0, out
    saved = yaml.safe_load((tmp_path / "ft" / "config.yaml").read_text())
    assert saved["dropout"] == 0.3


def test_a_test_label_never_seen_in_training_is_a_clear_error(tmp_path, pretrained_run):
    write_task(tmp_path, test_rows=[(1, "a fine fox"), (7, "a strange fox")])
    code, out = run_cli("finetune", write_finetune_config(tmp_path, pretrained_run))
    assert code == 2 and "test.tsv:3: label '7' never appears in the training set" in out


def test_a_missing_column_names_the_columns_that_exist(tmp_path, pretrained_run):
    write_task(tmp_path)
    code, out = run_cli("finetune", write_finetune_config(tmp_path, pretrained_run), "--set", "task.text_field=sentence")
    assert code == 2 and "sentence" in out and "text" in out and "\n" not in out.strip()

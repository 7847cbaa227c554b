"""Fine-tuning under torchrun: each process takes its slice of every labeled and unlabeled batch, so 2 processes
with 4 labeled examples each train as 1 process with 8 (gloo on CPU), FixMatch's unlabeled batches included."""
from __future__ import annotations

import json

import pytest

from headstart.engine.metrics import read_metrics
from test_distributed import torchrun
from test_distributed_objectives import assert_same_losses
from test_pretrain_cli import run_cli
from test_semi_supervised import text_task
from test_vision_pretrain import RESNET, digits  # noqa: F401  (fixture)
from test_word_vectors import skipgram_run, word_data  # noqa: F401  (fixtures)


def write_config(tmp_path, digits, name, batch_size, semi=True, strategy="full"):  # noqa: F811
    semi_section = (f"semi_supervised: {{method: fixmatch, unlabeled: {{path: {digits}, split: train}}, "
                    f"threshold: 0.05, ratio: 2}}") if semi else ""
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""
run_dir: {tmp_path / name}
model: {RESNET}
task: {{train: {digits}, test: {{path: {digits}, split: val}}, budget: 60, augment: true}}
strategy: {{name: {strategy}}}
{semi_section}
train: {{steps: 4, batch_size: {batch_size}, lr: 2.0e-2, warmup_steps: 1, eval_every: 2, log_every: 1, progress: false}}
""")
    return path


@pytest.mark.slow
def test_two_processes_fine_tune_with_fixmatch_exactly_as_one(tmp_path, digits):  # noqa: F811
    code, out = run_cli("finetune", write_config(tmp_path, digits, "one", batch_size=8))
    assert code == 0, out
    done = torchrun(2, "finetune", write_config(tmp_path, digits, "two", batch_size=4))
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = read_metrics(tmp_path / "one"), read_metrics(tmp_path / "two")
    assert_same_losses(one, two)
    assert [r["accuracy"] for r in one if r["split"] == "val"] == [r["accuracy"] for r in two if r["split"] == "val"]
    results = [json.loads((tmp_path / name / "results.json").read_text()) for name in ("one", "two")]
    assert results[0]["test"]["accuracy"] == pytest.approx(results[1]["test"]["accuracy"], abs=1e-9)
    assert (tmp_path / "two" / "classifier").is_dir()  # written once, by the first process


@pytest.mark.slow
def test_two_processes_fine_tune_text_with_consistency_training_exactly_as_one(tmp_path, skipgram_run):  # noqa: F811
    """Text batches are padded to their longest text, which differs between the halves: the token noise is drawn
    per text over its own tokens, so it does not."""
    task = text_task(tmp_path)

    def config(name, batch_size):
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"""
run_dir: {tmp_path / name}
init: {skipgram_run}
task: {{train: {task['train']}, test: {task['test']}, budget: {task['budget']}, refit: false}}
semi_supervised: {{method: consistency, unlabeled: {tmp_path / 'pool.txt'}, threshold: 0.5, ratio: 2}}
train: {{steps: 2, batch_size: {batch_size}, lr: 1.0e-2, warmup_steps: 1, eval_every: 2, log_every: 1, progress: false}}
""")
        return path

    code, out = run_cli("finetune", config("one", 4))
    assert code == 0, out
    done = torchrun(2, "finetune", config("two", 2))
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_losses(read_metrics(tmp_path / "one"), read_metrics(tmp_path / "two"))


@pytest.mark.slow
def test_settings_that_cannot_be_split_across_processes_are_refused(tmp_path, digits):  # noqa: F811
    done = torchrun(2, "finetune", write_config(tmp_path, digits, "gradual", 4, semi=False, strategy="gradual_unfreeze"))
    assert done.returncode != 0 and "gradual_unfreeze changes which parameters train" in done.stderr

"""Audio from the command line: synthetic words -> prepare audio -> pretrain (BEST-RQ) -> reload, resume,
fine-tune, compare and rank, through the same commands as text and images."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from headstart.audio import AudioArrays, load_audio_model
from headstart.audio.batches import AudioBatches
from headstart.audio.synthetic import write_synthetic_words
from headstart.engine.metrics import read_metrics
from headstart.errors import HeadstartError

from test_pretrain_cli import run_cli

MODEL = "{preset: audio-tiny, n_layer: 2, n_head: 2, d_model: 32, conv_channels: 8, max_frames: 200}"


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    """Four synthetic words by three speakers, prepared without labels (pre-training) and with them."""
    root = tmp_path_factory.mktemp("words")
    write_synthetic_words(root / "wav", n_words=4, speakers=3, takes=4)
    for name, labels in (("unlabeled", []), ("labeled", ["--label-from-name", "{label}_{speaker}_{take}"])):
        code, out = run_cli("prepare", "audio", root / "wav", "--out", root / name, "--sample-rate", "8000",
                            "--n-mels", "24", "--val-fraction", "0.25", "--no-progress", *labels)
        assert code == 0, out
    return root


def write_config(tmp_path, data, steps=6, extra=""):
    config = tmp_path / "best_rq.yaml"
    config.write_text(f"""
run_dir: {tmp_path / 'run'}
data: {{path: {data}}}
model: {MODEL}
objective: {{name: best_rq, codebook_size: 64, mask_prob: 0.1, mask_span: 4}}
train: {{steps: {steps}, batch_size: 8, lr: 3.0e-3, eval_every: 3, eval_batches: 1, log_every: 1, schedule: constant}}
{extra}""")
    return config


@pytest.fixture(scope="module")
def best_rq_run(tmp_path_factory, words):
    tmp_path = tmp_path_factory.mktemp("best_rq")
    code, out = run_cli("pretrain", write_config(tmp_path, words / "unlabeled"))
    assert code == 0, out
    return tmp_path / "run"


def test_best_rq_pretrains_from_the_command_line_and_records_the_audio_settings(best_rq_run):
    val = read_metrics(best_rq_run, "val")[-1]
    assert {"loss", "masked_accuracy"} <= set(val) and np.isfinite(val["loss"])
    last = best_rq_run / "checkpoints" / "step_000006"
    recorded = json.loads((last / "state.json").read_text())["config"]
    assert recorded["task"] == "pretrain_audio" and recorded["model"]["kind"] == "audio_encoder"
    assert recorded["model"]["n_mels"] == 24 and recorded["data"]["frame_rate"] == 100.0
    assert recorded["objective"] == {"name": "best_rq", "mask_prob": 0.1, "mask_span": 4, "codebook_size": 64,
                                     "codebook_dim": 16, "num_codebooks": 1, "noise_std": 0.1}
    # The frozen projection and codebook travel with the objective, not the encoder.
    assert not any("codebook" in k for k in load_file(last / "model.safetensors"))


def test_a_reloaded_audio_checkpoint_encodes_clips(best_rq_run, words):
    model, checkpoint, state = load_audio_model(best_rq_run)
    batch = AudioBatches(AudioArrays(words / "unlabeled", "val"), batch_size=4, seed=0, max_frames=200).batch(0)
    with torch.no_grad():
        features = model.features(batch["features"], batch["padding_mask"])
    assert features.shape == (4, 32) and torch.isfinite(features).all() and not model.training


def test_resume_finishes_an_audio_run_exactly_as_one_uninterrupted_run(tmp_path, words):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    straight, split = write_config(tmp_path / "a", words / "unlabeled"), write_config(tmp_path / "b", words / "unlabeled")
    assert run_cli("pretrain", straight)[0] == 0
    assert run_cli("pretrain", split, "--set", "train.steps=3")[0] == 0
    assert run_cli("pretrain", split, "--resume")[0] == 0
    a = load_file(tmp_path / "a" / "run" / "checkpoints" / "step_000006" / "model.safetensors")
    b = load_file(tmp_path / "b" / "run" / "checkpoints" / "step_000006" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("override, message", [
    ("model.preset=resnet-tiny", "model.preset: resnet-tiny is not an audio model"),
    ("objective.name=simclr", "objective.codebook_size: a knob of best_rq, not of simclr"),
    ("objective.temperature=0.1", "temperature"),
    ("data.seq_len=64", "data.seq_len: a text setting"),
])
def test_audio_config_mistakes_are_one_line_errors(tmp_path, words, override, message):
    code, out = run_cli("pretrain", write_config(tmp_path, words / "unlabeled"), "--set", override)
    assert code == 2 and message in out and "\n" not in out.strip(), out


def write_finetune(tmp_path, words, source, budget=24):
    config = tmp_path / "ft.yaml"
    config.write_text(f"""
run_dir: {tmp_path / "ft"}
{source}
task: {{train: {words / 'labeled'}, test: {{path: {words / 'labeled'}, split: val}}, budget: {budget}}}
train: {{steps: 30, batch_size: 8, lr: 3.0e-3, warmup_steps: 3, eval_every: 10, log_every: 10}}
""")
    return config


def test_finetune_an_audio_checkpoint_and_a_scratch_model(tmp_path, words, best_rq_run):
    code, out = run_cli("finetune", write_finetune(tmp_path, words, f"init: {best_rq_run}"))
    assert code == 0, out
    results = json.loads((tmp_path / "ft" / "results.json").read_text())
    assert results["labels"] + results["validation_labels"] == 24 and results["validation_counted"]
    assert results["label_names"] == ["0", "1", "2", "3"]
    assert results["init"] == str(best_rq_run / "checkpoints" / "step_000006")
    assert 0 <= results["test"]["accuracy"] <= 1 and "test: accuracy" in out

    code, out = run_cli("finetune", write_finetune(tmp_path / "", words, f"model: {MODEL}"), "--set",
                        f"run_dir={tmp_path / 'scratch'}")
    assert code == 0, out
    assert json.loads((tmp_path / "scratch" / "results.json").read_text())["init"] == "random init"


def test_an_audio_checkpoint_refuses_clips_of_other_mel_bins(tmp_path, words, best_rq_run):
    code, out = run_cli("prepare", "audio", words / "wav", "--out", tmp_path / "mels40", "--n-mels", "40",
                        "--sample-rate", "8000", "--label-from-name", "{label}_{speaker}_{take}", "--no-progress")
    assert code == 0, out
    config = tmp_path / "ft.yaml"
    config.write_text(f"run_dir: {tmp_path / 'ft'}\ninit: {best_rq_run}\ntask: {{train: {tmp_path / 'mels40'}}}\n")
    code, out = run_cli("finetune", config)
    assert code == 2 and "takes 24 mel bins" in out and "--n-mels 24" in out


@pytest.mark.slow
def test_compare_and_rank_an_audio_checkpoint(tmp_path, words, best_rq_run):
    config = tmp_path / "compare.yaml"
    config.write_text(f"""
run_dir: {tmp_path / "cmp"}
pretrained: {best_rq_run}
task: {{train: {words / 'labeled'}, test: {{path: {words / 'labeled'}, split: val}}}}
budgets: [12]
seeds: [0]
train: {{steps: 10, batch_size: 8, lr: 3.0e-3, warmup_steps: 2, eval_every: 5, log_every: 5}}
probe_examples: 24
""")
    code, out = run_cli("compare", config)
    assert code == 0, out
    report = json.loads((tmp_path / "cmp" / "report" / "report.json").read_text())
    assert set(report["arms"]) == {"pretrained", "scratch", "baseline"}
    assert report["arm_notes"]["baseline"].startswith("logistic regression on pooled log-mels")
    assert set(report["probes"]) == {"pretrained", "random_init"} and "pretrained" in report["logme"]

    code, out = run_cli("rank", best_rq_run, "--train", words / "labeled")
    assert code == 0 and "1. LogME" in out


def test_prepared_audio_is_not_mistaken_for_a_text_file(tmp_path, words):
    with pytest.raises(HeadstartError, match="no split 'test'"):
        AudioArrays(words / "labeled", "test")


def test_the_example_config_runs_on_prepared_audio(tmp_path, words):
    example = Path(__file__).resolve().parents[1] / "configs" / "fsdd-best-rq.yaml"
    code, out = run_cli("pretrain", example, "--set", f"data.path={words / 'unlabeled'}", "--set",
                        f"run_dir={tmp_path / 'run'}", "--set", "train.steps=2", "--set", "train.eval_every=2",
                        "--set", "train.batch_size=8", "--set", "train.warmup_steps=1")
    assert code == 0, out
    assert read_metrics(tmp_path / "run", "val")[-1]["loss"] > 0

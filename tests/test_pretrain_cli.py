"""The whole text flow from the command line: prepare -> pretrain -> generate, and its errors."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from headstart.engine.metrics import read_metrics
from headstart.text.pretrained import load_text_model

CORPUS = "\n\n".join(
    f"Paragraph {i}: the quick brown fox jumps over the lazy dog, {i % 7} times, and then rests." for i in range(300))


def run_cli(*args):
    """Run ``headstart ARGS`` in-process; returns (exit code, stdout+stderr)."""
    from click.testing import CliRunner
    from headstart import cli
    cli._register_prepare_commands()
    result = CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=True)
    code = result.exit_code
    if isinstance(result.exception, Exception) and not isinstance(result.exception, SystemExit):
        from headstart.errors import HeadstartError
        assert isinstance(result.exception, HeadstartError), f"unexpected {result.exception!r}"
        return 2, str(result.exception)
    return code, result.output


@pytest.fixture()
def prepared(tmp_path):
    (tmp_path / "corpus.txt").write_text(CORPUS)
    code, out = run_cli("prepare", "text", tmp_path / "corpus.txt", "--out", tmp_path / "data",
                        "--tokenizer", "char", "--workers", "0")
    assert code == 0, out
    return tmp_path / "data"


def write_config(tmp_path, data, objective="causal_lm", steps=6):
    config = tmp_path / f"{objective}.yaml"
    config.write_text(f"""
run_dir: {tmp_path / ('run-' + objective)}
data: {{path: {data}}}
model: {{preset: gpt-nano, n_layer: 2, d_model: 32, n_head: 2, context_length: 32}}
objective: {{name: {objective}}}
train: {{steps: {steps}, batch_size: 4, lr: 3.0e-3, warmup_steps: 2, eval_every: 3, eval_batches: 2, log_every: 1}}
""")
    return config


@pytest.mark.parametrize("objective", ["causal_lm", "masked_lm"])
def test_pretrain_writes_checkpoints_metrics_and_config(tmp_path, prepared, objective):
    code, out = run_cli("pretrain", write_config(tmp_path, prepared, objective))
    assert code == 0, out
    run = tmp_path / f"run-{objective}"
    last = run / "checkpoints" / "step_000006"
    assert (last / "model.safetensors").exists() and (last / "tokenizer.json").exists()
    assert "val" in {r["split"] for r in read_metrics(run)}
    val = read_metrics(run, "val")[-1]
    assert val["loss"] < 5.0 and val["perplexity"] == pytest.approx(2.718281828 ** val["loss"], rel=1e-6)
    weights = load_file(last / "model.safetensors")
    assert weights["tok_emb.weight"].shape[0] == json.loads((prepared / "manifest.json").read_text())["vocab_size"]
    model, tokenizer, _, _ = load_text_model(run)
    assert model.cfg.causal == (objective == "causal_lm") and tokenizer.get_vocab_size() == model.cfg.vocab_size


def test_generate_continues_a_prompt(tmp_path, prepared):
    assert run_cli("pretrain", write_config(tmp_path, prepared))[0] == 0
    code, out = run_cli("generate", tmp_path / "run-causal_lm", "--prompt", "Paragraph", "--max-new-tokens", "20",
                        "--num-samples", "2")
    assert code == 0, out
    assert out.count("Paragraph") >= 2 and "--- sample 2 ---" in out


def test_resume_continues_and_a_second_run_into_the_same_dir_is_refused(tmp_path, prepared):
    config = write_config(tmp_path, prepared, steps=6)
    assert run_cli("pretrain", config, "--set", "train.steps=3")[0] == 0
    code, out = run_cli("pretrain", config, "--set", "train.steps=3")
    assert code == 2 and "already holds checkpoints; pass --resume" in out
    code, out = run_cli("pretrain", config, "--resume")
    assert code == 0, out
    assert "finished at step 6" in out
    code, out = run_cli("pretrain", config, "--resume", "--set", "train.lr=1")
    assert code == 2 and "config changed in train.lr" in out


def test_a_moved_run_folder_resumes(tmp_path, prepared):
    config = write_config(tmp_path, prepared, steps=6)
    assert run_cli("pretrain", config, "--set", "train.steps=3")[0] == 0
    (tmp_path / "run-causal_lm").rename(tmp_path / "moved")
    code, out = run_cli("pretrain", config, "--resume", "--set", f"run_dir={tmp_path / 'moved'}")
    assert code == 0, out
    assert "finished at step 6" in out


@pytest.mark.parametrize("override, message", [
    ("model.vocab_size=1000", "model.vocab_size is 1000 but the tokenizer"),
    ("data.seq_len=64", "data.seq_len (64) exceeds the model's context_length (32)"),
    ("train.batch_size=0", "train.batch_size: input should be greater than 0"),
])
def test_config_mistakes_are_one_line_errors(tmp_path, prepared, override, message):
    code, out = run_cli("pretrain", write_config(tmp_path, prepared), "--set", override)
    assert code == 2 and message in out and "Traceback" not in out


def test_generate_refuses_a_masked_lm(tmp_path, prepared):
    assert run_cli("pretrain", write_config(tmp_path, prepared, "masked_lm"))[0] == 0
    code, out = run_cli("generate", tmp_path / "run-masked_lm")
    assert code == 2 and "needs a causal-LM checkpoint" in out


def test_the_installed_command_prints_one_line_errors_not_tracebacks(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "headstart", "pretrain", str(tmp_path / "missing.yaml")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: config file not found: {tmp_path / 'missing.yaml'}"


@pytest.mark.parametrize("command", [[], ["prepare"], ["prepare", "text"], ["pretrain"], ["finetune"], ["compare"],
                                     ["rank"], ["generate"], ["demo"]])
def test_every_command_has_help(command):
    code, out = run_cli(*command, "--help")
    assert code == 0 and "Usage:" in out


def test_a_tied_checkpoint_loads_into_a_model_that_shares_the_embedding(tmp_path, prepared):
    assert run_cli("pretrain", write_config(tmp_path, prepared))[0] == 0
    model, *_ = load_text_model(tmp_path / "run-causal_lm")
    assert model.lm_head.weight.data_ptr() == model.tok_emb.weight.data_ptr()
    assert torch.isfinite(model(torch.zeros(1, 4, dtype=torch.long))).all()


def test_continued_pretraining_starts_from_init_weights_on_new_data(tmp_path, prepared):
    # Domain-/task-adaptive pre-training: a first run, then more pre-training on other text prepared
    # with the first run's tokenizer.
    assert run_cli("pretrain", write_config(tmp_path, prepared, "masked_lm"))[0] == 0
    first = tmp_path / "run-masked_lm" / "checkpoints" / "step_000006"
    (tmp_path / "domain.txt").write_text("\n\n".join(f"the lazy dog rests {i} times." for i in range(200)))
    assert run_cli("prepare", "text", tmp_path / "domain.txt", "--out", tmp_path / "domain", "--workers", "0",
                   "--tokenizer", first / "tokenizer.json")[0] == 0
    config = tmp_path / "continue.yaml"
    config.write_text(f"""
run_dir: {tmp_path / 'continued'}
init: {first}
data: {{path: {tmp_path / 'domain'}}}
objective: {{name: masked_lm}}
train: {{steps: 2, batch_size: 4, lr: 1.0e-9, min_lr: 0, eval_every: 2, eval_batches: 1}}
""")
    code, out = run_cli("pretrain", config)
    assert code == 0, out
    before, after = load_file(first / "model.safetensors"), load_file(
        tmp_path / "continued" / "checkpoints" / "step_000002" / "model.safetensors")
    assert before.keys() == after.keys()
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)  # lr 1e-9: init's weights, barely moved
    assert any(not torch.equal(before[k], after[k]) for k in before)  # but trained, not just copied

    code, out = run_cli("pretrain", config, "--set", "objective.name=causal_lm", "--set", f"run_dir={tmp_path / 'x'}")
    assert code == 2 and "is a bidirectional model; objective causal_lm needs a causal one" in out
    assert run_cli("prepare", "text", tmp_path / "domain.txt", "--out", tmp_path / "own", "--workers", "0",
                   "--tokenizer", "char")[0] == 0  # its own, smaller character set
    code, out = run_cli("pretrain", config, "--set", f"data.path={tmp_path / 'own'}", "--set", f"run_dir={tmp_path / 'y'}")
    assert code == 2 and "was trained with another tokenizer" in out and "--tokenizer" in out
    code, out = run_cli("pretrain", config, "--set", "model.preset=gpt-nano", "--set", f"run_dir={tmp_path / 'z'}")
    assert code == 2 and "give model or init, not both" in out
